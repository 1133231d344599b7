"""Results out: a run's numbers to trackers (TensorBoard, MLflow) and its model to other runtimes.

``tracking.py``: config, metric series and final metrics to TensorBoard event files or an MLflow
tracking store, after the fact (``lmwb runs export``) or live (``live.py``: ``training.trackers``).
``hf_gpt.py``: a GPT run as a Hugging Face ``GPT2LMHeadModel`` folder. ``onnx.py``: a classifier
as an ONNX graph, checked with ONNX Runtime. ``folders.py``: where an export may write.

The libraries are the ``export`` extra, imported only here and only when asked for
(:func:`need`), so a missing one is a readable message, not an ImportError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from core.errors import WorkbenchError

# The runs each format takes: a task and its architectures (read by the Run page without torch).
TAKES: dict[str, tuple[str, tuple[str, ...]]] = {
    "hf": ("language_model", ("transformer_decoder",)),
    "onnx": ("classification", ("transformer_encoder", "lstm", "gru", "rnn")),
}
EXTRA_HINT = "install the `export` extra: pip install 'lm-workbench[export]'"


def need(module: str, what: str) -> ModuleType:
    """Import ``module`` for ``what`` (e.g. "TensorBoard export"), or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise WorkbenchError(f"{what} needs the Python package `{module.split('.')[0]}` "
                             f"({exc.name or module} is missing); {EXTRA_HINT}") from None


def format_for(task: str, arch: str) -> str | None:
    """The model export a run of ``task`` and ``arch`` has, if any."""
    return next((fmt for fmt, (t, archs) in TAKES.items() if t == task and arch in archs), None)
