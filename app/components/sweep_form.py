"""The Sweeps page's Define form: base config, parameters to sweep with their ranges, and the
sweep settings, all drawn from declarations (the components' parameters and
:mod:`core.sweep.settings`); the engine validates what comes back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import streamlit as st

from app.components.forms import component_select, param_widget, section_form
from app.components.run_picker import pick_runs
from core.config import SECTION_REGISTRIES, default_config, section_params
from core.device import gpu_info
from core.errors import WorkbenchError
from core.metrics import METRICS, task_metrics
from core.params import Param
from core.registry import TASKS, task_label
from core.store import Store
from core.sweep import settings
from core.tasks.catalog import default_metric
from core.workers.supervisor import MAX_WORKERS_ENV, default_max_workers

COMPONENT_SECTIONS = ("data", "tokenizer", "model", "optimizer", "schedule")


# -- pure helpers (no Streamlit) ---------------------------------------------------------------------
def default_range(param: Param, gpu: bool = False) -> dict[str, Any]:
    """A sensible starting range around the declared default, inside the declared bounds
    (declared bounds are limits, e.g. lr in [1e-6, 10]: far too wide to search).

    A log-scale size (hidden units, widths: a log-scale int) spans what the hardware trains in
    a sweep's time: half to twice the default on a CPU (64..256 for 128), a quarter to four
    times on a GPU; a log-scale rate spans a decade each way."""
    if param.choices is not None or param.kind == "bool":
        return {"choices": list(param.choices or (True, False))}
    default = param.default if isinstance(param.default, int | float) else (param.low or 0)
    low, high = param.low, param.high
    if param.log and default > 0 and param.kind == "int":
        factor = 4 if gpu else 2
        lo, hi = default / factor, default * factor
    elif param.log and default > 0:
        lo, hi = default / 10, default * 10
    elif low is not None and high is not None and high - low <= 1:
        lo, hi = low, high  # a fraction such as dropout: the whole declared range
    elif default > 0:
        lo, hi = default / 2, default * 2
    else:
        lo, hi = (low if low is not None else 0), (high if high is not None else 1)
    lo = max(lo, low) if low is not None else lo
    hi = min(hi, high) if high is not None else hi
    if param.kind == "int":
        lo, hi = int(math.ceil(lo)), int(math.floor(hi))
        hi = max(hi, lo + 1)
    return {"low": lo, "high": hi, "log": bool(param.log)}


def sweepable_params(
    section: str, components: Sequence[str | None]
) -> list[tuple[Param, list[str | None]]]:
    """Sweepable parameters of a section over ``components``: (declaration, the components
    that declare it). A parameter not declared by all of them is conditional on the choice."""
    seen: dict[str, tuple[Param, list[str | None]]] = {}
    for comp in components:
        for p in section_params(section, comp):
            if p.sweepable:
                seen.setdefault(p.name, (p, []))[1].append(comp)
    return list(seen.values())


def knob_title(key: str, base: dict[str, Any]) -> str:
    """How the Train form labels the swept parameter ``key`` (``optimizer.lr`` -> its Param
    title): declared by the base config's component, else by any component of the section
    (a knob conditional on a component that a trial picks); ``model.name`` is the section's kind."""
    section, _, name = key.partition(".")
    if section == "training":
        found = [p for p in section_params("training") if p.name == name]
        return found[0].title if found else key
    if section not in SECTION_REGISTRIES:
        return key
    registry = SECTION_REGISTRIES[section]
    if name == "name":
        return registry.kind.capitalize()
    chosen = (base.get(section) or {}).get("name")
    for comp in [chosen, *registry.names()]:
        if comp in registry.names():
            found = [p for p in section_params(section, comp) if p.name == name]
            if found:
                return found[0].title
    return key


def objective_param(task: str) -> Param:
    """The objective setting for ``task``: its choices are the metrics the task reports as
    objectives (core/metrics/catalog.py), its default the task's own metric."""
    names = tuple(m.name for m in task_metrics(task, objective=True))
    return replace(settings.METRIC, choices=names, default=default_metric(task), optional=False)


