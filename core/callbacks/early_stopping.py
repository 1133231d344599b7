"""Early stopping: a run ends when its watched metric stops improving."""

from __future__ import annotations

from typing import Any

from core.callbacks.best import BestScore


class EarlyStopping:
    """Stops after ``patience`` evaluations in a row that were not the best
    (training.early_stopping_patience; 0: never). The count is kept, and checkpointed, either
    way, so a resume with another patience counts from where the run was."""

    def __init__(self, best: BestScore, patience: int) -> None:
        self.best, self.patience = best, patience
        self.bad_evals = 0

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        if metrics.get(self.best.metric) is None:  # not scored: neither a step back nor forward
            return
        self.bad_evals = 0 if self.best.improved else self.bad_evals + 1

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_evals >= self.patience

    @property
    def reason(self) -> str:
        return f"early stopping: val {self.best.metric} did not improve for {self.patience} evaluations"

    def state_dict(self) -> dict[str, Any]:
        return {"bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.bad_evals = int(state.get("bad_evals", 0))
