"""A classifier run as an ONNX graph, checked with ONNX Runtime against PyTorch.

Inputs ``ids`` (int64, batch x sequence) and ``pad_mask`` (bool, true at padding, padding on the
right), output ``logits`` (batch x classes); batch and sequence are dynamic axes. Beside the
``model.onnx``: the tokenizer (Hugging Face files, checked to give the run's ids) and
``labels.json`` (class names in logit order, the pad id, the longest input).

TorchScript-based export (``dynamo=False``): it turns the RNNs' packed sequences into ONNX's
``LSTM``/``GRU``/``RNN`` with sequence lengths, which the dynamo exporter cannot trace, and it
takes seconds where dynamo took ~16 s for a small encoder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from core.errors import WorkbenchError
from core.export import TAKES, need
from core.export.hf_tokenizer import save_tokenizer

ARCHS = TAKES["onnx"][1]
TOLERANCE = 1e-4
OPSET = 17
PROBES = ("a gripping, funny film", "The quick brown fox jumps over the lazy dog.", "not bad at all!")


def check_exportable(trained: Any) -> None:
    config = trained.config
    if config.task != "classification" or config.arch not in ARCHS:
        raise WorkbenchError(f"run {trained.run.id} is a {config.task} run of {config.arch}; --format onnx exports "
                             f"classification runs of {', '.join(ARCHS)}; GPT language models go to --format hf")


def example_batch(vocab_size: int, pad_id: int, batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids with one row padded on the right (as the workbench pads), never all padding."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(min(4, vocab_size - 1), vocab_size, (batch, length), generator=gen)
    pad = torch.zeros(batch, length, dtype=torch.bool)
    if batch > 1 and length > 2:
        pad[1, length // 2 :] = True
        ids[1, length // 2 :] = pad_id
    return ids, pad


def export_onnx(trained: Any, out: Path) -> str:
    """Write ``model.onnx``, the tokenizer and ``labels.json`` into ``out``; check the graph."""
    check_exportable(trained)
    tok = trained.tokenizer
    max_length = int(trained.config["task"]["max_length"])
    path = out / "model.onnx"
    diff = write_graph(trained, path)
    save_tokenizer(tok, out, PROBES)
    (out / "labels.json").write_text(json.dumps({
        "labels": list(trained.task.state["label_names"]), "pad_id": tok.pad_id, "max_length": max_length,
        "inputs": {"ids": "int64 [batch, sequence]: token ids, padding on the right",
                   "pad_mask": "bool [batch, sequence]: true at padding"},
        "outputs": {"logits": "float32 [batch, labels]: softmax gives the class probabilities"},
        "run_id": trained.run.id, "run_name": trained.run.name, "checkpoint": trained.checkpoint,
    }, indent=1))
    return (f"wrote {path} (ONNX Runtime within {diff:.1e} of PyTorch on batches of other sizes), the tokenizer "
            f"and labels.json to {out}")


def write_graph(trained: Any, path: Path) -> float:
    """The run's classifier as the ONNX graph ``path`` (no tokenizer, no labels: an int8 variant
    keeps the run's own); returns ONNX Runtime's largest difference from PyTorch, checked."""
    need("onnx", "ONNX export")
    need("onnxruntime", "ONNX export")
    model = trained.model.eval()
    tok = trained.tokenizer
    vocab = int(tok.vocab_size)
    max_length = int(trained.config["task"]["max_length"])
    ids, pad = example_batch(vocab, tok.pad_id, 2, min(8, max_length), seed=0)
    with warnings.catch_warnings(), native_stderr_silenced():
        warnings.simplefilter("ignore")  # the exporter's notes on RNN batch_first and its own deprecation
        torch.onnx.export(
            model, (ids, pad), str(path), input_names=["ids", "pad_mask"], output_names=["logits"],
            dynamic_axes={"ids": {0: "batch", 1: "sequence"}, "pad_mask": {0: "batch", 1: "sequence"},
                          "logits": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    return check_runtime(model, path, vocab, tok.pad_id, max_length)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """The exporter's C++ logs ("shape inference of prim::PackPadded is missing...") go to file
    descriptor 2, past Python's warnings. They would alarm a reader for nothing: the graph is
    checked with ONNX Runtime right after. Python's own stderr is flushed first and kept."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (an embedded interpreter): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@torch.no_grad()
def check_runtime(model: torch.nn.Module, path: Path, vocab: int, pad_id: int, max_length: int) -> float:
    """Max |logit difference| between ONNX Runtime and PyTorch, on shapes other than the export's
    (so the dynamic axes are exercised)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for seed, (batch, length) in enumerate([(3, min(13, max_length)), (1, min(5, max_length))], start=1):
        ids, pad = example_batch(vocab, pad_id, batch, length, seed)
        theirs = session.run(["logits"], {"ids": ids.numpy(), "pad_mask": pad.numpy()})[0]
        ours = model(ids, pad_mask=pad).float().numpy()
        worst = max(worst, float(abs(theirs - ours).max()))
    if not math.isfinite(worst) or worst > TOLERANCE:
        raise WorkbenchError(f"ONNX Runtime's logits differ from the run's by {worst:.2e} "
                             f"(more than {TOLERANCE:g}); nothing was kept")
    return worst
