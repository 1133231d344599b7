"""Train: task -> data -> architecture(s) -> hyperparameters -> Start.

Every hyperparameter widget is generated from its declaration (app.components.forms). Start
validates the config, queues the run(s) and jumps to the Run page; training happens in a
worker process, so this page returns at once. Several architectures make a race: same data,
same training budget and seed, one tag, one overlaid chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app.components.forms import component_select, section_form
from app.state import (
    clear_keys,
    device_text,
    get_store,
    launch,
    new_race_tag,
    open_run_page,
    prewarm_workers,
)
from core.config import RunConfig, default_config, section_params, validate_config
from core.errors import ConfigError, WorkbenchError
from core.paths import safe_join
from core.registry import DATASETS, MODELS, OPTIMIZERS, SCHEDULES, TASKS, TOKENIZERS
from core.reproduce import reproduce_command

FORM = "train.form"  # the form's values (plain session state: survives leaving the page)
W = "train.w"  # widget keys are f"{W}{generation}.section.component.param"
UPLOAD = "upload: "  # data choices for files the Data page stored in {home}/uploads
TRAIN_DATA_KEY = "train_data"  # what the Data page hands over: {"task", "data"}

# Presets are overrides on the task's defaults; a key applies only where the chosen component
# declares it (d_model for transformers, hidden_size for RNNs...).
PRESETS: dict[str, dict[str, Any]] = {
    "Quick (under 30 s on CPU)": {
        # Narrower transformers and a shorter budget; RNNs and TextCNN are already cheap.
        "training.max_steps": 200, "training.eval_every": 50, "training.eval_max_batches": 10,
        "model.d_model": 64, "model.d_ff": 256, "task.sample_length": 120,
    },
    "Default": {},
    "Bigger": {
        "training.max_steps": 3000, "training.eval_every": 250,
        "model.d_model": 256, "model.d_ff": 1024, "model.n_heads": 8,
        "model.embed_dim": 256, "model.hidden_size": 256, "model.n_filters": 200,
    },
}
DEFAULT_PRESET = "Default"
HYPER_SECTIONS = (("tokenizer", TOKENIZERS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES))


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
        # The task's own settings for its default components (e.g. a BiLSTM, lr 3e-3) first.
        task_default = default_config(form["task"]).get(section, {})
        same = section == "training" or task_default.get("name") == name
        values = {k: v for k, v in task_default.items() if k != "name"} if same else {}
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


def adopt_data_choice() -> None:
    """Start the form from the Data page's "Use this data in Train" (its task and dataset), once."""
    choice = st.session_state.pop(TRAIN_DATA_KEY, None)
    if not choice or choice.get("task") not in TASKS.names():
        return
    old = form_state()
    form = fresh_form(choice["task"], old["preset"])
    form["gen"] = old["gen"]
    reset_widgets(form)
    data = dict(choice.get("data") or {})
    if data.get("name") == "file":
        pick = UPLOAD + Path(data.pop("path", "")).name
        form["values"][f"data/{pick}"] = {k: v for k, v in data.items() if k != "name"}  # its columns
    else:
        pick = data.get("name") or form["picks"]["data"]
    form["picks"]["data"] = pick
    st.session_state[FORM] = form
    st.session_state["train.task"] = choice["task"]  # the task box is drawn from its own state


def uploads_dir() -> Path:
    return safe_join(get_store().home, "uploads")


def data_choices(task: str) -> list[str]:
    builtin = [n for n in DATASETS.names(tasks=task) if n != "file"]
    folder = uploads_dir()
    files = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return builtin + [UPLOAD + f for f in files]


# -- drawing -------------------------------------------------------------------------------------
def data_section(form: dict[str, Any], task: str) -> dict[str, Any]:
    choices = data_choices(task)
    current = form["picks"]["data"]
    choice = st.selectbox(
        "Dataset", choices, index=choices.index(current) if current in choices else 0, key=f"{wk(form)}.data",
        help="Built-in offline datasets for this task, then files uploaded on the Data page.",
    )
    form["picks"]["data"] = choice
    if choice.startswith(UPLOAD):
        name, fixed = "file", {"path": str(safe_join(uploads_dir(), choice.removeprefix(UPLOAD)))}
        st.caption(f"Your file `{choice.removeprefix(UPLOAD)}`")
    else:
        name, fixed = choice, {}
        st.caption(DATASETS.get(name).help)
    values = start_values(form, "data", name, key=f"data/{choice}")
    with st.expander("Data parameters"):
        out = section_form("data", name, {**values, **fixed}, wk(form), exclude=fixed.keys())
    form["values"][f"data/{choice}"] = {k: v for k, v in out.items() if k != "name"}
    return out


