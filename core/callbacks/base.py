"""The hooks a training run calls (all optional to implement)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from core.train import TrainResult


class Callback(Protocol):
    """Hooks for progress displays (CLI bar, tests), the run's log, and the trainer's own parts."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_log(self, step: int, metrics: dict[str, float]) -> None: ...
    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None: ...
    def on_stop(self, step: int, by: str) -> None: ...  # a stop seen after ``step``; ``by``: who ("" the store)
    def on_end(self, result: TrainResult) -> None: ...


class EvalCallback(Protocol):
    """A callback with the one hook the trainer's own implement (early stopping, checkpoints,
    snapshots): all they do happens at an evaluation."""

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None: ...
