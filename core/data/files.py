"""Read the user's own data files and register the ``file`` dataset component.

Formats: CSV, TSV, JSON lines (or a JSON array of objects) and plain text, each plain or
gzip-compressed (detected by its magic bytes, whatever the suffix). Every problem a person can
fix in the file raises :class:`DataError` naming the file and, where there is one, the line as an
editor counts it (1-based; the header is line 1).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.data.splits import split_indices, split_text
from core.data.types import DatasetSplits, Split
from core.errors import ConfigError, DataError
from core.params import Param, validate_params
from core.registry import DATASETS

FORMATS = ("auto", "csv", "tsv", "jsonl", "txt")
TEXT_COLUMNS = (
    "text", "sentence", "review", "content", "document", "body", "utterance", "question",
    "comment", "tweet", "message", "sentence1", "input",
)
LABEL_COLUMNS = (
    "label", "labels", "class", "category", "sentiment", "target", "y", "polarity", "stars",
    "rating", "output",
)
_SUFFIX_FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "jsonl", ".txt": "txt", ".text": "txt",
}
_GZIP_MAGIC = b"\x1f\x8b"
_MB = 1_000_000
_DEFAULT_MAX_MB = 200.0


def _env_max_mb() -> float:
    raw = os.environ.get("LMWB_MAX_FILE_MB", "")
    if not raw.strip():
        return _DEFAULT_MAX_MB
    try:
        value = float(raw)
        if value <= 0:
            raise ValueError(raw)
        return value
    except ValueError:
        # A bad environment variable should not make the whole engine unimportable.
        warnings.warn(
            f"LMWB_MAX_FILE_MB={raw!r} is not a positive number; using {_DEFAULT_MAX_MB:g} MB",
            stacklevel=2,
        )
        return _DEFAULT_MAX_MB


# Largest file (in MB, decompressed) any loader reads. Tests monkeypatch it.
MAX_FILE_MB: float = _env_max_mb()

# A long document in one CSV cell must not trip the csv module's 128 KiB default field limit;
# the file-size limit above is the real guard.
csv.field_size_limit(2**31 - 1)


# -- raw bytes -> text ------------------------------------------------------------------------

def _limit_bytes(max_bytes: int | None) -> int:
    return int(MAX_FILE_MB * _MB) if max_bytes is None else int(max_bytes)


def _too_big(path: Path, size: int, limit: int, decompressed: bool = False) -> DataError:
    if decompressed:
        # Only the first limit + 1 bytes were read, so the true size is unknown.
        size_text = f"decompresses to more than {limit / _MB:g} MB"
    else:
        mb = size / _MB
        size_text = f"is {mb:.1f} MB" if mb >= 1 else f"is {mb:.2g} MB"
    return DataError(
        path, f"file {size_text}, over the {limit / _MB:g} MB limit (set LMWB_MAX_FILE_MB to raise it)"
    )


def _read_bytes(path: str | Path, max_bytes: int | None = None) -> tuple[Path, bytes]:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    path = Path(path).expanduser()
    limit = _limit_bytes(max_bytes)
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a folder, not a file")
    size = path.stat().st_size
    if size > limit:
        raise _too_big(path, size, limit)
    with path.open("rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == _GZIP_MAGIC:
            try:
                # Read one byte past the limit: a small .gz can hold a huge file.
                data = gzip.GzipFile(fileobj=fh).read(limit + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise DataError(path, f"not a valid gzip file ({exc})") from None
            if len(data) > limit:
                raise _too_big(path, len(data), limit, decompressed=True)
        else:
            data = fh.read()
    return path, data


def _decode(path: Path, data: bytes) -> str:
    """Strict UTF-8 (BOM allowed); a bad byte is reported with its line."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise DataError(
            path,
            f"not valid UTF-8 text (byte 0x{byte} cannot be decoded); save the file as UTF-8",
            line,
        ) from None


def _read_str(path: str | Path, max_bytes: int | None) -> tuple[Path, str]:
    p, data = _read_bytes(path, max_bytes)
    text = _decode(p, data)
    if not text.strip():
        raise DataError(p, "file is empty")
    return p, text


def read_text(path: str | Path, max_bytes: int | None = None) -> str:
    """A whole text corpus (``.txt`` or its ``.gz``), with Windows line endings made ``\\n``."""
    _, text = _read_str(path, max_bytes)
    # CRLF would put "\r" into a character vocabulary for no benefit.
    return text.replace("\r\n", "\n")