# -- widgets -----------------------------------------------------------------------------------------
def base_config_input(store: Store, key: str) -> dict[str, Any] | None:
    """The base config every trial starts from: built from the form, or a run's config."""
    source = st.radio("Base config", ["From the form", "From a run"], horizontal=True, key=f"{key}.source",
                      help="Every trial starts from this config and changes only the swept parameters.")
    if source == "From a run":
        run_id = pick_runs(store, f"{key}.run", multi=False, label="Run")
        if run_id is None:
            st.info("No runs yet: build the base config from the form instead.")
            return None
        return store.get_run(run_id).config
    task = st.selectbox("Task", TASKS.names(), key=f"{key}.task", format_func=task_label)
    defaults = default_config(task)
    raw: dict[str, Any] = {"task": {"name": task}}
    with st.expander("Base config", expanded=False, icon=":material/tune:"):
        raw["task"] = section_form("task", task, {}, key)
        for section in COMPONENT_SECTIONS:
            registry = SECTION_REGISTRIES[section]
            names = registry.names(tasks=task) or registry.names()
            current = defaults[section]["name"]
            name = component_select(section, names, current, key=f"{key}.{task}.{section}")
            values = {k: v for k, v in defaults[section].items() if k != "name"} if name == current else {}
            raw[section] = section_form(section, name, values, f"{key}.{task}")
        raw["training"] = section_form("training", None, defaults.get("training", {}), f"{key}.{task}")
    return raw


def settings_input(task: str, key: str) -> dict[str, Any]:
    """One widget per sweep setting (core/sweep/settings.py), starting at its declared default;
    returns the values by setting name. The metric's choices are the task's objectives."""
    values: dict[str, Any] = {}

    def widget(param: Param, widget_key: str | None = None, **kwargs: Any) -> Any:
        values[param.name] = param_widget(param, param.default, widget_key or f"{key}.{param.name}",
                                          label=param.title, **kwargs)
        return values[param.name]

    method = widget(settings.METHOD, format_func=lambda m: settings.choice(settings.METHODS, m).label)
    st.caption(settings.choice(settings.METHODS, method).help)
    # One widget per task: a metric chosen for one task may not exist for the next. A change of
    # task starts it again at the new task's own metric, and says so.
    objective = objective_param(task)
    previous = st.session_state.get(f"{key}.objective_task")
    st.session_state[f"{key}.objective_task"] = task
    widget(objective, f"{key}.{settings.METRIC.name}.{task}", format_func=lambda m: METRICS[m].label)
    if previous is not None and previous != task:
        st.info(f"The task is now {task_label(task)}: the objective starts again at its own metric, "
                f"{METRICS[objective.default].label} (the list is {task_label(task)}'s metrics).",
                icon=":material/restart_alt:")
    widget(settings.DIRECTION)
    # A search that never ends on its own starts with a budget (a valid sweep from the first
    # view); a grid starts with none, so it runs every point. Each has its own widget.
    budget = (settings.TRIALS if method == "grid"
              else replace(settings.TRIALS, default=settings.SUGGESTED_TRIALS))
    trials_key = f"{key}.{settings.TRIALS.name}" + (".grid" if method == "grid" else "")
    for column, param, widget_key in zip(st.columns(2), (budget, settings.TIME_LIMIT),
                                         (trials_key, None), strict=True):
        with column:
            widget(param, widget_key)
    pruner = widget(settings.PRUNER, format_func=lambda p: settings.choice(settings.PRUNERS, p).label)
    st.caption(settings.choice(settings.PRUNERS, pruner).help)
    for column, param in zip(st.columns(2), (settings.WORKERS, settings.SEED), strict=True):
        with column:
            widget(param)
    cap = machine_worker_cap()
    if cap is not None and values.get(settings.WORKERS.name, 1) > cap:
        st.caption(f"This machine trains {cap} run{'s' if cap > 1 else ''} at a time ({MAX_WORKERS_ENV}), so the "
                   f"trials will take turns. To train {values[settings.WORKERS.name]} at once, start the app with "
                   f"{MAX_WORKERS_ENV}={values[settings.WORKERS.name]}.")
    widget(settings.NAME)
    return values


