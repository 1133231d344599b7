"""Compare: overlaid curves, a metric table, confusion matrices / ROC curves, and which
hyperparameters moved the chosen metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app.components.charts import (
    X_TITLES,
    color_map,
    confusion_matrices_figure,
    metric_curves_figure,
    parallel_coordinates_figure,
    roc_figure,
)
from app.components.run_picker import pick_runs, run_label
from app.state import get_store
from core.config import RunConfig
from core.metrics import METRICS, Metric
from core.store import TERMINAL_STATUSES, Run, Store

# One column per declared metric (core.metrics), labelled as declared: a binary precision and a
# macro one never share a column.
TABLE_METRICS: dict[str, Metric] = {m.label: m for m in METRICS.values() if m.objective}
PICK_KEY = "compare_runs"


# -- data (pure) -----------------------------------------------------------------------------
def metric_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run; columns no selected run has are dropped (BLEU only for translation)."""
    rows = []
    for run in runs:
        val = (run.summary or {}).get("val") or {}
        row: dict[str, Any] = {"run": run_label(run)}
        for column, declared in TABLE_METRICS.items():
            row[column] = val.get(declared.name)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["run", *TABLE_METRICS]).set_index("run")
    return table.dropna(axis=1, how="all").astype(float)


def highlight_best(table: pd.DataFrame) -> Any:
    """A Styler marking the best value of each column (max, or min for losses)."""
    def mark(column: pd.Series) -> list[str]:
        declared = TABLE_METRICS.get(str(column.name))
        best = column.min() if declared is not None and declared.direction == "min" else column.max()
        return ["font-weight: bold; background-color: rgba(46, 160, 67, 0.25)"
                if pd.notna(v) and v == best else "" for v in column]

    return table.style.apply(mark, axis=0).format("{:.4f}", na_rep="–")


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


def curves_frame(store: Store, runs: Sequence[Run]) -> pd.DataFrame:
    """Every metric point of the runs, labelled, with an epoch column where it is known."""
    frames = []
    for run in runs:
        frame = store.metrics(run.id)
        factor = epochs_per_step(run)
        frames.append(frame.assign(run=run_label(run), epoch=frame["step"] * factor if factor else float("nan")))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def differing_params(runs: Sequence[Run]) -> pd.DataFrame:
    """The flattened config keys whose values differ among the runs (one row per run)."""
    flat = pd.DataFrame([
        {k: ",".join(map(str, v)) if isinstance(v, list) else v
         for k, v in RunConfig(run.config).flat().items()}
        for run in runs
    ], index=[run_label(r) for r in runs])
    varying = [c for c in flat.columns if flat[c].astype(str).nunique() > 1]
    return flat[varying]


# -- page --------------------------------------------------------------------------------------
def main() -> None:
    st.title("Compare runs")
    store = get_store()
    runs = store.list_runs()
    if not runs:
        st.info("No runs yet. Train a few on the **Train** page, then compare them here.")
        return
    finished = [r.id for r in runs if r.status in TERMINAL_STATUSES][:2]
    ids = pick_runs(store, PICK_KEY, default=finished, runs=runs)
    chosen = [r for r in runs if r.id in set(ids)]
    if not chosen:
        st.info("Choose one or more runs to compare.")
        return
    colors = color_map([run_label(r) for r in chosen])
    _curves(store, chosen, colors)
    table = metric_table(chosen)
    _table(table)
    _details(chosen, table, colors)


def _curves(store: Store, runs: Sequence[Run], colors: dict[str, str]) -> None:
    st.subheader("Curves")
    frame = curves_frame(store, runs)
    names = sorted(frame["name"].unique()) if not frame.empty else []
    if not names:
        st.info("These runs have not logged any metrics yet.")
        return
    left, right = st.columns([2, 3])
    metric = left.selectbox("Metric", names, index=names.index("loss") if "loss" in names else 0,
                            key="compare_metric")
    x = right.radio("x-axis", list(X_TITLES), format_func=X_TITLES.get, horizontal=True, key="compare_x")
    if x == "epoch" and frame["epoch"].isna().all():
        st.caption("Epochs are unknown for these runs (their data sizes were not recorded).")
    st.plotly_chart(metric_curves_figure(frame, metric, x=x, colors=colors), key="compare_curves")


def _table(table: pd.DataFrame) -> None:
    st.subheader("Metrics (validation)")
    if table.empty or table.shape[1] == 0:
        st.info("No validation metrics yet: runs report them at each evaluation.")
        return
    lowest = ", ".join(m.label.lower() for m in TABLE_METRICS.values() if m.direction == "min")
    st.caption(f"Best value of each column in bold (lowest for {lowest}).")
    st.dataframe(highlight_best(table), key="compare_table")


def _details(runs: Sequence[Run], table: pd.DataFrame, colors: dict[str, str]) -> None:
    """Confusion matrices / ROC curves and hyperparameters vs metric, one tab each. Only the open
    tab is built and drawn (switching tabs reruns), so the page is ready sooner."""
    panels = {}
    if any(_confusion(r) for r in runs):
        panels["Confusion matrices and ROC"] = lambda: _classification_details(runs, colors)
    if len(runs) > 1 and table.shape[1] > 0:
        panels["Hyperparameters vs metric"] = lambda: _parallel_coordinates(runs, table)
    if not panels:
        return
    tabs = st.tabs(list(panels), key="compare_tabs", on_change="rerun")
    for draw, tab in zip(panels.values(), tabs, strict=True):
        if tab.open is not False:
            with tab:
                draw()


def _confusion(run: Run) -> dict[str, Any] | None:
    return ((run.summary or {}).get("details") or {}).get("confusion_matrix")


def _classification_details(runs: Sequence[Run], colors: dict[str, str]) -> None:
    with_details = [r for r in runs if _confusion(r)]
    matrices = {run_label(r): _confusion(r) for r in with_details}
    st.plotly_chart(confusion_matrices_figure(matrices), key="compare_confusion")
    curves = {run_label(r): r.summary["details"].get("roc_curve") or {} for r in with_details}
    st.plotly_chart(roc_figure(curves, colors), key="compare_roc")


def _parallel_coordinates(runs: Sequence[Run], table: pd.DataFrame) -> None:
    params = differing_params(runs)
    if params.empty:
        st.info("These runs share every hyperparameter.")
        return
    metric = st.selectbox("Metric", list(table.columns), key="compare_pc_metric")
    frame = params.join(table[[metric]])
    st.plotly_chart(parallel_coordinates_figure(frame, metric), key="compare_parcoords")


if __name__ == "__main__":
    main()
