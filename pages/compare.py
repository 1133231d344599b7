"""Compare: overlaid curves, a metric table, confusion matrices / ROC curves, and which
hyperparameters moved the chosen metric.

Runs of different tasks are never overlaid: each task has its own section (its curves and its
table, the task's headline metrics first, as the metric catalogue declares them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app.components.charts import (
    X_TITLES,
    color_map,
    confusion_matrices_figure,
    curve_label,
    log_scale_fits,
    metric_curves_figure,
    parallel_coordinates_figure,
    roc_figure,
)
from app.components.curve_legend import hidden_runs
from app.components.frontier_view import frontier_section
from app.components.learn_view import learn_link
from app.components.live import curve_controls
from app.components.run_picker import pick_runs
from app.components.runs_table import aligned_text, data_label
from app.components.teacher_view import teachers_table
from app.state import COMPARE_HANDOFF_KEY, get_store
from core.jobs.queue import group_tag
from core.learn.chapters import explaining
from core.metrics import (
    HELDOUT,
    HELDOUT_LABEL,
    METRICS,
    Metric,
    metric_label,
    task_metrics,
)
from core.registry import task_label
from core.reproduce import differing_settings
from core.store import TERMINAL_STATUSES, Run, Store

# One column per declared metric (core.metrics), labelled as declared: a binary precision and a
# macro one never share a column. Runs with a held-out set add a column per metric for it.
TABLE_METRICS: dict[str, Metric] = {m.label: m for m in METRICS.values() if m.objective}
HELDOUT_COLUMNS: dict[str, Metric] = {f"{m.label} ({HELDOUT_LABEL})": m for m in TABLE_METRICS.values()}
COLUMNS: dict[str, tuple[str, Metric]] = {
    **{label: ("val", m) for label, m in TABLE_METRICS.items()},
    **{label: (HELDOUT, m) for label, m in HELDOUT_COLUMNS.items()},
}
PICK_KEY = "compare_runs"
CHART_KEY = "compare_curves."  # each task's curves: compare_curves.<task>
URL_KEY = "runs"  # ?runs=ID,ID,...: the runs a link opens the page with


# -- data (pure) -----------------------------------------------------------------------------
def short_labels(runs: Sequence[Run]) -> dict[str, str]:
    """run id -> how charts and tables name it: its name, with the id only where two runs share
    a name (legends and subplot titles have room for little more)."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    return {run.id: run.name if counts[run.name] == 1 else f"{run.name} ({run.id})" for run in runs}


def comparison_group(run: Run) -> tuple[str, str]:
    """What must match for two runs' scores to be comparable: the task and the data (the data
    section as stored: dataset, file, size, split)."""
    data = (run.config or {}).get("data") or {}
    return run.task, json.dumps(data, sort_keys=True, default=str)


def data_text(run: Run) -> str:
    """The run's data in words (a built-in set's label, a file's name)."""
    return data_label((run.config or {}).get("data")) or "?"


def comparable_runs(runs: Sequence[Run], limit: int = 6) -> list[str]:
    """The runs the page starts with: the newest finished run's group (its race or sweep, else
    the recent runs of the same task and data), at most ``limit``, newest first."""
    finished = [r for r in runs if r.status in TERMINAL_STATUSES]
    if not finished:
        return []
    newest = finished[0]
    group = comparison_group(newest)
    tag = group_tag(newest)
    same = [r for r in finished if comparison_group(r) == group]
    if tag is not None:
        tagged = [r for r in same if tag in r.tags]
        same = tagged if len(tagged) > 1 else same
    return [r.id for r in same[:limit]]


def metric_table(runs: Sequence[Run], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per run; columns no selected run has are dropped (BLEU only for translation)."""
    labels = labels or short_labels(runs)
    rows = []
    for run in runs:
        summary = run.summary or {}
        row: dict[str, Any] = {"run": labels[run.id]}
        for column, (source, declared) in COLUMNS.items():
            row[column] = (summary.get(source) or {}).get(declared.name)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["run", *COLUMNS]).set_index("run")
    return table.dropna(axis=1, how="all").astype(float)


def runs_by_task(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """The runs grouped by task, tasks in the order their first run comes (newest first)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.task, []).append(run)
    return groups


def task_columns(task: str, columns: Sequence[str], every: bool = False) -> list[str]:
    """Which of the table's ``columns`` a table of ``task``'s runs shows, in order: the task's
    headline metrics (core.metrics, in declaration order: accuracy, BLEU, ROUGE-L... first), with
    ``every`` then its other metrics; each metric's held-out column after the validation ones."""
    declared = task_metrics(task, objective=True)
    ordered = [m for m in declared if m.headline] + ([m for m in declared if not m.headline] if every else [])
    wanted = [m.label for m in ordered] + [f"{m.label} ({HELDOUT_LABEL})" for m in ordered]
    return [c for c in wanted if c in set(columns)]


