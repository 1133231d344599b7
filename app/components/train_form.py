"""The Train page's form: its state across reruns (task, preset, chosen components, values the
user typed), the sections drawn from declarations, and one validated config per architecture.

Widget keys carry a generation number: changing the task or preset starts a new generation so
every widget starts from the new values (the browser keeps a widget's value for as long as its
key lives).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app.components.data_options import column_choice, header_choice, page_words
from app.components.data_preview import read_table, stored_file_problem
from app.components.forms import component_select, section_form
from app.components.learn_view import learn_link
from app.components.uploads import stored_uploads, uploads_dir
from app.state import clear_keys, get_store
from core.config import (
    RunConfig,
    architecture_settings,
    check_path_names,
    default_config,
    section_params,
    tuned_settings,
    validate_config,
    with_architecture_settings,
)
from core.errors import ConfigError, WorkbenchError
from core.paths import safe_join
from core.registry import DATASETS, MODELS, OPTIMIZERS, SCHEDULES, TASKS, TOKENIZERS, arch_label

FORM = "train.form"  # the form's values (plain session state: survives leaving the page)
W = "train.w"  # widget keys are f"{W}{generation}.section.component.param"
UPLOAD = "upload: "  # data choices for files the Data page stored in {home}/uploads
HF_DATASET = "Hugging Face dataset (folder or hub name)"  # the file dataset with data.dataset
TRAIN_DATA_KEY = "train_data"  # what the Data page hands over: {"task", "data"}

# Presets are overrides on the task's defaults; a key applies only where the chosen component
# declares it (d_model for transformers, hidden_size for RNNs...).
PRESETS: dict[str, dict[str, Any]] = {
    "Quick (under a minute on CPU)": {
        # Narrower models and a shorter budget (300 steps: the classifier still learns, ~0.77);
        # each task's own evaluation size (a summary is decoded: costly). As a race of two, one
        # CPU thread each (2026-12-07): 7-21 s a run, summarisation's seq2seq_rnn 35 s.
        "training.max_steps": 300, "training.eval_every": 50,
        "model.d_model": 64, "model.d_ff": 128, "model.embed_dim": 64, "model.hidden_size": 64,
        "task.sample_length": 120,
    },
    "Default": {},
    "Bigger": {
        "training.max_steps": 3000, "training.eval_every": 250,
        "model.d_model": 256, "model.d_ff": 1024, "model.n_heads": 8,
        "model.embed_dim": 256, "model.hidden_size": 256, "model.n_filters": 200,
    },
}
DEFAULT_PRESET = "Default"
HYPER_SECTIONS = {"tokenizer": TOKENIZERS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES}


# -- form state ----------------------------------------------------------------------------------
def fresh_form(task: str, preset: str = DEFAULT_PRESET) -> dict[str, Any]:
    raw = default_config(task)
    picks = {s: raw[s]["name"] for s in ("data", "tokenizer", "optimizer", "schedule")}
    return {
        "task": task, "preset": preset, "picks": picks, "archs": [raw["model"]["name"]], "values": {},
        "gen": 0,
    }


def form_state() -> dict[str, Any]:
    if FORM not in st.session_state:
        st.session_state[FORM] = fresh_form(TASKS.names()[0])
    return st.session_state[FORM]


def start_values(form: dict[str, Any], section: str, name: str | None, key: str | None = None) -> dict[str, Any]:
    """A section's values: what the user set before, else the task defaults plus the preset.

    ``key`` names the slot in the form (default ``section/name``); uploads use their choice.
    """
    key = key or f"{section}/{name or ''}"
    if key not in form["values"]:
        # The task's own settings first (e.g. a BiLSTM with max pooling, lr 3e-3); a model
        # setting applies to every architecture that has it, so a race starts like for like.
        values = tuned_settings(form["task"], section, name)
        declared = {p.name for p in section_params(section, name)}
        for dotted, value in PRESETS.get(form["preset"], {}).items():
            sec, param = dotted.split(".", 1)
            if sec == section and param in declared:
                values[param] = value
        form["values"][key] = values
    return form["values"][key]


def wk(form: dict[str, Any]) -> str:
    """The widget key prefix of the form's current generation."""
    return f"{W}{form['gen']}"


