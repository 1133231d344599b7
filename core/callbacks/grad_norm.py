"""The gradients' global L2 norm as a training metric (``training.log_grad_norm``, off by default).

The trainer owns it and calls it at two fixed points of the loop: :meth:`GradNormLogger.measure`
after the backward and the precision's unscale (or :meth:`GradNormLogger.record` with the norm
that clipping computes anyway), before clipping (so the value is the one that
``training.grad_clip`` is compared with, at the gradients' true size under fp16), and
:meth:`GradNormLogger.metrics` at each logged step, whose train rows then hold ``grad_norm``
beside the loss. With several ranks the gradients are already averaged when it measures, so
each rank's norm is the global one; only rank 0 has a logger.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from core.metrics.catalog import GRAD_NORM as KEY


class GradNormLogger:
    """Keeps the last step's gradient norm as a tensor; it is read back only at a logged step,
    where the trainer synchronises with the device anyway (no extra host sync per step)."""

    def __init__(self) -> None:
        self._norm: torch.Tensor | None = None

    def measure(self, parameters: Iterable[torch.Tensor]) -> None:
        """Every step (a stop between logged steps logs that step too): one norm per gradient,
        then the norm of those, as ``clip_grad_norm_`` computes it (``get_total_norm`` needs
        torch 2.6; the project allows 2.2). Frozen parameters have no gradient and count nothing."""
        norms = [
            torch.linalg.vector_norm(p.grad.detach(), 2.0, dtype=torch.float32)
            for p in parameters
            if p.grad is not None
        ]
        self._norm = torch.linalg.vector_norm(torch.stack(norms), 2.0) if norms else None

    def record(self, norm: torch.Tensor) -> None:
        """The norm clipping already computed (``clip_grad_norm_`` returns it, before clipping)."""
        self._norm = norm.detach()

    def metrics(self) -> dict[str, float]:
        """``{"grad_norm": value}`` for the last measured step; empty before any gradient. An
        fp16 overflow gives inf (the scaler then skips that step); the store keeps it as null."""
        return {} if self._norm is None else {KEY: float(self._norm)}