def best_marks(table: pd.DataFrame, groups: Sequence[Any] | None = None) -> pd.DataFrame:
    """CSS per cell marking the best value of each column (max, or min for losses) among the
    runs of the same group (task and data: scores of different tasks are not compared); a group
    of one run has no best."""
    keys = pd.Series([str(g) for g in groups] if groups is not None else [""] * len(table), index=table.index)
    marks = pd.DataFrame("", index=table.index, columns=table.columns)
    for column in table.columns:
        declared = COLUMNS[str(column)][1] if str(column) in COLUMNS else None
        values = table[column]
        for label, value in values.items():
            mates = values[keys == keys[label]].dropna()
            if pd.isna(value) or len(mates) < 2:
                continue
            best = mates.min() if declared is not None and declared.direction == "min" else mates.max()
            if value == best:
                marks.loc[label, column] = "font-weight: bold; background-color: rgba(46, 160, 67, 0.25)"
    return marks


def highlight_best(table: pd.DataFrame, groups: Sequence[Any] | None = None, by_metric: bool = False) -> Any:
    """The table as the page shows it: numbers as text aligned on the decimal point (an empty
    cell stays empty, where st.dataframe would write "None"), the best of each metric marked
    (:func:`best_marks`). ``by_metric``: one row per metric and one column per run, so a
    classifier's every metric fits the page's width (runs are few, metrics many)."""
    marks = best_marks(table, groups)
    # Each metric as the catalogue shows it (QA's scores in percent): one scale per task's table.
    text = table.apply(lambda column: aligned_text(
        column, COLUMNS[str(column.name)][1].shown if str(column.name) in COLUMNS else "%.4f"))
    if by_metric:
        text, marks = text.T.rename_axis("metric"), marks.T
    return text.style.apply(lambda _: marks, axis=None)


def epochs_per_step(run: Run) -> float | None:
    """Epochs one optimizer step covers, from the data sizes the run recorded; None if unknown.

    Batches are sampled with replacement, so an "epoch" is examples seen / examples available
    (docs/architecture.md): windows of context_length tokens for a language model.
    """
    data = (run.summary or {}).get("data") or {}
    config = run.config or {}
    training = config.get("training") or {}
    per_step = (training.get("batch_size") or 0) * (training.get("grad_accum") or 1)
    if data.get("train_examples"):
        return per_step / data["train_examples"]
    if data.get("train_tokens"):
        context = (config.get("task") or {}).get("context_length") or 1
        return per_step * context / data["train_tokens"]
    return None


