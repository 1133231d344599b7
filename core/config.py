"""Run configs: a validated document with one section per component.

A config is plain data (YAML or JSON)::

    task:      {name: language_model, context_length: 64}
    data:      {name: file, path: input.txt}
    tokenizer: {name: char}
    model:     {name: transformer_decoder, n_layers: 4, ...}
    optimizer: {name: adamw, lr: 0.001}
    schedule:  {name: cosine, warmup_steps: 100}
    training:  {max_steps: 2000, batch_size: 12}

Every section but ``training`` picks a registered component by ``name``; its other keys are that
component's declared parameters. Missing keys take their declared defaults; unknown keys and
bad values are rejected with the field path, the value and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.documents import MAX_NESTING, nesting, parse_document, read_text_file
from core.errors import ConfigError
from core.metrics.catalog import check_objective
from core.params import PRINTABLE_TEXT, Param, text_problem, validate_params
from core.registry import DATASETS, MODELS, OPTIMIZERS, SCHEDULES, TASKS, TOKENIZERS, Registry

SECTION_REGISTRIES: dict[str, Registry] = {
    "task": TASKS,
    "data": DATASETS,
    "tokenizer": TOKENIZERS,
    "model": MODELS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
}
SECTIONS = (*SECTION_REGISTRIES, "training")

# The trainer's own knobs. Declared here (not in train.py) so validating a config never
# needs torch.
TRAINING_PARAMS: tuple[Param, ...] = (
    Param("max_steps", "int", 500, "Optimizer steps to train for.", low=1, high=10_000_000, sweepable=False, label="Steps", essential=True),
    Param("max_epochs", "float", None, "Cap on passes over the training examples: a small data set trains for fewer steps than max_steps, evaluating at least 8 times (null: no cap). Classification counts rows.", low=0.01, high=1_000_000, optional=True, sweepable=False, label="Max epochs"),
    Param("batch_size", "int", 32, "Examples per step and process (before gradient accumulation; the global batch is this x processes x grad_accum).", low=1, high=8192, label="Batch size", essential=True),
    Param("grad_accum", "int", 1, "Micro-batches accumulated into one optimizer step.", low=1, high=1024, label="Gradient accumulation"),
    Param("grad_clip", "float", 1.0, "Clip the gradient norm to this value (0 turns clipping off).", low=0.0, high=1e4, label="Gradient clipping"),
    Param("eval_every", "int", 100, "Evaluate on the validation split every N steps.", low=1, high=10_000_000, sweepable=False, label="Evaluate every (steps)", essential=True),
    Param("eval_max_batches", "int", 50, "Cap on validation batches per evaluation (null: the whole split).", low=1, high=1_000_000, optional=True, sweepable=False, label="Batches per evaluation"),
    Param("log_every", "int", 10, "Record training loss and throughput every N steps.", low=1, high=100_000, sweepable=False, label="Log every (steps)"),
    Param("log_grad_norm", "bool", False, "Also record the gradients' global L2 norm (before clipping) as the train metric grad_norm at each logged step; without clipping it costs one norm over the gradients per step (clipping computes it anyway).", sweepable=False, label="Log gradient norm"),
    Param("checkpoint", "bool", True, "Save a checkpoint at each evaluation and at the end.", sweepable=False, label="Save checkpoints"),
    Param("early_stopping_patience", "int", 0, "Stop after N evaluations without improvement (0: never).", low=0, high=10_000, sweepable=False, label="Early-stopping patience"),
    Param("early_stopping_metric", "str", "", "Validation metric watched for early stopping and best-checkpoint (empty: the task's default).", sweepable=False, label="Early-stopping metric"),
    Param("max_minutes", "float", None, "Wall-clock budget; training stops when it is spent (null: no limit).", low=0.01, high=100_000, optional=True, sweepable=False, label="Time limit (min)"),
    Param("seed", "int", 0, "Random seed for initialisation, splits and batching.", low=0, high=2**31 - 1, sweepable=False, label="Seed", essential=True),
    Param("device", "str", "auto", "Where to train: auto picks CUDA, then MPS, then CPU.", choices=("auto", "cpu", "cuda", "mps"), sweepable=False, label="Device"),
    Param("precision", "str", "auto", "auto: bf16 autocast on CUDA when supported (else fp16), fp32 elsewhere. bf16 on a CPU: autocast where the processor has bf16 instructions (AVX512-BF16, AMX, Arm BF16), refused where not. fp16: CUDA only, refused on a CPU.", choices=("auto", "fp32", "bf16", "fp16"), sweepable=False, label="Precision"),
    Param("compile", "bool", False, "Compile the model with torch.compile (slower start, faster steps on GPU).", sweepable=False, label="torch.compile"),
    Param("attention_snapshots", "bool", True, "Save the attention of a fixed probe input at each evaluation, to replay how it forms (models with attention up to 20M parameters).", sweepable=False, label="Attention snapshots"),
    # Several processes (DDP through torchrun, core/distributed/). 1 x 1: one process, no process group.
    Param("nproc_per_node", "int", 1, "Training processes on each machine (DDP through torchrun): one per GPU; on a CPU each process takes a share of the cores. 1: a single process.", low=1, high=1024, sweepable=False, label="Processes per node"),
    Param("nnodes", "int", 1, "Machines training this run together; start the same command on each (the node rank comes from the rendezvous). More than 1 needs rdzv_endpoint, one store and shared run folders.", low=1, high=4096, sweepable=False, label="Nodes"),
    Param("dist_backend", "str", "auto", "Collective backend for several processes: auto = NCCL on CUDA, Gloo on CPU.", choices=("auto", "gloo", "nccl"), sweepable=False, label="Distributed backend"),
    Param("rdzv_endpoint", "str", "", "host:port of the c10d rendezvous every node joins (several nodes); empty: this machine on a free port.", sweepable=False, label="Rendezvous endpoint"),
    # Live trackers (core/export/live.py): the store always records; these receive a copy.
    Param("trackers", "str", "none", "Also send config and metrics live to TensorBoard (event files in the workbench home's tensorboard/RUN folder) and/or MLflow; needs the `export` extra.", choices=("none", "tensorboard", "mlflow", "tensorboard+mlflow"), sweepable=False, label="Live trackers"),
    Param("mlflow_tracking_uri", "str", "", "Where the live MLflow tracker writes: a tracking URI (sqlite:///mlflow.db, http://host:5000, file:///folder); empty: the mlruns folder in the workbench home.", sweepable=False, label="MLflow tracking URI"),
)


@dataclass
class RunConfig:
    """A validated config. ``sections[name]`` is a dict; component sections include ``name``."""

    sections: dict[str, dict[str, Any]]

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    @property
    def task(self) -> str:
        return self.sections["task"]["name"]

    @property
    def arch(self) -> str:
        return self.sections["model"]["name"]

    def params(self, section: str) -> dict[str, Any]:
        """Section values without the ``name`` selector."""
        return {k: v for k, v in self.sections[section].items() if k != "name"}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.sections)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> RunConfig:
        return validate_config(apply_overrides(self.to_dict(), overrides))

    def flat(self) -> dict[str, Any]:
        """``{"model.d_model": 128, ...}``: handy for tables and sweeps."""
        return {f"{s}.{k}": v for s, vals in self.sections.items() for k, v in vals.items()}


def processes_wanted(config: RunConfig | Mapping[str, Any] | None) -> int:
    """How many processes a config asks to train on: ``training.nproc_per_node`` x
    ``training.nnodes``. ``config``: a RunConfig, or a raw or stored config dict (a missing
    section or key counts as 1). The one place this product is taken: the store's claim, the
    supervisor, the launcher, the CLI and sweeps all ask here."""
    sections = config.sections if isinstance(config, RunConfig) else (config or {})
    training = sections.get("training") or {}
    return int(training.get("nproc_per_node") or 1) * int(training.get("nnodes") or 1)


def section_params(section: str, name: str | None = None) -> tuple[Param, ...]:
    """Declarations for one section (and component)."""
    if section == "training":
        return TRAINING_PARAMS
    if section not in SECTION_REGISTRIES:
        raise ConfigError(section, section, "one of " + ", ".join(SECTIONS), reason="unknown section")
    return SECTION_REGISTRIES[section].get(name or "", path=f"{section}.name").params


def default_config(task: str = "classification") -> dict[str, dict[str, Any]]:
    """A complete raw config for ``task`` from each component's declared defaults."""
    comp = TASKS.get(task, path="task.name")
    defaults = comp.meta["defaults"]  # e.g. {"data": "sentiment", "model": "lstm", ...}
    raw: dict[str, dict[str, Any]] = {"task": {"name": task}}
    for section in SECTION_REGISTRIES:
        if section != "task":
            # A task's default is a component name, or a dict with the name and a few settings.
            chosen = defaults[section]
            raw[section] = dict(chosen) if isinstance(chosen, dict) else {"name": chosen}
    raw["training"] = dict(defaults.get("training", {}))
    return raw