def _lines(text: str) -> list[str]:
    """Lines as an editor numbers them (``\\n`` separated, trailing ``\\r`` dropped)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start a new one
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def read_parallel(
    source_path: str | Path,
    target_path: str | Path,
    max_bytes: int | None = None,
    notes: list[str] | None = None,
) -> list[tuple[str, str]]:
    """Line-aligned translation pairs: line i of ``source_path`` translates line i of ``target_path``.

    Pairs where either side is blank are skipped (a message is appended to ``notes`` when given).
    """
    src_file, src_text = _read_str(source_path, max_bytes)
    tgt_file, tgt_text = _read_str(target_path, max_bytes)
    src, tgt = _lines(src_text), _lines(tgt_text)
    if len(src) != len(tgt):
        raise DataError(
            src_file,
            f"has {len(src)} lines but {tgt_file} has {len(tgt)}; parallel files must have the "
            "same number of lines (line i of one translates line i of the other)",
        )
    pairs: list[tuple[str, str]] = []
    skipped = 0
    for s, t in zip(src, tgt, strict=True):
        if s.strip() and t.strip():
            pairs.append((s.strip(), t.strip()))
        else:
            skipped += 1
    if skipped and notes is not None:
        notes.append(f"skipped {skipped} pairs with a blank line in {src_file.name} or {tgt_file.name}")
    if not pairs:
        raise DataError(src_file, f"no non-blank line pairs with {tgt_file}")
    return pairs


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
    for i, line in enumerate(_lines(text), start=1):
        if line.strip():  # blank lines separate paragraphs; they are not examples
            rows.append({"text": line})
            lines.append(i)
    return _Table(path, "txt", ["text"], rows, lines)


def _read_table(path: str | Path, fmt: str = "auto", max_bytes: int | None = None) -> _Table:
    p, text = _read_str(path, max_bytes)
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
class _Labeled:
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


def _load_labeled(path: str | Path, fmt: str, text_column: str, label_column: str) -> _Labeled:
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
    return _Labeled(table.path, texts, labels, lines, text_col, label_col, notes)


def _load_corpus(path: str | Path, fmt: str, text_column: str) -> tuple[Path, str, str | None]:
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
        "size_mb": round(table.path.stat().st_size / _MB, 3),
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


# -- the "file" dataset component -------------------------------------------------------------

FILE_PARAMS: tuple[Param, ...] = (
    Param("path", "path", "", "The data file: .csv, .tsv, .jsonl, .json or .txt, optionally .gz.", sweepable=False),
    Param("format", "str", "auto", "File format; auto decides from the suffix (and the content when unclear).", choices=FORMATS, sweepable=False),
    Param("text_column", "str", "", "Column holding the text (empty: detect text/sentence/review/...).", sweepable=False),
    Param("label_column", "str", "", "Column holding the class label, classification only (empty: detect label/class/sentiment/...).", sweepable=False),
    Param("validation_path", "path", "", "A separate validation file (empty: split validation off the training file).", sweepable=False),
    Param("val_fraction", "float", 0.1, "Share of the training file held out for validation (when no validation_path).", low=0.01, high=0.5, sweepable=False),
    Param("test_fraction", "float", 0.0, "Share of the training file held out as a test split (0: none).", low=0.0, high=0.5, sweepable=False),
    Param("max_examples", "int", None, "Classification: train on at most this many rows, picked with the seed (null: all). Validation is unaffected.", low=1, high=100_000_000, optional=True, sweepable=False),
    Param("max_chars", "int", None, "Language model: train on at most the first N characters of the training part (null: all). Validation is unaffected.", low=100, high=10_000_000_000, optional=True, sweepable=False),
)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@DATASETS.register(
    "file",
    params=FILE_PARAMS,
    help="Your own file: CSV, TSV, JSONL or TXT, plain or .gz",
    tasks=("classification", "language_model", "word_embeddings", "masked_lm"),
)
def file_dataset(params: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    """Load a user file for classification or language modelling."""
    p = validate_params(FILE_PARAMS, {k: v for k, v in params.items() if k != "name"}, "data")
    if not p["path"].strip():
        raise ConfigError("data.path", p["path"], "the path of a CSV, TSV, JSONL or TXT file", reason="missing")
    if p["val_fraction"] + p["test_fraction"] >= 0.9:
        raise ConfigError(
            "data.test_fraction", p["test_fraction"],
            "val_fraction + test_fraction below 0.9, so training keeps most of the data",
        )
    if task == "classification":
        return _classification(p, seed)
    # Word vectors and masked-LM pretraining read the text as a corpus (one example per line).
    if task in ("language_model", "word_embeddings", "masked_lm"):
        return _language_model(p)
    raise ConfigError("task.name", task, "classification or language_model", reason="the file dataset cannot do this task")


def _classification(p: dict[str, Any], seed: int) -> DatasetSplits:
    train = _load_labeled(p["path"], p["format"], p["text_column"], p["label_column"])
    label_names = sort_labels(train.labels)
    if len(label_names) < 2:
        raise DataError(
            train.path,
            f"column {train.label_column!r} has a single class ({label_names[0]!r}); "
            "classification needs at least two",
        )
    if len(label_names) > 1000 or (len(label_names) > 50 and len(label_names) > len(train.labels) / 2):
        # Almost one class per row: an id or free-text column was taken for the labels.
        raise DataError(
            train.path,
            f"column {train.label_column!r} has {len(label_names)} different values in "
            f"{len(train.labels)} rows; is it really the label? Name it with data.label_column=...",
        )
    index = {name: i for i, name in enumerate(label_names)}
    y = [index[lab] for lab in train.labels]
    notes = list(train.notes)
    val_fraction = 0.0 if p["validation_path"] else p["val_fraction"]
    if len(y) < 2 + (p["test_fraction"] > 0):
        raise DataError(train.path, f"only {len(y)} usable rows; too few to split")
    tr_idx, va_idx, te_idx = split_indices(len(y), val_fraction, p["test_fraction"], seed, labels=y)
    if val_fraction > 0 and not va_idx:
        raise DataError(
            train.path,
            f"only {len(y)} usable rows and no class has two, so none can be held out for "
            "validation; add rows or give data.validation_path",
        )

    if p["validation_path"]:
        # Same explicit columns; auto-detection runs again in case the header order differs.
        val = _load_labeled(p["validation_path"], p["format"], p["text_column"], p["label_column"])
        notes += val.notes
        for lab, line in zip(val.labels, val.lines, strict=True):
            if lab not in index:
                raise DataError(
                    val.path,
                    f"label {lab!r} does not occur in the training file (its labels: "
                    f"{', '.join(label_names)})",
                    line,
                )
        validation = Split(list(val.texts), [index[lab] for lab in val.labels])
        val_src = f"validation from {val.path.name} ({len(val.texts)} rows)"
    else:
        validation = Split([train.texts[i] for i in va_idx], [y[i] for i in va_idx])
        val_src = f"validation: {len(va_idx)} rows split off {train.path.name}, stratified by label (seed {seed})"
    notes.append(val_src)

    if p["max_examples"] is not None and p["max_examples"] < len(tr_idx):
        # A separate stream: capping training never changes which rows went to validation.
        rng = np.random.default_rng([seed, 1])
        keep = np.sort(rng.choice(len(tr_idx), size=p["max_examples"], replace=False))
        notes.append(f"training capped at {p['max_examples']} of {len(tr_idx)} rows (max_examples)")
        tr_idx = [tr_idx[i] for i in keep]
    test = Split([train.texts[i] for i in te_idx], [y[i] for i in te_idx]) if te_idx else None
    return DatasetSplits(
        task="classification",
        train=Split([train.texts[i] for i in tr_idx], [y[i] for i in tr_idx]),
        validation=validation,
        test=test,
        label_names=label_names,
        description=(
            f"{_relative(train.path)}: {len(train.texts)} rows, text column {train.text_column!r}, "
            f"label column {train.label_column!r}, {len(label_names)} classes"
        ),
        notes=notes,
    )


def _language_model(p: dict[str, Any]) -> DatasetSplits:
    path, text, column = _load_corpus(p["path"], p["format"], p["text_column"])
    notes: list[str] = []
    if p["validation_path"]:
        train_text, _, test_text = split_text(text, 0.0, p["test_fraction"])
        _, val_text, _ = _load_corpus(p["validation_path"], p["format"], p["text_column"])
        notes.append(f"validation: the text of {Path(p['validation_path']).name}")
    else:
        train_text, val_text, test_text = split_text(text, p["val_fraction"], p["test_fraction"])
        notes.append(
            f"contiguous split of {len(text):,} characters: first {len(train_text):,} train, "
            f"next {len(val_text):,} validation" + (f", last {len(test_text):,} test" if test_text else "")
        )
    if not train_text or not val_text or (p["test_fraction"] > 0 and not test_text):
        raise DataError(path, f"only {len(text)} characters; too short to split")
    if p["max_chars"] is not None and p["max_chars"] < len(train_text):
        notes.append(f"training capped at the first {p['max_chars']:,} of {len(train_text):,} characters (max_chars)")
        train_text = train_text[: p["max_chars"]]
    where = f", column {column!r}" if column else ""
    return DatasetSplits(
        task="language_model",
        train=Split([train_text]),
        validation=Split([val_text]),
        test=Split([test_text]) if test_text else None,
        description=f"{_relative(path)}{where}: {len(text):,} characters of text",
        notes=notes,
    )
