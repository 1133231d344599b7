"""Checkpoints at each evaluation: ``last`` always, ``best`` when the evaluation is the best."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core import checkpoint as ckpt
from core.callbacks.best import BestScore

CHECKPOINT_NAMES = ("last", "best")  # in the order a resume looks for them

# What a checkpoint holds besides weights and optimizer: the trainer's state (JSON) and tensors.
Contents = Callable[[], tuple[dict[str, Any], dict[str, torch.Tensor]]]


def resume_point(folder: Path) -> Path | None:
    """What a resume continues from: ``last``, else ``best`` (when ``last`` was deleted because it
    was damaged), else nothing (the run trains again from the start)."""
    for name in CHECKPOINT_NAMES:
        if ckpt.has_checkpoint(folder / name):
            return folder / name
    return None


class Checkpointing:
    """Writes ``folder/last`` (weights, optimizer, ``contents()``: the loop's state and every
    rank's random streams) and ``folder/best`` (weights and state).

    Every write is fenced: ``before_commit`` runs before a new checkpoint replaces the old one
    and raises when this process lost its claim on the run (core.store.claims), so a worker
    that was declared dead never replaces the checkpoints of the one that took the run over."""

    def __init__(
        self, folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, contents: Contents,
        best: BestScore, before_commit: Callable[[], None],
    ) -> None:
        self.folder, self.model, self.optimizer = Path(folder), model, optimizer
        self.contents, self.best, self.before_commit = contents, best, before_commit

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        self.save(best=self.best.improved)

    def save(self, best: bool) -> None:
        state, tensors = self.contents()
        ckpt.save_checkpoint(self.folder / "last", self.model, self.optimizer, state, tensors,
                             before_commit=self.before_commit)
        if best:
            ckpt.save_checkpoint(self.folder / "best", self.model, None, state, before_commit=self.before_commit)