def _task_architecture(task: str | None, arch: str | None) -> dict[str, dict[str, Any]]:
    """The settings ``task`` declares for ``arch`` (its defaults' ``architectures``: a transformer
    encoder classifies with a gentler rate than the task's LSTM), by section; {} when none."""
    if not task or not arch or task not in TASKS.names():
        return {}
    return copy.deepcopy(TASKS.get(task).meta["defaults"].get("architectures", {}).get(arch, {}))


def architecture_settings(arch: str | None, task: str | None = None) -> dict[str, dict[str, Any]]:
    """What an architecture needs or learns well with, by section: its own (``hf_pretrained``:
    its tokenizer and a fine-tuning learning rate; declared as ``suggests`` where it registers),
    then what ``task`` declares for it outside the model section (whose tuned values
    :func:`tuned_settings` gives). They replace the task's defaults wherever the user chose
    nothing else."""
    if not arch or arch not in MODELS.names():
        return {}
    out = copy.deepcopy(MODELS.get(arch).meta.get("suggests", {}))
    for section, values in _task_architecture(task, arch).items():
        if section != "model":
            out[section] = {**out.get(section, {}), **values}
    return out


def own_settings_text(config: RunConfig) -> str:
    """A sentence for the architecture's own settings that the run uses (empty when none):
    a user who expects the task's learning rate learns why the log shows another."""
    used = [f"{section}.{key} {value:g}" if isinstance(value, float) else f"{section}.{key} {value}"
            for section, values in architecture_settings(config.arch, config.task).items()
            for key, value in values.items() if config.sections[section].get(key) == value]
    return f"{config.arch} brings its own settings: {', '.join(used)} (--set them to change)" if used else ""


