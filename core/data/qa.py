"""Question-answering data: a context, a question about it, and the answers (spans of the context).

Every split is a :class:`QASplit`: ``texts`` are the questions (what a person types), beside
them each question's ``contexts`` and ``answers``, the (text, character start) of each gold
answer; no answer at all is a SQuAD 2.0 unanswerable question.

Two components:

* ``qa_file`` (your questions) reads SQuAD v1.1/v2.0 JSON (``{"data": [{"paragraphs": [{"context",
  "qas": [{"question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}``), and
  CSV/TSV/JSONL/Parquet/Arrow files or ``datasets`` folders through the workbench's table readers,
  with a context, a question and an answers column: SQuAD's ``{"text": [...], "answer_start":
  [...]}`` (what a Hugging Face SQuAD dataset holds), a list of ``{"text", "answer_start"}``, or the
  answer text alone with an optional ``answer_start`` column (without it, the answer's first
  occurrence in the context). Validation is split off by context, so no validation context is
  read in training.
* ``news_qa`` (built in, offline): the news items of the ``briefs`` summarisation set (one event,
  its facts in varied wording shuffled among distractor sentences about other people, places
  and days) with templated questions on each fact: who did it, where, on which day, how it went.
  The answer is the fact's word, found at its characters; a distractor holds words of the same
  kind, so a reader must match the question to the sentence that answers it.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data import summaries as news
from core.data.arrow import load_splits
from core.data.builtin import _DATA_SEED, _fraction_params, _register
from core.data.columns import HEADER_CHOICES
from core.data.reading import read_text
from core.data.splits import split_indices
from core.data.table import Table
from core.data.tables import FORMATS, read_table
from core.data.types import DatasetSplits, Split
from core.errors import ConfigError, DataError
from core.params import Param, validate_params
from core.registry import DATASETS

Answer = tuple[str, int]  # the answer's text and its first character in the context

CONTEXT_COLUMNS = ("context", "passage", "paragraph", "document")
QUESTION_COLUMNS = ("question", "query", "questions")
ANSWERS_COLUMNS = ("answers", "answer", "answer_text", "answers_text")
START_COLUMNS = ("answer_start", "answer_starts", "start")
QA_FORMATS = ("squad", *FORMATS)


@dataclass
class QASplit(Split):
    """Questions (``texts``), the context each is asked of and its gold answers ([] when the
    context does not answer it)."""

    contexts: list[str] = field(default_factory=list)
    answers: list[list[Answer]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not len(self.texts) == len(self.contexts) == len(self.answers):
            raise ValueError(f"{len(self.texts)} questions, {len(self.contexts)} contexts, {len(self.answers)} answer lists")

    def golds(self) -> list[list[str]]:
        """Each question's gold answer texts, as :func:`core.qa.squad.squad_metrics` takes them."""
        return [[text for text, _ in answers] for answers in self.answers]

    def part(self, index: list[int]) -> QASplit:
        return QASplit([self.texts[i] for i in index], contexts=[self.contexts[i] for i in index],
                       answers=[self.answers[i] for i in index])


@dataclass
class _Read:
    """Questions read from a source, with what was skipped and why."""

    split: QASplit
    notes: list[str]
    problems: list[_Problem] = field(default_factory=list)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


# -- reading answers ------------------------------------------------------------------------------

def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse_answers(cell: Any, start: Any = None) -> list[tuple[str, int | None]]:
    """The (text, start or None) answers of one cell: SQuAD's dict of lists, a list of dicts, a
    list of texts, or one text (with ``start`` from its own column); JSON text is parsed first.
    An empty cell or list is no answer."""
    if isinstance(cell, str):
        text = cell.strip()
        if text[:1] in ("{", "["):
            with contextlib.suppress(json.JSONDecodeError):  # else a literal answer starting with a bracket
                cell = json.loads(text)
        if isinstance(cell, str):
            if not cell:
                return []
            return [(cell, None if start in (None, "") else int(float(str(start))))]
    if isinstance(cell, dict):
        texts = _as_list(cell.get("text", cell.get("texts", [])))
        starts = _as_list(cell.get("answer_start", cell.get("answer_starts", [None] * len(texts))))
        if len(starts) != len(texts):
            raise ValueError(f"{len(texts)} answer texts but {len(starts)} answer starts")
        return [(str(t), None if s is None else int(s)) for t, s in zip(texts, starts, strict=True) if str(t)]
    if isinstance(cell, list):
        out: list[tuple[str, int | None]] = []
        for item in cell:
            out += parse_answers(item) if not isinstance(item, str) else ([(item, None)] if item else [])
        return out
    if cell is None:
        return []
    raise ValueError(f"cannot read answers from a {type(cell).__name__}")


