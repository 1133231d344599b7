"""int8 inference through ONNX Runtime: a classifier's ONNX graph (:mod:`core.export.onnx`)
quantised dynamically, and a quantised graph run as a module the tasks score and predict with.

Dynamic quantisation: the weights are stored as int8 with one scale per output channel, the
activations are quantised batch by batch as they come (no calibration set). ONNX Runtime turns ``MatMul`` and
``Gemm`` into integer matrix products, ``LSTM`` into ``DynamicQuantizeLSTM`` and the embedding's
``Gather`` into an int8 table. Why this path and not PyTorch's: docs/architecture.md, "Low
precision".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from core.export import need


@contextlib.contextmanager
def _root_logger_quiet() -> Iterator[None]:
    """ONNX Runtime's quantiser advises "pre-processing" on the root logger for every graph: a
    note for image models with static quantisation, noise in a command's output here."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_graph(source: Path, target: Path) -> None:
    """Write ``source`` (an fp32 ONNX graph) to ``target`` with int8 weights."""
    need("onnxruntime", "int8 quantisation")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _root_logger_quiet():
        # Signed weights with unsigned activations (U8S8): the pair ONNX Runtime's x86 kernels
        # (AVX2, AVX512-VNNI, AMX) are fastest with. One scale per output channel: on a MiniLM
        # fine-tuned on SST-2, one per tensor lost 1.5 points on held-out sentences, per channel
        # 0.5, at the same size and speed (bench/int8_speed.py).
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)


def runtime_version() -> str:
    return str(need("onnxruntime", "int8 inference").__version__)


class OnnxClassifier(nn.Module):
    """A classifier's ONNX graph behind the same call as the run's own model,
    ``model(ids=..., pad_mask=...) -> logits``, so the task's evaluation and prediction run it
    unchanged. It has no parameters and no gradients: what needs those (salience, attention
    maps, fine-tuning) takes the run's own model."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__()
        ort = need("onnxruntime", "int8 inference")
        options = ort.SessionOptions()
        # As many threads as torch uses here, so the run and its variant are timed alike.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no notes about unused initializers
        # No busy-waiting between calls: on a shared CPU (the app server, two cores) a spinning
        # pool takes the cores torch and the other runs need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        feeds = {"ids": ids.detach().cpu().long().numpy(), "pad_mask": pad_mask.detach().cpu().bool().numpy()}
        return torch.from_numpy(self.session.run(["logits"], feeds)[0])
