"""A diverged model ends its run with "loss became nan at step N; try ..." however the NaN is
first met: between two logged steps, just before an evaluation, while sampling, or on resume
from a checkpoint that holds it. Never a RuntimeError from deep inside torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from core.config import default_config, validate_config
from core.decoding.sampling import sample_next_token
from core.errors import TrainingDiverged
from core.runs import create_run, execute_run
from core.store import Store
from core.train import Trainer

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("one_torch_thread")]


def _lm(**training: Any) -> dict[str, Any]:
    """A one-layer character GPT that samples at every evaluation (the path that used to fail
    with 'probability tensor contains either inf, nan or element < 0')."""
    raw = default_config("language_model")
    raw["data"] = {"name": "python_docs", "max_chars": 20_000}
    raw["task"] = {"name": "language_model", "context_length": 16, "sample_length": 20}
    raw["model"] = {"name": "transformer_decoder", "d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1}
    raw["training"] = {"max_steps": 12, "batch_size": 8, "eval_every": 6, "log_every": 100,
                       "eval_max_batches": 1, "device": "cpu", "attention_snapshots": False, **training}
    return raw


def _poison_from(trainer: Trainer, step: int) -> None:
    """The task's loss turns NaN from optimizer step ``step`` on (1-based)."""
    real = trainer.task.loss

    def loss(model: torch.nn.Module, batch: Any) -> torch.Tensor:
        value = real(model, batch)
        return value * float("nan") if trainer.step + 1 >= step else value

    trainer.task.loss = loss  # type: ignore[method-assign]


def test_nan_between_logs_is_caught_before_the_evaluation(tmp_path: Path) -> None:
    trainer = Trainer(validate_config(_lm()), tmp_path / "run")
    trainer.setup()
    _poison_from(trainer, 4)  # steps 4-6 are NaN; after step 1 nothing is logged before the evaluation at 6
    with pytest.raises(TrainingDiverged, match=r"^loss became nan between steps 2 and 6; try a lower optimizer.lr"):
        trainer.fit()
    assert not (tmp_path / "run" / "checkpoints" / "last").exists()  # a diverged model is not saved


def test_a_run_that_diverges_fails_with_the_message_and_resume_says_it_again(store: Store) -> None:
    run = create_run(store, validate_config(_lm(max_steps=6)), name="will-diverge")
    assert execute_run(store, run.id).status == "completed"
    folder = store.run_dir(run.id) / "checkpoints" / "last"
    # A checkpoint whose weights diverged (as an earlier version could save): resume must name it.
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    save_file({k: torch.full_like(v, float("nan")) for k, v in weights.items()}, folder / "model.safetensors")
    store.update_run(run.id, config={**run.config, "training": {**run.config["training"], "max_steps": 12}})
    with pytest.raises(TrainingDiverged):  # execute_run records the failure, then re-raises
        execute_run(store, run.id, resume=True)
    after = store.get_run(run.id)
    assert after.status == "failed"
    assert after.error.startswith("loss became nan between steps 7 and 12; try a lower optimizer.lr"), after.error


def test_sampling_from_non_finite_scores_is_a_diverged_model_not_a_torch_error() -> None:
    for bad in (float("nan"), float("inf")):
        logits = torch.zeros(2, 5)
        logits[1, 2] = bad
        with pytest.raises(TrainingDiverged, match="next-token scores hold"):
            sample_next_token(logits, temperature=0.8)


def test_a_normal_run_logs_its_start_evaluations_and_end(store: Store) -> None:
    raw = _lm(max_steps=12, precision="auto")  # auto on a CPU: the log says it ran in fp32
    run = create_run(store, validate_config(raw), name="logged")
    execute_run(store, run.id)
    messages = [e.message for e in store.events(run.id)]
    assert messages[0].startswith("started on cpu") and "(fp32)" in messages[0] and "steps; data:" in messages[0]
    evals = [m for m in messages if m.startswith("evaluation at step")]
    assert [m.split(":")[0] for m in evals] == ["evaluation at step 6", "evaluation at step 12"]
    assert all("checkpoint saved" in m and "loss" in m for m in evals)
    assert messages[-1].startswith("completed at step 12; best val loss")
    assert store.get_run(run.id).summary["precision"] == "fp32"
