"""Sweeps: define a hyperparameter search, watch its trials live, analyse the result.

Everything is a call into ``core.sweep``: the search space is built from the parameter
declarations (the same ones the Train form uses), the settings from the sweep settings'
declarations (``core/sweep/settings.py``), launching starts a detached driver process with
local workers, and the page only reads the store and the Optuna study. The form and the charts
live in ``app/components/sweep_form.py`` and ``sweep_charts.py``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
import yaml

from app.components.forms import param_widget
from app.components.learn_view import learn_link
from app.components.sweep_charts import (
    analysis_figures,
    curves_figure,
    history_figure,
    objective_name,
)
from app.components.sweep_form import base_config_input, knob_title, settings_input, space_input
from app.state import get_store, open_run_page, start_workers, workers_disabled
from core import sweep as sw
from core.config import section_params, validate_config
from core.errors import ConfigError, WorkbenchError
from core.jobs.queue import sweep_tag
from core.metrics import metric_value
from core.store import Store, SweepRecord
from core.sweep.settings import METHODS, PRUNERS, SPACE_KEY, budget_problem, choice, spec_keywords

VIEW = "sweeps.view"
LAUNCH = "sweeps.launch"  # (spec, name) of the sweep the Launch button asked for, until launched
PICK = "sweeps.pick"
D = "sweeps.def"  # widget-key prefix of the Define view
VIEWS = ("Define", "Watch", "Analyse")
POLL_SECONDS = 3.0
LIVE = ("running", "stopping")  # a sweep in these states changes while the page looks


# -- Define ----------------------------------------------------------------------------------------
def define_view(store: Store) -> None:
    raw = base_config_input(store, D)
    if raw is None:
        return
    try:
        base = validate_config(raw)
    except ConfigError as exc:
        st.error(f"Base config: {exc}")
        return
    left, right = st.columns([3, 2])
    with right:
        settings = settings_input(base.task, D)
    method = settings["method"]
    with left:
        st.markdown("**Parameters to sweep**")
        space = space_input(base.to_dict(), method, D)
    if not space:
        st.info("Tick at least one parameter to sweep.")
        return
    problem = budget_problem(method, settings["trials"], settings["timeout_min"])
    if problem:
        with right:
            st.info(problem)
        return
    try:
        spec = sw.build_spec(base, space, **spec_keywords(settings))
    except ConfigError as exc:
        st.error(str(exc))
        return
    expected = spec.expected_trials()
    with right:
        if method == "grid":
            st.metric("Grid size", spec.search_space().grid_size(),
                      help="Every combination once; numeric ranges contribute their grid points.")
        st.metric("Expected trials", expected if expected is not None else "until the time limit")
    with st.expander("Sweep file (YAML, for `lmwb sweep create --space`)"):
        shown = {SPACE_KEY: spec.space, **{k: v for k, v in settings.items() if v not in (None, "")}}
        st.code(yaml.safe_dump(shown, sort_keys=False), language="yaml")
    st.button("Launch sweep", type="primary", icon=":material/rocket_launch:", key=f"{D}.launch",
              on_click=_launch_clicked, args=(spec, settings["name"].strip() or None))


def _launch_clicked(spec: sw.SweepSpec, name: str | None) -> None:
    """Before the page runs again: open the Watch view, which launches the sweep. The click's
    own run then draws Watch first, instead of the Define form while the sweep is created."""
    st.session_state[VIEW] = "Watch"
    st.session_state[LAUNCH] = (spec, name)


def launch_requested(store: Store) -> None:
    """Create and start the sweep the Launch button asked for (if any) and pick it."""
    requested = st.session_state.pop(LAUNCH, None)
    if requested is None:
        return
    spec, name = requested
    note = st.empty()  # drawn at once (a spinner waits half a second): it replaces the Define view
    note.info("Launching the sweep…", icon=":material/rocket_launch:")
    try:
        record = sw.create_sweep(store, spec, name=name)
        launch_sweep(store, record)
    except WorkbenchError as exc:
        note.error(f"The sweep was not launched: {exc}")
        return
    note.empty()
    st.session_state[PICK] = record.id


def launch_sweep(store: Store, record: SweepRecord) -> None:
    """Start (or resume) the sweep: the app's workers train its trials like queued runs (one
    supervisor, one cap for every training on the machine); with workers disabled it waits."""
    sw.start_sweep(store, record.id)
    if workers_disabled():
        st.toast("Workers are off (LMWB_NO_WORKERS): run `lmwb sweep worker " + record.id + "` to train it.")
        return
    start_workers()


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
    # No status in the label: the browser keeps showing a chosen option's old label when only
    # its text changes, so a finished sweep would still read "running" (the status is the
    # first figure below).
    sweep_id = st.selectbox(
        "Sweep", list(by_id), key=PICK,
        format_func=lambda i: sweep_label(by_id[i]),
    )
    st.query_params["sweep"] = sweep_id
    return by_id[sweep_id]


def sweep_label(sweep: SweepRecord) -> str:
    """A sweep as the picker lists it: its name, its method in words, its id (when not the name)."""
    method = sweep.spec.get("method")
    words = choice(METHODS, method).label if method in {m.name for m in METHODS} else str(method)
    return " · ".join([sweep.name, words] + ([sweep.id] if sweep.id != sweep.name else []))


def trials_table(frame: pd.DataFrame, spec: sw.SweepSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The trials frame as the page shows it: the knobs named as on the Train form, the
    objective by its catalogue label, the rest in words; (table, column config)."""
    shown = frame.drop(columns="error") if "error" in frame.columns and frame["error"].isna().all() else frame
    names = {"trial": "Trial", "status": "Trial status", "value": objective_name(spec.metric), "run_id": "Run",
             "run_status": "Run status", "error": "Error", **{k: knob_title(k, spec.base) for k in spec.space}}
    shown = shown.rename(columns=names)
    config = {
        "duration_s": st.column_config.NumberColumn("Duration (s)", format="%.1f"),
        "step": st.column_config.NumberColumn("Step", help="Pruned trials: the step they were stopped at."),
    }
    return shown, config


