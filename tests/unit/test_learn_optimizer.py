"""The optimizer chapter: one step of SGD with momentum, Adam and AdamW by hand, from a run's saved
optimizer state (its last checkpoint) and the gradient of the task's loss on the typed text, equals
torch.optim's step() on an independently loaded copy of that state; the learning rate follows the
run's schedule; bad knobs are refused by name; the page (from its link) and the command show it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core import checkpoint as ckpt
from core.cli.main import main as lmwb
from core.config import apply_overrides, default_config
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.learn.walkthrough import Walkthrough
from core.optim import build_optimizer, build_schedule
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
    home = tmp_path_factory.mktemp("lmwb-learn-optimizer")
    store = Store(home=home)
    sgd = topics_classifier({"name": "gru", "embed_dim": 8, "hidden_size": 8}, 100, 6)
    sgd["optimizer"] = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}
    sgd["schedule"] = {"name": "cosine", "warmup_steps": 2}
    sgd["training"]["eval_every"] = 3  # the last checkpoint at step 6, its momentum built over 6 steps
    gpt = apply_overrides(default_config("language_model"), {
        "data.name": "arithmetic", "data.n_examples": 200, "task.sample_length": 0, "task.context_length": 16,
        "model.d_model": 16, "model.n_heads": 2, "model.n_layers": 1, "model.d_ff": 32, "training.max_steps": 5,
        "training.eval_every": 5, "optimizer.name": "adamw", "optimizer.weight_decay": 0.1,
        "schedule.name": "linear", "schedule.warmup_steps": 2})
    quiet = {"attention_snapshots": False}
    return home, {"sgd": train_run(store, "gru-sgd", sgd, **quiet),
                  "adamw": train_run(store, "gpt-adamw", gpt, **quiet)}


def _torch_step(folder: Path, run_id: str, text: str, optimizer: str, parameter: str) -> np.ndarray:
    """The same step the trainer would take next, without the chapter: the run's optimizer loaded
    from its last checkpoint by core.checkpoint, the loss on ``text``, clipped, one step()."""
    store = Store(home=folder)
    trained = load_trained(store, run_id)
    raw = trained.config.to_dict()
    model = trained.model
    own = build_optimizer(model, raw["optimizer"])
    state, _ = ckpt.load_checkpoint(store.run_files(run_id) / "checkpoints" / "last", model, own)
    settings = {**raw["optimizer"], "name": optimizer}
    opt = own if optimizer == raw["optimizer"]["name"] else build_optimizer(model, settings)
    if opt is not own:  # Adam and AdamW share their state
        opt.load_state_dict({**own.state_dict(), "param_groups": opt.state_dict()["param_groups"]})
    factor = build_schedule(raw["schedule"], trained.run.progress["max_steps"])(int(state["step"]))
    for group in opt.param_groups:
        group["lr"] = raw["optimizer"]["lr"] * factor
    ids = trained.tokenizer.encode(text)
    if trained.run.task == "language_model":
        batch = Batch({"ids": torch.tensor([ids[:-1]])}, torch.tensor([ids[1:]]), len(ids) - 1)
    else:
        pad = torch.zeros(1, len(ids), dtype=torch.bool)
        batch = Batch({"ids": torch.tensor([ids]), "pad_mask": pad}, torch.tensor([1]), len(ids))
    model.eval()
    trained.task.loss(model, batch).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), raw["training"]["grad_clip"])
    opt.step()
    return dict(model.named_parameters())[parameter].detach().double().numpy()


def _shown_new(walk: Walkthrough) -> np.ndarray:
    step = next(s for s in walk.steps if s.title.startswith("The update"))
    [row] = [i for i, r in enumerate(step.rows) if r == "θ_t"]  # never scaled: a weight is not that small
    return step.matrix()[row]


@pytest.mark.parametrize(("run", "optimizer", "parameter", "text"), [
    ("sgd", None, "classifier.weight", TEXT), ("adamw", None, "backbone.blocks.0.attn.qkv.weight", SUM),
    ("adamw", "adam", "backbone.blocks.0.mlp.fc.weight", SUM), ("adamw", "adamw", "backbone.ln_f.weight", SUM)])
def test_the_step_by_hand_equals_torch_optims(home: tuple[Path, dict[str, str]], run: str, optimizer: str | None,
                                              parameter: str, text: str) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[run])
    walk = chapter("optimizer").function()(trained, text, parameter=parameter, optimizer=optimizer, label=1)
    assert all(c.ok for c in walk.checks) and len(walk.checks) >= 3, [c.sentence() for c in walk.checks]
    name = optimizer or trained.config["optimizer"]["name"]
    expected = _torch_step(folder, ids[run], text, name, parameter).ravel()
    shown = _shown_new(walk)
    assert np.max(np.abs(shown - expected[: len(shown)])) < 1e-6
    before = trained.model.state_dict()[parameter].double().numpy().ravel()[: len(shown)]
    assert np.max(np.abs(shown - before)) > 0  # a step moved it (and the page's cached model is untouched)
    curve = walk.steps[0]
    assert curve.curve and curve.rows[curve.mark] == f"step {trained.run.progress['step']}"


def test_momentum_and_moments_come_from_the_saved_state(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    sgd = load_trained(Store(home=folder), ids["sgd"])
    walk = chapter("optimizer").function()(sgd, TEXT, label=0)
    rows = next(s for s in walk.steps if "momentum" in s.title)
    buffer = rows.matrix()[[r.startswith("b_(t-1)") for r in rows.rows].index(True)]
    assert np.abs(buffer).max() > 0  # six steps of momentum, read from optimizer.safetensors
    adamw = load_trained(Store(home=folder), ids["adamw"])
    walk = chapter("optimizer").function()(adamw, SUM)
    second = next(s for s in walk.steps if s.title.startswith("Second moment"))
    assert "t = 6" in second.title and (second.matrix()[0] > 0).any()


def test_bad_knobs_are_refused_by_name(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["sgd"])
    c = chapter("optimizer")
    with pytest.raises(ConfigError, match="parameter"):
        c.function()(trained, TEXT, parameter="no.such.weight")
    with pytest.raises(ConfigError, match="label"):
        c.function()(trained, TEXT, label=99)
    with pytest.raises(ConfigError, match="optimizer"):
        c.knob_values({"optimizer": "lion"})
    with pytest.raises(ConfigError, match="weight_decay"):
        c.knob_values({"weight_decay": 2.0})


def test_the_command_prints_it(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "optimizer", ids["adamw"], SUM, "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert "Second moment v" in out and "step 5 ◀" in out and "DIFFERENT" not in out and out.count("check:") >= 3
    assert lmwb(["learn", "optimizer", ids["adamw"], SUM, "--parameter", "nope"]) != 0
    assert "parameter" in capsys.readouterr().err


def test_the_page_opens_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "optimizer", "run": ids["sgd"], "text": TEXT, "label": "1"})
    assert at.number_input(key="learn.g1.optimizer.label").value == 1
    assert len(at.success) >= 3 and not at.error
    at.checkbox(key="learn.g1.optimizer.optimizer.none").uncheck().run()
    at.selectbox(key="learn.g1.optimizer.optimizer").set_value("adamw").run()
    assert not at.exception and at.query_params["optimizer"] == "adamw" and len(at.success) >= 2 and not at.error


def test_the_train_forms_optimizer_links_to_the_chapter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LMWB_HOME", str(tmp_path))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.switch_page(str(page_path("train"))).run()
    assert not at.exception, [e.value for e in at.exception]
    links = [p for p in at.get("page_link") if "chapter=optimizer" in p.proto.query_string]
    assert links and "optimizer=" in links[0].proto.query_string and links[0].proto.label == "How is this computed?"
    # The task section links its loss to the output layer's chapter.
    losses = [p for p in at.get("page_link") if "chapter=output" in p.proto.query_string]
    assert losses and losses[0].proto.label == "How is the loss computed?"
