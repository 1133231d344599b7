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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.data.arrow import read_arrow_file
from core.data.columns import (
    HEADER_CHOICES,
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    detect_columns,
    has_header,
    positional_names,
    resolve_columns,
    undetected,
)
from core.data.reading import MB, read_str, read_text, split_lines
from core.data.table import Table, cell_text
from core.data.types import PAIR_MARK
from core.errors import ConfigError, DataError

FORMATS = ("auto", "csv", "tsv", "jsonl", "txt", "parquet", "arrow")
__all__ = ["FORMATS", "LABEL_COLUMNS", "TEXT_COLUMNS", "detect_columns"]
# A long document in one CSV cell must not trip the csv module's 128 KiB default field limit;
# the file-size limit (core.data.reading.MAX_FILE_MB) is the real guard.
csv.field_size_limit(2**31 - 1)

_SUFFIX_FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "jsonl", ".txt": "txt", ".text": "txt", ".parquet": "parquet", ".arrow": "arrow",
    ".feather": "arrow",
}
BINARY_FORMATS = ("parquet", "arrow")  # read through the datasets library (core/data/arrow.py)

# -- records ----------------------------------------------------------------------------------

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


def _check_header(header: str) -> str:
    if header not in HEADER_CHOICES:
        raise ConfigError("data.header", header, "one of " + ", ".join(HEADER_CHOICES))
    return header


def _parse_delimited(path: Path, text: str, fmt: str, header: str = "auto") -> Table:
    if fmt == "tsv":
        # Tabs only, no quoting: SST-2 style sentences contain bare quote characters.
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        first_line = text.split("\n", 1)[0]
        # Spreadsheets in some locales write ';' separated "CSV".
        delim = ";" if "," not in first_line and ";" in first_line else ","
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            records.append((line, fields))
    except csv.Error as exc:
        hint = str(exc)
        if "unexpected end of data" in hint:
            hint = "a quoted field starting in this row is never closed"
        raise DataError(path, f"CSV syntax error in the row starting here: {hint}", start) from None
    if not records:
        raise DataError(path, "file is empty")
    header_line, first = records[0]
    named = {"yes": True, "no": False}.get(_check_header(header))
    if named is None:  # auto: a header unless the rows say otherwise (today's reading)
        named = has_header(first, [f for _, f in records[1:]]) is not False
    columns = _header(path, first) if named else positional_names(len(first))
    what = f"the header (line {header_line})" if named else f"the first row (line {header_line})"
    rows: list[dict[str, str]] = []
    lines: list[int | None] = []
    for line, fields in records[1:] if named else records:
        if len(fields) != len(columns):
            sep = "tab" if fmt == "tsv" else "comma"
            raise DataError(
                path,
                f"row has {len(fields)} fields but {what} has {len(columns)}; check for a stray "
                f"or missing {sep}" + (" or an unquoted comma" if fmt == "csv" else ""),
                line,
            )
        rows.append(dict(zip(columns, fields, strict=True)))
        lines.append(line)
    return Table(path, fmt, columns, rows, lines, header=named)


def _parse_json(path: Path, text: str) -> Table:
    objects: list[tuple[int | None, Any]] = []
    if text.lstrip("\ufeff \t\r\n").startswith("["):
        # A JSON array of objects (what many tools call ".json").
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
        objects = [(None, obj) for obj in data]
    else:
        for i, text_line in enumerate(text.split("\n"), start=1):
            if not text_line.strip():
                continue
            try:
                objects.append((i, json.loads(text_line)))
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
    rows = [{c: cell_text(obj.get(c)) for c in columns} for _, obj in objects]
    return Table(path, "jsonl", columns, rows, [line for line, _ in objects])


def _parse_txt(path: Path, text: str) -> Table:
    rows: list[dict[str, str]] = []
    lines: list[int | None] = []
    for i, line in enumerate(split_lines(text), start=1):
        if line.strip():  # blank lines separate paragraphs; they are not examples
            rows.append({"text": line})
            lines.append(i)
    return Table(path, "txt", ["text"], rows, lines)


def _read_table(path: str | Path, fmt: str = "auto", max_bytes: int | None = None,
                header: str = "auto") -> Table:
    fmt = _check_format(fmt)
    binary = fmt if fmt in BINARY_FORMATS else detect_format(path) if fmt == "auto" else ""
    if binary in BINARY_FORMATS:
        return read_arrow_file(path, binary, max_bytes)
    p, text = read_str(path, max_bytes)
    if fmt == "auto":
        fmt = detect_format(p, text)
    if fmt in ("csv", "tsv"):
        table = _parse_delimited(p, text, fmt, header)
    elif fmt == "jsonl":
        table = _parse_json(p, text)
    else:
        table = _parse_txt(p, text)
    if not table.rows:
        raise DataError(p, "has a header but no data rows" if fmt in ("csv", "tsv") else "no examples in the file")
    return table


def read_table(path: str | Path, fmt: str = "auto", header: str = "auto") -> Table:
    """The whole parsed file (columns, rows, header or not), for the dataset components."""
    return _read_table(path, fmt, header=header)


def read_records(
    path: str | Path, fmt: str = "auto", max_bytes: int | None = None, header: str = "auto"
) -> tuple[list[str], list[dict[str, str]]]:
    """Read a CSV / TSV / JSONL / TXT / Parquet / Arrow file (text ones plain or .gz) into
    ``(columns, rows)``.

    Every cell is a string (JSON numbers become their text, e.g. ``1``); a ``.txt`` file has the
    single column ``text`` with one row per non-blank line; a CSV/TSV file without a header row
    (``header``: auto detects it) has the columns ``column1``, ``column2``...
    """
    table = _read_table(path, fmt, max_bytes, header)
    return table.columns, table.rows


