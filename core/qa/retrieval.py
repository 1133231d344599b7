"""Passages and passage search: the retriever in front of an extractive reader.

A reader reads a few hundred tokens; a collection is many documents. So documents are cut into
passages of about ``words`` words that overlap (an answer cut by one passage's edge lies whole in
the next), each knowing its document and character span, and a question is answered over the
top-k passages a retriever ranks. Two retrievers, the field's two families:

* **BM25** (lexical) through ``bm25s``, a maintained numpy/scipy implementation (its scores are
  precomputed into a sparse matrix, so a query costs a few sparse column sums). Its tokenizer keeps
  words of two or more letters or digits, lowered, English stopwords dropped, no stemming.
* **Dense** (embedding): cosine similarity between a question's vector and each passage's, from
  whatever encoder made them (MiniLM's mean pooling, a run's encoder, or
  :func:`hashed_bag_of_words` where no model is wanted). Vectors are normalised once and kept as
  a float16 matrix, half the memory of float32 with cosines good to about 1e-3; a search is an
  exact matrix product over chunks of ``CHUNK`` rows, each reduced to its top k at once, so
  memory beyond the matrix is ``queries x CHUNK`` scores whatever the collection's size.

Scaling, measured by ``bench/qa_retrieval.py`` (figures there): 100,000 passages of 384
dimensions take 77 MB as float16, and exact search answers hundreds of queries a second on one
core. Exact search is linear in the collection, so ten million passages (7.7 GB) would take
seconds a query: past what fits in memory, :meth:`DenseIndex.save` writes an ``.npy`` file and
:meth:`DenseIndex.load` maps it (``mmap``) so the operating system pages chunks in as the search
walks them, and :func:`write_vectors` builds such a file batch by batch without ever holding it.
An approximate index (FAISS IVF/HNSW) would make queries sublinear; at the collections a
workbench user uploads (thousands to a few hundred thousand passages) exact search is fast
enough, exact (no recall lost to the index) and needs no extra library, so that is the choice.

Retrieval is scored, for questions whose passages are known, by recall@k (the share of questions
with a right passage among the first k) and MRR (the mean of 1/rank of the first right passage, 0
when none is ranked).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.qa.offsets import Span
from core.qa.windows import window_spans

PASSAGE_WORDS = 100  # about DPR's passage length (100 words)
PASSAGE_OVERLAP = 20  # words two neighbouring passages share
CHUNK = 65_536  # passage rows scored at once by a dense search
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Passage:
    """A piece of a document: its text and where it lies in the document's text."""

    doc_id: str
    start: int  # character span [start, end) in the document
    end: int
    text: str


def split_passages(documents: Mapping[str, str] | Iterable[tuple[str, str]], words: int = PASSAGE_WORDS,
                   overlap: int = PASSAGE_OVERLAP) -> list[Passage]:
    """Cut each (doc id, text) into passages of ``words`` whitespace-separated words, neighbours
    sharing ``overlap`` of them (the last passage of a document may be shorter); a passage's text
    is the document's own characters from its first word to its last, so spans found in it map
    back to the document by adding ``start``."""
    items = documents.items() if isinstance(documents, Mapping) else documents
    out: list[Passage] = []
    for doc_id, text in items:
        spans = [m.span() for m in _WORD.finditer(text)]
        if not spans:
            continue
        for a, b in window_spans(len(spans), words, overlap):
            start, end = spans[a][0], spans[b - 1][1]
            out.append(Passage(doc_id, start, end, text[start:end]))
    return out


def passages_holding(passages: Sequence[Passage], doc_id: str, answer: Span) -> list[int]:
    """Indices of the passages of ``doc_id`` whose characters hold ``answer`` (a span of the
    document) whole: the right passages for scoring a retriever on that question."""
    a, b = answer
    return [i for i, p in enumerate(passages) if p.doc_id == doc_id and p.start <= a and b <= p.end]


# -- BM25 -------------------------------------------------------------------------------------


class BM25Index:
    """BM25 (Lucene's variant, k1 = 1.5, b = 0.75: bm25s's defaults) over passage texts."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.size = len(texts)
        self._index = _bm25s().BM25(k1=k1, b=b)
        self._index.index(_bm25_tokens(texts), show_progress=False)

    def search(self, queries: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(passage indices, scores), each ``[len(queries), k]``, best first; ``k`` is cut to the
        collection's size. A query with no indexed word scores every passage 0."""
        k = min(k, self.size)
        if not queries or k == 0:
            return np.zeros((len(queries), k), dtype=np.int64), np.zeros((len(queries), k), dtype=np.float32)
        ids, scores = self._index.retrieve(_bm25_tokens(queries), k=k, show_progress=False)
        return np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32)


def _bm25s() -> Any:
    import bm25s  # deferred: it loads scipy (a quarter second), which only a search needs

    return bm25s


