"""The trainer's own callbacks, each on its own (core/callbacks): which evaluation is the best,
when early stopping stops, which checkpoints are written, and that a lost claim writes none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from core import checkpoint as ckpt
from core.callbacks import BestScore, Checkpointing, EarlyStopping, resume_point
from core.errors import WorkbenchError


def _evaluate(best: BestScore, stopping: EarlyStopping | None, step: int, metrics: dict[str, float],
              heldout: dict[str, float] | None = None) -> None:
    """As the trainer does at an evaluation: the record first, then the callbacks."""
    best.update(step, metrics, heldout)
    if stopping is not None:
        stopping.on_eval(step, metrics, {})


# -- the best evaluation --------------------------------------------------------------------------
def test_the_best_is_the_lowest_loss_or_the_highest_accuracy() -> None:
    loss, accuracy = BestScore("loss"), BestScore("accuracy")
    for step, value in ((10, 2.0), (20, 1.5), (30, 1.7), (40, 1.5)):
        loss.update(step, {"loss": value})
        accuracy.update(step, {"accuracy": value})
    assert (loss.value, loss.step, loss.improved) == (1.5, 20, False)  # a tie is not an improvement
    assert (accuracy.value, accuracy.step) == (2.0, 10)


def test_held_out_figures_are_kept_at_the_best_step_and_the_last() -> None:
    best = BestScore("loss")
    best.update(10, {"loss": 2.0}, {"loss": 2.2})
    best.update(20, {"loss": 2.5}, {"loss": 2.1})  # held-out better, but never watched
    assert best.summary() == {"metric": "loss", "best": {"value": 2.0, "step": 10, "heldout": {"loss": 2.2}},
                              "heldout": {"loss": 2.1}}


def test_an_evaluation_without_the_metric_is_never_the_best() -> None:
    best = BestScore("bleu")
    assert not best.update(5, {"loss": 1.0}) and best.value is None
    assert best.summary() == {"metric": "bleu", "best": {"value": None, "step": 0}}


def test_the_best_comes_back_from_a_checkpoints_state() -> None:
    best = BestScore("loss")
    best.update(10, {"loss": 2.0}, {"loss": 2.2})
    again = BestScore("loss")
    again.load_state_dict({"step": 30, **best.state_dict()})
    assert again.summary() == best.summary()
    again.load_state_dict({"step": 30})  # a checkpoint from before held-out sets
    assert (again.value, again.step, again.heldout) == (None, 0, {})


# -- early stopping -----------------------------------------------------------------------------------
def test_early_stopping_stops_after_patience_evaluations_that_were_not_the_best() -> None:
    best = BestScore("loss")
    stopping = EarlyStopping(best, patience=2)
    verdicts = []
    for step, value in enumerate((3.0, 2.0, 2.5, 1.9, 2.2, 2.1), start=1):
        _evaluate(best, stopping, step, {"loss": value})
        verdicts.append(stopping.should_stop)
    assert verdicts == [False, False, False, False, False, True]
    assert stopping.reason == "early stopping: val loss did not improve for 2 evaluations"


def test_an_evaluation_without_the_metric_neither_counts_nor_resets() -> None:
    best = BestScore("accuracy")
    stopping = EarlyStopping(best, patience=2)
    _evaluate(best, stopping, 1, {"accuracy": 0.8})
    _evaluate(best, stopping, 2, {"accuracy": 0.7})
    _evaluate(best, stopping, 3, {"loss": 0.1})
    assert stopping.bad_evals == 1 and not stopping.should_stop
    _evaluate(best, stopping, 4, {"accuracy": float("nan")})  # a NaN score is no improvement
    assert stopping.should_stop


def test_patience_0_never_stops_but_keeps_counting_for_a_resume() -> None:
    best = BestScore("loss")
    stopping = EarlyStopping(best, patience=0)
    for step in range(1, 6):
        _evaluate(best, stopping, step, {"loss": float(step)})
    assert not stopping.should_stop and stopping.bad_evals == 4
    resumed = EarlyStopping(BestScore("loss"), patience=5)  # resumed with patience asked for now
    resumed.load_state_dict(stopping.state_dict())
    resumed.best.load_state_dict(best.state_dict())
    _evaluate(resumed.best, resumed, 6, {"loss": 9.0})
    assert resumed.should_stop


# -- checkpoints --------------------------------------------------------------------------------------
class Run:
    """A tiny model, its optimizer and a step counter, checkpointed as the trainer's are."""

    def __init__(self, folder: Path, before_commit: Any = lambda: None) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 2)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.1)
        self.step = 0
        self.best = BestScore("loss")
        self.callback = Checkpointing(folder, self.model, self.optimizer, self.contents, self.best, before_commit)

    def contents(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {"step": self.step, **self.best.state_dict()}, {"generator": torch.tensor([self.step])}

    def evaluate(self, loss: float) -> None:
        self.step += 10
        self.model(torch.randn(4, 3)).sum().backward()
        self.optimizer.step()
        self.best.update(self.step, {"loss": loss})
        self.callback.on_eval(self.step, {"loss": loss}, {})


def _step(folder: Path) -> int:
    state, _ = ckpt.load_checkpoint(folder, torch.nn.Linear(3, 2))
    return int(state["step"])


def test_last_is_written_at_every_evaluation_and_best_only_when_it_improved(tmp_path: Path) -> None:
    run = Run(tmp_path)
    for loss in (2.0, 1.0, 1.5):
        run.evaluate(loss)
    assert _step(tmp_path / "last") == 30 and _step(tmp_path / "best") == 20
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    state, tensors = ckpt.load_checkpoint(tmp_path / "last", model, optimizer)
    assert torch.equal(model.weight, run.model.weight) and state["best"] == 1.0 and int(tensors["generator"]) == 30
    assert optimizer.state_dict()["state"][0]["step"] == 3  # the optimizer came back too
    assert not (tmp_path / "best" / "optimizer.safetensors").exists()  # best: weights and state only


def test_a_lost_claim_replaces_no_checkpoint(tmp_path: Path) -> None:
    lost: list[bool] = []

    def before_commit() -> None:
        if lost:
            raise WorkbenchError("the run is held by another worker now")

    run = Run(tmp_path, before_commit)
    run.evaluate(2.0)
    lost.append(True)
    with pytest.raises(WorkbenchError, match="held by another worker"):
        run.evaluate(1.0)  # better: would have written both
    assert _step(tmp_path / "last") == 10 and _step(tmp_path / "best") == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "last"]  # no half-written folder left


def test_a_resume_continues_from_last_else_best_else_from_the_start(tmp_path: Path) -> None:
    assert resume_point(tmp_path) is None
    run = Run(tmp_path)
    run.evaluate(2.0)
    assert resume_point(tmp_path) == tmp_path / "last"
    (tmp_path / "last" / "model.safetensors").unlink()  # as after deleting a damaged one
    assert resume_point(tmp_path) == tmp_path / "best"