def reset_widgets(form: dict[str, Any]) -> None:
    # The browser keeps a widget's value for as long as its key lives, whatever value= the
    # script passes; new keys (a new generation) make every widget start from the new values.
    clear_keys(wk(form) + ".")
    form["gen"] += 1


def on_task_change() -> None:
    old = form_state()
    new = fresh_form(st.session_state["train.task"], old["preset"])
    new["gen"] = old["gen"]
    reset_widgets(new)
    st.session_state[FORM] = new


def on_preset_change() -> None:
    form = form_state()
    form["preset"] = st.session_state["train.preset"] or DEFAULT_PRESET
    form["values"] = {}
    reset_widgets(form)


def on_archs_change() -> None:
    """Architectures with settings of their own (hf_pretrained: its tokenizer, a fine-tuning
    learning rate) bring them into the form when every chosen one asks for the same; leaving
    them puts the task's settings back."""
    form = form_state()
    before, after = (_common_settings(a, form["task"])
                     for a in (form["archs"], st.session_state.get(f"{wk(form)}.archs") or []))
    form["archs"] = list(st.session_state.get(f"{wk(form)}.archs") or [])
    if before == after:
        return
    task = default_config(form["task"])
    for section, values in before.items():  # back to the task's own
        if "name" in values:
            form["picks"][section] = task[section]["name"]
        slot = start_values(form, section, form["picks"][section])
        tuned = tuned_settings(form["task"], section, form["picks"][section])
        for key in values.keys() & tuned.keys():
            if slot.get(key) == values[key]:  # a value the user typed stays
                slot[key] = tuned[key]
    for section, values in after.items():
        form["picks"][section] = values.get("name", form["picks"][section])
        slot = start_values(form, section, form["picks"][section])
        tuned = tuned_settings(form["task"], section, form["picks"][section])
        for key, value in values.items():
            if key != "name" and (key not in slot or slot[key] == tuned.get(key)):
                slot[key] = value
    reset_widgets(form)


def own_settings_note(archs: list[str]) -> str | None:
    """What the chosen architectures' own settings do to the form (None when they have none)."""
    form = form_state()
    task = form["task"]
    parts = {arch_label(a): ", ".join(f"{_title(form, a, s, k)} {v:g}" if isinstance(v, float) else
                                      f"{_title(form, a, s, k)} {v}" for s, vals in own.items() for k, v in vals.items())
             for a in archs if (own := architecture_settings(a, task))}
    if not parts:
        return None
    if _common_settings(archs, task):
        return f"**{' and '.join(parts)}** brings its own settings, set below: {next(iter(parts.values()))}."
    return "In this race " + "; ".join(f"**{a}** uses {text}" for a, text in parts.items()) + \
        " (its own settings, over the ones below)."


def _title(form: dict[str, Any], arch: str, section: str, key: str) -> str:
    """A setting as the form labels it ("Learning rate", not ``optimizer.lr``)."""
    if key == "name":  # the section's component picker
        return section.capitalize()
    component = arch if section == "model" else form["picks"].get(section)
    try:
        return next(p.title for p in section_params(section, component) if p.name == key)
    except (StopIteration, ConfigError):
        return f"{section}.{key}"


def _common_settings(archs: list[str], task: str) -> dict[str, dict[str, Any]]:
    wanted = [architecture_settings(a, task) for a in archs]
    return wanted[0] if wanted and all(w == wanted[0] for w in wanted) else {}


# The Data page's button sits at its foot, and the page's scroll position outlives the switch:
# the form starts at its top instead (st.html runs it in the page, once).
_TO_TOP = """<script>document.querySelector('[data-testid="stMain"]')?.scrollTo(0, 0);</script>"""


