"""Translation data: parallel files and built-in sequence-to-sequence sets.

``parallel`` reads a pair of line-aligned files (``train.de`` + ``train.en``, plain or .gz) or one
TSV / CSV / JSONL file with a source and a target column. The built-ins (``reverse``, ``sort``,
``dates``) are generated offline from their parameters; their alignments are easy to read in an
attention map (reversal: an anti-diagonal; dates: month names onto month digits).

Every split carries ``texts`` (sources) and ``targets``. Length filtering applies to the training
pairs only (validation is scored in full), and what it drops is reported in ``notes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.data.builtin import _DATA_SEED, _fraction_params, _register
from core.data.reading import read_parallel
from core.data.splits import split_indices
from core.data.tables import FORMATS, read_records
from core.data.types import DatasetSplits, Split
from core.errors import ConfigError, DataError
from core.params import Param, validate_params
from core.registry import DATASETS

Pairs = list[tuple[str, str]]

SOURCE_COLUMNS = ("source", "src", "input", "question", "text")
TARGET_COLUMNS = ("target", "tgt", "output", "translation", "answer", "reference")


# -- shared pieces ------------------------------------------------------------------------------

def filter_by_length(pairs: Pairs, min_length: int, max_length: int | None) -> tuple[Pairs, list[str]]:
    """Keep pairs whose two sides both have ``min_length..max_length`` whitespace-separated words.

    Returns the kept pairs and notes saying how many were dropped and why.
    """
    kept: Pairs = []
    too_short = too_long = 0
    for src, tgt in pairs:
        lengths = (len(src.split()), len(tgt.split()))
        if min(lengths) < min_length:
            too_short += 1
        elif max_length is not None and max(lengths) > max_length:
            too_long += 1
        else:
            kept.append((src, tgt))
    notes = []
    if too_long:
        notes.append(f"dropped {too_long} pairs longer than {max_length} words (max_length)")
    if too_short:
        notes.append(f"dropped {too_short} pairs shorter than {min_length} words (min_length)")
    return kept, notes


def pairs_split(pairs: Pairs) -> Split:
    return Split([s for s, _ in pairs], targets=[t for _, t in pairs])


def _split_pairs(pairs: Pairs, val_fraction: float, test_fraction: float, seed: int) -> tuple[Pairs, Pairs, Pairs]:
    tr, va, te = split_indices(len(pairs), val_fraction, test_fraction, seed)
    return [pairs[i] for i in tr], [pairs[i] for i in va], [pairs[i] for i in te]


# -- parallel files -----------------------------------------------------------------------------

PARALLEL_PARAMS: tuple[Param, ...] = (
    Param("source_path", "path", "", "Source-language file, one sentence per line (plain or .gz), e.g. train.de.", sweepable=False, label="Source file", essential=True),
    Param("target_path", "path", "", "Target-language file aligned line by line with source_path, e.g. train.en.", sweepable=False, label="Target file", essential=True),
    Param("path", "path", "", "Instead of two files: one TSV / CSV / JSONL file (with a header) holding both sides.", sweepable=False, label="File", essential=True),
    Param("format", "str", "auto", "Format of `path` (auto: from the suffix).", choices=FORMATS, sweepable=False, label="Format"),
    Param("source_column", "str", "", "Column of `path` with the source (empty: source/src/input..., or the first of two columns).", sweepable=False, label="Source column"),
    Param("target_column", "str", "", "Column of `path` with the target (empty: target/tgt/output..., or the second of two columns).", sweepable=False, label="Target column"),
    Param("validation_source_path", "path", "", "Validation source file (with validation_target_path).", sweepable=False, label="Validation source file", essential=True),
    Param("validation_target_path", "path", "", "Validation target file, aligned with validation_source_path.", sweepable=False, label="Validation target file", essential=True),
    Param("validation_path", "path", "", "Validation pairs as one TSV / CSV / JSONL file (same columns as `path`).", sweepable=False, label="Validation file"),
    Param("val_fraction", "float", 0.05, "Share of the training pairs held out for validation when no validation file is given.", low=0.001, high=0.5, sweepable=False, label="Validation share"),
    Param("max_pairs", "int", None, "Train on at most this many pairs, picked with the seed (null: all).", low=1, high=100_000_000, optional=True, sweepable=False, label="Max pairs"),
    Param("min_length", "int", 1, "Drop training pairs with a side shorter than this many words.", low=1, high=10_000, sweepable=False, label="Min length (words)", essential=True),
    Param("max_length", "int", None, "Drop training pairs with a side longer than this many words (null: keep all).", low=1, high=100_000, optional=True, sweepable=False, label="Max length (words)", essential=True),
)


def _pick_column(path: Path, columns: list[str], explicit: str, names: tuple[str, ...], fallback: int, what: str) -> str:
    if explicit:
        if explicit not in columns:
            raise DataError(path, f"no {what} column {explicit!r}; the columns are {', '.join(map(repr, columns))}")
        return explicit
    by_lower = {c.lower(): c for c in columns}
    for name in names:
        if name in by_lower:
            return by_lower[name]
    if len(columns) == 2:
        return columns[fallback]
    raise DataError(
        path,
        f"cannot tell which column holds the {what}; the columns are {', '.join(map(repr, columns))}. "
        f"Name it with data.{what}_column=... (the first line is read as the header)",
    )


def read_pair_table(path: str | Path, fmt: str = "auto", source_column: str = "", target_column: str = "", notes: list[str] | None = None) -> Pairs:
    """Source/target pairs from one TSV / CSV / JSONL file; rows with a blank side are skipped."""
    columns, rows = read_records(path, fmt)
    p = Path(path)
    src_col = _pick_column(p, columns, source_column, SOURCE_COLUMNS, 0, "source")
    tgt_col = _pick_column(p, columns, target_column, TARGET_COLUMNS, 1, "target")
    if src_col == tgt_col:
        raise DataError(p, f"column {src_col!r} cannot be both the source and the target")
    pairs = [(r[src_col].strip(), r[tgt_col].strip()) for r in rows]
    kept = [(s, t) for s, t in pairs if s and t]
    if len(kept) < len(pairs) and notes is not None:
        notes.append(f"skipped {len(pairs) - len(kept)} rows with an empty {src_col!r} or {tgt_col!r} in {p.name}")
    if not kept:
        raise DataError(p, f"every row has an empty {src_col!r} or {tgt_col!r} cell")
    return kept


def _read_side(p: dict[str, Any], prefix: str, notes: list[str]) -> Pairs | None:
    """Pairs from ``{prefix}source_path`` + ``{prefix}target_path`` or ``{prefix}path``; None if unset."""
    src, tgt, table = p[f"{prefix}source_path"], p[f"{prefix}target_path"], p[f"{prefix}path"]
    if bool(src) != bool(tgt):
        missing = f"data.{prefix}target_path" if src else f"data.{prefix}source_path"
        raise ConfigError(missing, "", "a file aligned with the other side", reason="missing")
    if src and table:
        raise ConfigError(f"data.{prefix}path", table, f"empty when data.{prefix}source_path is given", reason="two sources of pairs")
    if src:
        return read_parallel(src, tgt, notes=notes)
    if table:
        return read_pair_table(table, p["format"], p["source_column"], p["target_column"], notes)
    return None


@DATASETS.register(
    "parallel", params=PARALLEL_PARAMS, tasks=("translation", "summarisation"), label="Your parallel text",
    help="Your own parallel text (or documents and summaries): two aligned files (train.de + train.en, plain or .gz) or one TSV/CSV/JSONL",
)
def parallel_dataset(params: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    """Load translation pairs from files, with a validation file or a held-out share."""
    p = validate_params(PARALLEL_PARAMS, {k: v for k, v in params.items() if k != "name"}, "data")
    notes: list[str] = []
    pairs = _read_side(p, "", notes)
    if pairs is None:
        raise ConfigError("data.source_path", "", "source_path + target_path, or path (a TSV/CSV/JSONL file)", reason="missing")
    validation = _read_side(p, "validation_", notes)
    where = p["source_path"] or p["path"]
    if validation is None:
        if len(pairs) < 2:
            raise DataError(where, f"only {len(pairs)} pair; too few to split off validation")
        pairs, validation, _ = _split_pairs(pairs, p["val_fraction"], 0.0, seed)
        notes.append(f"validation: {len(validation)} pairs split off the training file (seed {seed})")
    total = len(pairs)
    if p["max_pairs"] is not None and p["max_pairs"] < len(pairs):
        # A separate stream: capping training never changes which pairs went to validation.
        keep = np.sort(np.random.default_rng([seed, 1]).choice(len(pairs), size=p["max_pairs"], replace=False))
        pairs = [pairs[i] for i in keep.tolist()]
        notes.append(f"training capped at {p['max_pairs']:,} of {total:,} pairs (max_pairs)")
    pairs, dropped = filter_by_length(pairs, p["min_length"], p["max_length"])
    notes += dropped
    if not pairs:
        raise DataError(where, "no training pairs left after length filtering; raise data.max_length")
    names = f"{Path(p['source_path']).name} + {Path(p['target_path']).name}" if p["source_path"] else Path(p["path"]).name
    return DatasetSplits(
        task=task,
        train=pairs_split(pairs),
        validation=pairs_split(validation),
        description=f"{names}: {len(pairs):,} training pairs, {len(validation):,} validation pairs",
        notes=notes,
    )


# -- built-in: reverse / sort --------------------------------------------------------------------

_ALPHABETS = {
    "letters": "abcdefghijklmnopqrstuvwxyz",
    "digits": "0123456789",
    "letters+digits": "abcdefghijklmnopqrstuvwxyz0123456789",
}


def _symbol_params(n: int, alphabet: str) -> tuple[Param, ...]:
    return (
        Param("n_examples", "int", n, "Number of distinct generated sequences.", low=100, high=1_000_000, log=True, sweepable=False, label="Examples", essential=True),
        Param("min_length", "int", 4, "Shortest sequence, in symbols.", low=1, high=200, sweepable=False, label="Min length (words)", essential=True),
        Param("max_length", "int", 12, "Longest sequence, in symbols.", low=1, high=200, sweepable=False, label="Max length (words)", essential=True),
        Param("alphabet", "str", alphabet, "Symbols the sequences are made of.", choices=tuple(_ALPHABETS), sweepable=False, label="Alphabet", essential=True),
        *_fraction_params(),
        _DATA_SEED,
    )


def _symbol_pairs(p: dict[str, Any], operation: str) -> DatasetSplits:
    if p["min_length"] > p["max_length"]:
        raise ConfigError("data.min_length", p["min_length"], f"at most data.max_length ({p['max_length']})")
    # Operation-specific stream, so "reverse" and "sort" with one data_seed differ.
    rng = np.random.default_rng([p["data_seed"], 404 if operation == "reverse" else 405])
    symbols = np.array(list(_ALPHABETS[p["alphabet"]]))
    seen: set[str] = set()
    sources: list[str] = []
    # Distinct sequences, so no validation source also occurs in training. Bounded attempts:
    # short lengths over a small alphabet may have fewer distinct sequences than asked for.
    for _ in range(20 * p["n_examples"]):
        if len(sources) == p["n_examples"]:
            break
        length = int(rng.integers(p["min_length"], p["max_length"] + 1))
        text = " ".join(rng.choice(symbols, size=length).tolist())
        if text not in seen:
            seen.add(text)
            sources.append(text)
    flip = reversed if operation == "reverse" else sorted
    pairs = [(s, " ".join(flip(s.split()))) for s in sources]
    # Split by data_seed, not the run seed: runs that differ only in seed score the same pairs.
    train, val, test = _split_pairs(pairs, p["val_fraction"], p["test_fraction"], p["data_seed"])
    notes = [] if len(pairs) == p["n_examples"] else [f"only {len(pairs)} distinct sequences exist at these lengths"]
    return DatasetSplits(
        task="translation",
        train=pairs_split(train),
        validation=pairs_split(val),
        test=pairs_split(test) if test else None,
        description=(
            f"{operation}: {len(pairs):,} sequences of {p['min_length']}-{p['max_length']} "
            f"space-separated symbols ({p['alphabet']}) -> the same symbols {operation}"
            f"{'d' if operation == 'reverse' else 'ed'}"
        ),
        notes=notes,
    )


def _symbol_factory(operation: str) -> Callable[..., DatasetSplits]:
    def factory(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
        return _symbol_pairs(p, operation)

    factory.__name__ = operation
    return factory


for _op, _label, _alphabet, _help in (
    ("reverse", "Reversed sequences", "letters+digits",
     "Sequences like 'k 3 b 7' -> '7 b 3 k': attention learns an anti-diagonal (offline)"),
    ("sort", "Sorted digits", "digits",
     "Digit sequences like '4 1 3' -> '1 3 4': needs attention over the whole input (offline)"),
):
    _register(_op, _symbol_params(6000, _alphabet), help=_help, tasks=("translation",), size="6,000 pairs",
              label=_label)(
        _symbol_factory(_op)
    )


# -- built-in: dates ------------------------------------------------------------------------------

_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_FIRST, _LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def date_formats(d: dt.date) -> list[str]:
    """One date written in each supported format. Each format fixes its field order (slashes are
    always month first, dots day first) so every string has exactly one reading; two-digit years
    mean 1950-2049."""
    m = _MONTHS[d.month - 1]
    return [
        f"{m} {d.day}, {d.year}",
        f"{d.day} {m} {d.year}",
        f"{m[:3]} {d.day} {d.year}",
        f"{d.day} {m[:3].lower()} {d.year}",
        f"{_WEEKDAYS[d.weekday()]}, {m} {d.day}, {d.year}",
        f"{_ordinal(d.day)} of {m} {d.year}",
        f"{d.day:02d}.{d.month:02d}.{d.year}",
        f"{d.month:02d}/{d.day:02d}/{d.year}",
        f"{d.year}/{d.month:02d}/{d.day:02d}",
        f"{d.day}-{m[:3]}-{d.year % 100:02d}",
        f"{m.upper()} {d.day} {d.year}",
        d.isoformat(),
    ]


_DATE_PARAMS = (
    Param("n_examples", "int", 8000, "Number of generated dates (each in one random format).", low=100, high=1_000_000, log=True, sweepable=False, label="Examples", essential=True),
    *_fraction_params(),
    _DATA_SEED,
)


@_register(
    "dates", _DATE_PARAMS, label="Dates to ISO",
    help="Dates in 12 formats ('Thursday, March 5, 1998', '5-Mar-98', '03/05/1998') -> ISO 1998-03-05 (offline; a char tokenizer suits it)",
    tasks=("translation",), size="8,000 pairs",
)
def dates(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    rng = np.random.default_rng([p["data_seed"], 406])
    span = (_LAST - _FIRST).days + 1
    n = min(p["n_examples"], span * len(date_formats(_FIRST)))
    seen: set[str] = set()
    pairs: Pairs = []
    while len(pairs) < n:
        day = _FIRST + dt.timedelta(days=int(rng.integers(span)))
        forms = date_formats(day)
        source = forms[int(rng.integers(len(forms)))]
        if source not in seen:  # distinct sources: validation never repeats a training input
            seen.add(source)
            pairs.append((source, day.isoformat()))
    train, val, test = _split_pairs(pairs, p["val_fraction"], p["test_fraction"], p["data_seed"])
    return DatasetSplits(
        task="translation",
        train=pairs_split(train),
        validation=pairs_split(val),
        test=pairs_split(test) if test else None,
        description=f"dates: {len(pairs):,} dates from {_FIRST.year} to {_LAST.year} in 12 formats -> ISO 8601",
    )