def machine_worker_cap() -> int | None:
    """How many trainings this machine's supervisor runs at once (None: its setting is unreadable,
    which the supervisor itself reports)."""
    try:
        return default_max_workers()
    except WorkbenchError:
        return None


def space_input(config: dict[str, Any], method: str, key: str) -> dict[str, Any]:
    """Tick parameters and set their ranges; returns the raw space (validated by the engine)."""
    space: dict[str, Any] = {}
    task = config["task"]["name"]
    for section in (*COMPONENT_SECTIONS, "training"):
        with st.expander(section.capitalize(), expanded=section in ("model", "optimizer")):
            components: list[str | None] = [None]
            if section != "training":
                base_name = config[section]["name"]
                components = [base_name]
                registry = SECTION_REGISTRIES[section]
                names = registry.names(tasks=task) if section in ("model", "data") else registry.names()
                if len(names) > 1 and section != "data":
                    name_key = f"{section}.name"
                    if st.checkbox(f"Try several {registry.kind}s", key=f"{key}.tick.{name_key}",
                                   help=f"`{name_key}`: each trial picks one"):
                        picked = st.multiselect(f"{registry.kind.capitalize()}s to try", names, default=[base_name],
                                                key=f"{key}.range.{name_key}")
                        space[name_key] = {"choices": picked}
                        components = list(picked) or [base_name]
            for param, owners in sweepable_params(section, components):
                param_key = f"{section}.{param.name}"
                when = None
                if section != "training" and len(owners) < len(components):
                    when = {f"{section}.name": owners}
                # The Train form's words; the key a sweep file and the CLI use is in the help.
                label = param.title + (f" (only {', '.join(map(str, owners))})" if when else "")
                if not st.checkbox(label, key=f"{key}.tick.{param_key}", help=f"{param.help} (`{param_key}`)"):
                    continue
                base_value = (config.get(section) or {}).get(param.name) if section == "training" or \
                    (config.get(section) or {}).get("name") in owners else None
                spec = range_input(param, param.title, method, f"{key}.range.{param_key}", base_value)
                if when:
                    spec["when"] = when
                space[param_key] = spec
    return space


def range_input(param: Param, name: str, method: str, key: str, value: Any = None) -> dict[str, Any]:
    """The values to try for one parameter (``name``: how the form labels it): choices, or low /
    high / log (and grid points), starting around ``value`` (the base config's) on the hardware
    training will run on."""
    around = param if value is None or param.choices is not None else replace(param, default=value)
    start = default_range(around, gpu=bool(gpu_info()))
    if "choices" in start or param.kind in ("str", "ints", "floats"):
        if param.kind in ("str", "ints", "floats") and param.choices is None:
            text = st.text_input(f"{name} values (separated by |)", value=str(param.default), key=key,
                                 help="Each value is checked against the declaration.")
            return {"choices": [v.strip() for v in text.split("|") if v.strip()]}
        return {"choices": st.multiselect(f"{name} values", start["choices"], default=start["choices"], key=key)}
    cols = st.columns([2, 2, 1, 1] if method == "grid" else [2, 2, 1])
    number = int if param.kind == "int" else float
    fmt = "%g" if param.kind == "float" else "%d"
    low = cols[0].number_input(f"{name} low", value=number(start["low"]), format=fmt, key=f"{key}.low")
    high = cols[1].number_input(f"{name} high", value=number(start["high"]), format=fmt, key=f"{key}.high")
    log = cols[2].checkbox("log", value=start["log"], key=f"{key}.log", help="Search on a log scale.")
    spec: dict[str, Any] = {"low": low, "high": high, "log": log}
    if method == "grid":
        with cols[3]:
            spec["points"] = param_widget(settings.GRID_POINTS, settings.GRID_POINTS.default, f"{key}.points",
                                          label=settings.GRID_POINTS.title)
    return spec