def with_architecture_settings(base: dict[str, dict[str, Any]], arch: str | None, keep: AbstractSet[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """``base`` with ``arch``'s settings (for ``base``'s task), except the ``section.key``
    names in ``keep``."""
    out = copy.deepcopy(base)
    task = base.get("task")
    task = task.get("name") if isinstance(task, dict) else task
    for section, values in architecture_settings(arch, task if isinstance(task, str) else None).items():
        current = out.get(section)
        if current is not None and not isinstance(current, str | dict):
            continue  # not a mapping: validation says so
        current = {"name": current} if isinstance(current, str) else dict(current or {})
        for key, value in values.items():
            if f"{section}.{key}" in keep:
                continue
            if key == "name" and current.get("name") != value:
                current = {}  # another component: the old one's parameters do not apply
            current[key] = value
        out[section] = current
    return out


def tuned_settings(task: str, section: str, name: str | None) -> dict[str, Any]:
    """The task's own settings for ``section`` (its defaults: a BiLSTM with max pooling, lr
    1e-2...) that component ``name`` takes. A model setting applies to every architecture that
    declares and accepts it, not only the task's default one, so the entrants of a race start
    like for like (a GRU beside the default LSTM is bidirectional with max pooling too), and
    what the task declares for that architecture comes on top (a mean-pooled transformer
    encoder); in the other sections a setting belongs to its component (adamw's lr is no lr for
    sgd). A combination the component's check refuses falls back to its own defaults."""
    default = default_config(task).get(section, {})
    chosen = {k: v for k, v in default.items() if k != "name"}
    if section == "training":
        return chosen
    if section == "model":  # what the task declares for this architecture comes on top
        chosen.update(_task_architecture(task, name).get("model", {}))
    if section != "model" and default.get("name") != name:
        return {}
    comp = SECTION_REGISTRIES[section].get(name or "", path=f"{section}.name")
    declared = {p.name: p for p in comp.params}
    out: dict[str, Any] = {}
    for key, value in chosen.items():
        if key in declared:
            try:
                out[key] = declared[key].coerce(value)
            except ConfigError:
                continue
    if out and comp.check is not None and comp.check(validate_params(comp.params, out, section)):
        return {}
    return out


def validate_config(raw: dict[str, Any]) -> RunConfig:
    """Turn a raw mapping into a RunConfig, or raise ConfigError naming the bad field."""
    if not isinstance(raw, dict):
        raise ConfigError("config", raw, "a mapping with sections " + ", ".join(SECTIONS))
    raw = _upgrade(raw)
    unknown = [k for k in raw if k not in SECTIONS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), SECTIONS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(str(unknown[0]), raw[unknown[0]], "one of " + ", ".join(SECTIONS) + hint, reason="unknown section")
    for section in raw:  # a section that is not a mapping is the error, not what it then lacks
        _section(raw, section)
    task_raw = _section(raw, "task")
    if "name" not in task_raw:
        raise ConfigError("task.name", None, "one of " + ", ".join(TASKS.names()), reason="missing")
    model_raw = _section(raw, "model")
    base = with_architecture_settings(default_config(task_raw["name"]), model_raw.get("name"))
    out: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        try:
            out[section] = _validate_section(raw, base, section)
        except ConfigError as exc:
            raise _with_home(exc, base) from None
    _check_compatible(out)
    return RunConfig(out)


def _with_home(exc: ConfigError, base: dict[str, dict[str, Any]]) -> ConfigError:
    """An unknown parameter that another section has (``training.lr``) says where it lives."""
    section, _, key = exc.path.partition(".")
    home = next((s for s in SECTIONS if s != section and key in base.get(s, {})), None)
    if home is None or not str(exc).startswith(f"{exc.path} = ") or "unknown parameter" not in str(exc):
        return exc
    return ConfigError(exc.path, exc.value, f"{exc.allowed}; {key} is set in {home}: {home}.{key}",
                       reason="unknown parameter")


def _validate_section(raw: dict[str, Any], base: dict[str, dict[str, Any]], section: str) -> dict[str, Any]:
    """One section of a config: the task's defaults, what the raw config gives, checked."""
    values = dict(base.get(section, {}))
    given = _section(raw, section)
    if section != "training" and "name" in given and given["name"] != values.get("name"):
        values = {}  # a different component: the defaults of the old one do not apply
    values.update(given)
    if section == "training":
        return validate_params(TRAINING_PARAMS, values, section)
    registry = SECTION_REGISTRIES[section]
    name = values.pop("name", None)
    comp = registry.get(str(name), path=f"{section}.name")
    try:
        checked = validate_params(comp.params, values, section, also=("name",))
    except ConfigError as exc:
        if exc.reason != "unknown parameter":
            raise
        # Which component was asked: `data.max_examples` is a parameter of files, not of sentiment.
        raise ConfigError(exc.path, exc.value, f"a parameter of {section}.name {comp.name} "
                          f"({exc.allowed.removeprefix('a known parameter (')}", reason=exc.reason) from None
    if comp.check is not None and (problem := comp.check(checked)):
        raise ConfigError(section, checked, problem, reason="invalid combination")
    return {"name": comp.name, **checked}


def _upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Configs stored by earlier versions, in today's words (each knob now has one name):
    ``task.freeze_embeddings: true`` is ``task.freeze: embeddings``, and a translation model's
    ``tie_embeddings`` is ``tie_weights`` like every other model's."""
    task, model = raw.get("task"), raw.get("model")
    legacy_task = isinstance(task, dict) and "freeze_embeddings" in task
    legacy_model = isinstance(model, dict) and "tie_embeddings" in model
    if not (legacy_task or legacy_model):
        return raw
    raw = copy.deepcopy(raw)
    frozen = legacy_task and raw["task"].pop("freeze_embeddings") in (True, "true")
    if frozen and raw["task"].get("freeze", "none") == "none":
        raw["task"]["freeze"] = "embeddings"
    if legacy_model:
        raw["model"].setdefault("tie_weights", raw["model"].pop("tie_embeddings"))
    return raw


def _section(raw: dict[str, Any], section: str) -> dict[str, Any]:
    """A section of a raw config as a mapping: empty when left out (or written ``model:``), a
    component's name alone as ``{"name": ...}`` (shorthand: ``model: lstm``); a list, a number
    or true/false is refused (never read as a mapping: ``model: [[a, 1]]`` is no model)."""
    value = raw.get(section)
    if value is None or value == "":
        return {}
    if isinstance(value, str) and section != "training":
        return {"name": value}
    if not isinstance(value, dict):
        example = f"{section}: {{max_steps: 500, batch_size: 32}}" if section == "training" else \
            f"{section}: {{name: NAME, ...}}, or {section}: NAME"
        raise ConfigError(section, value, f"a mapping of parameter names to values ({example})",
                          reason="not a mapping")
    return value


def _check_compatible(sections: dict[str, dict[str, Any]]) -> None:
    task = sections["task"]["name"]
    for section, noun in (("model", "an architecture"), ("data", "a dataset")):
        registry = SECTION_REGISTRIES[section]
        comp = registry.get(sections[section]["name"])
        if task not in comp.meta.get("tasks", ()):
            raise ConfigError(
                f"{section}.name", comp.name,
                f"{noun} for this task: " + ", ".join(registry.names(tasks=task)),
                reason=f"{comp.name} cannot do {task}",
            )
    watched = sections["training"]["early_stopping_metric"]
    if watched:
        check_objective(task, watched, "training.early_stopping_metric")
    task_comp = TASKS.get(task)
    if task_comp.meta.get("check_sections") and (problem := task_comp.meta["check_sections"](sections)):
        raise ConfigError("config", task, problem, reason="invalid combination")


# -- files and overrides ---------------------------------------------------------------------

def absolute_file_paths(raw: dict[str, Any], base: Path | None = None) -> dict[str, Any]:
    """``raw`` with relative ``path`` parameters (data files, pretrained embeddings) made
    absolute against ``base`` (default: the working folder). A run is trained later, maybe by a
    worker started elsewhere; a path typed relative to where the command ran must still find the
    file. A path that is no printable text is refused (:func:`check_path_names`); sections or
    components that do not validate are left for validation to report."""
    base = base or Path.cwd()
    check_path_names(raw)
    out = copy.deepcopy(raw)
    for _section_name, values, param in _path_params(out):
        value = values.get(param.name)
        if isinstance(value, str) and value.strip() and not Path(value).expanduser().is_absolute():
            values[param.name] = str((base / value).resolve())
    return out


def check_path_names(raw: dict[str, Any]) -> None:
    """Every file path a new config gives (``data.path``, ``data.label_names_file``...) is printable
    UTF-8 text: a control character (a tab, a line feed, a terminal escape) or a byte that is not
    UTF-8 is refused by its key. Checked where a person gives a config (the CLI, the Train page),
    not on configs already stored, which stay loadable."""
    for section, values, param in _path_params(raw):
        value = values.get(param.name)
        if isinstance(value, str) and (problem := text_problem(value)):
            raise ConfigError(f"{section}.{param.name}", value, f"a file path of {PRINTABLE_TEXT}", reason=problem)


def _path_params(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any], Param]]:
    """``(section, its values, declaration)`` for each ``path`` parameter a raw config's sections may
    hold (a section without ``name`` gets its task's default component)."""
    found = []
    for section, values in raw.items():
        if not isinstance(values, dict):
            continue
        try:
            params = TRAINING_PARAMS if section == "training" else section_params(section, values.get("name"))
        except ConfigError:
            if section not in SECTION_REGISTRIES or "name" in values:
                continue
            params = _default_component_params(raw, section)
        found += [(section, values, param) for param in params if param.kind == "path"]
    return found