def _bm25_tokens(texts: Sequence[str]) -> Any:
    return _bm25s().tokenize(list(texts), stopwords="en", show_progress=False)


# -- dense ------------------------------------------------------------------------------------


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32), so a dot product is a cosine; zero rows stay zero."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


class DenseIndex:
    """Exact cosine search over unit-length passage vectors, float16 by default (see the module
    docstring for how it scales); the matrix may be an in-memory array or a memory map."""

    def __init__(self, matrix: np.ndarray) -> None:
        if matrix.ndim != 2:
            raise ValueError(f"passage vectors must be a matrix, got shape {matrix.shape}")
        self.matrix = matrix

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, dtype: Any = np.float16) -> DenseIndex:
        """An index over ``vectors`` (one row per passage), normalised and stored as ``dtype``."""
        return cls(normalise(vectors).astype(dtype, copy=False))

    @property
    def size(self) -> int:
        return int(self.matrix.shape[0])

    def save(self, path: str | Path) -> Path:
        """Write the matrix as a ``.npy`` file (for :meth:`load` to map)."""
        path = Path(path)
        np.save(path, np.asarray(self.matrix), allow_pickle=False)
        return path

    @classmethod
    def load(cls, path: str | Path, mmap: bool = True) -> DenseIndex:
        """An index over a saved matrix; ``mmap`` leaves it on disk, paged in as searched."""
        return cls(np.load(Path(path), mmap_mode="r" if mmap else None, allow_pickle=False))

    def search(self, queries: np.ndarray, k: int = 10, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
        """(passage indices, cosines), each ``[len(queries), k]``, best first (ties: lower index)."""
        q = normalise(np.atleast_2d(queries))
        k = min(k, self.size)
        best_ids = np.zeros((len(q), 0), dtype=np.int64)
        best = np.zeros((len(q), 0), dtype=np.float32)
        for lo in range(0, self.size, chunk):
            block = np.asarray(self.matrix[lo : lo + chunk], dtype=np.float32)
            scores = q @ block.T
            take = min(k, scores.shape[1])
            # argpartition keeps each chunk's top k in linear time; the merge sorts only 2k.
            part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
            best_ids = np.concatenate([best_ids, part + lo], axis=1)
            best = np.concatenate([best, np.take_along_axis(scores, part, axis=1)], axis=1)
            order = np.lexsort((best_ids, -best), axis=1)[:, :k]
            best_ids, best = np.take_along_axis(best_ids, order, 1), np.take_along_axis(best, order, 1)
        return best_ids, best


def write_vectors(path: str | Path, batches: Iterable[np.ndarray], rows: int, dim: int,
                  dtype: Any = np.float16) -> DenseIndex:
    """Build a saved index batch by batch (an encoder's output over a collection too big to hold
    twice), normalising each; ``rows`` is the collection's size. Returns it memory-mapped."""
    out = np.lib.format.open_memmap(Path(path), mode="w+", dtype=dtype, shape=(rows, dim))
    at = 0
    for batch in batches:
        if at + len(batch) > rows:
            raise ValueError(f"more than the {rows} rows announced")
        out[at : at + len(batch)] = normalise(batch)
        at += len(batch)
    if at != rows:
        raise ValueError(f"{at} rows written, {rows} announced")
    out.flush()
    del out
    return DenseIndex.load(path)


def hashed_bag_of_words(texts: Sequence[str], dim: int = 384) -> np.ndarray:
    """Deterministic vectors without a model: words hashed into ``dim`` signed buckets
    (scikit-learn's HashingVectorizer), unit length. Texts sharing rare words come out close,
    which is all a test or a model-free baseline needs; not a sentence encoder."""
    from sklearn.feature_extraction.text import HashingVectorizer  # deferred: slow to import

    vec = HashingVectorizer(n_features=dim, alternate_sign=True, binary=True, norm="l2", stop_words="english")
    return np.asarray(vec.transform(list(texts)).toarray(), dtype=np.float32)


# -- scoring ----------------------------------------------------------------------------------


def retrieval_metrics(ranked: Sequence[Sequence[int]], relevant: Sequence[Collection[int]],
                      ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``recall_at_{k}`` for each k and ``mrr`` (over the whole ranking given), with ``n``, over
    the questions that have a right passage: a question whose answer no passage holds says
    nothing about the retriever, so it is left out and the count says so."""
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} rankings for {len(relevant)} questions")
    firsts: list[int | None] = []  # 1-based rank of each question's first right passage
    for ranks, right in zip(ranked, relevant, strict=True):
        if not right:
            continue
        firsts.append(next((r for r, i in enumerate(ranks, 1) if int(i) in right), None))
    n = len(firsts)
    out = {f"recall_at_{k}": (sum(f is not None and f <= k for f in firsts) / n if n else 0.0) for k in ks}
    out["mrr"] = sum(1.0 / f for f in firsts if f is not None) / n if n else 0.0
    out["n"] = float(n)
    return out
