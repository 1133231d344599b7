"""A task's settings for one architecture (classification: a transformer encoder mean-pooled, at a
gentler learning rate than the task's LSTM) reach every path a run is made by: the CLI's
``--set model.name=...``, the Train form alone and in a race, and the Home race, each saying so;
and the arithmetic set hands its validation problems to the sums_right metric."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.config import (
    apply_overrides,
    architecture_settings,
    default_config,
    own_settings_text,
    tuned_settings,
    validate_config,
)
from core.data.builtin import arithmetic
from core.registry import TASKS
from core.store import Store
from pages.home import DEMOS

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
OWN = TASKS.get("classification").meta["defaults"]["architectures"]["transformer_encoder"]


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def test_the_command_line_takes_the_tasks_settings_for_the_architecture_and_says_so() -> None:
    raw = default_config("classification")
    switched = validate_config(apply_overrides(raw, ["model.name=transformer_encoder"]))
    assert switched["optimizer"]["lr"] == OWN["optimizer"]["lr"] != raw["optimizer"]["lr"]
    assert switched["schedule"]["warmup_steps"] == OWN["schedule"]["warmup_steps"]
    assert f"optimizer.lr {OWN['optimizer']['lr']:g}" in own_settings_text(switched)
    typed = validate_config(apply_overrides(raw, ["model.name=transformer_encoder", "optimizer.lr=0.0007"]))
    assert typed["optimizer"]["lr"] == 0.0007 and "optimizer.lr" not in own_settings_text(typed)
    # The model's part goes where the model section is drawn (the Train form, the demos).
    assert tuned_settings("classification", "model", "transformer_encoder")["pooling"] == OWN["model"]["pooling"]
    # Another task's transformer encoder keeps that task's own settings.
    assert architecture_settings("transformer_encoder", "masked_lm") == {}
    assert architecture_settings("transformer_encoder", "classification") == {
        s: v for s, v in OWN.items() if s != "model"}


def test_the_home_race_gives_each_entrant_its_tuned_settings() -> None:
    [race] = [d for d in DEMOS if len(d.runs) > 1]
    by_arch = {c.arch: c for c in race.configs()}
    assert by_arch["lstm"]["optimizer"]["lr"] == default_config("classification")["optimizer"]["lr"]
    assert by_arch["transformer_encoder"]["optimizer"]["lr"] == OWN["optimizer"]["lr"]
    assert by_arch["transformer_encoder"]["model"]["pooling"] == OWN["model"]["pooling"]
    assert by_arch["lstm"]["training"] == by_arch["transformer_encoder"]["training"]


def test_the_train_form_brings_them_alone_and_in_a_race(store: Store) -> None:
    at = AppTest.from_file(str(MAIN), default_timeout=30).run()
    at.switch_page(str(page_path("train"))).run()
    key = f"train.w{at.session_state['train.form']['gen']}"
    at.multiselect(key=f"{key}.archs").set_value(["transformer_encoder"]).run()
    key = f"train.w{at.session_state['train.form']['gen']}"
    # Alone, the form shows its rate (and a rate typed there is the run's).
    assert at.number_input(key=f"{key}.optimizer.adamw.lr").value == OWN["optimizer"]["lr"]
    assert at.selectbox(key=f"{key}.model.transformer_encoder.pooling").value == OWN["model"]["pooling"]
    at.multiselect(key=f"{key}.archs").set_value(["lstm", "transformer_encoder"]).run()
    assert not at.exception, [e.value for e in at.exception]
    key = f"train.w{at.session_state['train.form']['gen']}"
    # In a race the form shows the task's rate, and says which entrant uses its own.
    assert at.number_input(key=f"{key}.optimizer.adamw.lr").value == default_config("classification")["optimizer"]["lr"]
    assert any("**Transformer encoder** uses Learning rate 0.002" in m.value for m in at.caption)
    [start] = [b for b in at.button if b.label == "Start race"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    lrs = {r.arch: r.config["optimizer"]["lr"] for r in store.list_runs()}
    assert lrs == {"lstm": default_config("classification")["optimizer"]["lr"],
                   "transformer_encoder": OWN["optimizer"]["lr"]}


def test_the_arithmetic_set_hands_its_validation_problems_to_sums_right() -> None:
    data = arithmetic({"n_examples": 300}, task="language_model", seed=0)
    sums = data.extras["sums"]
    lines = data.validation.texts[0].splitlines()
    assert [f"{q}{a}" for q, a in sums] == lines and len(lines) == 30
    assert all(int(a) == sum(int(x) for x in q.rstrip("=").split("+")) for q, a in sums)
