"""What happens at the training loop's events, as objects the trainer is given.

The :class:`Callback` protocol is the one the CLI's progress line, the run's log and a sweep's
trial reporter implement. The trainer builds its own callbacks too and calls them first, on
rank 0, at each evaluation: :class:`EarlyStopping`, :class:`Checkpointing` (checkpoints/last
and /best) and :class:`AttentionSnapshots`. :class:`BestScore` is the record of the best
evaluation they and the run's summary read. :class:`GradNormLogger` (``training.log_grad_norm``)
is the trainer's per-step one: it measures the gradients before clipping and adds ``grad_norm``
to each logged step's metrics.
"""

from core.callbacks.base import Callback, EvalCallback
from core.callbacks.best import BestScore
from core.callbacks.checkpointing import Checkpointing, resume_point
from core.callbacks.early_stopping import EarlyStopping
from core.callbacks.grad_norm import GradNormLogger
from core.callbacks.snapshots import AttentionSnapshots

__all__ = ["AttentionSnapshots", "BestScore", "Callback", "Checkpointing", "EarlyStopping", "EvalCallback",
           "GradNormLogger", "resume_point"]
