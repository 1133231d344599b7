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
  :func:`hashed_bag_of_words` where no model is wanted). Vectors are normalised once and searched
  exactly: a matrix product over chunks of ``CHUNK`` rows, each cut to its top k at once, so the
  memory beside the matrix is ``queries x CHUNK`` scores whatever the collection's size.

Scaling, measured (``bench/qa_retrieval.py`` has the whole run; 2 shared cores, one thread, load
about 3.5): over 100,000 passages of 384 dimensions (MiniLM's width), float32 takes 154 MB and
answers about 57 single queries a second (a full scan reads the matrix: memory bandwidth bounds
it) and about 1,000 a second in batches. float16 halves the memory but numpy has no float16
matrix product, so each search converts every chunk: batches still run at about 770 queries a
second, single queries drop to about 9. So float32 is the default, and float16 (``dtype=``) is for a
collection whose matrix would not otherwise fit. Past memory, :meth:`DenseIndex.save` writes an
``.npy`` file and :meth:`DenseIndex.load` maps it (``mmap``), the operating system paging chunks in
as the search walks them, and :func:`write_vectors` builds such a file batch by batch without
holding it: exact, and linear in the collection (a million passages is 1.5 GB of float32 and
about a tenth of a second a query). An approximate index (FAISS IVF/HNSW, as an optional extra)
is the step after that, for tens of millions of passages; the collections a workbench user
uploads (thousands to a few hundred thousand passages) are searched exactly well within a
question's time, lose no recall to an index, and need no further library, so that is the choice.

Retrieval is scored, for questions whose passages are known, by recall@k (the share of questions
with a right passage among the first k) and MRR (the mean of 1/rank of the first right passage, 0
when none is ranked). :class:`PassageSearch` is either retriever over one collection, built once
for many questions (``lmwb ask``, the Playground); :func:`question_retrieval` scores one on
reading-comprehension questions, each context a document (the qa task's passage recall and MRR).
The encoders are the caller's: this package imports no model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.qa.offsets import Span
from core.qa.windows import window_spans

PASSAGE_WORDS = 100  # about DPR's passage length (100 words)
PASSAGE_OVERLAP = 20  # words two neighbouring passages share
READ_PASSAGES = 5  # passages the retriever hands the reader (lmwb ask -k, the Playground's Ask panel)
CHUNK = 4_096  # passage rows scored at once by a dense search (fastest of 4k-64k measured)
RETRIEVERS = ("bm25", "dense")
ENCODERS = ("run", "minilm")  # a dense retriever's vectors: the qa run's own encoder, or the offline MiniLM
DEPTH = 100  # passages ranked per question when scoring a retriever: MRR counts a first right one up to here
Encoder = Callable[[Sequence[str]], np.ndarray]  # texts -> one vector a row (a sentence encoder)
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
    return sorted(relevant_passages(passages, [(doc_id, answer)])[0])


def relevant_passages(passages: Sequence[Passage], golds: Sequence[tuple[str, Span]]) -> list[set[int]]:
    """:func:`passages_holding` for many (doc id, answer span) golds at once: the passages are
    grouped by document first, so a thousand questions over 100,000 passages look at a few
    passages each rather than at all of them."""
    by_doc: dict[str, list[int]] = {}
    for i, p in enumerate(passages):
        by_doc.setdefault(p.doc_id, []).append(i)
    out = []
    for doc_id, (a, b) in golds:
        out.append({i for i in by_doc.get(doc_id, []) if passages[i].start <= a and b <= passages[i].end})
    return out


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
    """Exact cosine search over unit-length passage vectors (float32, or float16 to halve the
    memory: see the module docstring); the matrix may be an in-memory array or a memory map."""

    def __init__(self, matrix: np.ndarray) -> None:
        if matrix.ndim != 2:
            raise ValueError(f"passage vectors must be a matrix, got shape {matrix.shape}")
        self.matrix = matrix

    @classmethod
    def from_vectors(cls, vectors: np.ndarray, dtype: Any = np.float32) -> DenseIndex:
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
        """(passage indices, cosines), each ``[len(queries), k]``, best first. Passages tied at the
        k-th score may come in any order (argpartition picks among them)."""
        q = normalise(np.atleast_2d(queries))
        k = min(k, self.size)
        ids: list[np.ndarray] = [np.zeros((len(q), 0), dtype=np.int64)]
        tops: list[np.ndarray] = [np.zeros((len(q), 0), dtype=np.float32)]
        for lo in range(0, self.size, chunk):
            block = self.matrix[lo : lo + chunk]
            scores = q @ (block if block.dtype == np.float32 else block.astype(np.float32)).T
            take = min(k, scores.shape[1])
            # argpartition keeps each chunk's top k in linear time; one sort of the survivors at the end.
            part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
            ids.append(part + lo)
            tops.append(np.take_along_axis(scores, part, axis=1))
        all_ids, all_tops = np.concatenate(ids, axis=1), np.concatenate(tops, axis=1)
        order = np.lexsort((all_ids, -all_tops), axis=1)[:, :k]
        return np.take_along_axis(all_ids, order, 1), np.take_along_axis(all_tops, order, 1)


def write_vectors(path: str | Path, batches: Iterable[np.ndarray], rows: int, dim: int,
                  dtype: Any = np.float32) -> DenseIndex:
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

    vec = HashingVectorizer(n_features=dim, alternate_sign=True, binary=True, norm="l2", stop_words="english",
                            dtype=np.float32)
    return np.asarray(vec.transform(list(texts)).toarray(), dtype=np.float32)


# -- one collection, many questions -------------------------------------------------------------


class PassageSearch:
    """A retriever over one collection, built once and asked many questions: BM25 without
    ``encode``, else exact cosine search over ``encode``'s vectors of the passages (and of each
    question, encoded the same way)."""

    def __init__(self, passages: Sequence[Passage], encode: Encoder | None = None) -> None:
        self.passages = list(passages)
        self.kind = "bm25" if encode is None else "dense"
        self._encode = encode
        texts = [p.text for p in self.passages]
        self._bm25 = BM25Index(texts) if encode is None and texts else None
        self._dense = DenseIndex.from_vectors(encode(texts)) if encode is not None and texts else None

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Each query's first ``k`` passages as (index, score), best first. BM25 leaves out the
        passages that share no word with the query (all score 0: their order would be arbitrary);
        a dense search ranks every passage."""
        if not queries or not self.passages:
            return [[] for _ in queries]
        if self._bm25 is not None:
            ids, scores = self._bm25.search(queries, k)
        else:
            assert self._encode is not None and self._dense is not None
            ids, scores = self._dense.search(self._encode(list(queries)), k)
        return [[(int(i), float(s)) for i, s in zip(row, top, strict=True) if self._dense is not None or s > 0]
                for row, top in zip(ids, scores, strict=True)]


def question_retrieval(questions: Sequence[str], contexts: Sequence[str],
                       answers: Sequence[Sequence[tuple[str, int]]], contexts_searched: Sequence[str] | None = None,
                       encode: Encoder | None = None, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """A retriever scored on reading-comprehension questions (SQuAD's shape: each question asked
    of one context, its answers as (text, first character) there): the collection is the distinct
    ``contexts_searched`` (default: ``contexts``) cut into passages by :func:`split_passages`'s
    defaults, a question's right passages those holding one of its answers whole, each question
    ranked against the whole collection (the first :data:`DEPTH`); :func:`retrieval_metrics` of
    that, over the questions some passage answers (``n``)."""
    doc_of: dict[str, str] = {}
    for context in [*(contexts_searched if contexts_searched is not None else contexts), *contexts]:
        doc_of.setdefault(context, str(len(doc_of)))
    passages = split_passages((doc_id, text) for text, doc_id in doc_of.items())
    relevant: list[set[int]] = []
    for context, golds in zip(contexts, answers, strict=True):
        spans = [(doc_of[context], (start, start + len(text))) for text, start in golds]
        relevant.append(set().union(*relevant_passages(passages, spans)) if spans else set())
    asked = [i for i, right in enumerate(relevant) if right]  # the others say nothing about the retriever
    found = PassageSearch(passages, encode).search([questions[i] for i in asked], min(DEPTH, len(passages)))
    return retrieval_metrics([[i for i, _ in ranked] for ranked in found], [relevant[i] for i in asked], ks)


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
