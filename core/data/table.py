"""A table read from a data file (CSV/TSV/JSONL/TXT by :mod:`core.data.tables`, Parquet/Arrow and
``datasets`` folders by :mod:`core.data.arrow`): its columns, rows of text cells and the line each
row came from. Its own module, so both readers build it without importing each other."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Table:
    path: Path
    fmt: str
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int | None] = field(default_factory=list)  # the line each row starts on
    header: bool = True  # False: a CSV/TSV without a header row (columns are column1, column2...)
    class_names: dict[str, list[str]] = field(default_factory=dict)  # a column's label names (HF ClassLabel)


def cell_text(value: Any) -> str:
    """A cell as the text a table holds: empty for a missing value, JSON for lists and mappings."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