def answer_start(context: str, text: str, start: int | None = None) -> int:
    """Where a gold answer starts: SQuAD gives ``answer_start``, a format without it takes the
    answer's first occurrence. ValueError when the text is not there: a wrong label is a data
    error, never a silently wrong target. (core.qa.windows.answer_span, its reader-side twin, is
    a sibling layer's, so not imported here.)"""
    if start is None:
        start = context.find(text)
        if start < 0:
            raise ValueError(f"answer {text!r} does not occur in its context")
    elif context[start : start + len(text)] != text:
        raise ValueError(f"answer {text!r} is not at character {start} of its context")
    return start


def _placed(context: str, answers: list[tuple[str, int | None]]) -> list[Answer]:
    """Answers with their starts checked (or found); ValueError when one is not in the context."""
    return [(text, answer_start(context, text, start)) for text, start in answers]


# -- mistakes in a file ---------------------------------------------------------------------------

SHOWN_PROBLEMS = 5  # problems named one by one in a note or error; the rest are counted


@dataclass
class _Problem:
    """One mistake in a file: where (``data[0].paragraphs[1].qas[2] (id x)`` or ``line 7``), what is
    wrong, and what the reader did: ``skipped``, ``repaired`` or ``kept``."""

    where: str
    reason: str
    done: str


