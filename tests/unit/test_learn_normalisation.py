"""The normalisation chapter, on tiny classifiers trained here: the batch is the typed text and the
run's own validation texts looked up in its token embedding, padding left out; LayerNorm equals
F.layer_norm (with the Transformer's own γ, β) and BatchNorm F.batch_norm in training mode on the
same tensor; the running statistics equal what nn.BatchNorm1d stores after one forward; bad knobs
are refused by name; the page opens from its link and the command prints it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.cli.main import main as lmwb
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.runs import evaluation_data, load_trained
from core.store import Store
from tests.learn_pages import open_page
from tests.trained_runs import topics_classifier, train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

TEXT = "the team won the match"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-normalisation")
    store = Store(home=home)
    encoder = topics_classifier({"name": "transformer_encoder", "d_model": 16, "n_heads": 2, "n_layers": 1,
                                 "d_ff": 32}, 100, 3)
    gru = topics_classifier({"name": "gru", "embed_dim": 8, "hidden_size": 8}, 100, 3)
    return home, {"encoder": train_run(store, "enc", encoder), "gru": train_run(store, "gru", gru)}


def _step(walk, title: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return next(s for s in walk.steps if s.title.startswith(title)).matrix()


def _batch(trained, batch: int) -> tuple[torch.Tensor, list[str]]:  # type: ignore[no-untyped-def]
    """The batch's real token vectors, built here from the run's own pieces: (N, d), and the texts."""
    _, data = evaluation_data(trained)
    texts = [TEXT, *list(data.validation.texts)[: batch - 1]]
    table = trained.model.backbone.token_embedding.weight.detach()
    rows = [table[ids[: trained.task.params["max_length"]]] for ids in trained.task.encode(texts)]
    return torch.cat(rows), texts


@pytest.mark.parametrize(("run", "batch", "feature"), [("encoder", 4, 3), ("gru", 3, 0), ("gru", 6, 7)])
def test_layer_and_batch_norm_equal_torchs(home: tuple[Path, dict[str, str]], run: str, batch: int,
                                           feature: int) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[run])
    learn = chapter("normalisation")
    walk = learn.function()(trained, TEXT, **learn.knob_values({"batch": batch, "token": 1, "feature": feature}))
    assert len(walk.checks) == 4 and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    x, texts = _batch(trained, batch)
    n, d = x.shape
    assert np.allclose(_step(walk, "X: the batch"), x.double().numpy(), atol=1e-7)  # no padding row in it
    ln = getattr(trained.model.backbone, "blocks", [None])[0]
    weight, bias = (ln.ln1.weight, ln.ln1.bias) if ln is not None else (None, None)
    assert (weight is not None) == (run == "encoder")
    assert any(("run's own γ and β" if run == "encoder" else "γ = 1 and β = 0") in note for note in walk.notes)
    want_ln = F.layer_norm(x, (d,), weight, bias, 1e-5).detach().double().numpy()
    assert np.max(np.abs(_step(walk, "LN(X)") - want_ln)) < 1e-5
    want_bn = F.batch_norm(x, None, None, training=True, eps=1e-5).double().numpy()
    assert np.max(np.abs(_step(walk, "BN(X)") - want_bn)) < 1e-5
    module = torch.nn.BatchNorm1d(d).train()
    with torch.no_grad():
        module(x)
    stats, mean, var = _step(walk, "BatchNorm's statistics"), module.running_mean, module.running_var
    assert mean is not None and var is not None
    assert np.allclose(stats[2], mean.double().numpy(), atol=1e-6) and np.allclose(stats[3], var.double().numpy(), atol=1e-6)
    assert np.allclose(stats[0], x.double().numpy().mean(axis=0), atol=1e-6)  # μ_j: over every real token
    worked = _step(walk, f"BatchNorm of feature {feature}")
    assert worked.shape == (n, 3) and np.allclose(worked[:, 1], want_bn[:, feature], atol=1e-5)
    assert np.allclose(worked[:, 2], module.eval()(x).detach().double().numpy()[:, feature], atol=1e-5)
    assert np.allclose(_step(walk, "LayerNorm of token 1")[4], want_ln[1], atol=1e-5)
    assert any(f"first {batch - 1} texts" in note and "Padding is masked" in note for note in walk.notes)


def test_bad_knobs_are_refused_by_name(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    learn = chapter("normalisation")
    for knob, value in (("batch", 1), ("batch", 33), ("token", -1), ("feature", -1)):
        with pytest.raises(ConfigError, match=rf"^normalisation\.{knob} = {value}"):
            learn.knob_values({knob: value})
    trained = load_trained(Store(home=folder), ids["gru"])
    with pytest.raises(ConfigError, match=r"^token = 5.*your text has 5 tokens"):
        learn.function()(trained, TEXT, token=5)
    with pytest.raises(ConfigError, match=r"^feature = 8.*the embedding has 8 features"):
        learn.function()(trained, TEXT, feature=8)


def test_the_command_prints_it(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "normalisation", ids["encoder"], TEXT, "--batch", "3", "--feature", "2"]) == 0
    out = capsys.readouterr().out
    assert "BatchNorm of feature 2, token by token" in out and out.count("check:") == 4 and "DIFFERENT" not in out
    assert "\\" not in out
    assert lmwb(["learn", "normalisation", ids["encoder"], TEXT, "--batch", "1"]) != 0
    assert "batch" in capsys.readouterr().err


def test_the_page_opens_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "normalisation", "run": ids["encoder"], "text": TEXT,
                                                  "batch": "5", "feature": "4"})
    assert at.number_input(key="learn.g1.normalisation.batch").value == 5
    assert len(at.success) == 4 and not at.error
    assert any("BatchNorm of feature 4" in m.value for m in at.markdown)