def curves_frame(store: Store, runs: Sequence[Run], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Every metric point of the runs, labelled, with an epoch column where it is known."""
    labels = labels or short_labels(runs)
    frames = []
    for run in runs:
        frame = store.metrics(run.id)
        factor = epochs_per_step(run)
        frames.append(frame.assign(run=labels[run.id], epoch=frame["step"] * factor if factor else float("nan")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def differing_params(runs: Sequence[Run], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The flattened config keys whose values differ among the runs (one row per run)."""
    labels = labels or short_labels(runs)
    diff = differing_settings([r.config for r in runs])
    flat = pd.DataFrame(
        {key: [",".join(map(str, v)) if isinstance(v, list) else v for v in values] for key, values in diff.items()},
        index=[labels[r.id] for r in runs],
    )
    return flat


# -- page --------------------------------------------------------------------------------------
def main() -> None:
    st.title("Compare runs")
    store = get_store()
    runs = store.list_runs()
    if not runs:
        st.info("No runs yet. Train a few on the **Train** page, then compare them here.")
        return
    if COMPARE_HANDOFF_KEY in st.session_state:  # "Compare selected" on the Runs page
        st.session_state[PICK_KEY] = list(st.session_state.pop(COMPARE_HANDOFF_KEY))
    elif PICK_KEY not in st.session_state and (shared := st.query_params.get(URL_KEY)):
        st.session_state[PICK_KEY] = [i for i in shared.split(",") if i]  # a shared link; unknown ids dropped
    ids = pick_runs(store, PICK_KEY, default=comparable_runs(runs), runs=runs)
    st.query_params[URL_KEY] = ",".join(ids)  # the address opens this comparison again
    chosen = [r for r in runs if r.id in set(ids)]
    if not chosen:
        st.info("Choose one or more runs to compare.")
        return
    labels = short_labels(chosen)
    groups = {r.id: comparison_group(r) for r in chosen}
    _warn_mixed(chosen, list(groups.values()))
    _warn_bleu_case(chosen)
    colors = color_map([labels[r.id] for r in chosen])
    table = metric_table(chosen, labels)
    frame = curves_frame(store, chosen, labels)
    by_task = runs_by_task(chosen)
    view = _curve_controls(frame)
    for task, mates in by_task.items():
        if len(by_task) > 1:
            st.subheader(f"{task_label(task)} ({len(mates)} run{'s' if len(mates) > 1 else ''})", divider="gray")
        mine = [labels[r.id] for r in mates]
        _curves(frame[frame["run"].isin(mine)] if not frame.empty else frame, task, view, colors,
                titled=len(by_task) == 1)
        _table(table.loc[mine], task, [groups[r.id] for r in mates], titled=len(by_task) == 1)
        _how_computed(table.loc[mine], mates)
        teachers_table(store, mates, labels)  # distilled runs beside their teachers
        frontier_section(store, mates, labels)  # the task's metric against speed and size, its frontier
    _details(chosen, table, colors, labels)


def _warn_mixed(runs: Sequence[Run], groups: Sequence[tuple[str, str]]) -> None:
    """Scores of different tasks or data are not comparable: say so above the charts."""
    if len(set(groups)) < 2:
        return
    tasks = sorted({task_label(r.task) for r in runs})
    data = sorted({data_text(r) for r in runs})
    what = []
    if len(tasks) > 1:
        what.append("tasks (" + ", ".join(tasks) + ")")
    if len({g[1] for g in groups}) > 1:
        what.append("data (" + ", ".join(data) + ")" if len(data) > 1 else "data settings")
    st.warning(f"These runs differ in {' and '.join(what)}: their scores are not comparable. "
               + ("Each task has its own charts and table below; " if len(tasks) > 1 else "")
               + "the best value is marked only among runs of the same task and data.",
               icon=":material/warning:")


def _warn_bleu_case(runs: Sequence[Run]) -> None:
    """A lowercased BLEU beside a cased one flatters the lowercasing run: point at the columns
    that score every run the same way."""
    cases = {((r.summary or {}).get("details") or {}).get("bleu_case") for r in runs}
    if {"cased", "lowercased"} <= cases:
        st.warning("Some of these runs score BLEU lowercased (their tokenizer lowercases) and some cased, so "
                   "their **BLEU** column is not comparable: compare **BLEU (lowercased)**, which every run "
                   "reports.", icon=":material/warning:")


def _curve_controls(frame: pd.DataFrame) -> dict[str, Any]:
    """The x axis, smoothing and log scale, once for every task's chart."""
    st.subheader("Curves")
    axis, smoothing, log_y = st.columns([3, 2, 1], vertical_alignment="bottom")
    x = axis.radio("x-axis", list(X_TITLES), format_func=X_TITLES.get, horizontal=True, key="compare_x")
    if x == "epoch" and (frame.empty or frame["epoch"].isna().all()):
        st.caption("Epochs are unknown for these runs (their data sizes were not recorded).")
    view = dict(zip(("smoothing", "log_y"), curve_controls("compare_view", (smoothing, log_y)), strict=True))
    # Runs hidden by a click on a legend entry, on every task's chart until clicked again.
    return {"x": x, **view, "hidden": hidden_runs("compare_legend", CHART_KEY)}


def _curves(frame: pd.DataFrame, task: str, view: dict[str, Any], colors: dict[str, str], titled: bool) -> None:
    """One task's runs' curves: one metric at a time, chosen among those they logged."""
    # A metric fixed for a run (QA's passage retrieval) is a flat line: the table holds it.
    names = sorted(n for n in frame["name"].unique() if not (n in METRICS and METRICS[n].fixed)) \
        if not frame.empty else []
    if not names:
        st.info("These runs have not logged any metrics yet.")
        return
    metric = st.columns([1, 2])[0].selectbox("Metric", names, index=names.index("loss") if "loss" in names else 0,
                                             format_func=curve_label, key=f"compare_metric.{task}")
    title = curve_label(metric) if titled else f"{task_label(task)}: {curve_label(metric)}"
    if view.get("log_y") and not log_scale_fits(metric):
        st.caption(f"{curve_label(metric)} stays on a linear axis: the log scale is for loss-like curves.")
    st.plotly_chart(metric_curves_figure(frame, metric, colors=colors, title=title, **view),
                    key=f"{CHART_KEY}{task}")


def _table(table: pd.DataFrame, task: str, groups: Sequence[Any], titled: bool) -> None:
    heldout = any(c in HELDOUT_COLUMNS for c in table.dropna(axis=1, how="all").columns)
    heading = ("Metrics (validation)" if not heldout
               else f"Metrics (validation, and {HELDOUT_LABEL}: scored beside it, never used to stop)")
    if titled:
        st.subheader(heading)
    else:
        st.markdown(f"**{heading}**")
    present = list(table.dropna(axis=1, how="all").columns)
    if not present:
        st.info("No validation metrics yet: runs report them at each evaluation.")
        return
    main = task_columns(task, present)
    every = task_columns(task, present, every=True)
    # The headline metrics fit the page as columns; the rest (precision, recall... of a
    # classifier) on request, as rows: a dozen metric columns would scroll sideways at 1400 px.
    by_metric = len(every) > len(main) and st.toggle(
        f"Every metric ({len(every) - len(main)} more)", key=f"compare_every.{task}",
        help="Every metric the task reports, one row each (the runs as columns).")
    shown = table[every if by_metric else main or present]
    lowest = [c.lower() for c in shown.columns if c in COLUMNS and COLUMNS[c][1].direction == "min"]
    st.caption(f"Best value of each {'row' if by_metric else 'column'} in bold, among runs of the same task and data"
               + (f" (lowest for {', '.join(lowest)})." if lowest else "."))
    numbers = list(shown.index) if by_metric else list(shown.columns)
    config: dict[str, Any] = {c: st.column_config.TextColumn(alignment="right") for c in numbers}
    rows = len(shown.columns) if by_metric else len(shown)
    if by_metric:  # each metric's name whole (about 8 px a character), every row without scrolling
        config["_index"] = st.column_config.TextColumn(width=24 + 8 * max(map(len, shown.columns)))
    st.dataframe(highlight_best(shown, groups, by_metric=by_metric), key=f"compare_table.{task}",
                 column_config=config, height=min(38 + 35 * rows + 2, 800) if by_metric else "auto")


def _how_computed(table: pd.DataFrame, runs: Sequence[Run]) -> None:
    """A link to each Learn chapter that computes one of these metrics by hand, on the first run
    it can read (a chapter on typed input alone, on nothing)."""
    present = [c for c in table.dropna(axis=1, how="all").columns if c in COLUMNS]
    names = [COLUMNS[c][1].name for c in present]
    for chapter in explaining(names):
        run = next((r.id for r in runs if chapter.accepts(r.task, r.arch)), None)
        if chapter.runs and run is None:
            continue
        shown = ", ".join(dict.fromkeys(metric_label(m) for m in chapter.explains if m in names))
        learn_link(chapter.name, run=run, label=f"How is {shown} computed?")


def _details(runs: Sequence[Run], table: pd.DataFrame, colors: dict[str, str], labels: dict[str, str]) -> None:
    """Confusion matrices / ROC curves and hyperparameters vs metric, one tab each. Only the open
    tab is built and drawn (switching tabs reruns), so the page is ready sooner."""
    panels = {}
    if any(_confusion(r) for r in runs):
        panels["Confusion matrices and ROC"] = lambda: _classification_details(runs, colors, labels)
    if len(runs) > 1 and table.shape[1] > 0:
        panels["Hyperparameters vs metric"] = lambda: _parallel_coordinates(runs, table, labels)
    if not panels:
        return
    tabs = st.tabs(list(panels), key="compare_tabs", on_change="rerun")
    for draw, tab in zip(panels.values(), tabs, strict=True):
        if tab.open is not False:
            with tab:
                draw()


def _confusion(run: Run) -> dict[str, Any] | None:
    return ((run.summary or {}).get("details") or {}).get("confusion_matrix")


def _classification_details(runs: Sequence[Run], colors: dict[str, str], labels: dict[str, str]) -> None:
    with_details = [r for r in runs if _confusion(r)]
    matrices = {labels[r.id]: _confusion(r) for r in with_details}
    st.plotly_chart(confusion_matrices_figure(matrices), key="compare_confusion")
    curves = {labels[r.id]: r.summary["details"].get("roc_curve") or {} for r in with_details}
    st.plotly_chart(roc_figure(curves, colors), key="compare_roc")


def _parallel_coordinates(runs: Sequence[Run], table: pd.DataFrame, labels: dict[str, str]) -> None:
    params = differing_params(runs, labels)
    if params.empty:
        st.info("These runs share every hyperparameter.")
        return
    metric = st.selectbox("Metric", list(table.columns), key="compare_pc_metric")
    frame = params.join(table[[metric]])
    st.plotly_chart(parallel_coordinates_figure(frame, metric), key="compare_parcoords")


if __name__ == "__main__":
    main()
