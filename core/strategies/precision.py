"""How a training step's numbers are computed: fp32, bf16/fp16 mixed precision on CUDA, or bf16
autocast on a CPU with bf16 instructions.

A precision wraps the points of a step where the number format matters: the forward (and the
evaluation's) under :meth:`Precision.autocast`, the backward, the unscale before clipping and
the optimizer step; its state goes into the checkpoint. Later formats (true half weights, int8
inference, a distillation teacher kept in low precision) are new subclasses: the loop does not
change. :meth:`Precision.convert_module` is where one that changes the weights themselves would
do so.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from core.device import precision_label, resolve_precision


class Precision:
    """fp32: every hook does what the step would do without one."""

    dtype: torch.dtype | None = None  # the autocast dtype; None for plain fp32

    @property
    def label(self) -> str:
        """What really runs: ``fp32``, ``bf16`` or ``fp16``."""
        return precision_label(self.dtype)

    def convert_module(self, model: nn.Module) -> nn.Module:
        """The model as this precision trains it (once, before the optimizer sees it)."""
        return model

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Around a forward: the training step's and the evaluation's."""
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        """Before clipping: the gradients at their true size."""

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint's state keeps of this precision (plain numbers)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Undo :meth:`state_dict` from a checkpoint's whole state (keys it lacks: defaults)."""


class MixedPrecision(Precision):
    """Autocast to bf16 or fp16 (CUDA), or bf16 (CPU); fp16 also scales the loss, as its gradients underflow without,
    and the scaler's state (loss scale, growth tracker) is checkpointed."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype
        self.scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        assert self.dtype is not None
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.step(optimizer)  # skipped when the gradients overflowed
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def choose_precision(device: torch.device, asked: str) -> tuple[Precision, str | None]:
    """The precision ``training.precision`` gets on ``device``, and a note when it is not what
    was asked (bf16 or fp16 on Apple's MPS trains in fp32 and says so). On a CPU, fp16, and bf16
    without bf16 instructions, are refused (a :class:`ConfigError` naming the field): a run must
    not quietly train in another precision than the one asked for by name."""
    dtype = resolve_precision(device, asked)
    if dtype is not None:
        return MixedPrecision(device, dtype), None
    note = None
    if asked in ("bf16", "fp16"):
        note = f"training.precision={asked} needs a CUDA GPU; on {device.type} this run trains in fp32"
    return Precision(), note