def _shown(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _settle(context: str, text: str, start: int | None, given: bool) -> tuple[int | None, str]:
    """Where an answer starts, and what was wrong (empty: nothing). The rule: a given
    ``answer_start`` that holds the text is used; one that does not, or a missing one where the
    format requires it (``given``), is repaired when the text occurs exactly once in the context
    (off-by-one offsets are common and the place is then certain), else the answer is dropped
    (None): it occurs nowhere, or more than once and the intended place cannot be told. A format
    without starts (an answer text column) takes the text's first occurrence, with no note."""
    if start is not None and context[start : start + len(text)] == text:
        return start, ""
    at = [m.start() for m in re.finditer(re.escape(text), context)]
    if start is None and not given:
        return (at[0], "") if at else (None, f"answer {_shown(text)} does not occur in the context")
    if start is None:
        wrong = f'no "answer_start" for {_shown(text)}'
    else:
        wrong = (f"answer_start {start} points at {_shown(context[start : start + len(text)])}, "
                 f"not {_shown(text)}")
    if not at:
        return None, wrong + " (which does not occur in the context)"
    if len(at) > 1:
        return None, wrong + f" (which occurs {len(at)} times, at {', '.join(map(str, at[:4]))}: cannot tell which)"
    return at[0], wrong + (f" (which is at {at[0]})" if start is not None else f" (it occurs once, at {at[0]})")


def _answers(context: str, raw: list[tuple[str, int | None]], where: str, given: bool,
             problems: list[_Problem]) -> list[Answer] | None:
    """A question's answers placed by :func:`_settle`; each mistake added to ``problems``. None
    when every answer was dropped (the question is skipped: with none left it would read as
    unanswerable)."""
    placed: list[Answer] = []
    found: list[tuple[str, int | None]] = []
    for m, (text, start) in enumerate(raw):
        at, wrong = _settle(context, text, start, given)
        if wrong:
            found.append((wrong + (f" [answers[{m}]]" if len(raw) > 1 else ""), at))
        if at is not None:
            placed.append((text, at))
    skipped = raw and not placed
    for wrong, at in found:
        done = "skipped" if skipped else (f"repaired to {at}" if at is not None else "this answer dropped")
        problems.append(_Problem(where, wrong, done))
    return None if skipped else placed


def _mistakes(problems: list[_Problem]) -> list[str]:
    """The first problems one by one, then a count of the rest by what was done."""
    lines = [f"{p.where}: {p.reason}; {p.done}" for p in problems[:SHOWN_PROBLEMS]]
    rest = problems[SHOWN_PROBLEMS:]
    if rest:
        kinds: dict[str, int] = {}
        for p in rest:
            kind = "skipped" if p.done.endswith("skipped") else "repaired" if p.done.startswith("repaired") else p.done
            kinds[kind] = kinds.get(kind, 0) + 1
        lines.append(f"and {len(rest):,} more ({', '.join(f'{n:,} {k}' for k, n in kinds.items())})")
    return lines


def _listed(problems: list[_Problem]) -> str:
    # A markdown list: the Run page's failure banner draws each mistake on its own line.
    return "".join(f"\n- {line}" for line in _mistakes(problems))


def _problem_notes(name: str, problems: list[_Problem], unit: str, skipped: int) -> list[str]:
    """The note a read leaves: a count by outcome, then the mistakes themselves."""
    if not problems:
        return []
    repaired = sum(p.done.startswith("repaired") for p in problems)
    counts = [f"{_count(skipped, unit)} skipped" if skipped else "",
              f"{_count(repaired, 'answer_start')} repaired" if repaired else ""]
    head = f"{name}: {_count(len(problems), 'mistake')} found" + (
        f" ({', '.join(c for c in counts if c)})" if any(counts) else "")
    # One note a line, each naming the file: the Data page shows each as a caption, the run log as a line.
    return [head, *(f"{name}, {line}" for line in _mistakes(problems))]


# -- SQuAD JSON -----------------------------------------------------------------------------------

def is_squad(text: str) -> bool:
    """Does a file's text look like SQuAD JSON (one object with a ``data`` list)?"""
    head = text.lstrip("\ufeff \t\r\n")[:200]
    return head.startswith("{") and re.search(r'"(data|version)"\s*:', head) is not None


def read_squad(path: str | Path) -> _Read:
    """Every question of a SQuAD v1.1 / v2.0 file (plain or .gz)."""
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError(path, 'not SQuAD JSON: expected {"data": [{"paragraphs": [...]}, ...]}')
    questions: list[str] = []
    contexts: list[str] = []
    answers: list[list[Answer]] = []
    problems: list[_Problem] = []
    for i, article in enumerate(doc["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs", []), list):
            problems.append(_Problem(f"data[{i}]", 'not an object with a "paragraphs" list', "skipped"))
            continue
        for j, paragraph in enumerate(article.get("paragraphs", [])):
            place = f"data[{i}].paragraphs[{j}]"
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                problems.append(_Problem(place, 'not an object with a "qas" list', "skipped"))
                continue
            context = paragraph.get("context")
            if not isinstance(context, str) or not context.strip():
                missing = "no" if context is None else "an empty" if isinstance(context, str) else "a non-text"
                problems.append(_Problem(place, f'{missing} "context"', f"its {_count(len(qas), 'question')} skipped"))
                continue
            for k, qa in enumerate(qas):
                where = f"{place}.qas[{k}]"
                if not isinstance(qa, dict):
                    problems.append(_Problem(where, "not an object", "skipped"))
                    continue
                if qa.get("id") not in (None, ""):
                    where += f" (id {qa['id']})"
                else:  # ids only match predictions to questions: the place names it instead
                    problems.append(_Problem(where, 'no "id"', "kept, named by its place"))
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    problems.append(_Problem(where, 'no "question"' if question is None else 'an empty "question"',
                                             "skipped"))
                    continue
                try:
                    raw = [] if qa.get("is_impossible") else parse_answers(qa.get("answers", []))
                except (ValueError, TypeError) as exc:
                    problems.append(_Problem(where, f'"answers" cannot be read ({exc})', "skipped"))
                    continue
                placed = _answers(context, raw, where, True, problems)
                if placed is None:
                    continue
                questions.append(question.strip())
                contexts.append(context)
                answers.append(placed)
    if not questions:
        raise DataError(path, "no usable question"
                        + (":" + _listed(problems) if problems else " (the paragraphs hold no questions)")
                        + '\n\nEach question needs a "question", its paragraph a "context", and each answer a '
                          '"text" found in the context at its "answer_start".')
    seen = sum(len(p.get("qas") or []) for a in doc["data"] if isinstance(a, dict) and isinstance(a.get("paragraphs"), list)
               for p in a["paragraphs"] if isinstance(p, dict) and isinstance(p.get("qas"), list))
    notes = _problem_notes(Path(path).name, problems, "question", seen - len(questions))
    return _Read(QASplit(questions, contexts=contexts, answers=answers), notes, problems)


def squad_json(split: QASplit, title: str = "questions", version: str = "1.1") -> dict[str, Any]:
    """``split`` as SQuAD JSON (what :func:`read_squad` reads back question for question): one
    article, one paragraph a distinct context with its questions in order, ids ``q0``, ``q1``...;
    a question without answers is written ``is_impossible`` (SQuAD 2.0: give ``version`` "v2.0")."""
    paragraphs: dict[str, list[dict[str, Any]]] = {}
    for i, (question, context, golds) in enumerate(zip(split.texts, split.contexts, split.answers, strict=True)):
        qa: dict[str, Any] = {"id": f"q{i}", "question": question,
                              "answers": [{"text": text, "answer_start": start} for text, start in golds]}
        if not golds:
            qa["is_impossible"] = True
        paragraphs.setdefault(context, []).append(qa)
    return {"version": version, "data": [{"title": title, "paragraphs": [
        {"context": context, "qas": qas} for context, qas in paragraphs.items()]}]}


# -- tables ---------------------------------------------------------------------------------------

def _column(table: Table, explicit: str, names: tuple[str, ...], what: str, required: bool = True) -> str | None:
    if explicit:
        if explicit not in table.columns:
            raise DataError(table.path, f"no {what} column {explicit!r}; the columns are "
                                        f"{', '.join(map(repr, table.columns))}")
        return explicit
    by_lower = {c.lower(): c for c in table.columns}
    found = next((by_lower[n] for n in names if n in by_lower), None)
    if found is None and required:
        raise DataError(table.path, f"cannot tell which column holds the {what}; the columns are "
                                    f"{', '.join(map(repr, table.columns))}. Name it with "
                                    f"data.{what.replace(' ', '_')}_column=...")
    return found


def read_qa_table(table: Table, p: dict[str, Any]) -> _Read:
    """Questions from a table's context, question and answers columns (rows with an empty
    context or question, or an answer not in its context, are skipped with a note)."""
    context_col = _column(table, p["context_column"], CONTEXT_COLUMNS, "context")
    question_col = _column(table, p["question_column"], QUESTION_COLUMNS, "question")
    answers_col = _column(table, p["answers_column"], ANSWERS_COLUMNS, "answers")
    start_col = _column(table, p["answer_start_column"], START_COLUMNS, "answer start", required=False)
    assert context_col and question_col and answers_col
    questions: list[str] = []
    contexts: list[str] = []
    answers: list[list[Answer]] = []
    problems: list[_Problem] = []
    lines = table.lines or [None] * len(table.rows)
    for n, (row, line) in enumerate(zip(table.rows, lines, strict=True), 1):
        where = f"line {line}" if line is not None else f"row {n}"
        context, question = row[context_col], row[question_col].strip()
        if not context.strip() or not question:
            empty = context_col if not context.strip() else question_col
            problems.append(_Problem(where, f"column {empty!r} is empty", "skipped"))
            continue
        start = row.get(start_col) if start_col else None
        try:
            raw = parse_answers(row[answers_col], start)
        except (ValueError, TypeError) as exc:
            bad = (f"column {start_col!r} holds {_shown(str(start))}, not a character position"
                   if start_col and "invalid literal" in str(exc) else f"column {answers_col!r} cannot be read ({exc})")
            problems.append(_Problem(where, bad, "skipped"))
            continue
        # A start in the cell (SQuAD's dicts) or its own column is a given start, checked and
        # repaired like SQuAD JSON's; an answer text alone takes its first occurrence.
        placed = _answers(context, raw, f"{where}, column {answers_col!r}", False, problems)
        if placed is None:
            continue
        questions.append(question)
        contexts.append(context)
        answers.append(placed)
    if not questions:
        raise DataError(table.path, "no usable row"
                        + (":" + _listed(problems) if problems else " (the file has no rows)")
                        + f"\n\nEach row needs a {context_col!r}, a {question_col!r} and answers in {answers_col!r} "
                          "found in the context (at their start, when one is given).")
    notes = _problem_notes(table.path.name, problems, "row", len(table.rows) - len(questions))
    return _Read(QASplit(questions, contexts=contexts, answers=answers), notes, problems)


# -- the qa_file component ------------------------------------------------------------------------

QA_FILE_PARAMS: tuple[Param, ...] = (
    Param("path", "path", "", "The questions: SQuAD v1.1/v2.0 JSON, or a CSV, TSV, JSONL, Parquet or Arrow file with context, question and answers columns (text files plain or .gz).", sweepable=False, label="File", essential=True),
    Param("dataset", "str", "", "Instead of a file: a Hugging Face dataset folder written by save_to_disk, or a hub name such as squad (needs network). Its validation split is used.", sweepable=False, label="HF dataset"),
    Param("format", "str", "auto", "File format; auto: SQuAD JSON when the file is one object with a data list, else from the suffix.", choices=QA_FORMATS, sweepable=False, label="Format"),
    Param("header", "str", "auto", "Does a CSV/TSV file's first row name the columns?", choices=HEADER_CHOICES, sweepable=False, label="Header row"),
    Param("context_column", "str", "", "Column holding the context (empty: context/passage/paragraph/document).", sweepable=False, label="Context column", essential=True),
    Param("question_column", "str", "", "Column holding the question (empty: question/query).", sweepable=False, label="Question column", essential=True),
    Param("answers_column", "str", "", "Column holding the answers: SQuAD's {\"text\": [...], \"answer_start\": [...]}, a list of them, or the answer text (empty: answers/answer/answer_text). An empty cell: no answer.", sweepable=False, label="Answers column", essential=True),
    Param("answer_start_column", "str", "", "With an answer text column: the column of its first character in the context (empty: answer_start if there is one, else the answer's first occurrence).", sweepable=False, label="Answer start column"),
    Param("validation_path", "path", "", "A separate validation file in the same format (empty: split validation off the training file by context).", sweepable=False, label="Validation file", essential=True),
    Param("val_fraction", "float", 0.1, "Share of the contexts (with all their questions) held out for validation when no validation file is given.", low=0.01, high=0.5, sweepable=False, label="Validation share"),
    Param("max_examples", "int", None, "Train on at most this many questions, picked with the seed (null: all). Validation is unaffected.", low=1, high=100_000_000, optional=True, sweepable=False, label="Max questions"),
)


def read_questions(source: str | Path | Table, p: dict[str, Any]) -> _Read:
    """A file (SQuAD JSON or a table) or an already read table, as questions."""
    if isinstance(source, Table):
        return read_qa_table(source, p)
    fmt = p["format"]
    if fmt == "squad" or (fmt == "auto" and str(source).lower().endswith((".json", ".json.gz"))
                          and is_squad(read_text(source)[:400])):
        return read_squad(source)
    return read_qa_table(read_table(source, fmt, p["header"]), p)


def _by_context(data: QASplit, val_fraction: float, seed: int) -> tuple[QASplit, QASplit]:
    """Training and validation questions, whole contexts to one side."""
    order: dict[str, int] = {}
    for c in data.contexts:
        order.setdefault(c, len(order))
    _, va, _ = split_indices(len(order), val_fraction, 0.0, seed)
    held = set(va)
    side = [order[c] in held for c in data.contexts]
    return (data.part([i for i, v in enumerate(side) if not v]), data.part([i for i, v in enumerate(side) if v]))


def _counts(split: QASplit) -> str:
    unanswerable = sum(1 for a in split.answers if not a)
    return (f"{len(split):,} questions on {len(set(split.contexts)):,} contexts"
            + (f" ({unanswerable:,} unanswerable)" if unanswerable else ""))


@DATASETS.register(
    "qa_file", label="Your questions", params=QA_FILE_PARAMS, tasks=("qa",),
    help="Your own questions: SQuAD v1.1/v2.0 JSON, or CSV/TSV/JSONL/Parquet/Arrow or a Hugging Face dataset "
         "with context, question and answers columns",
)
def qa_file(params: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    """Load questions from a file (or Hugging Face dataset), with a validation file or share."""
    p = validate_params(QA_FILE_PARAMS, {k: v for k, v in params.items() if k != "name"}, "data")
    if bool(p["dataset"].strip()) == bool(p["path"].strip()):
        raise ConfigError("data.path", p["path"], "either data.path (a SQuAD JSON, CSV, TSV, JSONL, Parquet or "
                          "Arrow file) or data.dataset (a save_to_disk folder or hub name)",
                          reason="both given" if p["path"] else "missing")
    notes: list[str] = []
    validation: QASplit | None = None
    if p["dataset"].strip():
        tables = load_splits(p["dataset"])[1]
        read = read_qa_table(tables["train"], p)
        if "validation" in tables:
            val_read = read_qa_table(tables["validation"], p)
            validation, notes = val_read.split, val_read.notes
        where = p["dataset"]
    else:
        read = read_questions(p["path"], p)
        where = Path(p["path"]).name
        if p["validation_path"]:
            val_read = read_questions(p["validation_path"], p)
            validation, notes = val_read.split, val_read.notes
    train = read.split
    notes = read.notes + notes
    if validation is None:
        if len(set(train.contexts)) < 2:
            # Mistakes that left one context are the likelier cause: named first.
            mistakes = f"mistakes:{_listed(read.problems)}\n\nWhat is left: " if read.problems else ""
            raise DataError(p["path"] or p["dataset"], mistakes + "all questions share one context, so none can "
                            "be held out for validation; add contexts or give data.validation_path")
        train, validation = _by_context(train, p["val_fraction"], seed)
        notes.append(f"validation: {len(validation):,} questions on {len(set(validation.contexts)):,} contexts "
                     f"split off {where} (seed {seed})")
    if p["max_examples"] is not None and p["max_examples"] < len(train):
        keep = np.sort(np.random.default_rng([seed, 1]).choice(len(train), size=p["max_examples"], replace=False))
        notes.append(f"training capped at {p['max_examples']:,} of {len(train):,} questions (max_examples)")
        train = train.part(keep.tolist())
    return DatasetSplits(
        task=task, train=train, validation=validation,
        description=f"{where}: {_counts(train)} for training, {_counts(validation)} for validation",
        notes=notes,
    )


# -- the built-in set -----------------------------------------------------------------------------

# (fact, its answer's field, question wordings); the facts are the briefs set's own sentences.
QUESTIONS = (
    (news._WHO, "p", ("who {did} the {e} ?", "which person {did} the {e} ?")),
    (news._WHERE, "c", ("where was the {e} held ?", "in which city did the {e} take place ?")),
    (news._WHEN, "d", ("on which day was the {e} ?", "when did the {e} happen ?")),
    (news._HOW, "o", ("how was the {e} described ?", "what did people call the {e} ?")),
)

NEWS_QA_PARAMS: tuple[Param, ...] = (
    Param("n_documents", "int", 1000, "Generated news items; each gets a question on each fact of each of its events.", low=50, high=250_000, log=True, sweepable=False, label="Documents", essential=True),
    Param("events", "int", 1, "Events each item reports, each with its four facts. With two or more a reader must match the question's event to its sentences, as it must to tell passages apart when asking over a collection; the default tiny reader then needs far more steps (F1 ~35 after 600).", low=1, high=5, sweepable=False, label="Events per item", essential=True),
    Param("noise_sentences", "int", 3, "Sentences about other people, places and days mixed into each item.", low=0, high=10, sweepable=False, label="Distractor sentences", essential=True),
    Param("unanswerable", "float", 0.0, "Share of questions asked about an event the item does not report (SQuAD 2.0 style: the right answer is none).", low=0.0, high=0.5, sweepable=False, label="Unanswerable share"),
    *_fraction_params(),
    _DATA_SEED,
)


def news_item(rng: np.random.Generator, noise: int, unanswerable: float,
              events: int = 1) -> tuple[str, list[str], list[list[Answer]]]:
    """One generated item: its text (``events`` events, each its four facts, shuffled among
    ``noise`` distractors), a question on each fact and each question's answers."""
    def pick(options: tuple[Any, ...]) -> Any:
        return options[int(rng.integers(len(options)))]

    def distinct(options: tuple[str, ...]) -> list[str]:  # one each, so every answer is one word
        return [options[i] for i in rng.choice(len(options), size=events, replace=False)]

    chosen = [news.EVENTS[i] for i in rng.choice(len(news.EVENTS), size=events, replace=False)]
    kinds = {"p": distinct(news.PEOPLE), "c": distinct(news.CITIES), "d": distinct(news.DAYS),
             "o": distinct(news.OUTCOMES)}
    sentences: list[tuple[str, tuple[int, str]]] = []
    for k, (event, did, done) in enumerate(chosen):
        words = {key: values[k] for key, values in kinds.items()} | {"e": event, "did": did, "done": done}
        sentences += [(pick(templates).format(**words), (k, key)) for templates, key, _ in QUESTIONS]
    others = tuple(x for x in news.PEOPLE if x not in kinds["p"])
    elsewhere = tuple(x for x in news.CITIES if x not in kinds["c"])
    sentences += [(pick(news._NOISE).format(p2=pick(others), c2=pick(elsewhere), w=pick(news.WEATHER),
                                            d2=pick(news.DAYS)), (-1, "")) for _ in range(noise)]
    starts: dict[tuple[int, str], int] = {}
    at = 0
    parts = []
    for i in rng.permutation(len(sentences)).tolist():
        sentence, (k, key) = sentences[i]
        if key:  # the answer is the fact's one word of its kind
            found = re.search(rf"\b{re.escape(kinds[key][k])}\b", sentence)
            assert found is not None
            starts[(k, key)] = at + found.start()
        parts.append(sentence)
        at += len(sentence) + 1
    context = " ".join(parts)
    questions: list[str] = []
    answers: list[list[Answer]] = []
    absent = tuple(e for e in news.EVENTS if e not in chosen)
    for k, (event, did, _) in enumerate(chosen):
        for _, key, wordings in QUESTIONS:
            if rng.random() < unanswerable:  # asked about another event: this item does not say
                other, other_did, _ = pick(absent)
                questions.append(pick(wordings).format(e=other, did=other_did))
                answers.append([])
            else:
                questions.append(pick(wordings).format(e=event, did=did))
                answers.append([(kinds[key][k], starts[(k, key)])])
    return context, questions, answers


@_register("news_qa", NEWS_QA_PARAMS, tasks=("qa",), size="4,000 questions", label="Questions on news items",
           help="Short made-up news items, each about one event among unrelated sentences, with a question on each "
                "fact: who, where, on which day, how it went; the answer is a word of the item (offline)")
def news_qa(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    rng = np.random.default_rng([p["data_seed"], 616])
    items = [news_item(rng, p["noise_sentences"], p["unanswerable"], p["events"]) for _ in range(p["n_documents"])]
    # Split by item and data_seed: runs that differ only in seed score the same questions, and no
    # validation item is read in training.
    tr, va, te = split_indices(len(items), p["val_fraction"], p["test_fraction"], p["data_seed"])

    def part(index: list[int]) -> QASplit:
        chosen = [items[i] for i in index]
        return QASplit([q for _, qs, _ in chosen for q in qs],
                       contexts=[c for c, qs, _ in chosen for _ in qs],
                       answers=[a for _, _, answers in chosen for a in answers])

    return DatasetSplits(
        task=task, train=part(tr), validation=part(va), test=part(te) if te else None,
        description=(f"news_qa: {len(items):,} generated news items ({p['events']} event{'s' * (p['events'] > 1)}, "
                     f"{4 * p['events'] + p['noise_sentences']} sentences, facts among distractors), a question on "
                     "each fact (who, where, which day, how it went)"
                     + (f", {p['unanswerable']:.0%} about an event the item does not report" if p["unanswerable"] else "")),
    )
