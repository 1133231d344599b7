"""The output-layer chapter: the cross entropy shown equals F.cross_entropy on the model's logits
(with label smoothing) and the task's own loss; a language model's perplexity equals exp of the
task's loss on the same text; bad knobs are refused by name; the page and the command show it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.cli.main import main as lmwb
from core.config import apply_overrides, default_config
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.runs import load_trained
from core.store import Store
from core.tasks.base import Batch
from tests.learn_pages import open_page
from tests.trained_runs import topics_classifier, train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
TEXT = "the team won the match and the crowd cheered"
SUM = "12+34=46\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-output")
    store = Store(home=home)
    classifier = topics_classifier({"name": "gru", "embed_dim": 8, "hidden_size": 8}, 100, 5)
    classifier["task"]["label_smoothing"] = 0.1
    gpt = apply_overrides(default_config("language_model"), {
        "data.name": "arithmetic", "data.n_examples": 200, "task.sample_length": 0, "task.context_length": 16,
        "task.label_smoothing": 0.2, "model.d_model": 16, "model.n_heads": 2, "model.n_layers": 1,
        "model.d_ff": 32, "training.max_steps": 5, "training.eval_every": 5})
    return home, {"cls": train_run(store, "gru-cls", classifier), "lm": train_run(store, "gpt", gpt)}


def _value(walk, title: str, col: int) -> float:  # type: ignore[no-untyped-def]
    step = next(s for s in walk.steps if s.title.startswith(title))
    return float(step.matrix()[0, col])


@pytest.mark.parametrize(("label", "smoothing"), [(0, None), (2, 0.0), (1, 0.3)])
def test_classifier_cross_entropy_equals_torch(home: tuple[Path, dict[str, str]], label: int,
                                               smoothing: float | None) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["cls"])
    walk = chapter("output").function()(trained, TEXT, label=label, smoothing=smoothing)
    assert all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    eps = 0.1 if smoothing is None else smoothing
    # The model's logits the way the task predicts (padded batch of one), independently of the chapter.
    logits = torch.log(torch.from_numpy(trained.task.predict_proba(trained.model, [TEXT])))
    want = F.cross_entropy(logits, torch.tensor([label]), label_smoothing=eps).item()
    assert abs(_value(walk, "The loss", 1) - want) < 1e-5
    assert abs(_value(walk, "The loss", 0) + logits[0, label].item()) < 1e-5
    target = next(s for s in walk.steps if s.title.startswith("Target")).matrix()
    assert target[0, label] == 1 and np.isclose(target[1].sum(), 1) and np.isclose(target[1, label], 1 - eps + eps / 4)
    # The task's training loss is compared only where the smoothing is the run's.
    assert any("task's own loss" in c.what for c in walk.checks) == (eps == 0.1)


@pytest.mark.parametrize("smoothing", [None, 0.0])
def test_language_model_perplexity_is_exp_of_the_task_loss(home: tuple[Path, dict[str, str]],
                                                           smoothing: float | None) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["lm"])
    walk = chapter("output").function()(trained, SUM, position=3, smoothing=smoothing)
    assert len(walk.checks) >= 2 and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    tokens = trained.tokenizer.encode(SUM)
    batch = Batch({"ids": torch.tensor([tokens[:-1]])}, torch.tensor([tokens[1:]]), len(tokens) - 1)
    trained.task.params = {**trained.task.params, "label_smoothing": 0.0}  # perplexity: no smoothing
    with torch.no_grad():
        loss = trained.task.loss(trained.model, batch).item()
    ppl = _value(walk, "Mean cross entropy and perplexity", 1)
    assert abs(ppl - math.exp(loss)) < 1e-5 * ppl and abs(_value(walk, "Mean cross entropy", 0) - loss) < 1e-5
    per_position = next(s for s in walk.steps if s.title == "Cross entropy at every position")
    assert per_position.rows[3] == "3 → 4" and len(per_position.rows) == len(tokens) - 1
    shown = next(s for s in walk.steps if s.title.startswith("Logits z at position 3"))
    assert any(c.endswith("(true)") for c in shown.cols)


def test_bad_knobs_are_refused_by_name(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    cls, lm = (load_trained(Store(home=folder), ids[k]) for k in ("cls", "lm"))
    with pytest.raises(ConfigError, match=r"^label = 4: this run has no such class; expected 0 to 3"):
        chapter("output").function()(cls, TEXT, label=4)
    with pytest.raises(ConfigError, match=r"^position = 8: .*0 to 7"):
        chapter("output").function()(lm, SUM, position=8)
    with pytest.raises(ConfigError, match=r"^output\.smoothing = 1\.5"):
        chapter("output").knob_values({"smoothing": 1.5})
    with pytest.raises(ConfigError, match=r"^output\.label = -1"):
        chapter("output").knob_values({"label": -1})


def test_the_command_prints_the_loss_and_checks(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "output", ids["lm"], SUM, "--position", "2", "--smoothing", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "Mean cross entropy and perplexity" in out and "ε = 0.05; the run trained with 0.2" in out
    assert out.count("check:") == 2 and "DIFFERENT" not in out


def test_the_learn_page_draws_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "output", "run": ids["cls"], "text": TEXT, "label": "2"})
    label = at.selectbox(key="learn.g1.output.label")  # the run's classes, by name
    assert label.value == 2 and len(label.options) == 4 and label.options[2].startswith("2: ")
    assert len(at.success) == 3 and not at.error
    assert any("Target: one-hot y and smoothed q" in m.value for m in at.markdown)
    at.selectbox(key="learn.g1.output.label").set_value(3).run()
    assert not at.exception and at.query_params["label"] == "3" and len(at.success) == 3


def test_the_page_shows_only_the_knobs_for_the_runs_kind(home: tuple[Path, dict[str, str]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A language model has no true class to pick, a classifier no next-token position."""
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    shown = {}
    for kind in ("cls", "lm"):
        at = AppTest.from_file(str(MAIN), default_timeout=60).run()
        at.query_params.update({"chapter": "output", "run": ids[kind]})
        at.switch_page(str(page_path("learn"))).run()
        assert not at.exception, [e.value for e in at.exception]
        shown[kind] = {w.label for w in [*at.number_input, *at.selectbox]}
        # Label smoothing starts at the run's own value, a plain number without an "unset" box.
        assert not [c for c in at.checkbox if c.key.endswith("smoothing.none")]
        own = Store(home=folder).get_run(ids[kind]).config["task"].get("label_smoothing") or 0.0
        assert next(w for w in at.number_input if w.key.endswith("output.smoothing")).value == pytest.approx(own)
    assert "True class" in shown["cls"] and "Position" not in shown["cls"]
    assert "Position" in shown["lm"] and "True class" not in shown["lm"]
