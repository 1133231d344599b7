"""Which columns hold the text and the labels: by header name, by position (``2`` is the second
column), several text columns at once (``title,description``), and, for a file without a header
row, a guess from the content (the column repeating the fewest short values is the label, never
one with a new value on every row such as an id; the column of the longest text is the text),
so AG News style files work without naming anything.

Also the header question itself: does a CSV/TSV file's first row name the columns?
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.errors import DataError

TEXT_COLUMNS = (
    "text", "sentence", "review", "content", "document", "body", "utterance", "question",
    "comment", "tweet", "message", "sentence1", "input",
)
LABEL_COLUMNS = (
    "label", "labels", "class", "category", "sentiment", "target", "y", "polarity", "stars",
    "rating", "output",
)
HEADER_CHOICES = ("auto", "yes", "no")


def positional_names(count: int) -> list[str]:
    """Names for the columns of a file without a header row: column1, column2, ..."""
    return [f"column{i + 1}" for i in range(count)]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def has_header(first: Sequence[str], rest: Sequence[Sequence[str]]) -> bool | None:
    """Does ``first`` (a CSV/TSV row) name the columns? None when the rows cannot tell.

    Names are known words (text, label...), are never numbers and never whole sentences; a
    column of numbers under a word is a header (as csv.Sniffer reasons).
    """
    cells = [c.strip() for c in first]
    if any(c.lower() in TEXT_COLUMNS or c.lower() in LABEL_COLUMNS for c in cells):
        return True
    if any(c and _number(c) is not None for c in cells):
        return False
    sample = [r for r in rest[:50] if len(r) == len(cells)]
    columns = [[r[i].strip() for r in sample if r[i].strip()] for i in range(len(cells))]
    for cell, values in zip(cells, columns, strict=True):
        if values and cell and all(_number(v) is not None for v in values):
            return True
    for cell, values in zip(cells, columns, strict=True):
        # A sentence like the sentences below it is data; a long name over short answers (a
        # survey's question) is a header.
        if len(cell) > 40 or len(cell.split()) > 5:
            lengths = sorted(len(v) for v in values)
            if not lengths or lengths[len(lengths) // 2] >= len(cell) / 2:
                return False
    return None


def _list(columns: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def resolve_column(path: Path, columns: Sequence[str], ref: str, field: str) -> str:
    """The column ``ref`` names: a name (case-insensitive), else a 1-based position."""
    ref = ref.strip()
    if ref in columns:
        return ref
    for c in columns:
        if c.lower() == ref.lower():
            return c
    if ref.isdigit():
        position = int(ref)
        if 1 <= position <= len(columns):
            return columns[position - 1]
        raise DataError(path, f"{field} = {ref}: position out of range; the file has {len(columns)} "
                              f"columns (1 to {len(columns)}): {_list(columns)}")
    raise DataError(path, f"{field} = {ref!r}: no such column; the columns are {_list(columns)} "
                          "(or give a position, 1 for the first)")


def resolve_columns(path: Path, columns: Sequence[str], refs: str, field: str) -> list[str]:
    """Several comma-separated column references (``title,description`` or ``2,3``)."""
    parts = [r for r in refs.split(",") if r.strip()]
    if refs in columns or not parts:  # a name that itself contains a comma
        parts = [refs]
    return [resolve_column(path, columns, r, field) for r in parts]


def _find_named(columns: Sequence[str], candidates: Sequence[str], exclude: Sequence[str]) -> str | None:
    by_lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in by_lower and by_lower[name] not in exclude:
            return by_lower[name]
    return None


LABEL_MAX_CHARS = 40  # a label is a word or a short phrase; longer cells are free text
LABEL_MAX_WORDS = 5


def _median(values: Sequence[int]) -> float:
    ordered = sorted(values)
    return float(ordered[len(ordered) // 2]) if ordered else 0.0


def _label_score(values: Sequence[str]) -> tuple[bool, float]:
    """(could these cells be class labels, share of distinct values among them). A label column
    repeats its values: not one value on every row (no classes), not a new value on every row
    (an id), not more distinct values than half its rows, and not free text."""
    distinct = len(set(values))
    share = distinct / max(1, len(values))
    plausible = (
        len(values) >= 2 and 2 <= distinct < len(values) and distinct <= min(1000, max(2, len(values) // 2))
        and _median([len(v) for v in values]) <= LABEL_MAX_CHARS
        and _median([len(v.split()) for v in values]) <= LABEL_MAX_WORDS
    )
    return plausible, share


def rank_label_columns(columns: Sequence[str], rows: Sequence[dict[str, str]],
                       exclude: Sequence[str] = ()) -> list[tuple[str, bool]]:
    """Every column not in ``exclude`` as (name, could it be the label), best label first: the
    plausible ones (see :func:`_label_score`) by their share of distinct values, fewest first,
    then the rest in the same order. Ties keep the file's column order."""
    sample = rows[:2000]
    scored = []
    for position, c in enumerate(columns):
        if c in exclude:
            continue
        plausible, share = _label_score([v for r in sample if (v := (r.get(c) or "").strip())])
        scored.append((not plausible, share, position, c))
    return [(c, not implausible) for implausible, _, _, c in sorted(scored)]


