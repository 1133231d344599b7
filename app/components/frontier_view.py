"""Compare's Frontier view: every compared run and each of its low-precision variants at the task's
metric against examples per second (batch 1 or 32, a log axis), sized by size on disk or parameter
count, with the Pareto frontier drawn (core/metrics/frontier.py), teachers linked to their
students; runs without figures listed with the command that measures them and a button that does.

The figures are the ones ``lmwb eval RUN --speed`` stored with each run (core/variants.py);
``lmwb frontier`` prints the same table.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components.charts import TITLE_TOP, color_map, title_under_toolbar
from core.distill.teacher import teacher_ref
from core.errors import WorkbenchError
from core.metrics import METRICS, metric_label, metric_value
from core.metrics.frontier import (
    TIMED_TASKS,
    SpeedPoint,
    load_spread,
    measure_command,
    missing_speed,
    on_frontier,
    speed_points,
)
from core.store import TERMINAL_STATUSES, Run, Store
from core.variants import BATCHES, PARENT, SUMMARY_KEY, size_text, speed_table, stored_variants

KEY = "compare.frontier"
FLASH = f"{KEY}.flash"  # the line saying what a Measure button measured, shown after the rerun
SIZES = {"size on disk": "bytes", "parameters": "params"}  # what a marker's area shows -> SpeedPoint field
SYMBOLS = {PARENT: "circle", "int8": "diamond"}  # a variant's marker; any other: square
FRONT = "on the frontier"
# Torch threads a measurement from the page uses: the app shares the cores with training workers
# (the figures record it; `lmwb eval RUN --speed` in a terminal uses every thread).
MEASURE_THREADS = 1


# -- data (pure) ------------------------------------------------------------------------------
def frontier_frame(points: Sequence[SpeedPoint], flags: Sequence[bool],
                   names: Mapping[str, str]) -> pd.DataFrame:
    """The table under the chart: one row per point, its figures and whether it is on the frontier."""
    rows = []
    for point, front in zip(points, flags, strict=True):
        rows.append({
            "run": point.run, "model": point.variant,
            metric_label(point.metric): "" if point.value is None else metric_value(point.metric, point.value),
            **{f"examples/s at batch {b}": round(point.speed(b)) if not math.isnan(point.speed(b)) else None
               for b in BATCHES},
            "size on disk": size_text(point.bytes), "parameters": point.params, FRONT: "✓" if front else "",
            "distilled from": teacher_name(point, names), "measured on": point.machine, "load then": point.load,
        })
    frame = pd.DataFrame(rows)
    if frame["measured on"].nunique() == 1:  # said once above the table
        frame = frame.drop(columns="measured on")
    if not frame["distilled from"].any():
        frame = frame.drop(columns="distilled from")
    return frame


def teacher_name(point: SpeedPoint, names: Mapping[str, str]) -> str:
    """The run ``point`` was distilled from, as the page names it ("" for none)."""
    if not point.teacher_id:
        return ""
    return names.get(point.teacher_id) or f"{point.teacher_id} (not compared here)"


def _hover(point: SpeedPoint, front: bool, names: Mapping[str, str]) -> str:
    value = "-" if point.value is None else metric_value(point.metric, point.value)
    lines = [f"<b>{_escape(point.run)}</b> · {point.variant}",
             f"{metric_label(point.metric)} {value} on the {_escape(point.data)}",
             *(f"{point.speed(b):,.0f} examples/s at batch {b}" for b in BATCHES),
             f"{size_text(point.bytes)} on disk · {point.params:,} parameters",
             f"measured on {_escape(point.where)}",
             "<b>on the Pareto frontier</b>" if front
             else "off the frontier: another model is at least as fast and as good, and better at one"]
    if teacher := teacher_name(point, names):
        lines.append(f"distilled from {_escape(teacher)}")
    return "<br>".join(lines)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def frontier_figure(points: Sequence[SpeedPoint], flags: Sequence[bool], batch: int, size_by: str,
                    colors: Mapping[str, str], names: Mapping[str, str]) -> go.Figure:
    """One metric's points (all of ``points`` share it): x examples/s at ``batch`` (log), y the
    metric (its axis reversed when lower is better), marker area by ``size_by`` (a SpeedPoint
    field), the frontier as the edge of the region it beats, teacher -> student arrows."""
    metric = points[0].metric
    declared = METRICS.get(metric)
    lower_better = declared is not None and declared.direction == "min"
    largest = max((getattr(p, size_by) for p in points), default=0) or 1
    fig = go.Figure()
    shown = [(p, f) for p, f in zip(points, flags, strict=True) if p.value is not None and p.speed(batch) > 0]
    front = sorted((p for p, f in shown if f), key=lambda p: p.speed(batch))
    if len(front) > 1:  # one point is no line: no legend entry for one
        fig.add_trace(go.Scatter(
            x=[p.speed(batch) for p in front], y=[p.value for p in front], mode="lines", line_shape="vh",
            line={"color": "rgba(90, 90, 90, 0.8)", "width": 2, "dash": "dot"}, name="Pareto frontier",
            hoverinfo="skip"))
    for run in dict.fromkeys(p.run for p, _ in shown):
        mine = [(p, f) for p, f in shown if p.run == run]
        fig.add_trace(go.Scatter(
            x=[p.speed(batch) for p, _ in mine], y=[p.value for p, _ in mine], mode="markers+text", name=run,
            text=[p.variant for p, _ in mine], textposition="top center", textfont={"size": 11},
            marker={"color": colors.get(run), "symbol": [SYMBOLS.get(p.variant, "square") for p, _ in mine],
                    "size": [12 + 28 * math.sqrt(getattr(p, size_by) / largest) for p, _ in mine],
                    "opacity": [0.95 if f else 0.55 for _, f in mine],
                    "line": {"color": ["#222" if f else "#fff" for _, f in mine],
                             "width": [2.5 if f else 1 for _, f in mine]}},
            hovertext=[_hover(p, f, names) for p, f in mine], hoverinfo="text"))
    _shape_legend(fig, [p.variant for p, _ in shown])
    _teacher_arrows(fig, [p for p, _ in shown], batch)
    what = next(k for k, v in SIZES.items() if v == size_by)
    speeds = [p.speed(batch) for p, _ in shown]
    low, high = (min(speeds) / 1.5, max(speeds) * 1.5) if speeds else (1.0, 10.0)
    ticks = log_ticks(low, high)
    # Whole numbers at 1-2-5 steps: plotly's own log ticks label 2,000 as "2" beside a "10k".
    fig.update_xaxes(type="log", range=[math.log10(low), math.log10(high)], tickvals=ticks,
                     ticktext=[f"{t:,.0f}" if t >= 1 else f"{t:g}" for t in ticks],
                     title=f"Examples per second at batch {batch} (log scale; right is faster)")
    values = {p.value for p, _ in shown if p.value is not None}
    # Equal scores: plotly would pad them by 1 either way (an accuracy axis up to 1.5); otherwise
    # its own range, which leaves room for the markers.
    if len(values) == 1:
        only = values.pop()
        pad = 0.05 * ((declared.high if declared is not None else None) or abs(only) or 1.0)
        fig.update_yaxes(range=[only + pad, only - pad] if lower_better else [only - pad, only + pad])
    else:
        fig.update_yaxes(autorange="reversed" if lower_better else True)
    fig.update_yaxes(title=metric_label(metric) + (" (lower is better: axis reversed)" if lower_better else ""))
    fig.update_layout(
        title=title_under_toolbar(f"{metric_label(metric)} against speed; marker area: {what}; "
                                  "outlined: on the frontier"),
        height=460, margin={"l": 10, "r": 10, "t": TITLE_TOP, "b": 10}, legend={"title": {"text": "run"}},
        hoverlabel={"align": "left"})
    return fig


def _shape_legend(fig: go.Figure, variants: Sequence[str]) -> None:
    """Legend entries for the marker shapes of the models shown (``fp32 weights`` a circle, ``int8``
    a diamond): grey markers with no point, in a legend group of their own."""
    for variant in dict.fromkeys(variants):
        words = "fp32 (the run's own weights)" if variant == PARENT else variant
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", name=f"{words}: {SYMBOLS.get(variant, 'square')}",
            marker={"symbol": SYMBOLS.get(variant, "square"), "color": "rgba(120, 120, 120, 0.9)", "size": 11},
            legendgroup="shapes", legendgrouptitle={"text": "marker shape"}, hoverinfo="skip"))


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values between ``low`` and ``high`` (> 0) on a log axis: 1, 2 and 5 times each power of
    ten, or every digit where that gives fewer than three."""
    ticks: list[float] = []
    for steps in ((1, 2, 5), tuple(range(1, 10))):
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
                 for m in steps if low <= m * 10.0**e <= high]
        if len(ticks) >= 3:
            break
    return ticks