def model_sections(form: dict[str, Any], archs: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with st.expander("Model", expanded=True, icon=":material/neurology:"):
        containers = st.tabs(archs) if len(archs) > 1 else [st.container()]
        for arch, box in zip(archs, containers, strict=True):
            with box:
                st.caption(MODELS.get(arch).help)
                out[arch] = section_form("model", arch, start_values(form, "model", arch), wk(form))
                form["values"][f"model/{arch}"] = {k: v for k, v in out[arch].items() if k != "name"}
    return out


def component_section(form: dict[str, Any], section: str, registry: Any, task: str) -> dict[str, Any]:
    names = registry.names(tasks=task) or registry.names()  # most are task-agnostic
    with st.expander(section.capitalize()):
        name = component_select(section, names, form["picks"][section], key=f"{wk(form)}.{section}")
        form["picks"][section] = name
        out = section_form(section, name, start_values(form, section, name), wk(form))
    form["values"][f"{section}/{name}"] = {k: v for k, v in out.items() if k != "name"}
    return out


def plain_section(form: dict[str, Any], section: str, name: str | None, title: str) -> dict[str, Any]:
    with st.expander(title):
        out = section_form(section, name, start_values(form, section, name), wk(form))
    form["values"][f"{section}/{name or ''}"] = {k: v for k, v in out.items() if k != "name"}
    return out


def build_configs(
    raw: dict[str, Any], models: dict[str, dict[str, Any]]
) -> tuple[list[RunConfig], list[str]]:
    """One validated config per architecture, plus readable problems (never an exception)."""
    configs, problems = [], []
    for arch, model in models.items():
        try:
            configs.append(validate_config({**raw, "model": model}))
        except ConfigError as exc:
            problems.append(f"{arch}: {exc}" if len(models) > 1 else str(exc))
    return configs, problems


# -- the page ------------------------------------------------------------------------------------
st.title("Train", anchor=False)
st.caption(
    f"Training runs on **{device_text()}** in a background worker: this page only queues the run, "
    "so you can close the browser and come back."
)
adopt_data_choice()
form = form_state()
prewarm_workers()  # an idle worker imports torch now, so Start trains within a second

left, right = st.columns([1, 2])
with left:
    tasks = TASKS.names()
    task = st.selectbox(
        "Task", tasks, index=tasks.index(form["task"]), key="train.task", on_change=on_task_change,
        help="What the model learns to do; it decides which datasets and architectures fit.",
    )
    st.caption(TASKS.get(task).help)
with right:
    st.segmented_control(
        "Preset", list(PRESETS), default=form["preset"], key="train.preset", required=True,
        on_change=on_preset_change,
        help="Starting values for the size of the model and the training budget; edit anything below.",
    )

data_col, arch_col = st.columns(2)
with data_col:
    data = data_section(form, task)
with arch_col:
    arch_options = MODELS.names(tasks=task)
    archs = st.multiselect(
        "Architecture", arch_options, default=[a for a in form["archs"] if a in arch_options], key=f"{wk(form)}.archs",
        help="Pick several to race them: same data, same budget (max_steps, seed), curves overlaid.",
    )
    form["archs"] = archs
    if len(archs) > 1:
        st.info(f"Race: {len(archs)} runs with the same data, steps and seed.", icon=":material/sports_score:")

st.subheader("Hyperparameters", anchor=False)
models = model_sections(form, archs) if archs else {}
raw: dict[str, Any] = {"data": data}
cols = st.columns(3)
for col, (section, registry) in zip(cols, HYPER_SECTIONS, strict=True):
    with col:
        raw[section] = component_section(form, section, registry, task)
cols = st.columns(2)
with cols[0]:
    raw["training"] = plain_section(form, "training", None, "Training (steps, batch, evaluation, device)")
with cols[1]:
    raw["task"] = plain_section(form, "task", task, f"Task: {task}")

configs, problems = build_configs(raw, models) if archs else ([], ["Pick at least one architecture."])

st.divider()
name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
with name_col:
    run_name = st.text_input(
        "Run name (optional)", key=f"{wk(form)}.name", placeholder="e.g. lstm-baseline",
        help="Defaults to the architecture plus a short id. In a race each run gets its architecture appended.",
    )
with button_col:
    start = st.button(
        "Start race" if len(archs) > 1 else "Start", type="primary", icon=":material/play_arrow:",
        disabled=bool(problems), width="stretch",
    )
for problem in problems:
    st.error(problem, icon=":material/error:")

if configs and not problems:
    with st.expander("Equivalent command line", icon=":material/terminal:"):
        st.code("\n".join(reproduce_command(c.to_dict()) for c in configs), language="bash", wrap_lines=True)

if start and configs and not problems:
    tags = [new_race_tag()] if len(configs) > 1 else []
    base = run_name.strip() if run_name else ""
    names = [(f"{base}-{c.arch}" if len(configs) > 1 else base) if base else None for c in configs]
    try:
        runs = launch(get_store(), configs, names=names, tags=tags)
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    open_run_page([r.id for r in runs])
