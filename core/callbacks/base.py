"""The hooks a training run calls. Each is optional: a callback implements the ones it needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from core.train import TrainResult


class Callback(Protocol):
    """Hooks for progress displays (CLI bar, tests), the run's log, a sweep's trial reporter.

    A class that subclasses it implements the hooks it needs and inherits the others, which do
    nothing; one that does not (a module that may not import this one) implements all five.
    The trainer calls a hook only where the object has it, so an object with some of them still
    works when no type check is asked of it (tests)."""

    def on_start(self, info: dict[str, Any]) -> None:
        """Set-up is done: device, precision, parameters, data, steps, notes."""
        return None

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        """A logged training step: loss, learning rate, throughput, ETA."""
        return None

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        """An evaluation: its validation metrics and details (a sample, ...)."""
        return None

    def on_stop(self, step: int, by: str) -> None:
        """A stop seen after ``step``; ``by``: who asked ("" the store)."""
        return None

    def on_end(self, result: TrainResult) -> None:
        """The run ended (completed or stopped)."""
        return None


class EvalCallback(Protocol):
    """A callback with the one hook the trainer's own implement (early stopping, checkpoints,
    snapshots): all they do happens at an evaluation."""

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None: ...