def watch_view(store: Store) -> None:
    sweep = pick_sweep(store)
    if sweep is None:
        return
    cols = st.columns(4)
    if sweep.status in LIVE:
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
    live = sweep.status in LIVE
    st.fragment(run_every=POLL_SECONDS if live else None)(watch_panel)(store, sweep.id, live)


def watch_panel(store: Store, sweep_id: str, live: bool = False) -> None:
    """The sweep's status, charts and trials; polled while it runs. When a polled sweep has
    finished, the whole page runs once more, so the picker, the status and the buttons (no
    Stop) agree with it and the polling ends."""
    try:
        info = sw.sweep_status(store, sweep_id)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    sweep, spec = info["sweep"], info["spec"]
    if live and sweep.status not in LIVE:
        st.rerun(scope="app")
    study = sw.load_study(store, sweep)
    frame = sw.trials_frame(store, sweep, study)
    best = info["best"]
    counts = info["counts"]
    cols = st.columns(4)
    cols[0].metric("Status", sweep.status)
    cols[1].metric("Trials", f"{info['trials']} / {info['expected_trials'] or '∞'}")
    cols[2].metric("Complete · pruned · failed", f"{counts['complete']} · {counts['pruned']} · {counts['fail']}")
    cols[3].metric(f"Best {objective_name(spec.metric)}", "—" if best is None else metric_value(spec.metric, best["value"]),
                   help=None if best is None else f"trial {best['trial']}")
    if sweep.error:
        st.warning(sweep.error)
    st.caption(f"{choice(METHODS, spec.method).help} Objective: {spec.direction} {objective_name(spec.metric)}. "
               f"Pruning: {choice(PRUNERS, spec.pruner['name']).label}. Runs tagged `{sweep_tag(sweep.id)}` (see Runs and Compare).")
    learn_link("tuning", sweep=sweep.id)
    left, right = st.columns(2)
    left.plotly_chart(history_figure(study, spec.metric), key="sweeps.history")
    right.plotly_chart(curves_figure(study, spec.metric), key="sweeps.curves")
    shown, config = trials_table(frame, spec)
    st.dataframe(shown, hide_index=True, key="sweeps.trials", column_config=config)


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
    for i, (title, make) in enumerate(analysis_figures(study, list(spec.space), spec.metric)):
        try:
            fig = make()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. too few trials
            st.info(f"{title}: not available yet ({exc})")
            continue
        st.plotly_chart(fig, key=f"sweeps.plot.{i}")
    st.subheader(f"Best trial: {best['trial']} ({objective_name(spec.metric)} "
                 f"{metric_value(spec.metric, best['value'])})", anchor=False)
    st.code(yaml.safe_dump(best["config"], sort_keys=False), language="yaml")
    with st.form("sweeps.promote"):
        st.markdown("**Promote best**: start a full run from this config.")
        max_steps = next(p for p in section_params("training", None) if p.name == "max_steps")
        # Labelled as the Train form labels it (the config key is in its help).
        steps = param_widget(max_steps, best["config"]["training"]["max_steps"], "sweeps.promote.steps")
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
    if VIEW not in st.session_state:
        st.session_state[VIEW] = "Watch" if store.list_sweeps() else "Define"
    view = st.radio("View", VIEWS, horizontal=True, key=VIEW, label_visibility="collapsed")
    # Each view has a place of its own. A run first empties the others' places, so the browser
    # drops the last view's widgets at once; left in one shared place, they would stay (greyed)
    # until this run ended, the browser keeping a block's old children for its next content.
    places = [st.empty() for _ in VIEWS]
    with places[VIEWS.index(view)].container():
        if view == "Define":
            define_view(store)
        elif view == "Watch":
            launch_requested(store)
            watch_view(store)
        else:
            analyse_view(store)


if __name__ == "__main__":
    main()