def guess_label(columns: Sequence[str], rows: Sequence[dict[str, str]], exclude: Sequence[str] = ()) -> str | None:
    """The column most likely to hold the labels (:func:`rank_label_columns`); None when no
    column repeats a few short values."""
    ranked = rank_label_columns(columns, rows, exclude)
    return ranked[0][0] if ranked and ranked[0][1] else None


def guess_by_content(columns: Sequence[str], rows: Sequence[dict[str, str]],
                     exclude: Sequence[str] = ()) -> tuple[str | None, str | None]:
    """(text, label) from the cells: the label is the column repeating the fewest short values
    (:func:`guess_label`); the text is the longest other column that is not all numbers."""
    sample = rows[:500]
    label = guess_label(columns, rows, exclude)
    lengths = {
        c: sum(len(r[c]) for r in sample) / max(1, len(sample))
        for c in columns if c != label and c not in exclude
        and not all(_number(r[c]) is not None for r in sample if r[c].strip())
    }
    text = max(lengths, key=lambda c: lengths[c]) if lengths else None
    return text, label


def detect_columns(
    path: str | Path, columns: Sequence[str], text_column: str = "", label_column: str = "",
    rows: Sequence[dict[str, str]] | None = None,
) -> tuple[str | None, str | None]:
    """(text column, label column): explicit references first (a name or a position, which must
    exist), then header names; with ``rows`` (a file without a header), the content decides.

    With two columns and only the label recognised, the other one is the text. A text reference
    naming several columns returns the first; :func:`resolve_columns` gives them all.
    """
    p = Path(path)
    label = resolve_column(p, columns, label_column, "data.label_column") if label_column else None
    named = resolve_columns(p, columns, text_column, "data.text_column") if text_column else []
    text = named[0] if named else None
    if rows is not None:
        guess_text, guess_label = guess_by_content(columns, rows, exclude=named)
        label = label or guess_label
        if text is None:
            text = guess_text if guess_text != label else None
    if label is None:
        label = _find_named(columns, LABEL_COLUMNS, [text] if text else [])
    if text is None:
        text = _find_named(columns, TEXT_COLUMNS, [label] if label else [])
    if len(columns) == 2 and text is None and label is not None:
        # Not the other way round: guessing a label column ("id"?) fails silently, while a
        # wrong text column is obvious at once.
        text = next(c for c in columns if c != label)
    if text is not None and text == label:
        raise DataError(p, f"column {text!r} cannot be both the text and the label")
    return text, label


def undetected(path: Path, columns: Sequence[str], what: str, param: str, names: Sequence[str]) -> DataError:
    return DataError(
        path,
        f"cannot tell which column holds the {what}; the columns are {_list(columns)}. "
        f"Name it with data.{param}=... (a name or a position, 1 for the first), or call it one of: "
        f"{', '.join(names[:8])}. (The first line is read as the header; data.header=no says it is data.)",
    )
