"""The classification defaults on a few hundred rows: a step budget that follows the data, a
decaying rate, early stopping, and a validation score at the end close to its best."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.budget import step_budget
from core.config import default_config, validate_config
from core.train import Trainer


def test_the_budget_follows_the_data_size() -> None:
    t = validate_config(default_config("classification"))["training"]
    assert t["max_epochs"] and t["early_stopping_patience"] > 0  # on by default for classification
    small, note = step_budget(t, {"train_examples": 210})
    assert small["max_steps"] == 132 and small["eval_every"] == 16 and "210 training examples" in note
    assert step_budget(t, {"train_examples": 100_000}) == (t, None)  # a big set: max_steps rules
    assert step_budget(t, {"train_tokens": 10}) == (t, None)  # a language model counts no rows


@pytest.mark.usefixtures("one_torch_thread")
def test_small_data_defaults_stop_before_validation_falls(tmp_path: Path) -> None:
    raw = default_config("classification")  # the defaults, on a generated 300-row topic set
    raw["data"] = {"name": "topics", "n_examples": 300, "val_fraction": 0.3}
    raw["training"]["device"] = "cpu"
    scores: list[float] = []
    lrs: list[float] = []

    class Watch:
        def on_eval(self, step: int, metrics: dict[str, float], details: dict) -> None:
            scores.append(metrics["accuracy"])

        def on_log(self, step: int, metrics: dict[str, float]) -> None:
            lrs.append(metrics["lr"])

    trainer = Trainer(validate_config(raw), tmp_path, callbacks=[Watch()])
    trainer.setup()
    result = trainer.fit()
    assert result.step < 500  # 20 passes over 210 rows, not 500 steps of 32
    assert len(scores) >= 5 and lrs[-1] < 0.5 * max(lrs)  # evaluated often; the rate decayed
    assert scores[-1] >= max(scores) - 0.03, scores  # the end is within a small margin of the best


def test_the_train_page_says_when_the_data_is_small(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "pages" / "train.py"), default_timeout=60)
    at.run()
    assert not at.exception and not at.warning  # the default set: 3,600 rows
    field = next(w for w in at.number_input if w.key.endswith("data.sentiment.n_examples"))
    field.set_value(300).run()
    warning = " ".join(w.value for w in at.warning)
    assert "About 270 training rows" in warning and "parameters" in warning
