"""Passage retrieval at 100,000 passages: indexing and search speed, and peak memory.

    OMP_NUM_THREADS=1 python bench/qa_retrieval.py [--passages 100000] [--queries 1000] [--dim 384]

Generates documents of Zipf-distributed pseudo-words (a 50,000-word vocabulary), cuts them into
passages of 100 words sharing 20 (core.qa.retrieval.split_passages), plants one fact
"<key a> <answer> <key b>" per question in a random passage, then times: BM25 indexing (bm25s,
tokenising included) and search; dense vectors (hashed bag of words, ``--dim`` as MiniLM's 384;
a stand-in for an encoder, timed apart) indexed as float32 and float16 and searched exactly, in
memory and memory-mapped from an ``.npy`` file; one query at a time and in batches. BM25's
recall@k of the planted passages, and the dense searches' agreement on their top-10 cosines, are
printed as checks that what is timed works. Peak memory is the process's
maximum resident set (``ru_maxrss``) after each phase. The machine's load (``uptime``) is printed
before and after: on a shared machine the timings move with it. Never asserts.

Measured on 2 shared cores (other agents' tests running), OMP_NUM_THREADS=1, Python 3.11,
bm25s 0.3.16, numpy 2.4, scikit-learn's hashing; 100,000 passages (20,000 documents of 420 words),
1,000 questions; uptime's load average 3.29 / 4.69 / 4.37 before, 3.64 / 4.63 / 4.36 after; 47 s
wall clock in all:

    split into passages          3.5 s     28,000 passages/s
    BM25 index                  13.2 s      7,600 passages/s (tokenising included)   RSS +240 MB
    BM25 search                               213 queries/s one by one, 337 batched; recall@1 1.000
    hashed bag-of-words          6.9 s     14,500 passages/s (the stand-in encoder)
    dense index, float32         0.7 s    143,000 passages/s; 154 MB for 100,000 x 384
    dense search, float32                      57 queries/s one by one, 1,039 batched
    dense search, float16                       9 queries/s one by one,   773 batched
    memory-mapped (float32)                   466 queries/s batched (page cache warm)
    peak RSS                   899 MB for the whole run (texts, BM25, vectors and both matrices)

An earlier run under a load of 6 to 7 gave about half these rates (BM25 103 queries/s one by
one, dense 23), which is the spread to expect on this machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.qa.retrieval import (
    BM25Index,
    DenseIndex,
    hashed_bag_of_words,
    relevant_passages,
    retrieval_metrics,
    split_passages,
)

VOCAB = 50_000
DOC_WORDS = 420  # five passages of 100 words sharing 20: 0-100, 80-180, ..., 320-420


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def timed(label: str, fn: Callable[[], Any], count: int | None = None, unit: str = "") -> Any:
    start = time.perf_counter()
    out = fn()
    took = time.perf_counter() - start
    rate = f" ({count / took:,.0f} {unit}/s)" if count else ""
    print(f"{label:<34} {took:8.2f} s{rate}   peak RSS {peak_mb():,.0f} MB", flush=True)
    return out


Golds = list[tuple[str, tuple[int, int]]]


def generate(n_docs: int, n_questions: int, seed: int = 0) -> tuple[dict[str, str], list[str], Golds]:
    """Documents, questions, and each question's (doc id, answer span)."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(VOCAB)])
    ids = np.minimum(rng.zipf(1.3, size=(n_docs, DOC_WORDS)) - 1, VOCAB - 1)
    docs = {f"doc{d}": " ".join(words[row]) for d, row in enumerate(ids)}
    questions, golds = [], []
    for q, d in enumerate(rng.choice(n_docs, size=n_questions, replace=False)):
        doc_id, at = f"doc{d}", int(rng.integers(0, DOC_WORDS - 3))
        planted = list(words[ids[d]])
        planted[at : at + 3] = [f"key{q}a", f"answer{q}", f"key{q}b"]  # replaced: the length stays
        docs[doc_id] = " ".join(planted)
        start = sum(len(w) + 1 for w in planted[: at + 1])
        questions.append(f"What lies between key{q}a and key{q}b?")
        golds.append((doc_id, (start, start + len(planted[at + 1]))))
    return docs, questions, golds


def bench_bm25(texts: list[str], questions: list[str], relevant: list[set[int]]) -> None:
    bm25 = timed("BM25 index", lambda: BM25Index(texts), len(texts), "passages")
    ids = timed("BM25 search, one by one", lambda: np.concatenate(
        [bm25.search([q], k=10)[0] for q in questions]), len(questions), "queries")
    print(f"  BM25 {retrieval_metrics(ids.tolist(), relevant)}")
    timed("BM25 search, batched", lambda: bm25.search(questions, k=10), len(questions), "queries")


def bench_dense(texts: list[str], questions: list[str], relevant: list[set[int]], dim: int) -> None:
    vectors = timed("hashed bag-of-words (encoder)", lambda: hashed_bag_of_words(texts, dim), len(texts),
                    "passages")
    dense = timed("dense index (float32)", lambda: DenseIndex.from_vectors(vectors), len(texts), "passages")
    half = timed("dense index (float16)", lambda: DenseIndex.from_vectors(vectors, dtype=np.float16))
    print(f"  matrix {dense.matrix.nbytes / 1e6:,.0f} MB")
    qv = hashed_bag_of_words(questions, dim)
    _, top = timed("dense search, batched", lambda: dense.search(qv, k=10), len(qv), "queries")
    single = qv[:100]
    one = timed("dense search, one by one", lambda: [dense.search(v, k=10)[1][0] for v in single], len(single),
                "queries")
    timed("float16 search, batched", lambda: half.search(qv, k=10), len(qv), "queries")
    timed("float16 search, one by one", lambda: [half.search(v, k=10) for v in single[:20]], 20, "queries")
    with tempfile.TemporaryDirectory() as tmp:
        mapped = DenseIndex.load(dense.save(Path(tmp) / "passages.npy"))
        _, top_mapped = timed("memory-mapped search, batched", lambda: mapped.search(qv, k=10), len(qv), "queries")
    # The hashed stand-in vectors (50,000 words in a few hundred buckets) rank poorly and tie often,
    # so the check here is that every way of searching finds the same top-10 cosines; dense ranking
    # quality is tested in tests/unit/test_qa_retrieval.py.
    print(f"  same top-10 cosines batched, one by one and memory-mapped: "
          f"{np.allclose(top[:100], np.array(one), atol=1e-5) and np.allclose(top, top_mapped, atol=1e-5)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args(argv)
    print(f"before: {uptime()}")
    print(f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    n_docs = max(1, args.passages // 5)
    docs, questions, golds = timed("generate documents", lambda: generate(n_docs, args.queries))
    passages = timed("split into passages", lambda: split_passages(docs, 100, 20), n_docs * 5, "passages")
    texts = [p.text for p in passages]
    relevant = timed("passages holding each answer", lambda: relevant_passages(passages, golds))
    assert all(docs[d][a:b].startswith("answer") for d, (a, b) in golds)  # the plant is where said
    print(f"{len(passages):,} passages, {len(questions):,} questions")

    bench_bm25(texts, questions, relevant)  # each phase frees its index on return
    bench_dense(texts, questions, relevant, args.dim)
    print(f"peak RSS {peak_mb():,.0f} MB")
    print(f"after: {uptime()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
