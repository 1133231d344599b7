"""From a file to records: CSV / TSV / JSON lines / plain text parsing, column detection,
label sorting, the labelled and corpus views the datasets use, and file previews.

Every problem a person can fix in the file raises :class:`DataError` naming the file and,
where there is one, the line as an editor counts it (1-based; the header is line 1).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.data.reading import MB, read_str, read_text, split_lines
from core.errors import ConfigError, DataError

FORMATS = ("auto", "csv", "tsv", "jsonl", "txt")
TEXT_COLUMNS = (
    "text", "sentence", "review", "content", "document", "body", "utterance", "question",
    "comment", "tweet", "message", "sentence1", "input",
)
LABEL_COLUMNS = (
    "label", "labels", "class", "category", "sentiment", "target", "y", "polarity", "stars",
    "rating", "output",
)
# A long document in one CSV cell must not trip the csv module's 128 KiB default field limit;
# the file-size limit (core.data.reading.MAX_FILE_MB) is the real guard.
csv.field_size_limit(2**31 - 1)

_SUFFIX_FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "jsonl", ".txt": "txt", ".text": "txt",
}

# -- records ----------------------------------------------------------------------------------

@dataclass
class _Table:
    path: Path
    fmt: str
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int | None] = field(default_factory=list)  # the line each row starts on


def detect_format(path: str | Path, text: str | None = None) -> str:
    """csv / tsv / jsonl / txt from the suffix (``.gz`` stripped), else from the content."""
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    fmt = _SUFFIX_FORMATS.get(Path(name).suffix)
    if fmt is not None or text is None:
        return fmt or "txt"
    # Unknown suffix: a cheap look at the first line rather than guessing from the name.
    first = text.lstrip("\ufeff \t\r\n")[:1]
    header = text.split("\n", 1)[0]
    if first in ("{", "["):
        return "jsonl"
    if "\t" in header:
        return "tsv"
    return "txt"


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt == "json":
        return "jsonl"
    if fmt not in FORMATS:
        raise ConfigError("data.format", fmt, "one of " + ", ".join(FORMATS))
    return fmt


def _header(path: Path, fields: list[str]) -> list[str]:
    names: list[str] = []
    for i, raw in enumerate(fields):
        name = raw.strip() or f"column{i + 1}"  # e.g. a spreadsheet's unnamed index column
        if name in names:
            raise DataError(path, f"column {name!r} appears twice in the header", 1)
        names.append(name)
    return names


def _parse_delimited(path: Path, text: str, fmt: str) -> _Table:
    if fmt == "tsv":
        # Tabs only, no quoting: SST-2 style sentences contain bare quote characters.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        first = text.split("\n", 1)[0]
        # Spreadsheets in some locales write ';' separated "CSV".
        delim = ";" if "," not in first and ";" in first else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    columns: list[str] | None = None
    rows: list[dict[str, str]] = []
    lines: list[int | None] = []
    start = header_line = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if columns is None:
                columns = _header(path, fields)
                header_line = line
                continue
            if len(fields) != len(columns):
                sep = "tab" if fmt == "tsv" else "comma"
                raise DataError(
                    path,
                    f"row has {len(fields)} fields but the header (line {header_line}) has "
                    f"{len(columns)}; check for a stray or missing {sep}"
                    + (" or an unquoted comma" if fmt == "csv" else ""),
                    line,
                )
            rows.append(dict(zip(columns, fields, strict=True)))
            lines.append(line)
    except csv.Error as exc:
        hint = str(exc)
        if "unexpected end of data" in hint:
            hint = "a quoted field starting in this row is never closed"
        raise DataError(path, f"CSV syntax error in the row starting here: {hint}", start) from None
    if columns is None:
        raise DataError(path, "file is empty")
    return _Table(path, fmt, columns, rows, lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _parse_json(path: Path, text: str) -> _Table:
    objects: list[tuple[int | None, Any]] = []
    if text.lstrip("\ufeff \t\r\n").startswith("["):
        # A JSON array of objects (what many tools call ".json").
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
        objects = [(None, obj) for obj in data]
    else:
        for i, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                objects.append((i, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(
                    path, f"invalid JSON: {exc.msg} (column {exc.colno}); each line must be one JSON object", i
                ) from None
    columns: list[str] = []
    seen: set[str] = set()
    for k, (line, obj) in enumerate(objects, start=1):
        if not isinstance(obj, dict):
            where = "" if line is not None else f" (item {k} of the file's array; each line may also be one object)"
            raise DataError(path, f"expected a JSON object like {{\"text\": ...}}, got {type(obj).__name__}{where}", line)
        for key in obj:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    rows = [{c: _cell(obj.get(c)) for c in columns} for _, obj in objects]
    return _Table(path, "jsonl", columns, rows, [line for line, _ in objects])


def _parse_txt(path: Path, text: str) -> _Table:
    rows: list[dict[str, str]] = []
    lines: list[int | None] = []
    for i, line in enumerate(split_lines(text), start=1):
        if line.strip():  # blank lines separate paragraphs; they are not examples
            rows.append({"text": line})
            lines.append(i)
    return _Table(path, "txt", ["text"], rows, lines)


def _read_table(path: str | Path, fmt: str = "auto", max_bytes: int | None = None) -> _Table:
    p, text = read_str(path, max_bytes)
    fmt = _check_format(fmt)
    if fmt == "auto":
        fmt = detect_format(p, text)
    if fmt in ("csv", "tsv"):
        table = _parse_delimited(p, text, fmt)
    elif fmt == "jsonl":
        table = _parse_json(p, text)
    else:
        table = _parse_txt(p, text)
    if not table.rows:
        raise DataError(p, "has a header but no data rows" if fmt in ("csv", "tsv") else "no examples in the file")
    return table


def read_records(
    path: str | Path, fmt: str = "auto", max_bytes: int | None = None
) -> tuple[list[str], list[dict[str, str]]]:
    """Read a CSV / TSV / JSONL / TXT file (plain or .gz) into ``(columns, rows)``.

    Every cell is a string (JSON numbers become their text, e.g. ``1``); a ``.txt`` file has the
    single column ``text`` with one row per non-blank line.
    """
    table = _read_table(path, fmt, max_bytes)
    return table.columns, table.rows


# -- columns and labels -----------------------------------------------------------------------

def _find_column(
    path: Path, columns: Sequence[str], explicit: str, candidates: Sequence[str], what: str,
    exclude: str | None = None,
) -> str | None:
    if explicit:
        if explicit in columns:
            return explicit
        for c in columns:
            if c.lower() == explicit.lower():
                return c
        raise DataError(path, f"no {what} column {explicit!r}; the columns are {_list(columns)}")
    by_lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in by_lower and by_lower[name] != exclude:
            return by_lower[name]
    return None


def _list(columns: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def detect_columns(
    path: str | Path, columns: Sequence[str], text_column: str = "", label_column: str = "",
) -> tuple[str | None, str | None]:
    """(text column, label column) by header name; an explicit name must exist.

    With two columns and only the label recognised, the other one is the text.
    """
    p = Path(path)
    label = _find_column(p, columns, label_column, LABEL_COLUMNS, "label")
    text = _find_column(p, columns, text_column, TEXT_COLUMNS, "text", exclude=label)
    if len(columns) == 2 and text is None and label is not None:
        # Not the other way round: guessing a label column ("id"?) fails silently, while a
        # wrong text column is obvious at once.
        text = next(c for c in columns if c != label)
    if text is not None and text == label:
        raise DataError(p, f"column {text!r} cannot be both the text and the label")
    return text, label


def _undetected(path: Path, columns: Sequence[str], what: str, param: str, names: Sequence[str]) -> DataError:
    return DataError(
        path,
        f"cannot tell which column holds the {what}; the columns are {_list(columns)}. "
        f"Name it with data.{param}=..., or call it one of: {', '.join(names[:8])}. "
        "(The first line is read as the header.)",
    )


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def sort_labels(raw: Iterable[str]) -> list[str]:
    """Distinct labels, numerically when all are numbers (so "2" < "10"), else alphabetically."""
    distinct = set(raw)
    numbers = {lab: _number(lab) for lab in distinct}
    if all(v is not None for v in numbers.values()):
        return sorted(distinct, key=lambda lab: (numbers[lab], lab))
    return sorted(distinct)


@dataclass
class Labeled:
    path: Path
    texts: list[str]
    labels: list[str]
    lines: list[int | None]
    text_column: str
    label_column: str
    notes: list[str]


def _skip_note(count: int, what: str, first: int | None, path: Path) -> str:
    where = f" (first at line {first})" if first is not None else ""
    return f"skipped {count} {what} in {path.name}{where}"


def load_labeled(path: str | Path, fmt: str, text_column: str, label_column: str) -> Labeled:
    table = _read_table(path, fmt)
    if table.fmt == "txt":
        raise DataError(
            table.path, "a plain text file has no labels; use CSV, TSV or JSONL with a label column"
        )
    text_col, label_col = detect_columns(table.path, table.columns, text_column, label_column)
    if text_col is None:
        raise _undetected(table.path, table.columns, "text", "text_column", TEXT_COLUMNS)
    if label_col is None:
        raise _undetected(table.path, table.columns, "labels", "label_column", LABEL_COLUMNS)
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int | None] = []
    empty_text: list[int | None] = []
    empty_label: list[int | None] = []
    for row, line in zip(table.rows, table.lines, strict=True):
        text, label = row[text_col], row[label_col].strip()
        if not text.strip():
            empty_text.append(line)
        elif not label:
            empty_label.append(line)
        else:
            texts.append(text)
            labels.append(label)
            lines.append(line)
    notes: list[str] = []
    if empty_text:
        notes.append(_skip_note(len(empty_text), "empty rows", empty_text[0], table.path))
    if empty_label:
        notes.append(_skip_note(len(empty_label), "rows with no label", empty_label[0], table.path))
    if not texts:
        raise DataError(table.path, f"every row has an empty {text_col!r} or {label_col!r} cell")
    return Labeled(table.path, texts, labels, lines, text_col, label_col, notes)


def load_corpus(path: str | Path, fmt: str, text_column: str) -> tuple[Path, str, str | None]:
    """(path, text, column) for language modelling; tables join their text column by lines."""
    fmt = _check_format(fmt)
    p = Path(path).expanduser()
    if fmt == "txt" or (fmt == "auto" and detect_format(p) == "txt" and not text_column):
        # .txt and unknown suffixes: the whole file is the corpus, blank lines and all.
        return p, read_text(p), None
    table = _read_table(p, fmt)
    if table.fmt == "txt":
        return p, read_text(p), None
    text_col, _ = detect_columns(table.path, table.columns, text_column, "")
    if text_col is None and len(table.columns) == 1:
        text_col = table.columns[0]
    if text_col is None:
        raise _undetected(table.path, table.columns, "text", "text_column", TEXT_COLUMNS)
    text = "\n".join(r[text_col] for r in table.rows if r[text_col].strip())
    if not text:
        raise DataError(table.path, f"column {text_col!r} is empty in every row")
    return p, text, text_col


def describe_file(path: str | Path, fmt: str = "auto", preview: int = 5) -> dict[str, Any]:
    """What the data page shows before training: columns, detected columns, counts, first rows."""
    table = _read_table(path, fmt)
    text_col, label_col = (
        detect_columns(table.path, table.columns) if table.fmt != "txt" else ("text", None)
    )
    if text_col is None and len(table.columns) == 1:
        text_col = table.columns[0]
    label_counts: dict[str, int] | None = None
    if label_col is not None:
        counts = Counter(r[label_col].strip() for r in table.rows if r[label_col].strip())
        label_counts = {lab: counts[lab] for lab in sort_labels(counts)}
    return {
        "path": str(table.path),
        "format": table.fmt,
        "size_mb": round(table.path.stat().st_size / MB, 3),
        "columns": list(table.columns),
        "rows": len(table.rows),
        "text_column": text_col,
        "label_column": label_col,
        "label_counts": label_counts,
        "preview": [{k: _clip(v) for k, v in row.items()} for row in table.rows[:preview]],
    }


def _clip(cell: Any, limit: int = 300) -> Any:
    """A preview cell cut to ``limit`` characters (one cell may hold a whole book)."""
    return cell[:limit] + f"… ({len(cell):,} characters)" if isinstance(cell, str) and len(cell) > limit else cell


