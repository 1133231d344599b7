"""The live run view: progress, curves, sample, controls and log of one run (or a race).

Everything here reads the store and draws; :func:`run_view` is what the Run page wraps in
``st.fragment(run_every=...)`` so only this part of the page refreshes while a run trains.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components.charts import (
    LOG_SCALE_HELP,
    LR_LABEL,
    SMOOTHING_MAX,
    TITLE_TOP,
    log_scale_fits,
    metric_curves_figure,
)
from app.components.curve_legend import hidden_runs
from app.components.data_facts import data_facts
from app.components.race_story import (
    SHARED_BUDGET,
    in_order,
    race_answer,
    race_differences,
    setting_title,
    setting_value,
    shared_value,
)
from app.components.sums_view import sums_table
from app.components.teacher_view import distilled_loss_note, teacher_panel, with_teacher_lines
from app.state import start_workers
from core.budget import MIN_EVALS, step_budget
from core.callbacks.best import BestScore
from core.callbacks.early_stopping import EarlyStopping
from core.config import processes_wanted
from core.display import format_duration
from core.errors import WorkbenchError
from core.jobs import request_resume, stop_run
from core.jobs.queue import race_id
from core.metrics import (
    COUNT_KEYS,
    HELDOUT,
    HELDOUT_LABEL,
    METRICS,
    bleu_case_note,
    metric_label,
    metric_value,
)
from core.metrics.catalog import GRAD_NORM, GRAD_NORM_LABEL
from core.registry import arch_label, task_label
from core.reproduce import differing_settings
from core.store import ACTIVE_STATUSES, Run, Store
from core.throughput import HELP as THROUGHPUT_HELP
from core.throughput import KEY as THROUGHPUT
from core.throughput import LABEL as THROUGHPUT_LABEL
from core.throughput import format_rate

STATUS_COLORS = {
    "queued": "gray", "running": "blue", "completed": "green",
    "failed": "red", "stopped": "orange", "pruned": "violet",
}
STATUS_ICONS = {
    "queued": ":material/schedule:", "running": ":material/sync:", "completed": ":material/check_circle:",
    "failed": ":material/error:", "stopped": ":material/stop_circle:", "pruned": ":material/content_cut:",
}
# The loss has its own chart; the metrics declared after it (core.metrics) are not quality
# scores. Series of older runs may hold counts (tokens, chars): never charted.
HIDDEN_VAL = frozenset({"loss", *COUNT_KEYS})


CHART_KEY = "run.chart."  # the curve charts' keys start so


# -- small pieces ------------------------------------------------------------------------------
_PRELOAD_KEY = "chart_preload"
_PRELOAD_CSS = (f"<style>.st-key-{_PRELOAD_KEY} {{ position: absolute; height: 0; overflow: hidden; "
                "visibility: hidden; pointer-events: none; }</style>")


def preload_chart_library() -> None:
    """An empty, invisible plotly chart, so the browser fetches and starts the chart library
    while a person fills in a form: the Run page's first loss point then appears within about a
    second of Start instead of after the library's ~3 s first load (bench/ui_latency.py (a)).
    Pages that start runs (Train, Home) call it."""
    st.html(_PRELOAD_CSS)
    with st.container(key=_PRELOAD_KEY):
        st.plotly_chart(go.Figure(layout={"height": 10, "margin": {"l": 0, "r": 0, "t": 0, "b": 0}}),
                        config={"staticPlot": True, "displayModeBar": False}, key=f"{_PRELOAD_KEY}.figure")


def status_badge(status: str) -> None:
    st.badge(status, icon=STATUS_ICONS.get(status), color=STATUS_COLORS.get(status, "gray"))  # type: ignore[arg-type]


def fmt_duration(seconds: float | None) -> str:
    return format_duration(seconds, missing="–")


def run_label(run: Run) -> str:
    when = dt.datetime.fromtimestamp(run.created_at).strftime("%b %d %H:%M")
    # No status here: a picker label that changes while the run trains would confuse the
    # selectbox (its state is the label); the status is the badge next to the title.
    return f"{run.name} · {task_label(run.task)} · {arch_label(run.arch)} · {when} · {run.id}"


def progress_panel(run: Run, store: Store | None = None) -> None:
    """Progress bar with step/max_steps, why the run ended short of them and how often it
    evaluates where that is not what its form said (:func:`progress_notes`), then ETA, train
    tokens/s (core.throughput), elapsed and the last train loss."""
    p = run.progress or {}
    max_steps = p.get("max_steps") or run.config.get("training", {}).get("max_steps") or 0
    step = int(p.get("step") or 0)
    fraction = min(1.0, max(0.0, float(p.get("fraction") or (step / max_steps if max_steps else 0.0))))
    if run.status == "completed":
        fraction = 1.0
    text = f"step {step:,} / {max_steps:,}" if max_steps else "waiting for the first step"
    asked = (run.config.get("training") or {}).get("max_steps")
    epochs = (run.config.get("training") or {}).get("max_epochs")
    if max_steps and isinstance(asked, int) and max_steps < asked and epochs:
        # core.budget cut the budget to the data's size: say why the bar ends short of Steps.
        steps_title, epochs_title = (setting_title(f"training.{k}", [run]) for k in ("max_steps", "max_epochs"))
        text += f" ({steps_title} {asked:,}, cut to {epochs:g} passes over the training data: {epochs_title})"
    if run.status == "queued":
        text = "queued: waiting for a worker"
    st.progress(fraction, text=text)
    for icon, note in progress_notes(run, store):
        st.caption(f"{icon} {note}")
    cols = st.columns(4)
    eta = p.get("eta_s") if run.status == "running" else None
    cols[0].metric("ETA", fmt_duration(eta) if eta is not None else "–")
    cols[1].metric(THROUGHPUT_LABEL, format_rate(run_tokens_per_s(run)), help=THROUGHPUT_HELP)
    cols[2].metric("Elapsed", fmt_duration(p.get("elapsed_s") or run.duration_s))
    loss = p.get("train_loss")
    cols[3].metric("Train loss", f"{loss:.4f}" if isinstance(loss, int | float) else "–")


def progress_notes(run: Run, store: Store | None = None) -> list[tuple[str, str]]:
    """(icon, sentence) beside the progress bar: how a run that ended before its last step ended
    (:func:`ending_note`, from the run's log), and how often it evaluates where the step budget's
    cut made that more often than the form's setting (:func:`evaluation_note`)."""
    notes = []
    if store is not None and (ending := ending_note(run, _last_events(store, run))):
        notes.append((":material/flag:", ending))
    if every := evaluation_note(run):
        notes.append((":material/event_repeat:", every))
    return notes


def _last_events(store: Store, run: Run) -> list[Any]:
    if run.status != "completed":
        return []
    try:
        return store.events(run.id, limit=20)  # the reason is logged just before the status
    except WorkbenchError:
        return []


def ending_note(run: Run, events: Sequence[Any]) -> str | None:
    """Why a completed run ended before its last step, in words: early stopping (the trainer's
    reason is in its log: :class:`core.callbacks.early_stopping.EarlyStopping`), else the time
    limit; None for a run that trained all its steps (or has not ended)."""
    progress, summary = run.progress or {}, run.summary or {}
    training = run.config.get("training") or {}
    step = int(progress.get("step") or summary.get("step") or 0)
    last = int(progress.get("max_steps") or training.get("max_steps") or 0)
    if run.status != "completed" or not step or step >= last:
        return None
    patience, metric = training.get("early_stopping_patience"), summary.get("metric")
    logged = {getattr(e, "message", "") for e in events}
    if patience and metric and EarlyStopping(BestScore(metric), int(patience)).reason in logged:
        best = summary.get("best") or {}
        at_best = (f"; its best, {metric_value(metric, best['value'])}, was at step {int(best['step']):,}"
                   if isinstance(best.get("value"), int | float) and best.get("step") else "")
        title = setting_title("training.early_stopping_patience", [run])
        return (f"Stopped early at step {step:,} of {last:,}: validation {_in_sentence(metric_label(metric))} did "
                f"not improve for {patience} evaluations in a row (*{title}* {patience}){at_best}.")
    if minutes := training.get("max_minutes"):
        title = setting_title("training.max_minutes", [run])
        return f"Stopped at step {step:,} of {last:,}: its time limit of {minutes:g} min was spent (*{title}*)."
    return None


def evaluation_note(run: Run) -> str | None:
    """How often the run evaluates where the step budget (core.budget, training.max_epochs) cut
    its steps and with them the interval the form set, in words; None where it is the form's."""
    training = run.config.get("training") or {}
    data = (run.summary or {}).get("data") or {}
    asked = training.get("eval_every")
    if not asked or not data:  # the data's size is known from the first evaluation on
        return None
    try:
        cut, note = step_budget(training, data, processes_wanted(run.config))
    except (KeyError, TypeError):  # a config stored before these settings existed
        return None
    every = cut.get("eval_every")
    if note is None or every == asked:
        return None
    title = setting_title("training.eval_every", [run])
    return (f"Evaluates every {every:,} steps, not every {asked:,} as *{title}* says: with the budget cut to "
            f"{cut['max_steps']:,} steps, that leaves at least {MIN_EVALS} evaluations for early stopping "
            "and the best checkpoint to choose from.")


def _in_sentence(label: str) -> str:
    """A metric's label inside a sentence: a word lower-cased ("accuracy"), an acronym kept
    ("ROC-AUC", "F1 (macro)")."""
    return label[0].lower() + label[1:] if label[1:2].islower() else label


def run_tokens_per_s(run: Run) -> float | None:
    """The run's throughput as the engine stored it (core.throughput): once the run has ended,
    its summary's, the value the CLI's closing line printed; while it trains, its progress'."""
    summary, progress = run.summary or {}, run.progress or {}
    value = summary.get(THROUGHPUT) if run.status not in ACTIVE_STATUSES and THROUGHPUT in summary \
        else progress.get(THROUGHPUT)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def fixed_for_run(name: str) -> bool:
    """Whether ``name`` is declared the same at every evaluation of a run (no chart for it)."""
    return name in METRICS and METRICS[name].fixed


def tile_help(name: str) -> str | None:
    """A metric tile's tooltip: for a metric fixed for a run, why it has no chart."""
    if not fixed_for_run(name):
        return None
    return f"Fixed for the run, so not charted over steps. {METRICS[name].help}"


def summary_panel(run: Run) -> None:
    """The best validation value and the last evaluation's metrics, once there are any."""
    s = run.summary or {}
    val = {k: v for k, v in (s.get("val") or {}).items() if k not in HIDDEN_VAL and isinstance(v, int | float)}
    if "bits_per_char" in val:
        val.pop("bits_per_token", None)  # identical with a character tokenizer
    best = s.get("best") or {}
    if not val and best.get("value") is None:
        return
    cols = st.columns(min(6, 1 + len(val)))  # six: a QA run's five scores beside its best
    if best.get("value") is not None:
        case = bleu_case_note(s.get("val") or {}, s.get("details") or {}) if s.get("metric") == "bleu" else ""
        watched = s.get("metric", "")
        cols[0].metric(f"Best val {metric_label(watched)}", metric_value(watched, best["value"]),
                       help=f"at step {best.get('step')}" + (f". {case}." if case else ""))
    for col, (name, value) in zip(cols[1:], in_order(val).items(), strict=False):
        col.metric(f"val {metric_label(name)}", metric_value(name, value), help=tile_help(name))
    _heldout_row(s)
    facts = [f"{s['params']:,} parameters" if isinstance(s.get("params"), int) else None, s.get("device")]
    if isinstance(s.get("rank_devices"), list):  # several processes (DDP): where each rank trains
        facts.append("ranks: " + ", ".join(f"{i}: {d}" for i, d in enumerate(s["rank_devices"])))
    if any(facts):
        st.caption(" · ".join(str(f) for f in facts if f))
    if data := data_facts(s.get("data")):
        st.caption(data)


def _heldout_row(s: dict) -> None:
    """The held-out set's metrics beside validation's (data.heldout_path / heldout_sentences)."""
    held = {k: v for k, v in (s.get(HELDOUT) or {}).items() if k not in HIDDEN_VAL and isinstance(v, int | float)}
    if not held:
        return
    cols = st.columns(min(5, len(held)))
    for col, (name, value) in zip(cols, in_order(held).items(), strict=False):
        col.metric(f"{HELDOUT_LABEL} {metric_label(name)}", metric_value(name, value))
    metric = s.get("metric", "")
    at_best = ((s.get("best") or {}).get(HELDOUT) or {}).get(metric)
    st.caption(f"The {HELDOUT_LABEL} set is scored at each evaluation like validation, but never used to stop "
               "or to pick the best checkpoint" + (f"; its {metric} at the best step: {at_best:.4f}."
                                                  if isinstance(at_best, int | float) else "."))


def controls(store: Store, run: Run) -> None:
    """Stop for a live run; Resume for a stopped or failed one."""
    if run.status in ACTIVE_STATUSES:
        label = "Stop requested…" if run.stop_requested else "Stop"
        if st.button(label, key=f"stop.{run.id}", icon=":material/stop:", disabled=run.stop_requested,
                     help="Ask the worker to stop after the current step (the checkpoint is kept)."):
            stop_run(store, run.id, by=f"the Stop button of the Run page (app on {socket.gethostname()})")
            st.toast(f"Stop requested for {run.name}")
            st.rerun()  # the whole page: once stopped, the live view stops polling
    elif run.status in ("stopped", "failed") and st.button(
        "Resume", key=f"resume.{run.id}", icon=":material/play_arrow:",
        help="Queue the run again; it continues from its last checkpoint.",
    ):
        try:
            request_resume(store, run.id)
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        start_workers()
        st.rerun()  # full rerun: the live view starts polling again


def metrics_frame(store: Store, runs: Sequence[Run]) -> pd.DataFrame:
    """All metric points of ``runs`` with a ``run`` column (the run's name) for the charts."""
    frames = []
    for run in runs:
        df = store.metrics(run.id)
        if not df.empty:
            frames.append(df.assign(run=run.name))
    if not frames:
        return pd.DataFrame(columns=["run", "step", "split", "name", "value", "wall_time"])
    return pd.concat(frames, ignore_index=True)


def curve_controls(key: str, slots: Sequence[Any] | None = None) -> tuple[float, bool]:
    """The curves' smoothing and log-scale controls (TensorBoard's): ``(smoothing, log_y)``.

    ``slots``: two containers to put them in (default: a row of their own); ``key`` prefixes the
    widget keys."""
    left, right = slots or st.columns([2, 1, 3], vertical_alignment="bottom")[:2]
    smoothing = left.slider(
        "Smoothing", 0.0, SMOOTHING_MAX, 0.0, 0.01, key=f"{key}.smoothing",
        help="Exponential moving average, as TensorBoard smooths (0: off); the raw curve stays faint "
             "behind the smoothed one.",
    )
    log_y = right.toggle("Log scale (y)", key=f"{key}.log_y", help=LOG_SCALE_HELP)
    return float(smoothing), bool(log_y)


def curves_panel(df: pd.DataFrame, smoothing: float = 0.0, log_y: bool = False, loss_note: str | None = None) -> None:
    """Loss (train solid, val dashed), learning rate, the gradient norm when the run logged it,
    and the validation metrics; ``smoothing`` and ``log_y`` as :func:`curve_controls` gives them.
    A run hidden by a click on its legend entry stays hidden on every chart while the page polls
    (app/components/curve_legend.py)."""
    view = {"smoothing": smoothing, "log_y": log_y, "hidden": hidden_runs("run.legend", CHART_KEY)}
    left, right = st.columns([3, 2])
    with left:
        _chart(metric_curves_figure(df, "loss", title=METRICS["loss"].label, **view), "loss", height=360)
        if loss_note:  # a distilled run's train loss is not the cross entropy (teacher_view)
            st.caption(loss_note)
    with right:
        lr = df[(df["name"] == "lr")] if not df.empty else df
        # The schedule is not noisy: never smoothed.
        fig = metric_curves_figure(lr, "lr", title=LR_LABEL, **{**view, "smoothing": 0.0})
        if not lr.empty and lr["value"].max() > 0:
            # In scientific notation; from zero on a linear axis: a constant 1e-3 otherwise sits
            # on a -1..1 axis.
            fig.update_yaxes(tickformat=".1e")
            if not (log_y and log_scale_fits("lr")):
                fig.update_yaxes(range=[0, float(lr["value"].max()) * 1.15])
        _chart(fig, "lr", height=360)
    norms = df[df["name"] == GRAD_NORM] if not df.empty else df
    if not norms.empty:  # training.log_grad_norm: the norm training.grad_clip is compared with
        fig = metric_curves_figure(norms, GRAD_NORM, title=GRAD_NORM_LABEL, **view)
        fig.update_yaxes(title="L2 norm", rangemode="tozero")
        _chart(fig, GRAD_NORM, height=280)
    scored = ("val", HELDOUT)  # validation and, where the data has one, the held-out set
    names = [] if df.empty else df.loc[df["split"].isin(scored), "name"].unique().tolist()
    if "bits_per_char" in names and "bits_per_token" in names:
        names.remove("bits_per_token")  # identical with a character tokenizer
    # A metric fixed for a run (QA's passage retrieval) would be a flat line: its tile says it.
    charted = (n for n in names if n not in HIDDEN_VAL and not fixed_for_run(n))
    val_names = list(in_order(dict.fromkeys(charted)))[:3]
    if not val_names:
        return
    cols = st.columns(len(val_names))
    for col, name in zip(cols, val_names, strict=True):
        with col:
            part = df[df["split"].isin(scored) & (df["name"] == name)]
            # Same runs and colours as the loss chart's legend above; in a third of the width a
            # legend of its own would sit on the axis title. Hover names the run.
            label = metric_label(name)
            held = (part["split"] == HELDOUT).any()
            fig = metric_curves_figure(part, name, title=f"val{f' / {HELDOUT_LABEL}' if held else ''} {label}",
                                       **view)
            fig.update_yaxes(title=label)
            _chart(fig, f"val.{name}", height=280, legend=False)


def _chart(fig: go.Figure, key: str, height: int, legend: bool = True) -> None:
    # Legend under the plot: run names are long, and a side legend squeezes the curves.
    fig.update_layout(
        height=height, legend={"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0},
        margin={"l": 10, "r": 10, "t": TITLE_TOP, "b": 10}, showlegend=legend,
    )
    st.plotly_chart(fig, config={"displaylogo": False}, key=f"{CHART_KEY}{key}")


def has_sample(run: Run) -> bool:
    """Whether the latest evaluation left output to read: generated text or translations."""
    summary = run.summary or {}
    if run.task == "language_model":
        return bool(summary.get("sample"))
    # Summarisation keeps its samples under the same key (translation's machinery).
    return run.task in ("translation", "summarisation") and bool((summary.get("details") or {}).get("translations"))


def sample_panel(run: Run) -> None:
    """A language model's latest sample, or a translation run's sample translations."""
    if not has_sample(run):
        return
    summary = run.summary or {}
    step = summary.get("step")
    at = f" (step {step:,})" if isinstance(step, int) else ""
    if run.task == "language_model":
        st.markdown(f"**Latest sample**{at}")
        # Sums (the arithmetic set: its runs report sums_right) are marked right or wrong.
        if "sums_right" in (summary.get("val") or {}) and sums_table(summary["sample"]):
            with st.expander("The sample as written"):
                st.code(summary["sample"], language=None, wrap_lines=True)
            return
        st.code(summary["sample"], language=None, wrap_lines=True)
        return
    details = summary["details"]
    decoding = details.get("decoding")
    what = "summaries" if run.task == "summarisation" else "translations"
    st.markdown(f"**Sample {what}**{at}" + (f" · {decoding}" if decoding else ""))
    table = pd.DataFrame(details["translations"], columns=["source", "reference", "hypothesis"])
    # A static table: long text (a summarised document) wraps in its cell, so the model's output
    # stays on screen beside its source and reference (a grid would cut each to one line).
    st.table(table.fillna("").style.set_properties(**{"vertical-align": "top"}), hide_index=True)
    if note := bleu_case_note(summary.get("val") or {}, details):
        st.caption(note + ".")


def log_panel(store: Store, run: Run, limit: int = 200) -> None:
    # Debug events hold a bug's traceback, for a report; the log a person reads leaves them out.
    events = [e for e in store.events(run.id, limit=limit) if e.level != "debug"]
    # The latest entry (start, an evaluation, the end) shows without opening the log; the
    # expander's title stays the same, so a log opened while the run trains stays open.
    if events:
        st.caption(f":material/receipt_long: {dt.datetime.fromtimestamp(events[-1].time):%H:%M:%S} "
                   f"{events[-1].message}")
    with st.expander("Run log", icon=":material/receipt_long:",
                     expanded=run.status == "failed"):
        if not events:
            st.caption("Start, evaluations, checkpoints and the end are logged here as they happen.")
            return
        lines = [
            f"{dt.datetime.fromtimestamp(e.time):%H:%M:%S} {e.level.upper():7} {e.message}" for e in events
        ]
        st.code("\n".join(lines), language=None, wrap_lines=True)


# -- the live view -----------------------------------------------------------------------------
def run_view(store: Store, run_ids: Sequence[str], polling: bool) -> None:
    """Draw the run (``run_ids[0]``) and its race mates. Meant to run inside a fragment that
    reruns every second while ``polling``; once every run has finished it triggers one full
    rerun, which redraws the page with a fragment that no longer polls."""
    runs = []
    for run_id in run_ids:
        try:
            runs.append(store.get_run(run_id))
        except WorkbenchError:
            continue  # deleted meanwhile
    if not runs:
        st.warning("This run no longer exists.")
        return
    main = runs[0]
    # Each part that comes and goes (a sample, the race's verdict, the outputs) has a container of
    # its own: the elements after it keep their place from one refresh to the next, so the
    # browser updates the charts instead of drawing them anew (blank for a refresh) when the
    # first evaluation brings a verdict or a sample.
    if len(runs) == 1:
        _single_header(store, main)
        with st.container():
            sample_panel(main)  # generated text or translations: the most telling output
    else:
        _race_header(store, runs)
    frame = metrics_frame(store, runs)
    if len(runs) == 1:  # a distilled run: its teacher's best scores as flat lines beside its curves
        frame = with_teacher_lines(store, main, frame)
    with st.container():
        if len(runs) > 1 and (answer := race_answer(frame, runs)):
            st.markdown(f":material/sports_score: {answer}")
    with st.container():
        if frame.empty and not any(r.status in ACTIVE_STATUSES for r in runs):
            # Empty charts saying "no values yet" would promise points that will never come.
            st.info("No metrics: the run ended before its first logged step (see the error and the log below).")
        else:
            curves_panel(frame, *curve_controls("run.curves"), loss_note=distilled_loss_note(runs))
    with st.container():
        for run in runs if len(runs) > 1 else ():
            if has_sample(run):
                with st.expander(f"Latest output: {run.name}"):
                    sample_panel(run)
    log_panel(store, main)
    if polling and not any(r.status in ACTIVE_STATUSES for r in runs):
        st.rerun()  # finished: redraw the whole page once, without the timer


def _single_header(store: Store, run: Run) -> None:
    title, badge, buttons = st.columns([6, 1, 1], vertical_alignment="center")
    title.subheader(f"{run.name}")
    with badge:
        status_badge(run.status)
    with buttons:
        controls(store, run)
    st.caption(f"{task_label(run.task)} · {arch_label(run.arch)} · id {run.id}" + (f" · {run.device}" if run.device else ""))
    if run.error:
        st.error(run.error, icon=":material/error:")
    progress_panel(run, store)
    summary_panel(run)
    teacher_panel(store, run)  # a distilled run: its teacher and their scores


def _race_header(store: Store, runs: Sequence[Run]) -> None:
    title = " ".join(filter(None, ("Race", race_id(runs[0]))))
    st.subheader(f"{title}: " + " vs ".join(arch_label(r.arch) for r in runs))
    diff = race_differences(runs)
    differing = differing_settings([r.config for r in runs])  # by key, as SHARED_BUDGET names them
    shared = ", ".join(text.format(shared_value(runs[0], key)) for key, text in SHARED_BUDGET.items()
                       if key not in differing and setting_value(runs[0], key) is not None)
    st.caption((f"Same {shared}; " if shared else "") + "the settings that differ are below; curves overlaid.")
    for run in runs:
        with st.container(border=True):
            name, badge, buttons = st.columns([6, 1, 1], vertical_alignment="center")
            name.markdown(f"**{run.name}** · {arch_label(run.arch)} · `{run.id}`")
            with badge:
                status_badge(run.status)
            with buttons:
                controls(store, run)
            if run.error:
                st.error(run.error, icon=":material/error:")
            progress_panel(run, store)
            summary_panel(run)
    if not diff.empty:
        count = diff.shape[0]
        st.markdown(f"**{count} setting{'s differ' if count != 1 else ' differs'}** between the entrants "
                    "(blank: that architecture has no such setting)")
        # Every row on screen: a race differs in a few settings, and a table that scrolls inside
        # its own box hid the last ones behind a cut row.
        st.dataframe(diff, width="stretch", height=(count + 1) * 35 + 3, key="race.differences")
