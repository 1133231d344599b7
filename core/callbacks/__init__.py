"""What happens at the training loop's events, as objects the trainer is given.

The :class:`Callback` protocol is the one the CLI's progress line, the run's log and a sweep's
trial reporter implement. The trainer builds its own callbacks too and calls them first, on
rank 0, at each evaluation: :class:`EarlyStopping`, :class:`Checkpointing` (checkpoints/last
and /best) and :class:`AttentionSnapshots`. :class:`BestScore` is the record of the best
evaluation they and the run's summary read. :class:`GradNormLogger` (``training.log_grad_norm``)
is the trainer's per-step one: it measures the gradients before clipping and adds ``grad_norm``
to each logged step's metrics.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real names for the type checker; at run time __getattr__ imports them
    from core.callbacks.base import Callback, EvalCallback
    from core.callbacks.best import BestScore
    from core.callbacks.checkpointing import Checkpointing, resume_point
    from core.callbacks.early_stopping import EarlyStopping
    from core.callbacks.grad_norm import GradNormLogger
    from core.callbacks.snapshots import AttentionSnapshots

# Imported on first use (PEP 562), as core.inspect does: the Run page reads BestScore and
# EarlyStopping (core.callbacks.best, .early_stopping) without the checkpointing callback's torch.
_SOURCES = {
    "core.callbacks.base": ("Callback", "EvalCallback"),
    "core.callbacks.best": ("BestScore",),
    "core.callbacks.checkpointing": ("Checkpointing", "resume_point"),
    "core.callbacks.early_stopping": ("EarlyStopping",),
    "core.callbacks.grad_norm": ("GradNormLogger",),
    "core.callbacks.snapshots": ("AttentionSnapshots",),
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}
__all__ = ["AttentionSnapshots", "BestScore", "Callback", "Checkpointing", "EarlyStopping", "EvalCallback",
           "GradNormLogger", "resume_point"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'core.callbacks' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
