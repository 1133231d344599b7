"""Word-vector tools: file format, lookups on hand-made vectors, projections, planted data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from core import embeddings as emb
from core.config import default_config, validate_config
from core.errors import ConfigError, DataError, WorkbenchError
from core.registry import DATASETS

# Axes: royalty, gender (+ male), fruitiness. The specials come first, as in a tokenizer.
VOCAB = ["<pad>", "<unk>", "<bos>", "<eos>", "king", "queen", "man", "woman", "apple", "pear"]
VECTORS = np.array([
    [0.0, 0.0, 0.0],   # <pad>: zero, as an embedding's padding row
    [5.0, 5.0, 5.0],   # <unk>: large, to show specials are never returned
    [0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0],
    [1.0, 1.0, 0.0],   # king
    [1.0, -1.0, 0.0],  # queen
    [0.0, 1.0, 0.1],   # man
    [0.0, -1.0, 0.1],  # woman
    [0.0, 0.0, 1.0],   # apple
    [0.1, 0.0, 1.0],   # pear
], dtype=np.float32)


def test_neighbours_similarity_and_analogy_on_hand_made_vectors() -> None:
    near = emb.nearest_neighbours(VECTORS, VOCAB, "apple", k=2)
    assert len(near) == 2 and near[0][0] == "pear"
    assert near[0][1] == pytest.approx(1 / np.sqrt(1.01), abs=1e-6)
    assert all(w not in ("apple", "<unk>") for w, _ in emb.nearest_neighbours(VECTORS, VOCAB, "apple", k=20))
    assert emb.similarity(VECTORS, VOCAB, "king", "king") == pytest.approx(1.0)
    assert emb.similarity(VECTORS, VOCAB, "king", "queen") == pytest.approx(0.0, abs=1e-6)
    assert emb.similarity(VECTORS, VOCAB, "King", "apple") == pytest.approx(0.0, abs=1e-6)  # case fallback
    assert emb.analogy(VECTORS, VOCAB, "man", "woman", "king")[0][0] == "queen"
    assert emb.analogy(VECTORS, VOCAB, "queen", "king", "woman")[0][0] == "man"
    # The batched checks the task uses agree with the one-by-one functions.
    assert emb.neighbour_hits(VECTORS, VOCAB, [("apple", "pear"), ("king", "pear"), ("x", "y")], k=1) == (1, 2)
    assert emb.analogy_hits(VECTORS, VOCAB, [("man", "woman", "king", "queen"), ("man", "woman", "king", "pear")]) == (1, 2)
    with pytest.raises(WorkbenchError, match="'banana' is not in the vocabulary"):
        emb.nearest_neighbours(VECTORS, VOCAB, "banana")
    with pytest.raises(WorkbenchError, match="not in the vocabulary"):
        emb.similarity(VECTORS, VOCAB, "<unk>", "king")


def test_word2vec_text_round_trip_plain_and_gzip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(VOCAB), 5)).astype(np.float32)
    path = tmp_path / "vectors.txt"
    assert emb.export_word2vec_text(path, VOCAB, vectors) == 6  # specials left out
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "6 5" and lines[1].startswith("king ")
    words, matrix = emb.load_word2vec_text(path)
    assert words == VOCAB[4:]
    np.testing.assert_allclose(matrix, vectors[4:], rtol=1e-5, atol=1e-6)

    packed = tmp_path / "vectors.txt.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert emb.load_word2vec_text(packed)[0] == words
    # GloVe's own files have no header line.
    bare = tmp_path / "glove.txt"
    bare.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    np.testing.assert_array_equal(emb.load_word2vec_text(bare)[1], matrix)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("2 3\nking 1 2 3\nqueen 1 2\n", 3, "2 numbers after 'queen'; expected 3"),
        ("king 1 2 3\nqueen 1 x 3\n", 2, "'x' after 'queen' is not a number"),
        ("3 2\nking 1 2\nqueen 1 2\n", 1, "header announces 3 words"),
        ("2 2\nking 1 2\nlonely\n", 3, "expected a word followed by numbers"),
        ("king 1 nan\n", None, "not finite"),
        ("", None, "no word vectors"),
    ],
)
def test_malformed_word2vec_files_name_file_and_line(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = tmp_path / "bad.vec"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        emb.load_word2vec_text(path)
    assert err.value.line == line and message in str(err.value) and "bad.vec" in str(err.value)
    with pytest.raises(DataError, match="file not found"):
        emb.load_word2vec_text(tmp_path / "missing.vec")


def test_projection_to_2d() -> None:
    frame = emb.project_2d(VECTORS, VOCAB, "pca")
    assert list(frame.columns) == ["word", "x", "y"] and len(frame) == 6
    assert "<unk>" not in set(frame["word"])
    some = emb.project_2d(VECTORS, VOCAB, "pca", words=["king", "queen", "apple", "nope"])
    assert list(some["word"]) == ["king", "queen", "apple"] and np.isfinite(some[["x", "y"]].to_numpy()).all()
    tsne = emb.project_2d(VECTORS, VOCAB, "tsne")
    assert tsne.shape == (6, 3)
    with pytest.raises(WorkbenchError, match="pca' or 'tsne"):
        emb.project_2d(VECTORS, VOCAB, "umap")


def test_planted_relations_dataset_is_deterministic_and_brings_its_checks() -> None:
    factory = DATASETS.get("planted_relations").factory
    data = factory({"n_sentences": 1000}, task="word_embeddings", seed=0)
    again = factory({"n_sentences": 1000}, task="word_embeddings", seed=7)
    assert data.train.texts == again.train.texts and len(data.train) + len(data.validation) == 1000
    assert ("king", "queen") in data.extras["neighbour_pairs"] and ("paris", "france") in data.extras["neighbour_pairs"]
    assert ("king", "queen", "man", "woman") in data.extras["analogies"]
    text = " ".join(data.train.texts)
    assert all(f" {w} " in f" {text} " for a, b in data.extras["neighbour_pairs"] for w in (a, b))
    with pytest.raises(ConfigError, match="planted_relations"):
        factory({}, task="classification", seed=0)


def test_task_config_defaults_and_checks() -> None:
    config = validate_config(default_config("word_embeddings"))
    assert config.arch == "word2vec" and config["data"]["name"] == "python_docs"
    for data in ("sentiment", "topics", "planted_relations"):
        raw = default_config("word_embeddings")
        raw["data"] = {"name": data}
        validate_config(raw)
    raw = default_config("word_embeddings")
    raw["task"]["analogies"] = "man:woman::king:queen, paris:france"
    with pytest.raises(ConfigError, match="'paris:france' is not of the form a:b::c:d"):
        validate_config(raw)
    raw = default_config("word_embeddings")
    raw["model"] = {"name": "lstm"}
    with pytest.raises(ConfigError, match="lstm cannot do word_embeddings"):
        validate_config(raw)
    # The classifier and the language model accept pretrained vectors.
    for task in ("classification", "language_model"):
        assert validate_config(default_config(task))["task"]["pretrained_embeddings"] == ""
