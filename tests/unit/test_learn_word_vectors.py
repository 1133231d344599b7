"""The Word vectors chapter: the negative-sampling loss worked term by term equals the Word2Vec
model's own loss on the same ids (skip-gram and CBOW), GloVe's term of one cell equals the GloVe
model's, the neighbours by hand equal core.embeddings.nearest_neighbours; bad knobs are refused
by name; the page opens from a link and the command prints the same walkthrough."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main as lmwb
from core.config import default_config
from core.embeddings import nearest_neighbours, run_vectors
from core.errors import ConfigError
from core.learn.chapters import chapter
from core.runs import load_trained
from core.store import Store
from tests.learn_pages import open_page
from tests.trained_runs import train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

TEXT = "the story was a real delight"


def _config(model: dict[str, object]) -> dict[str, object]:
    raw = default_config("word_embeddings")
    raw["data"] = {"name": "sentiment", "n_examples": 300}
    raw["tokenizer"] = {"name": "word", "min_freq": 1}
    raw["model"] = {**model, "dim": 8}
    raw["task"] = {"name": "word_embeddings", "window": 3, "negatives": 4}
    raw["training"].update(max_steps=20, eval_every=20, batch_size=64)
    return raw


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-wv")
    store = Store(home=home)
    ids = {mode: train_run(store, mode, _config({"name": "word2vec", "mode": mode})) for mode in ("skipgram", "cbow")}
    ids["glove"] = train_run(store, "glove", _config({"name": "glove"}))
    return home, ids


@pytest.mark.parametrize(("kind", "pair"), [("skipgram", 0), ("skipgram", 7), ("cbow", 2), ("glove", 3)])
def test_the_loss_by_hand_equals_the_models_and_the_neighbours_the_workbenchs(
        home: tuple[Path, dict[str, str]], kind: str, pair: int) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[kind])
    walk = chapter("word_vectors").function()(trained, TEXT, pair=pair, seed=3, word="story")
    assert len(walk.checks) >= 3 and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    assert any("model's own loss" in c.what for c in walk.checks)
    skip = walk.steps[0]
    assert len(skip.text) == 3 + 4 + 5 + 5 + 4 + 3  # window 3 over six words
    # The neighbours shown are the workbench's, in its order.
    vocab, vectors = run_vectors(trained)
    shown = next(s for s in walk.steps if s.title.startswith("Nearest neighbours of 'story'"))
    assert list(shown.rows) == [w for w, _ in nearest_neighbours(vectors, vocab, "story", len(shown.rows))]
    if kind == "glove":
        assert any(s.title.startswith("Co-occurrence counts") for s in walk.steps)
    else:  # the terms add up to the loss shown
        terms = next(s for s in walk.steps if s.title == "Every term of the loss")
        total = next(s for s in walk.steps if s.title == "The loss of this pair")
        assert np.isclose(-terms.matrix()[:, 3].sum(), total.matrix()[0, 0])
        assert terms.rows[0].startswith("+ ") and len(terms.rows) == 1 + 4  # the run's 4 negatives


def test_the_window_knob_changes_the_pairs_and_bad_knobs_are_refused_by_name(
        home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["skipgram"])
    run = chapter("word_vectors").function()
    assert len(run(trained, TEXT, window=1).steps[0].text) == 10  # each neighbouring pair, both ways
    with pytest.raises(ConfigError, match=r"pair.*0 to 9"):
        run(trained, TEXT, window=1, pair=10)
    with pytest.raises(ConfigError, match=r"word"):
        run(trained, TEXT, word="zzzznotaword")
    with pytest.raises(ConfigError, match=r"window"):
        chapter("word_vectors").knob_values({"window": 0})


def test_the_command_prints_the_walkthrough(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "word_vectors", ids["glove"], TEXT, "--pair", "1", "--word", "song"]) == 0
    out = capsys.readouterr().out
    assert "Nearest neighbours of 'song'" in out and out.count("check:") >= 3 and "DIFFERENT" not in out


def test_the_learn_page_draws_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "word_vectors", "run": ids["cbow"], "text": TEXT, "pair": "2"})
    assert at.number_input(key="learn.g1.word_vectors.pair").value == 2
    assert len(at.success) >= 3 and not at.error
    at.number_input(key="learn.g1.word_vectors.pair").set_value(40).run()  # no such window: said, by name
    assert not at.exception and any("pair" in e.value for e in at.error)


def test_the_playgrounds_word_vectors_link_to_the_chapter_on_the_same_run_and_word(
        home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("playground", folder, monkeypatch, {"run": ids["glove"]})
    at.text_input(key="playground_emb_word").input("story").run()
    [link] = [p for p in at.get("page_link") if p.proto.label == "How is this computed?"]
    query = link.proto.query_string
    assert "chapter=word_vectors" in query and f"run={ids['glove']}" in query and "word=story" in query
