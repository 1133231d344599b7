"""The tuning chapter, on real sweeps trained here (tiny GRU classifiers, a few steps a trial): the
trials shown are the study's and their objectives the store's metric rows; the grid is the engine's
grid; the surrogate's μ and σ are a GaussianProcessRegressor's with the stated kernel, EI is the
normal-distribution formula and its largest value is the point marked; TPE splits the trials at
Optuna's γ, its two Parzen densities integrate to 1 and the l/g argmax marked is the one scipy's truncated
normals give; one or two trials get a note instead of a GP; bad knobs are refused by name; the page opens from a link (and the Sweeps page
links to it) and the command prints it."""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pytest
from optuna.samplers._tpe.sampler import default_gamma
from scipy.stats import gaussian_kde, norm, truncnorm
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core import sweep as sw
from core.cli.main import main as lmwb
from core.config import default_config
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.store import Store
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
LR = (1e-3, 1e-1)
TPE_CHECKS = 6  # 5 trials: 1 good (no Scott's rule of one point), 4 bad: two integrals, two kernel sums, one
# bandwidth, the argmax


def _base() -> dict:
    raw = default_config("classification")
    raw["task"] = {"name": "classification", "max_length": 16}
    raw["data"] = {"name": "sentiment", "n_examples": 200}
    raw["model"] = {"name": "gru", "embed_dim": 8, "hidden_size": 8}
    raw["training"] = {"max_steps": 6, "eval_every": 3, "log_every": 3, "eval_max_batches": 1, "batch_size": 8,
                       "checkpoint": False}
    return raw


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished sweeps: 'few' (a grid of two learning rates) and, newest, 'tiny' (random, 5 trials
    over a log-scaled learning rate and dropout)."""
    folder = tmp_path_factory.mktemp("lmwb-learn-tuning")
    store = Store(home=folder)
    for name, space, method, trials in (
            ("few", {"optimizer.lr": {"choices": [0.003, 0.03]}}, "grid", None),
            ("tiny", {"optimizer.lr": {"low": LR[0], "high": LR[1], "log": True},
                      "model.dropout": {"low": 0.0, "high": 0.5}}, "random", 5)):
        spec = sw.build_spec(_base(), space, method=method, n_trials=trials, seed=0, pruner="none")
        record = sw.create_sweep(store, spec, name=name)
        sw.start_sweep(store, record.id)
        sw.run_trials(store, record.id)
    return folder


def _walk(home: Path, monkeypatch: pytest.MonkeyPatch, text: str = "0.01", **knobs):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LMWB_HOME", str(home))
    learn = chapter("tuning")
    return learn.function()(None, text, **learn.knob_values(knobs))


def _step(walk, title: str):  # type: ignore[no-untyped-def]
    return next(s for s in walk.steps if s.title.startswith(title))


def test_the_surrogate_is_sklearns_gp_and_ei_the_normal_formula(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walk = _walk(home, monkeypatch)  # no sweep named: the newest finished one, 'tiny'
    assert len(walk.checks) == 4 + TPE_CHECKS and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    assert any("Sweep tiny" in n for n in walk.notes) and any("TPE, not a GP" in n for n in walk.notes)
    store = Store(home=home)
    record = store.get_sweep("tiny")
    trials = [t for t in sw.load_study(store, record).get_trials() if t.value is not None]
    points = _step(walk, "The trials").matrix()
    assert len(trials) == 5 and np.allclose(points[:, 0], [t.params["optimizer.lr"] for t in trials])
    # Each objective is the best validation accuracy the trial's run logged in the store.
    logged = [store.metrics(t.user_attrs["run_id"], names="accuracy", split="val")["value"].max() for t in trials]
    assert np.allclose(points[:, 1], logged, atol=1e-12)
    # The same GP, fitted here on the shown points with the stated kernel, on log x scaled to [0, 1].
    band, acquisition = _step(walk, "The surrogate over x"), _step(walk, "The acquisition")
    xs = acquisition.matrix()[:, 0]
    assert np.allclose(xs, np.geomspace(*LR, len(xs))) and len(band.rows) == len(xs)

    def u(x: np.ndarray) -> np.ndarray:
        return (np.log(x) - np.log(LR[0])) / (np.log(LR[1]) - np.log(LR[0]))

    gp = GaussianProcessRegressor(ConstantKernel(1.0, (1e-2, 1e2)) * Matern(0.3, (0.05, 10.0), nu=2.5)
                                  + WhiteKernel(1e-2, (1e-6, 1.0)), alpha=1e-10, normalize_y=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.fit(u(points[:, 0])[:, None], points[:, 1])
    mu, sigma = gp.predict(u(xs)[:, None], return_std=True)
    shown = band.matrix()
    assert np.allclose(shown[:, 0], mu, atol=1e-5) and np.allclose(shown[:, 1], sigma, atol=1e-5)
    assert np.allclose(shown[:, 2], mu - 2 * sigma, atol=1e-5) and np.allclose(shown[:, 3], mu + 2 * sigma, atol=1e-5)
    best = points[:, 1].max()
    z = (mu - best) / sigma
    ei = (mu - best) * norm.cdf(z) + sigma * norm.pdf(z)
    assert np.allclose(acquisition.matrix()[:, 1], ei, atol=1e-6) and acquisition.curve
    assert acquisition.mark == band.mark == int(np.argmax(ei))
    asked = _step(walk, "Your values of x")
    assert asked.rows == ("0.01",) and np.allclose(asked.matrix()[0, :2],
                                                  np.concatenate(gp.predict(u(np.array([[0.01]])), return_std=True)),
                                                  atol=1e-5)


def test_grid_and_random_search(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walk = _walk(home, monkeypatch, sweep="tiny", param="optimizer.lr", points=4, seed=7)
    table = _step(walk, "What a grid of 4").matrix()
    assert np.allclose(table[:, 0], np.geomspace(*LR, 4), rtol=1e-5)  # geometric: the parameter is log-scaled
    assert ((table[:, 1] >= LR[0]) & (table[:, 1] <= LR[1])).all()
    again = _step(_walk(home, monkeypatch, sweep="tiny", points=4, seed=7), "What a grid").matrix()
    other = _step(_walk(home, monkeypatch, sweep="tiny", points=4, seed=8), "What a grid").matrix()
    assert np.array_equal(again, table) and not np.allclose(other[:, 1], table[:, 1])  # seeded draws
    dropout = _walk(home, monkeypatch, sweep="tiny", param="model.dropout", points=3)
    assert np.allclose(_step(dropout, "What a grid of 3").matrix()[:, 0], [0.0, 0.25, 0.5])  # linear
    assert all(c.ok for c in dropout.checks)


@pytest.mark.parametrize(("param", "log"), [("optimizer.lr", True), ("model.dropout", False)])
def test_tpe_splits_at_optunas_gamma_and_picks_the_largest_l_over_g(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    param: str, log: bool) -> None:
    walk = _walk(home, monkeypatch, sweep="tiny", param=param)
    tpe = [c for c in walk.checks if "l(x)" in c.what or "g(x)" in c.what or "l/g" in c.what or "Scott" in c.what]
    assert len(tpe) == TPE_CHECKS and all(c.ok for c in tpe), [c.sentence() for c in tpe]
    points = _step(walk, "The trials").matrix()
    split = _step(walk, "TPE: the trials split at γ (best 1 of 5 good)").matrix()
    # Optuna's default gamma: min(ceil(0.1 n), 25) = 1 good trial of 5, the best accuracy.
    assert split[0, 1] == points[:, 1].max() and split[:, 2].tolist() == [1, 0, 0, 0, 0]
    assert default_gamma(5) == 1 and default_gamma(300) == 25
    # The densities, built here from scipy's truncated normals on the stated bandwidths, over t = log x or x.
    low, high = (LR if log else (0.0, 0.5))
    table = _step(walk, "TPE: the Parzen densities").matrix()
    x = table[:, 0]
    t, a, b = (np.log(x), np.log(low), np.log(high)) if log else (x, low, high)
    good, bad = ((np.log(v) if log else v) for v in (split[:1, 0], split[1:, 0]))
    h_bad = max(np.sqrt(gaussian_kde(bad).covariance[0, 0]), (b - a) / 5)  # Scott's rule, floored at range/(1+m)
    h_good = (b - a) / 2  # one point: the floor alone

    def density(points: np.ndarray, h: float) -> np.ndarray:
        return np.mean([truncnorm.pdf(t, (a - c) / h, (b - c) / h, loc=c, scale=h) for c in points], axis=0)

    lx, gx = density(good, h_good), density(bad, h_bad)
    assert np.allclose(table[:, 1], lx, rtol=1e-9) and np.allclose(table[:, 2], gx, rtol=1e-9)
    assert np.allclose(table[:, 3], lx / gx, rtol=1e-9)
    acquisition = _step(walk, "TPE's acquisition")
    assert acquisition.curve and acquisition.mark == _step(walk, "TPE: the Parzen").mark == int(np.argmax(lx / gx))
    assert any("γ = Optuna's default" in n and "Scott's rule" in n for n in walk.notes)


def test_two_trials_get_a_note_instead_of_a_surrogate(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walk = _walk(home, monkeypatch, sweep="few")
    assert [s.title.split(":")[0] for s in walk.steps] == ["The trials", "What a grid of 2 and random search with 5 draws would try"]
    assert any("too few to fit a surrogate" in n for n in walk.notes)
    assert any("TPE is not computed here: Optuna treats a list of values as categories" in n for n in walk.notes)
    assert np.allclose(sorted(walk.steps[0].matrix()[:, 0]), [0.003, 0.03])  # a swept list of numbers: numeric too
    assert len(walk.checks) == 1 and walk.checks[0].ok


def test_bad_knobs_are_refused_by_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    learn = chapter("tuning")
    for knobs, pattern in (({"points": 1}, r"^tuning\.points = 1"), ({"seed": -1}, r"^tuning\.seed = -1")):
        with pytest.raises(ConfigError, match=pattern):
            learn.knob_values(knobs)
    with pytest.raises(ConfigError, match=r"^sweep = 'nope'.*no sweep 'nope'"):
        _walk(home, monkeypatch, sweep="nope")
    with pytest.raises(ConfigError, match=r"^param = 'model\.nope'.*optimizer\.lr, model\.dropout"):
        _walk(home, monkeypatch, param="model.nope")


def test_the_command_prints_the_walkthrough(home: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LMWB_HOME", str(home))
    assert lmwb(["learn", "tuning", "0.002 0.05", "--sweep", "tiny", "--param", "optimizer.lr", "--points", "3"]) == 0
    out = capsys.readouterr().out
    assert "What a grid of 3 and random search with 3 draws" in out and "Your values of x" in out
    assert out.count("check:") == 4 + TPE_CHECKS and "DIFFERENT" not in out
    assert "TPE's acquisition: l(x)/g(x) over x" in out


def test_the_sweeps_page_links_to_the_chapter_and_it_opens(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_HOME", str(home))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.switch_page(str(page_path("sweeps"))).run()
    assert not at.exception, [e.value for e in at.exception]
    [link] = [p for p in at.get("page_link") if p.proto.label == "How is this computed?"]
    query = dict(parse_qsl(link.proto.query_string))
    tiny = Store(home=home).get_sweep("tiny").id
    assert query == {"chapter": "tuning", "sweep": tiny}  # the sweep the Watch view shows: the newest
    at.query_params.update({**query, "param": "model.dropout", "points": "3"})
    at.switch_page(str(page_path("learn"))).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="learn.g1.tuning.points").value == 3
    assert at.text_input(key="learn.g1.tuning.param").value == "model.dropout"
    assert len(at.success) == 4 + TPE_CHECKS and not at.error
    assert any("What a grid of 3" in m.value for m in at.markdown)
