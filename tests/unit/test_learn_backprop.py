"""The backpropagation chapter: every gradient it shows by the chain rule equals torch.autograd's on
the same network, input and dropout mask; the mask and its 1/(1-p) scaling are PyTorch's own; the
clipped gradients equal clip_grad_norm_'s; bad knobs are refused by name; the page (from its
link) and the command show it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.cli.main import main as lmwb
from core.errors import ConfigError
from core.learn.backprop import features, network
from core.learn.chapters import chapter
from core.learn.walkthrough import Walkthrough
from tests.learn_pages import open_page

TEXT = "the team won the match and the crowd cheered"


def _shown(walk: Walkthrough, title: str) -> np.ndarray:
    return next(s for s in walk.steps if s.title.startswith(title)).matrix()


def _autograd(text: str, label: int, dropout: float, seed: int) -> dict[str, np.ndarray]:
    """The chapter's network in PyTorch, dropout drawn by nn.Dropout itself: autograd's gradients."""
    w = {k: torch.tensor(v, requires_grad=True) for k, v in network().items()}
    h = torch.tanh(w["W1"] @ torch.from_numpy(features(text)) + w["b1"])
    torch.manual_seed(seed)
    u = torch.nn.Dropout(dropout).train()(h)
    F.cross_entropy((w["W2"] @ u + w["b2"])[None], torch.tensor([label])).backward()
    return {k: v.grad.numpy() for k, v in w.items()}  # type: ignore[union-attr]


@pytest.mark.parametrize(("label", "dropout", "seed"), [(0, 0.0, 0), (1, 0.25, 3), (0, 0.5, 4), (1, 0.9, 11)])
def test_the_chain_rules_gradients_equal_autograds(label: int, dropout: float, seed: int) -> None:
    walk = chapter("backprop").function()(None, TEXT, label=label, dropout=dropout, seed=seed, max_norm=1.0)
    grads = _autograd(TEXT, label, dropout, seed)
    w1, w2 = _shown(walk, "∂L/∂W1 = δ1 xᵀ"), _shown(walk, "∂L/∂W2 = δ2 uᵀ")
    assert np.max(np.abs(w1[:, :3] - grads["W1"])) < 1e-6 and np.max(np.abs(w1[:, 3] - grads["b1"])) < 1e-6
    assert np.max(np.abs(w2[:, :4] - grads["W2"])) < 1e-6 and np.max(np.abs(w2[:, 4] - grads["b2"])) < 1e-6
    mask = _shown(walk, "Dropout")[0]
    assert set(mask) <= {0.0, 1.0} and (dropout > 0 or mask.all())
    assert all(c.ok for c in walk.checks) and len(walk.checks) == 8, [c.sentence() for c in walk.checks]


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 50.0])
def test_clipping_equals_clip_grad_norm(max_norm: float) -> None:
    walk = chapter("backprop").function()(None, "hello world", label=1, max_norm=max_norm)
    grads = _autograd("hello world", 1, 0.25, 3)
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads.values()]
    for p, g in zip(params, grads.values(), strict=True):
        p.grad = torch.from_numpy(g.copy())
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    summary = _shown(walk, "Clipping by the global norm")[0]
    assert abs(summary[4] - norm) < 1e-6 and (summary[5] < 1) == (norm > max_norm)
    w1, w2 = _shown(walk, "Clipped ∂L/∂W1"), _shown(walk, "Clipped ∂L/∂W2")
    assert np.max(np.abs(w1[:, :3] - params[0].grad.numpy())) < 1e-6  # type: ignore[union-attr]
    assert np.max(np.abs(w2[:, :4] - params[2].grad.numpy())) < 1e-6  # type: ignore[union-attr]


def test_the_input_is_said_and_a_wrong_gradient_would_be_caught() -> None:
    assert np.allclose(features("the cat sat on the mat"), [0.6, 17 / 60, 6 / 17])
    walk = chapter("backprop").function()(None, "the cat sat on the mat")
    [grad_check] = [c for c in walk.checks if "∂L/∂W1" in c.what]
    assert grad_check.tolerance == 1e-6 and grad_check.ok
    other = _autograd("the cat sat on the mat", 1, 0.25, 3)["W1"]  # the other class's gradient differs
    assert np.max(np.abs(_shown(walk, "∂L/∂W1 = δ1 xᵀ")[:, :3] - other)) > 1e-3


def test_bad_knobs_are_refused_by_name() -> None:
    c = chapter("backprop")
    for knob, value in (("dropout", 1.0), ("label", 2), ("max_norm", 0.0), ("seed", -1)):
        with pytest.raises(ConfigError, match=knob):
            c.knob_values({knob: value})
    with pytest.raises(ConfigError, match="dropout"):
        c.function()(None, TEXT, dropout=1.0)


def test_the_command_prints_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                               tmp_path: Path) -> None:
    monkeypatch.setenv("LMWB_HOME", str(tmp_path))
    assert lmwb(["learn", "backprop", TEXT, "--label", "1", "--max-norm", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "δ2 = ∂L/∂z2 = ŷ - y" in out and out.count("check:") == 8 and "DIFFERENT" not in out
    assert "\\" not in out  # formulas as text, no LaTeX
    assert lmwb(["learn", "backprop", TEXT, "--dropout", "1.5"]) != 0
    assert "dropout" in capsys.readouterr().err


def test_the_page_opens_the_chapter_from_its_link(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = open_page("learn", tmp_path, monkeypatch, {"chapter": "backprop", "text": TEXT, "label": "1", "dropout": "0.5", "max_norm": "0.2"})
    assert at.number_input(key="learn.g1.backprop.dropout").value == 0.5
    assert len(at.success) == 8 and not at.error
    at.number_input(key="learn.g1.backprop.seed").set_value(4).run()
    assert not at.exception and at.query_params["seed"] == "4" and len(at.success) == 8
