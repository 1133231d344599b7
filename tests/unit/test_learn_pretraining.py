"""The Pretraining chapter: the masked-LM loss by hand equals the masked_lm task's own loss on the
same batch and the seeded masking equals the task's mask_tokens; the causal loss equals the
language model task's loss; the other objective's run is found in the store; bad knobs are refused
by name; the page opens from a link and the command prints the same walkthrough."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.cli.main import main as lmwb
from core.config import default_config
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.runs import load_trained
from core.store import Store
from tests.trained_runs import train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
TEXT = "the method returns a list of the values in the object"
SMALL = {"d_model": 16, "n_heads": 2, "d_ff": 32, "n_layers": 1}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-pretrain")
    store = Store(home=home)
    mlm = default_config("masked_lm")
    mlm["data"] = {"name": "python_docs", "max_chars": 60_000}
    mlm["task"]["max_length"] = 16
    mlm["model"].update(SMALL)
    mlm["training"].update(max_steps=10, eval_every=10, batch_size=16)
    gpt = default_config("language_model")
    gpt["data"] = {"name": "python_docs", "max_chars": 60_000}
    gpt["tokenizer"] = {"name": "word"}
    gpt["task"] = {"name": "language_model", "context_length": 16, "sample_length": 0, "label_smoothing": 0.1}
    gpt["model"].update(SMALL)
    gpt["training"].update(max_steps=10, eval_every=10, batch_size=16)
    ids = {"mlm": train_run(store, "tiny-mlm", mlm), "gpt": train_run(store, "tiny-gpt", gpt)}
    return home, ids


@pytest.fixture(autouse=True)
def workbench_home(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The chapter looks for the other objective's run in the workbench's store: this one."""
    monkeypatch.setenv("LMWB_HOME", str(home[0]))


@pytest.mark.parametrize(("seed", "mask"), [(0, None), (5, None), (0, 3)])
def test_both_losses_by_hand_equal_the_tasks_own(home: tuple[Path, dict[str, str]], seed: int,
                                                 mask: int | None) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["mlm"])
    walk = chapter("pretraining").function()(trained, TEXT, mask=mask, seed=seed)
    assert all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    whats = " ".join(c.what for c in walk.checks)
    assert "masked_lm task's own loss" in whats and "language model task's own loss" in whats
    assert ("mask_tokens" in whats) == (mask is None)  # the random rule is held to the task's own
    masked = next(s for s in walk.steps if s.title == "Cross entropy at the masked positions only")
    guesses = next(s for s in walk.steps if s.title.startswith("Its top-5 guesses"))
    assert masked.rows == guesses.rows and len(guesses.text[0]) == 5
    if mask is not None:
        assert masked.rows == (f"{mask}: {TEXT.split()[mask]}",)
    causal = next(s for s in walk.steps if s.title == "Cross entropy at every position")
    assert len(causal.rows) == len(TEXT.split()) - 1  # the word tokenizer: every next word is scored
    side = next(s for s in walk.steps if s.title == "The two objectives side by side")
    assert side.matrix()[0, 0] == len(masked.rows) and side.matrix()[1, 0] == len(causal.rows)
    assert np.isclose(side.matrix()[0, 2], masked.matrix()[:, 1].mean())


def test_a_language_model_run_shows_the_masked_one_beside_or_none(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["gpt"])
    walk = chapter("pretraining").function()(trained, TEXT, beside="tiny-mlm")
    assert any(s.title == "The masked-LM loss" for s in walk.steps) and all(c.ok for c in walk.checks)
    alone = chapter("pretraining").function()(trained, TEXT, beside="none")
    assert not any("masked" in s.title.lower() for s in alone.steps) and len(alone.checks) == 1


def test_bad_knobs_are_refused_by_name(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["mlm"])
    run = chapter("pretraining").function()
    with pytest.raises(ConfigError, match=r"mask.*0 to 10"):
        run(trained, TEXT, mask=11)
    with pytest.raises(ConfigError, match=r"beside.*language_model"):
        run(trained, TEXT, beside="tiny-mlm")
    with pytest.raises(ConfigError, match=r"seed"):
        chapter("pretraining").knob_values({"seed": -1})


def test_the_command_prints_the_walkthrough(home: tuple[Path, dict[str, str]],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, ids = home
    assert lmwb(["learn", "pretraining", ids["mlm"], TEXT, "--mask", "2"]) == 0
    out = capsys.readouterr().out
    assert "The masked-LM loss" in out and "The causal loss" in out and out.count("check:") == 2
    assert "DIFFERENT" not in out


def test_the_learn_page_draws_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, ids = home
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.query_params.update({"chapter": "pretraining", "run": ids["mlm"], "text": TEXT, "seed": "5"})
    at.switch_page(str(page_path("learn"))).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="learn.g1.pretraining.seed").value == 5
    assert len(at.success) >= 3 and not at.error
    at.text_input(key="learn.g1.pretraining.beside").set_value(ids["mlm"]).run()  # not a language model
    assert not at.exception and any("beside" in e.value for e in at.error)