def _default_component_params(raw: dict[str, Any], section: str) -> tuple[Param, ...]:
    """The declarations of the component a section without ``name`` gets from its task."""
    task = raw.get("task")
    task_name = task.get("name") if isinstance(task, dict) else task
    try:
        chosen = default_config(str(task_name))[section]["name"]
        return section_params(section, chosen)
    except ConfigError:
        return ()


def check_files(config: RunConfig) -> None:
    """Every ``path`` parameter the config sets names an existing file: checked before a run
    is created, so a typo leaves nothing behind. A relative path was made absolute against the
    folder the command ran in (:func:`absolute_file_paths`), which the message says."""
    for section, values in config.sections.items():
        params = TRAINING_PARAMS if section == "training" else section_params(section, values.get("name"))
        for param in params:
            value = values.get(param.name)
            if param.kind != "path" or not isinstance(value, str) or not value.strip():
                continue
            path = Path(value).expanduser()
            if not path.is_file():
                reason = "is a folder" if path.is_dir() else "file not found"
                raise ConfigError(f"{section}.{param.name}", value,
                                  f"an existing file (a relative path is read from the folder lmwb runs in, "
                                  f"here {Path.cwd()})", reason=reason)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config; syntax errors name the file and line."""
    path = Path(path)
    raw = parse_document(read_text_file(path, "--config", "YAML or JSON file"), path)
    if raw is None:
        raise ConfigError(str(path), "", "sections " + ", ".join(SECTIONS), reason="empty config file")
    if not isinstance(raw, dict):
        raise ConfigError(str(path), raw, "a mapping with sections " + ", ".join(SECTIONS), reason="not a mapping")
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    return validate_config(apply_overrides(load_config_file(path), overrides or []))


def apply_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML scalars).

    Component changes (``model.name=gru``) are applied first so the other overrides land on
    the new component.
    """
    raw = copy.deepcopy(raw)
    items: list[tuple[str, Any]] = []
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        for text in overrides:
            if "=" not in text:
                raise ConfigError("--set", text, "section.key=value, e.g. model.d_model=128", reason="malformed override")
            key, value = text.split("=", 1)
            if nesting(value) > MAX_NESTING:
                raise ConfigError(key.strip(), value[:40] + "...", f"at most {MAX_NESTING} levels of nesting",
                                  reason="nested too deeply")
            try:
                parsed = yaml.safe_load(value) if value.strip() else ""
            except (yaml.YAMLError, RecursionError):
                parsed = value
            items.append((key.strip(), parsed))
    items.sort(key=lambda kv: not kv[0].endswith(".name"))
    given = {key for key, _ in items}
    for key, value in items:
        if key in SECTIONS:
            raise ConfigError("--set", f"{key}={value}", f"one parameter at a time, section.key=value ({key}.name=..., "
                              f"or --set {key}.KEY=VALUE for each of its parameters)", reason="sets a whole section")
        if "." not in key:
            raise ConfigError("--set", key, "section.key with section one of " + ", ".join(SECTIONS), reason="malformed key")
        section, name = key.split(".", 1)
        if section not in SECTIONS:
            close = difflib.get_close_matches(section, SECTIONS, n=1)
            hint = f" (did you mean {close[0]}.{name}?)" if close else ""
            raise ConfigError(key, value, "a key in one of the sections " + ", ".join(SECTIONS) + hint, reason="unknown section")
        current = dict(_section(raw, section))
        switched = name == "name" and current.get("name") != value
        if switched:
            current = {}  # switching component: drop the old one's parameters
        current[name] = value
        raw[section] = current
        if switched and section == "model":  # its own tokenizer, learning rate... unless given
            raw = {**with_architecture_settings({k: v for k, v in raw.items() if k != "model"}, str(value), given), "model": current}
    return raw