def _teacher_arrows(fig: go.Figure, points: Sequence[SpeedPoint], batch: int) -> None:
    """An arrow from each teacher's own weights to its student's, when both are on the chart."""
    own = {p.run_id: p for p in points if p.variant == PARENT}
    for student in own.values():
        teacher = own.get(student.teacher_id or "")
        if teacher is None or student.value is None or teacher.value is None:
            continue
        # On a log axis an annotation's x is the exponent.
        x, ax = math.log10(student.speed(batch)), math.log10(teacher.speed(batch))
        fig.add_annotation(x=x, y=student.value, ax=ax, ay=teacher.value, xref="x", yref="y", axref="x",
                           ayref="y", showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.5, standoff=14,
                           startstandoff=14, arrowcolor="rgba(120, 120, 120, 0.9)", text="")
        fig.add_annotation(x=(x + ax) / 2, y=(student.value + teacher.value) / 2, xref="x", yref="y",
                           showarrow=False, text="distilled", font={"size": 11, "color": "rgba(90, 90, 90, 1)"},
                           bgcolor="rgba(255, 255, 255, 0.7)")


# -- the view -----------------------------------------------------------------------------------
def frontier_section(store: Store, runs: Sequence[Run], labels: Mapping[str, str]) -> None:
    """Under one task's table on Compare: the frontier of the compared runs that can be timed
    (nothing for a task whose runs cannot)."""
    timed = [r for r in runs if r.task in TIMED_TASKS]
    if not timed:
        return
    metrics = dict.fromkeys((r.summary or {}).get("metric") or "" for r in timed)
    scores = " / ".join(metric_label(m) for m in metrics if m) or "Score"
    st.markdown(f"#### {scores}, speed and size")
    if flash := st.session_state.pop(FLASH, None):
        st.success(flash, icon=":material/speed:")
    names = {r.id: labels.get(r.id, r.name) for r in runs}
    points = [p for r in timed for p in speed_points(r.id, names[r.id], _speed(r), teacher_ref(r.config))]
    if points:
        _chart_and_table(points, names)
        stopped = [r for r in timed if r.status in TERMINAL_STATUSES]
        if st.button("Re-measure all", key=f"{KEY}.measure_all", icon=":material/speed:",
                     help="Time every run here and its variants again, one after the other, so that all are "
                          f"measured at the same load (on {MEASURE_THREADS} torch thread)"):
            measure(store, stopped, names, FLASH)
    _unmeasured(store, timed, names, some=bool(points))


