"""Low precision: bf16 autocast training on a CPU, int8 variants of a classifier (``lmwb quantize``,
``predict``/``eval --variant``, ``eval --speed``), each through the path a user takes."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from core.config import default_config, validate_config
from core.errors import ConfigError
from core.runs import create_run, execute_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_classifier(precision: str, steps: int) -> dict[str, Any]:
    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=16, hidden_size=16)
    raw["training"].update(max_steps=steps, eval_every=steps, batch_size=16, precision=precision, log_every=10)
    raw["optimizer"]["lr"] = 0.01
    return raw


def test_bf16_on_a_cpu_with_bf16_instructions_trains_and_its_loss_falls(store: Any) -> None:
    from core.device import cpu_bf16_instructions

    if cpu_bf16_instructions() is None:
        pytest.skip("this processor has no bf16 instructions (the refusal is tested below)")
    run = create_run(store, validate_config(_tiny_classifier("bf16", 150)))
    execute_run(store, run.id)
    done = store.get_run(run.id)
    assert done.status == "completed" and done.summary["precision"] == "bf16"
    assert any("(bf16)" in e.message for e in store.events(run.id))  # the log says what ran
    loss = store.metrics(run.id, names="loss", split="train")["value"].tolist()
    assert len(loss) >= 4 and sum(loss[-3:]) / 3 < 0.8 * sum(loss[:3]) / 3, loss


def test_bf16_on_a_cpu_without_them_is_refused_naming_the_field(store: Any, monkeypatch: Any) -> None:
    import core.device

    monkeypatch.setattr(core.device, "cpu_bf16_instructions", lambda: None)
    run = create_run(store, validate_config(_tiny_classifier("bf16", 4)))
    with pytest.raises(ConfigError, match=r"training\.precision = 'bf16': this processor .* no bf16 instructions"):
        execute_run(store, run.id)
    assert store.get_run(run.id).status == "failed"


def test_auto_stays_fp32_on_a_cpu() -> None:
    from core.strategies import choose_precision

    precision, note = choose_precision(torch.device("cpu"), "auto")
    assert precision.label == "fp32" and note is None
