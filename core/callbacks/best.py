"""The best evaluation so far: what the run's summary, checkpoints/best and early stopping read."""

from __future__ import annotations

from typing import Any

from core.metrics import HELDOUT, direction


class BestScore:
    """The best value of the watched validation metric and its step, and the held-out figures
    beside the last evaluation and the best one (held-out scores are never watched)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric  # training.early_stopping_metric, else the task's own
        self.direction = direction(metric)
        self.value: float | None = None
        self.step = 0
        self.improved = False  # whether the latest evaluation is the best
        self.heldout: dict[str, dict[str, float]] = {}  # "last", and "best": at the best step

    def update(self, step: int, metrics: dict[str, float], heldout: dict[str, float] | None = None) -> bool:
        """Record an evaluation; True when it is the best so far (an evaluation without the
        metric never is)."""
        if heldout is not None:
            self.heldout["last"] = heldout
        value = metrics.get(self.metric)
        self.improved = value is not None and (
            self.value is None or (value < self.value if self.direction == "min" else value > self.value))
        if self.improved:
            self.value, self.step = value, step
            if "last" in self.heldout:
                self.heldout["best"] = self.heldout["last"]
        return self.improved

    def summary(self) -> dict[str, Any]:
        """The run summary's entries: the metric, the best (with its held-out figures), the
        last held-out figures."""
        best = {"value": self.value, "step": self.step,
                **({HELDOUT: self.heldout["best"]} if "best" in self.heldout else {})}
        return {"metric": self.metric, "best": best,
                **({HELDOUT: self.heldout["last"]} if "last" in self.heldout else {})}

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.value, "best_step": self.step, "metric": self.metric, "heldout": self.heldout}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = state.get("best")
        self.step = int(state.get("best_step", 0))
        self.heldout = dict(state.get("heldout") or {})