def _speed(run: Run) -> dict[str, Any] | None:
    return (run.summary or {}).get(SUMMARY_KEY)


def _chart_and_table(points: Sequence[SpeedPoint], names: Mapping[str, str]) -> None:
    batch_col, size_col = st.columns(2)
    batch = batch_col.radio("Examples per second at batch", BATCHES, index=len(BATCHES) - 1, horizontal=True,
                            key=f"{KEY}.batch", help="Batch 1: one text at a time, as a service answering "
                                                     "requests; batch 32: texts in bulk.")
    what = size_col.radio("Marker area", list(SIZES), horizontal=True, key=f"{KEY}.size")
    flags = on_frontier(points, int(batch))
    where = sorted({p.machine for p in points})
    st.caption("The figures of `lmwb eval RUN --speed` (examples per second with the text already tokenised)"
               + (f", measured on {where[0]}" if len(where) == 1 else "") + ". **On the frontier**: no other "
               "model is at least as fast and as good, and better at one of the two. Speeds depend on the "
               "processor, its threads and its load at the time.")
    if len(where) > 1:
        st.warning("These figures were measured on different processors or with different thread counts ("
                   + "; ".join(where) + "): their speeds are not comparable. Measure them again on one "
                   "machine.",
                   icon=":material/warning:")
    if spread := load_spread(points):
        st.warning(f"These figures were measured at loads from {spread[0]:.2f} to {spread[1]:.2f} (the 1-minute "
                   "load average, column *load then*): a busier machine times slower, so their speeds are not "
                   "comparable. **Re-measure all** times them again one after the other.",
                   icon=":material/warning:")
    if len({p.data for p in points}) > 1:
        st.warning("These runs were scored on different data (" + ", ".join(sorted({p.data for p in points}))
                   + "): their scores are not comparable.", icon=":material/warning:")
    colors = color_map(list(dict.fromkeys(names.values())))
    for metric in dict.fromkeys(p.metric for p in points):
        mine = [i for i, p in enumerate(points) if p.metric == metric]
        chosen = [points[i] for i in mine]
        figure = frontier_figure(chosen, [flags[i] for i in mine], int(batch), SIZES[what], colors, names)
        st.plotly_chart(figure, key=f"{KEY}.chart.{metric}")
    for point in points:
        if point.teacher_id and point.variant == PARENT:
            st.caption(f":material/school: {point.run} was distilled from {teacher_name(point, names)}.")
    numbers = st.column_config.NumberColumn(format="localized")
    st.dataframe(frontier_frame(points, flags, names), hide_index=True, key=f"{KEY}.table", column_config={
        **{f"examples/s at batch {b}": numbers for b in BATCHES}, "parameters": numbers,
        "load then": st.column_config.NumberColumn(format="%.2f", help="The 1-minute load average when "
                                                                       "measured")})