# -- columns and labels -----------------------------------------------------------------------

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
    texts: list[str]  # a sentence pair is one text: a + PAIR_MARK + b
    labels: list[str]
    lines: list[int | None]
    text_column: str  # several joined by commas
    label_column: str
    notes: list[str]
    class_names: list[str] | None = None  # the label column's own names (a HF ClassLabel)
    row_names: list[str] | None = None  # each row's label name (data.label_name_column)


TEXT_FIELDS = ("join", "pair")


def _skip_note(count: int, what: str, first: int | None, path: Path) -> str:
    where = f" (first at line {first})" if first is not None else ""
    return f"skipped {count} {what} in {path.name}{where}"


def text_columns(table: Table, text_column: str, exclude: str | None = None) -> list[str]:
    """The column(s) holding the text: the ones named (or numbered), else the detected one."""
    if text_column.strip():
        return resolve_columns(table.path, table.columns, text_column, "data.text_column")
    text, _ = detect_columns(table.path, table.columns, "", exclude or "",
                             rows=None if table.header else table.rows)
    if text is None and len(table.columns) == 1:
        text = table.columns[0]
    if text is None:
        raise undetected(table.path, table.columns, "text", "text_column", TEXT_COLUMNS)
    return [text]


def load_labeled(
    source: str | Path | Table, fmt: str = "auto", text_column: str = "", label_column: str = "", *,
    header: str = "auto", text_fields: str = "join", separator: str = " ", label_name_column: str = "",
) -> Labeled:
    """Texts and their labels from a file (or a table already read). Several text columns are
    joined with ``separator``, or kept as a sentence pair (``text_fields="pair"``)."""
    table = source if isinstance(source, Table) else _read_table(source, fmt, header=header)
    if table.fmt == "txt":
        raise DataError(
            table.path, "a plain text file has no labels; use CSV, TSV or JSONL with a label column"
        )
    first_text, label_col = detect_columns(table.path, table.columns, text_column, label_column,
                                           rows=None if table.header else table.rows)
    if label_col is None:
        raise undetected(table.path, table.columns, "labels", "label_column", LABEL_COLUMNS)
    text_cols = text_columns(table, text_column, exclude=label_col) if text_column or first_text is None \
        else [first_text]
    if label_col in text_cols:
        raise DataError(table.path, f"column {label_col!r} cannot be both the text and the label")
    if text_fields not in TEXT_FIELDS:
        raise ConfigError("data.text_fields", text_fields, "one of " + ", ".join(TEXT_FIELDS))
    if text_fields == "pair" and len(text_cols) != 2:
        raise ConfigError("data.text_column", text_column, "two columns, e.g. premise,hypothesis "
                          "(data.text_fields = pair)", reason=f"{len(text_cols)} column(s) for a pair")
    name_col = (resolve_columns(table.path, table.columns, label_name_column, "data.label_name_column")[0]
                if label_name_column.strip() else None)
    glue = PAIR_MARK if text_fields == "pair" else separator
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int | None] = []
    names: list[str] = []
    empty_text: list[int | None] = []
    empty_label: list[int | None] = []
    for row, line in zip(table.rows, table.lines, strict=True):
        parts, label = [row[c] for c in text_cols], row[label_col].strip()
        if not all(p.strip() for p in parts) if text_fields == "pair" else not any(p.strip() for p in parts):
            empty_text.append(line)
        elif not label:
            empty_label.append(line)
        else:
            texts.append(glue.join(p for p in parts if p.strip() or text_fields == "pair"))
            labels.append(label)
            lines.append(line)
            if name_col is not None:
                names.append(row[name_col].strip())
    notes: list[str] = []
    if empty_text:
        notes.append(_skip_note(len(empty_text), "empty rows", empty_text[0], table.path))
    if empty_label:
        notes.append(_skip_note(len(empty_label), "rows with no label", empty_label[0], table.path))
    if not table.header:
        notes.append(f"{table.path.name} has no header row: its first line is data")
    shown = ",".join(text_cols)
    if not texts:
        raise DataError(table.path, f"every row has an empty {shown!r} or {label_col!r} cell")
    return Labeled(table.path, texts, labels, lines, shown, label_col, notes,
                   class_names=table.class_names.get(label_col),
                   row_names=names if name_col is not None else None)


def load_corpus(source: str | Path | Table, fmt: str = "auto", text_column: str = "", *,
                header: str = "auto", separator: str = " ") -> tuple[Path, str, str | None]:
    """(path, text, column) for language modelling; tables join their text column(s) by lines."""
    if isinstance(source, Table):
        table = source
    else:
        fmt = _check_format(fmt)
        p = Path(source).expanduser()
        if fmt == "txt" or (fmt == "auto" and detect_format(p) == "txt" and not text_column):
            # .txt and unknown suffixes: the whole file is the corpus, blank lines and all.
            return p, read_text(p), None
        table = _read_table(p, fmt, header=header)
        if table.fmt == "txt":
            return p, read_text(p), None
    cols = text_columns(table, text_column)
    rows = (separator.join(r[c] for c in cols if r[c].strip()) for r in table.rows)
    text = "\n".join(r for r in rows if r.strip())
    if not text:
        raise DataError(table.path, f"column {','.join(cols)!r} is empty in every row")
    return table.path, text, ",".join(cols)


def describe_file(path: str | Path, fmt: str = "auto", preview: int = 5, header: str = "auto") -> dict[str, Any]:
    """What the data page shows before training: columns, detected columns, counts, first rows."""
    table = _read_table(path, fmt, header=header)
    text_col, label_col = (
        detect_columns(table.path, table.columns, rows=None if table.header else table.rows)
        if table.fmt != "txt" else ("text", None)
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
        "header": table.header,
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


