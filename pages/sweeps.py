"""Sweeps: define a hyperparameter search, watch its trials live, analyse the result.

Everything is a call into ``core.sweep``: the search space is built from the parameter
declarations (the same ones the Train form uses), launching starts a detached driver process
with local workers, and the page only reads the store and the Optuna study.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import yaml

from app.components.charts import color_map, empty_figure, metric_curves_figure
from app.components.forms import component_select, section_form
from app.components.run_picker import pick_runs
from app.state import get_store, open_run_page, start_workers, workers_disabled
from core import sweep as sw
from core.config import SECTION_REGISTRIES, default_config, section_params, validate_config
from core.errors import ConfigError, WorkbenchError
from core.metrics import METRICS, task_metrics
from core.params import Param
from core.registry import TASKS
from core.store import Store, SweepRecord

VIEW = "sweeps.view"
NEXT_VIEW = "sweeps.next_view"
PICK = "sweeps.pick"
D = "sweeps.def"  # widget-key prefix of the Define view
VIEWS = ("Define", "Watch", "Analyse")
POLL_SECONDS = 3.0
COMPONENT_SECTIONS = ("data", "tokenizer", "model", "optimizer", "schedule")


# -- pure helpers (no Streamlit) ---------------------------------------------------------------------
def default_range(param: Param) -> dict[str, Any]:
    """A sensible starting range around the declared default, inside the declared bounds
    (declared bounds are limits, e.g. lr in [1e-6, 10]: far too wide to search)."""
    if param.choices is not None or param.kind == "bool":
        return {"choices": list(param.choices or (True, False))}
    default = param.default if isinstance(param.default, int | float) else (param.low or 0)
    low, high = param.low, param.high
    if param.log and default > 0:
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


def history_figure(frame: pd.DataFrame, metric: str, direction: str) -> go.Figure:
    """Objective per finished trial (pruned ones at their last reported value) and the best
    so far."""
    done = frame[frame["status"].isin(["complete", "pruned"])].sort_values("trial")
    if done.empty:
        return empty_figure("No finished trials yet")
    fig = go.Figure()
    for status, symbol in (("complete", "circle"), ("pruned", "x")):
        part = done[done["status"] == status]
        if not part.empty:
            fig.add_trace(go.Scatter(
                x=part["trial"], y=part["value"], mode="markers", name=status,
                marker={"symbol": symbol, "size": 9},
                hovertemplate="trial %{x}: %{y:.4g}<extra>" + status + "</extra>",
            ))
    complete = done[done["status"] == "complete"]
    if not complete.empty:
        best = sw.best_so_far(complete["value"].tolist(), direction)
        fig.add_trace(go.Scatter(x=complete["trial"], y=best, mode="lines", name="best so far",
                                 line={"shape": "hv"}))
    fig.update_layout(title="Optimisation history", xaxis_title="Trial", yaxis_title=f"val {metric}",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    # Trials are whole numbers: ticks at integers only (plotly would put one at 0.5).
    fig.update_xaxes(tickmode="linear", tick0=0, dtick=max(1, math.ceil((int(done["trial"].max()) + 1) / 10)))
    return fig


def curves_figure(curves: pd.DataFrame, metric: str) -> go.Figure:
    """Every trial's validation curve, overlaid; a pruned trial's curve ends in a cross."""
    if curves.empty:
        return empty_figure(f"No val {metric} yet")
    curves = curves.sort_values(["trial", "step"], kind="stable")  # legend in trial order
    labels = [str(v) for v in curves["run"].drop_duplicates()]
    fig = metric_curves_figure(curves, metric, color="run", colors=color_map(labels),
                               title=f"Learning curves: val {metric}")
    ends = curves[curves["status"] == "pruned"].sort_values("step").groupby("run").tail(1)
    if not ends.empty:
        fig.add_trace(go.Scatter(x=ends["step"], y=ends["value"], mode="markers", name="pruned here",
                                 marker={"symbol": "x", "size": 12, "color": "black"},
                                 hovertemplate="%{text} pruned at step %{x}<extra></extra>",
                                 text=ends["run"]))
    return fig


# -- Define ----------------------------------------------------------------------------------------
def base_config_input(store: Store) -> dict[str, Any] | None:
    source = st.radio("Base config", ["From the form", "From a run"], horizontal=True, key=f"{D}.source",
                      help="Every trial starts from this config and changes only the swept parameters.")
    if source == "From a run":
        run_id = pick_runs(store, f"{D}.run", multi=False, label="Run")
        if run_id is None:
            st.info("No runs yet: build the base config from the form instead.")
            return None
        return store.get_run(run_id).config
    task = st.selectbox("Task", TASKS.names(), key=f"{D}.task")
    defaults = default_config(task)
    raw: dict[str, Any] = {"task": {"name": task}}
    with st.expander("Base config", expanded=False, icon=":material/tune:"):
        raw["task"] = section_form("task", task, {}, D)
        for section in COMPONENT_SECTIONS:
            registry = SECTION_REGISTRIES[section]
            names = registry.names(tasks=task) or registry.names()
            current = defaults[section]["name"]
            name = component_select(section, names, current, key=f"{D}.{task}.{section}")
            values = {k: v for k, v in defaults[section].items() if k != "name"} if name == current else {}
            raw[section] = section_form(section, name, values, f"{D}.{task}")
        raw["training"] = section_form("training", None, defaults.get("training", {}), f"{D}.{task}")
    return raw


def space_input(config: dict[str, Any], method: str) -> dict[str, Any]:
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
                    key = f"{section}.name"
                    if st.checkbox(f"`{key}`: try several {registry.kind}s", key=f"{D}.tick.{key}"):
                        picked = st.multiselect(f"{key} choices", names, default=[base_name],
                                                key=f"{D}.range.{key}")
                        space[key] = {"choices": picked}
                        components = list(picked) or [base_name]
            for param, owners in sweepable_params(section, components):
                key = f"{section}.{param.name}"
                when = None
                if section != "training" and len(owners) < len(components):
                    when = {f"{section}.name": owners}
                label = f"`{key}`" + (f" (only {', '.join(map(str, owners))})" if when else "")
                if not st.checkbox(label, key=f"{D}.tick.{key}", help=param.help):
                    continue
                spec = range_input(param, key, method)
                if when:
                    spec["when"] = when
                space[key] = spec
    return space


def range_input(param: Param, key: str, method: str) -> dict[str, Any]:
    start = default_range(param)
    k = f"{D}.range.{key}"
    if "choices" in start or param.kind in ("str", "ints", "floats"):
        if param.kind in ("str", "ints", "floats") and param.choices is None:
            text = st.text_input(f"{key} values (separated by |)", value=str(param.default), key=k,
                                 help="Each value is checked against the declaration.")
            return {"choices": [v.strip() for v in text.split("|") if v.strip()]}
        return {"choices": st.multiselect(f"{key} values", start["choices"], default=start["choices"], key=k)}
    cols = st.columns([2, 2, 1, 1] if method == "grid" else [2, 2, 1])
    number = int if param.kind == "int" else float
    fmt = "%g" if param.kind == "float" else "%d"
    low = cols[0].number_input(f"{key} low", value=number(start["low"]), format=fmt, key=f"{k}.low")
    high = cols[1].number_input(f"{key} high", value=number(start["high"]), format=fmt, key=f"{k}.high")
    log = cols[2].checkbox("log", value=start["log"], key=f"{k}.log", help="Search on a log scale.")
    spec: dict[str, Any] = {"low": low, "high": high, "log": log}
    if method == "grid":
        spec["points"] = int(cols[3].number_input("points", min_value=2, max_value=50, value=3, key=f"{k}.points"))
    return spec


def define_view(store: Store) -> None:
    raw = base_config_input(store)
    if raw is None:
        return
    try:
        base = validate_config(raw)
    except ConfigError as exc:
        st.error(f"Base config: {exc}")
        return
    left, right = st.columns([3, 2])
    with right:
        method = st.selectbox("Method", list(sw.METHODS), index=list(sw.METHODS).index("tpe"),
                              format_func=lambda m: sw.METHODS[m].split(":")[0], key=f"{D}.method")
        st.caption(sw.METHODS[method].split(": ", 1)[-1])  # the whole sentence did not fit the box
        metrics = [m.name for m in task_metrics(base.task, objective=True)]
        metric = st.selectbox("Objective (validation metric)", metrics, key=f"{D}.metric",
                              index=metrics.index(TASKS.get(base.task).factory.default_metric),
                              format_func=lambda m: METRICS[m].label)
        direction = st.selectbox("Direction", ["auto", "maximize", "minimize"], key=f"{D}.direction",
                                 help="auto: maximize scores, minimize losses.")
        c1, c2 = st.columns(2)
        n_trials = c1.number_input("Trials", min_value=0, value=12 if method != "grid" else 0, step=1,
                                   key=f"{D}.trials", help="0: no limit (grid: the whole grid).")
        minutes = c2.number_input("Time limit (min)", min_value=0.0, value=0.0, step=5.0, key=f"{D}.minutes",
                                  help="0: none. No new trial starts after it.")
        pruner = st.selectbox("Pruning", list(sw.PRUNERS), format_func=lambda p: sw.PRUNERS[p], key=f"{D}.pruner")
        c3, c4 = st.columns(2)
        workers = c3.number_input("Parallel workers", min_value=1, max_value=16, value=1, key=f"{D}.workers",
                                  help="Local worker processes, each training one trial at a time.")
        seed = c4.number_input("Seed", min_value=0, value=0, key=f"{D}.seed")
        name = st.text_input("Sweep name (optional)", key=f"{D}.name")
    with left:
        st.markdown("**Parameters to sweep**")
        space = space_input(base.to_dict(), method)
    if not space:
        st.info("Tick at least one parameter to sweep.")
        return
    try:
        spec = sw.build_spec(
            base, space, method=method, metric=metric,
            direction=None if direction == "auto" else direction,
            n_trials=int(n_trials) or None, timeout_s=float(minutes) * 60 or None,
            pruner=pruner, seed=int(seed), workers=int(workers),
        )
    except ConfigError as exc:
        st.error(str(exc))
        return
    expected = spec.expected_trials()
    with right:
        if method == "grid":
            st.metric("Grid size", spec.search_space().grid_size(),
                      help="Every combination once; numeric ranges contribute their grid points.")
        st.metric("Expected trials", expected if expected is not None else "until the time limit")
    with st.expander("Search space (YAML, for `lmwb sweep create --space`)"):
        st.code(yaml.safe_dump(spec.space, sort_keys=False), language="yaml")
    if st.button("Launch sweep", type="primary", icon=":material/rocket_launch:", key=f"{D}.launch"):
        try:
            record = sw.create_sweep(store, spec, name=name.strip() or None)
            launch_sweep(store, record, int(workers))
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        st.session_state[PICK] = record.id
        st.session_state[NEXT_VIEW] = "Watch"  # the view radio is drawn: switch it on the rerun
        st.rerun()


def launch_sweep(store: Store, record: SweepRecord, workers: int | None = None) -> None:
    """Start (or resume) the sweep in a detached driver; with workers disabled it only waits."""
    sw.start_sweep(store, record.id)
    if workers_disabled():
        st.toast("Workers are off (LMWB_NO_WORKERS): run `lmwb sweep worker " + record.id + "` to train it.")
        return
    sw.spawn_driver(store, record.id, workers)


# -- Watch -----------------------------------------------------------------------------------------
def pick_sweep(store: Store) -> SweepRecord | None:
    sweeps = store.list_sweeps()
    if not sweeps:
        st.info("No sweeps yet: define one in the Define view.")
        return None
    by_id = {s.id: s for s in sweeps}
    wanted = st.query_params.get("sweep")
    if wanted in by_id and st.session_state.get(PICK) not in by_id:
        st.session_state[PICK] = wanted
    if st.session_state.get(PICK) not in by_id:
        st.session_state[PICK] = sweeps[0].id
    sweep_id = st.selectbox(
        "Sweep", list(by_id), key=PICK,
        format_func=lambda i: f"{by_id[i].name} · {by_id[i].spec.get('method')} · {by_id[i].status} · {i}",
    )
    st.query_params["sweep"] = sweep_id
    return by_id[sweep_id]


def watch_view(store: Store) -> None:
    sweep = pick_sweep(store)
    if sweep is None:
        return
    cols = st.columns(4)
    if sweep.status in ("running", "stopping"):
        if cols[0].button("Stop sweep", icon=":material/stop:", disabled=sweep.status == "stopping"):
            sw.stop_sweep(store, sweep.id)
            st.rerun()
    elif sweep.status in ("created", "stopped", "failed") and cols[0].button(
        "Resume sweep" if sweep.status != "created" else "Start sweep", icon=":material/play_arrow:"
    ):
        try:
            launch_sweep(store, sweep)
        except WorkbenchError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    live = sweep.status in ("running", "stopping")
    st.fragment(run_every=POLL_SECONDS if live else None)(watch_panel)(store, sweep.id)


def watch_panel(store: Store, sweep_id: str) -> None:
    try:
        info = sw.sweep_status(store, sweep_id)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    sweep, spec = info["sweep"], info["spec"]
    frame = sw.trials_frame(store, sweep)
    best = info["best"]
    counts = info["counts"]
    cols = st.columns(4)
    cols[0].metric("Status", sweep.status)
    cols[1].metric("Trials", f"{info['trials']} / {info['expected_trials'] or '∞'}")
    cols[2].metric("Complete · pruned · failed", f"{counts['complete']} · {counts['pruned']} · {counts['fail']}")
    cols[3].metric(f"Best val {spec.metric}", "—" if best is None else f"{best['value']:.4f}",
                   help=None if best is None else f"trial {best['trial']}")
    if sweep.error:
        st.warning(sweep.error)
    st.caption(f"{sw.METHODS[spec.method]} Objective: {spec.direction} val {spec.metric}. "
               f"Pruning: {spec.pruner['name']}. Runs tagged `sweep-{sweep.id}` (see Runs and Compare).")
    left, right = st.columns(2)
    left.plotly_chart(history_figure(frame, spec.metric, spec.direction), key="sweeps.history")
    right.plotly_chart(curves_figure(sw.curves_frame(store, sweep), spec.metric), key="sweeps.curves")
    shown = frame.rename(columns={"value": f"val {spec.metric}"})
    if "error" in shown.columns and shown["error"].isna().all():
        shown = shown.drop(columns="error")  # a column of "None" says nothing
    st.dataframe(shown, hide_index=True, key="sweeps.trials", column_config={
        "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
        "step": st.column_config.NumberColumn("step", help="Pruned trials: the step they were stopped at."),
    })


# -- Analyse ---------------------------------------------------------------------------------------
def analyse_view(store: Store) -> None:
    sweep = pick_sweep(store)
    if sweep is None:
        return
    spec = sw.SweepSpec.from_dict(sweep.spec)
    study = sw.load_study(store, sweep)
    best = sw.best_trial(store, sweep, study)
    if best is None:
        st.info("No complete trial yet: the analysis needs at least one.")
        return
    import optuna.visualization as vis

    params = list(spec.space)
    plots = [("Parameter importances", lambda: vis.plot_param_importances(study)),
             ("Parallel coordinates", lambda: vis.plot_parallel_coordinate(study)),
             ("Slices", lambda: vis.plot_slice(study))]
    if len(params) >= 2:
        plots.append(("Contour", lambda: vis.plot_contour(study, params=params[:2])))
    for i, (title, make) in enumerate(plots):
        try:
            fig = make()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. too few trials
            st.info(f"{title}: not available yet ({exc})")
            continue
        st.plotly_chart(fig, key=f"sweeps.plot.{i}")
    st.subheader(f"Best trial: {best['trial']} (val {spec.metric} {best['value']:.4f})", anchor=False)
    st.code(yaml.safe_dump(best["config"], sort_keys=False), language="yaml")
    with st.form("sweeps.promote"):
        st.markdown("**Promote best**: start a full run from this config.")
        steps = st.number_input("training.max_steps", min_value=1,
                                value=int(best["config"]["training"]["max_steps"]), key="sweeps.promote.steps")
        if st.form_submit_button("Start full run", type="primary", icon=":material/rocket_launch:"):
            try:
                run = sw.promote_best(store, sweep.id, overrides={"training.max_steps": int(steps)})
            except WorkbenchError as exc:
                st.error(str(exc))
                return
            start_workers()
            open_run_page([run.id])


# -- the page --------------------------------------------------------------------------------------
def main() -> None:
    store = get_store()
    st.title("Sweeps", anchor=False)
    st.caption("Grid, random or Bayesian (TPE, Gaussian process) search with Optuna. Every trial is "
               "a normal run; the study lives in the same database as the runs.")
    if NEXT_VIEW in st.session_state:
        st.session_state[VIEW] = st.session_state.pop(NEXT_VIEW)
    if VIEW not in st.session_state:
        st.session_state[VIEW] = "Watch" if store.list_sweeps() else "Define"
    view = st.radio("View", VIEWS, horizontal=True, key=VIEW, label_visibility="collapsed")
    if view == "Define":
        define_view(store)
    elif view == "Watch":
        watch_view(store)
    else:
        analyse_view(store)


if __name__ == "__main__":
    main()