def adopt_data_choice() -> None:
    """Start the form from the Data page's "Use this data in Train" (its task, dataset and
    columns), once, at the top of the page."""
    choice = st.session_state.pop(TRAIN_DATA_KEY, None)
    if not choice or choice.get("task") not in TASKS.names():
        return
    st.html(_TO_TOP, unsafe_allow_javascript=True)
    old = form_state()
    form = fresh_form(choice["task"], old["preset"])
    form["gen"] = old["gen"]
    reset_widgets(form)
    data = dict(choice.get("data") or {})
    if data.get("name") == "file" and data.get("dataset"):
        pick = HF_DATASET
        form["values"][f"data/{pick}"] = {k: v for k, v in data.items() if k != "name"}
    elif data.get("name") == "file":
        pick = UPLOAD + Path(data.pop("path", "")).name
        form["values"][f"data/{pick}"] = {k: v for k, v in data.items() if k != "name"}  # its columns
    else:
        pick = data.get("name") or form["picks"]["data"]
    form["picks"]["data"] = pick
    st.session_state[FORM] = form
    st.session_state["train.task"] = choice["task"]  # the task box is drawn from its own state


def dataset_label(choice: str) -> str:
    """A choice of the Dataset picker in words: a built-in set by its declared label, an upload
    by its file name."""
    if choice.startswith(UPLOAD):
        return f"Your file: {choice.removeprefix(UPLOAD)}"
    return choice if choice == HF_DATASET else DATASETS.label(choice)


def data_choices(task: str) -> list[str]:
    """Built-in datasets of the task, then the stored uploads (newest first), then a Hugging Face
    dataset where the task reads files."""
    builtin = [n for n in DATASETS.names(tasks=task) if n != "file"]
    hf = [HF_DATASET] if task in DATASETS.get("file").meta.get("tasks", ()) else []
    folder = uploads_dir(get_store().home)
    # A file no choice of columns can train the task with (one column to classify) is not offered:
    # the Data page said why when it was uploaded.
    usable = [f for f in stored_uploads(folder)
              if stored_file_problem(str(folder / f), (folder / f).stat().st_mtime, task) is None]
    return builtin + [UPLOAD + f for f in usable] + hf


# -- drawing -------------------------------------------------------------------------------------
# Each section is a bordered box: its essential fields, then the others under "Advanced". A
# box in half the page lays out two fields per row, the model across the page four, so no
# label is cut.
HALF, FULL = 2, 4


def data_section(form: dict[str, Any], task: str) -> tuple[dict[str, Any], str | None]:
    """The data section, and why it cannot train (None when it can): for an uploaded file, the
    Data page's pickers of its own columns (``column_choice``) stand for the free-text fields."""
    choices = data_choices(task)
    current = form["picks"]["data"]
    choice = st.selectbox(
        "Dataset", choices, index=choices.index(current) if current in choices else 0, key=f"{wk(form)}.data",
        format_func=dataset_label,
        help="Built-in offline datasets for this task, then files uploaded on the Data page.",
    )
    form["picks"]["data"] = choice
    columns: dict[str, Any] | None = {}
    if choice.startswith(UPLOAD):
        path = safe_join(uploads_dir(get_store().home), choice.removeprefix(UPLOAD))
        name, fixed = "file", {"path": str(path)}
        values = start_values(form, "data", name, key=f"data/{choice}")
        columns = file_columns(form, task, path, values)
        fixed.update(columns or {})
    elif choice == HF_DATASET:
        name, fixed = "file", {"path": ""}
        st.caption("A folder written by save_to_disk, or a hub name such as imdb (needs network): "
                   "give it as *HF dataset* under Advanced.")
    else:
        name, fixed = choice, {}
        st.caption(DATASETS.get(name).help)
    values = start_values(form, "data", name, key=f"data/{choice}")
    drawn = COLUMN_PARAMS if choice.startswith(UPLOAD) else ()
    out = section_form("data", name, {**values, **fixed}, wk(form), exclude={*fixed, *drawn}, columns=HALF)
    form["values"][f"data/{choice}"] = {k: v for k, v in out.items() if k != "name"}
    if columns is None:
        return out, "Pick the file's columns above: this choice of columns cannot train."
    return out, None


