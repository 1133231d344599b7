"""The Run page's "Take results out": the run's numbers to TensorBoard or MLflow, its model to a
Hugging Face folder or ONNX, through the same functions as ``lmwb runs export`` / ``lmwb export``
(core/export), with the same refusals shown as messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.errors import WorkbenchError
from core.export import format_for
from core.registry import arch_label, task_label
from core.store import ACTIVE_STATUSES, Run, Store

TRACKERS = {"TensorBoard": "tensorboard", "MLflow": "mlflow"}


def model_format(run: Run) -> str | None:
    """The model export this run's kind has (hf: GPT language models; onnx: classifiers)."""
    return format_for(run.task, run.arch)


def export_panel(store: Store, run: Run, key: str) -> None:
    """An expander with both exports; each writes only when its button is clicked."""
    with st.expander("Take results out", icon=":material/ios_share:"):
        st.caption("The same exports as `lmwb runs export RUN --to tensorboard|mlflow` and "
                   "`lmwb export RUN --format hf|onnx OUT`; folders are on the machine running the app.")
        left, right = st.columns(2)
        with left:
            _trackers(store, run, key)
        with right:
            _model(store, run, key)


def _trackers(store: Store, run: Run, key: str) -> None:
    st.markdown("**Metrics and config**")
    label = st.segmented_control("To", list(TRACKERS), default="TensorBoard", key=f"{key}.to") or "TensorBoard"
    to = TRACKERS[label]
    default = str(Path.cwd() / ("tensorboard" if to == "tensorboard" else "mlruns"))
    folder = st.text_input("Folder", default, key=f"{key}.{to}.out",
                           help="TensorBoard: a log folder (the run goes into its sub-folder named by the run id); "
                           "MLflow: an mlruns folder.")
    if st.button(f"Export to {label}", key=f"{key}.track", icon=":material/upload:"):
        from core.export.tracking import export_run

        _show(lambda: export_run(store, run.id, to, out=folder))


def _model(store: Store, run: Run, key: str) -> None:
    st.markdown("**Model**")
    fmt = model_format(run)
    if fmt is None:
        st.caption(f"No model export for a {task_label(run.task)} run of {arch_label(run.arch)}: Hugging Face takes GPT language "
                   "models (transformer_decoder), ONNX takes classifiers (transformer_encoder, lstm, gru, rnn).")
        return
    if run.status in ACTIVE_STATUSES:
        st.caption("The model can be exported once the run has stopped.")
        return
    name = "Hugging Face (GPT2LMHeadModel)" if fmt == "hf" else "ONNX"
    folder = st.text_input(f"New folder for the {name} export", str(Path.cwd() / f"{run.id}-{fmt}"),
                           key=f"{key}.model.out")
    if st.button(f"Export as {name}", key=f"{key}.model", icon=":material/download:"):
        from core.export.models import export_model
        from core.runs import load_trained

        _show(lambda: export_model(store, run.id, fmt, folder,
                                   load_run=lambda s, run_id: load_trained(s, run_id, device="cpu")))


def _show(action: Callable[[], str]) -> None:
    with st.spinner("Exporting..."):
        try:
            st.success(action(), icon=":material/check:")
        except (WorkbenchError, OSError) as exc:
            st.error(str(exc), icon=":material/error:")