def _unmeasured(store: Store, runs: Sequence[Run], names: Mapping[str, str], some: bool) -> None:
    """The runs with no figures (or a variant made since), each with its command and a button."""
    missing = [(r, why) for r in runs if (why := missing_speed(_speed(r), list(stored_variants(store, r.id))))]
    if not missing:
        return
    st.markdown("**Not measured yet**" if some else
                "**None of these runs has been measured yet.** Their speed is timed on this machine:")
    for run, why in missing:
        text, button = st.columns([4, 1], vertical_alignment="center")
        if run.status not in TERMINAL_STATUSES:
            text.markdown(f"{names[run.id]}: {run.status}; it can be measured once it stops.")
            continue
        text.markdown(f"{names[run.id]}: {why}. In a terminal: `{measure_command(run.id)}`")
        if button.button("Measure", key=f"{KEY}.measure.{run.id}", icon=":material/speed:",
                         help="Time the run and its variants here (a few seconds each) and keep the figures "
                              f"with the run, as the command does, on {MEASURE_THREADS} torch thread"):
            measure(store, [run], names, FLASH)


def measure(store: Store, runs: Sequence[Run], names: Mapping[str, str], flash: str) -> None:
    """Time each of ``runs`` and its variants here, as ``lmwb eval RUN --speed`` does, on
    :data:`MEASURE_THREADS` torch threads, keep the figures with each run, and rerun the page with
    a line saying so in ``st.session_state[flash]`` (Compare's buttons and the Run page's)."""
    done, processor = [], ""
    for run in runs:
        name = names.get(run.id, run.name)
        with st.spinner(f"Measuring {name} and its variants…"), _torch_threads(MEASURE_THREADS):
            try:
                table = speed_table(store, run.id)
            except (WorkbenchError, OSError) as exc:
                st.error(f"Cannot measure {name}: {exc}", icon=":material/error:")
                return
        n, processor = len(table["rows"]), table["processor"]
        done.append(f"{name}: {n} model{'s' if n != 1 else ''}")
    st.session_state[flash] = f"Measured {'; '.join(done)} on {processor}."
    st.rerun()  # the page reads the runs' new figures from the store


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch  # deferred: the page imports no torch until something is measured

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