# The file dataset's settings the column pickers choose (the rest of its section stays a form).
COLUMN_PARAMS = ("header", "text_column", "text_fields", "separator", "label_column", "label_names")


def file_columns(form: dict[str, Any], task: str, path: Path, values: dict[str, Any]) -> dict[str, Any] | None:
    """An uploaded file's header row and columns, picked among its own columns as on the Data
    page, starting from ``values`` (what the Data page handed over, or the user chose here);
    None when no choice of them can train (the pickers say why)."""
    header = header_choice(path, prefix=f"{wk(form)}.data", start=values.get("header"))
    try:
        columns, rows, headed = read_table(str(path), path.stat().st_mtime, header)
    except (WorkbenchError, OSError) as exc:
        st.error(page_words(str(exc).replace(str(path), path.name)))
        return None
    choice = column_choice(task, path, columns, rows, headed, prefix=f"{wk(form)}.data", start=values)
    if choice is None:
        return None
    # A setting the pickers leave out (one text column: no separator) takes its default, never a
    # value kept from an earlier choice.
    defaults = {p: DATASETS.get("file").param(p).default for p in COLUMN_PARAMS}
    return {**{p: defaults[p] for p in COLUMN_PARAMS}, "header": header, **choice}


def model_sections(form: dict[str, Any], archs: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with st.container(border=True):
        st.markdown(":material/neurology: **Model**")
        containers = st.tabs([arch_label(a) for a in archs]) if len(archs) > 1 else [st.container()]
        for arch, box in zip(archs, containers, strict=True):
            with box:
                st.caption(MODELS.get(arch).help)
                out[arch] = section_form("model", arch, start_values(form, "model", arch), wk(form), columns=FULL)
                form["values"][f"model/{arch}"] = {k: v for k, v in out[arch].items() if k != "name"}
    return out


def component_section(form: dict[str, Any], section: str, registry: Any, task: str) -> dict[str, Any]:
    names = registry.names(tasks=task) or registry.names()  # most are task-agnostic
    with st.container(border=True):
        name = component_select(section, names, form["picks"][section], key=f"{wk(form)}.{section}")
        form["picks"][section] = name
        out = section_form(section, name, start_values(form, section, name), wk(form), columns=HALF)
        if section == "optimizer":  # its update rule, one step worked by hand on a trained run
            learn_link("optimizer", optimizer=name)
    form["values"][f"{section}/{name}"] = {k: v for k, v in out.items() if k != "name"}
    return out


def plain_section(form: dict[str, Any], section: str, name: str | None, title: str,
                  columns: int = HALF) -> dict[str, Any]:
    with st.container(border=True):
        st.markdown(f"**{title}**")
        out = section_form(section, name, start_values(form, section, name), wk(form), columns=columns)
        if section == "task" and name in ("classification", "language_model"):  # the loss it trains on
            learn_link("output", label="How is the loss computed?")
    form["values"][f"{section}/{name or ''}"] = {k: v for k, v in out.items() if k != "name"}
    return out


def build_configs(
    raw: dict[str, Any], models: dict[str, dict[str, Any]]
) -> tuple[list[RunConfig], list[str]]:
    """One validated config per architecture, plus readable problems (never an exception).

    In a race the shared sections are drawn once; an entrant with settings of its own
    (hf_pretrained: its tokenizer, a fine-tuning rate) gets them over the shared ones
    (:func:`own_settings_note` says so on the page)."""
    configs, problems = [], []
    shared = _common_settings(list(models), raw["task"]["name"])
    for arch, model in models.items():
        entrant = {**raw, "model": model}
        if not shared:
            entrant = with_architecture_settings(entrant, arch)
        try:
            check_path_names(entrant)  # a path typed with a control character, as on the CLI
            configs.append(validate_config(entrant))
        except ConfigError as exc:
            problems.append(f"{arch}: {exc}" if len(models) > 1 else str(exc))
    return configs, problems


