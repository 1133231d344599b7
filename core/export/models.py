"""``lmwb export RUN --format hf|onnx OUT``: a trained run's model for other runtimes.

Loads the run's checkpoint (safetensors, no pickle), checks the output folder, hands the model
to the format's module and removes a half-written folder when that fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import WorkbenchError
from core.export.folders import output_folder

FORMATS = {
    "hf": "a Hugging Face GPT2LMHeadModel folder (language_model runs of transformer_decoder)",
    "onnx": "an ONNX classifier (classification runs of transformer_encoder, lstm, gru or rnn)",
}


def export_model(store: Any, run_ref: str, fmt: str, out: str, *, load_run: Callable[[Any, str], Any]) -> str:
    """Export run ``run_ref`` as ``fmt`` into the new or empty folder ``out``; return a line
    saying what was written and how it was checked. ``load_run(store, run_id)``: the trained run
    on the CPU (:func:`core.runs.load_trained`, passed in by the caller: exports sit below runs)."""
    if fmt not in FORMATS:
        raise WorkbenchError(f"--format {fmt}: unknown; supported: " +
                             "; ".join(f"{k} ({v})" for k, v in FORMATS.items()))
    run = store.get_run(run_ref)
    folder = output_folder(out, store.home)
    trained = load_run(store, run.id)
    if fmt == "hf":
        from core.export.hf_gpt import check_exportable, export_hf

        check_exportable(trained)
        write = lambda: export_hf(trained, folder, store.run_files(run.id))  # noqa: E731
    else:
        from core.export.onnx import check_exportable, export_onnx

        check_exportable(trained)
        write = lambda: export_onnx(trained, folder)  # noqa: E731
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    try:
        _quiet_transformers()
        return write()
    except BaseException as exc:
        _clear(folder, created)  # never leave a folder that looks like a finished export
        if isinstance(exc, Exception) and not isinstance(exc, WorkbenchError | OSError):
            # A library refusing something this module did not foresee: a line, not a traceback.
            text = str(exc).strip().splitlines()
            raise WorkbenchError(f"--format {fmt}: the export failed ({type(exc).__name__}: "
                                 f"{text[0] if text else ''}); nothing was kept") from None
        raise


def _quiet_transformers() -> None:
    """No progress bars or notes from transformers in a command's output (the export says what
    it wrote, in one line)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _clear(folder: Path, created: bool) -> None:
    if created:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for child in folder.iterdir():  # it was empty before: empty it again
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
