"""Passages and retrieval (core.qa.retrieval): the splitter keeps each passage's document and
characters; BM25 and dense search rank the passage holding a planted answer first on a generated
collection; chunked, float16 and memory-mapped dense search give the exact ranking; recall@k and
MRR match counts made by hand."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from core.qa.retrieval import (
    BM25Index,
    DenseIndex,
    hashed_bag_of_words,
    passages_holding,
    relevant_passages,
    retrieval_metrics,
    split_passages,
    write_vectors,
)


def test_passages_overlap_and_keep_their_document_characters() -> None:
    doc = "w0 w1  w2\nw3 w4 w5 w6\tw7 w8 w9 "
    passages = split_passages({"d": doc, "empty": "  \n", "e": "one"}, words=4, overlap=1)
    assert [(p.doc_id, p.text) for p in passages] == [
        ("d", "w0 w1  w2\nw3"), ("d", "w3 w4 w5 w6"), ("d", "w6\tw7 w8 w9"), ("e", "one")]
    for p in passages:
        assert {"d": doc, "e": "one"}[p.doc_id][p.start : p.end] == p.text
    # a (doc id, text) list works as well as a mapping, and keeps duplicated ids apart by place
    assert len(split_passages([("a", "x y"), ("a", "z")], words=4, overlap=1)) == 2
    w3 = doc.index("w3")
    assert passages_holding(passages, "d", (w3, w3 + 2)) == [0, 1]  # in the overlap: both
    assert passages_holding(passages, "d", (doc.index("w4"), doc.index("w7") + 2)) == []  # no one whole
    assert passages_holding(passages, "e", (w3, w3 + 2)) == []  # other document


def collection(seed: int = 0) -> tuple[dict[str, str], list[str], list[tuple[str, tuple[int, int]]]]:
    """200 documents of filler words (a 400-word vocabulary, Zipf-ish), 40 of them with a planted
    fact "<key1> <answer> <key2>" of words found nowhere else; the question asks for both keys."""
    rng = random.Random(seed)
    vocab = [f"filler{i}" for i in range(400)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    docs = {f"doc{d}": rng.choices(vocab, weights, k=rng.randint(50, 400)) for d in range(200)}
    questions, golds = [], []
    for q, doc_id in enumerate(rng.sample(sorted(docs), 40)):
        words = docs[doc_id]
        at = rng.randrange(len(words))
        words[at:at] = [f"key{q}a", f"answer{q}", f"key{q}b"]
        questions.append(f"What lies between key{q}a and key{q}b?")
        golds.append((doc_id, f"answer{q}"))
    texts = {d: " ".join(w) for d, w in docs.items()}
    spans = []
    for doc_id, answer in golds:
        start = texts[doc_id].index(f" {answer} ") + 1
        spans.append((doc_id, (start, start + len(answer))))
    return texts, questions, spans


DOCS, QUESTIONS, GOLDS = collection()
PASSAGES = split_passages(DOCS, words=60, overlap=15)
RELEVANT = relevant_passages(PASSAGES, GOLDS)


def test_the_planted_collection_is_what_the_tests_assume() -> None:
    assert len(PASSAGES) > 600
    assert all(RELEVANT)
    assert [set(passages_holding(PASSAGES, d, span)) for d, span in GOLDS] == RELEVANT
    assert sum(len(r) > 1 for r in RELEVANT) >= 1  # some answers lie in two overlapping passages


def test_bm25_ranks_the_planted_passage_first() -> None:
    index = BM25Index([p.text for p in PASSAGES])
    ids, scores = index.search(QUESTIONS, k=5)
    assert ids.shape == scores.shape == (len(QUESTIONS), 5)
    assert all(int(row[0]) in right for row, right in zip(ids, RELEVANT, strict=True))
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    assert retrieval_metrics(ids.tolist(), RELEVANT)["recall_at_1"] == 1.0
    # a query with no indexed word scores nothing; k larger than the collection is cut to it
    _, none = index.search(["zzz qqq"], k=3)
    assert np.all(none == 0)
    small = BM25Index(["alpha beta", "gamma delta"])
    assert small.search(["gamma"], k=10)[0].tolist()[0][0] == 1
    assert small.search(["gamma"], k=10)[0].shape == (1, 2)


def test_dense_search_ranks_the_planted_passage_first() -> None:
    # 4096 buckets: few hash collisions between the planted keys and the 400 filler words, which
    # at 384 buckets put a colliding passage first for a third of the questions
    vectors = hashed_bag_of_words([p.text for p in PASSAGES], dim=4096)
    questions = hashed_bag_of_words(QUESTIONS, dim=4096)
    for dtype in (np.float32, np.float16):
        index = DenseIndex.from_vectors(vectors, dtype=dtype)
        assert index.matrix.dtype == dtype
        ids, scores = index.search(questions, k=10)
        assert all(int(row[0]) in right for row, right in zip(ids, RELEVANT, strict=True))
        assert np.all(np.diff(scores, axis=1) <= 0)


def brute_force(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    m = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    return np.argsort(-(q @ m.T), axis=1, kind="stable")[:, :k]


def test_chunked_and_memory_mapped_search_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(1000, 16)).astype(np.float32)
    queries = rng.normal(size=(7, 16)).astype(np.float32)
    want = brute_force(vectors, queries, 10)
    exact = DenseIndex.from_vectors(vectors)
    for chunk in (1, 7, 64, 5000):  # a chunk smaller than k, uneven, and larger than the index
        assert exact.search(queries, k=10, chunk=chunk)[0].tolist() == want.tolist()
    # float16 moves cosines by ~1e-3: the top 3 of random vectors are further apart than that
    half = DenseIndex.from_vectors(vectors, dtype=np.float16)
    assert half.search(queries, k=3, chunk=100)[0].tolist() == want[:, :3].tolist()
    saved = DenseIndex.load(half.save(tmp_path / "v.npy"))
    assert isinstance(saved.matrix, np.memmap)
    assert saved.search(queries, k=3, chunk=100)[0].tolist() == want[:, :3].tolist()
    built = write_vectors(tmp_path / "w.npy", (vectors[i : i + 300] for i in range(0, 1000, 300)), 1000, 16,
                          dtype=np.float16)
    assert np.array_equal(np.asarray(built.matrix), half.matrix)
    with pytest.raises(ValueError):
        write_vectors(tmp_path / "x.npy", [vectors[:10]], 11, 16)
    assert exact.search(queries[0], k=2000)[0].shape == (1, 1000)  # one query; k cut to the size


def test_recall_and_mrr_by_hand() -> None:
    ranked = [[3, 1, 2], [0, 5, 7], [9, 8, 7], [4]]
    relevant: list[set[int]] = [{1}, {7, 42}, {9, 8}, set()]
    # first right passage: rank 2, rank 3, rank 1; the last question has none known and is left out
    out = retrieval_metrics(ranked, relevant, ks=(1, 2, 3))
    assert out["n"] == 3
    assert out["recall_at_1"] == pytest.approx(1 / 3)
    assert out["recall_at_2"] == pytest.approx(2 / 3)
    assert out["recall_at_3"] == pytest.approx(1.0)
    assert out["mrr"] == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)
    missed = retrieval_metrics([[1, 2]], [{3}], ks=(1,))
    assert missed["recall_at_1"] == 0.0 and missed["mrr"] == 0.0
    with pytest.raises(ValueError):
        retrieval_metrics([[1]], [])
