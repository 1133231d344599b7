"""Names for numeric labels: AG News says ``3`` where people read ``Business``.

Names come from a list (``World,Sports,Business,Sci/Tech``), a file with one name per line, a
column beside the label (``label_text``), or a Hugging Face ``ClassLabel`` feature. The run then
stores the names as its classes, so predictions, Compare and confusion matrices show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.data.reading import read_text, split_lines
from core.errors import ConfigError, DataError


def _as_ints(values: Sequence[str]) -> list[int] | None:
    try:
        out = [int(float(v)) for v in values]
    except ValueError:
        return None
    return out if all(float(v) == o for v, o in zip(values, out, strict=True)) else None


def names_from_list(raw: Sequence[str], names: Sequence[str], field: str) -> list[str]:
    """Names of the sorted raw labels: ``names[i]`` names label ``i`` (counting from 0), or label
    ``i + 1`` when the labels run 1..len(names) (AG News' 1-4)."""
    numbers = _as_ints(raw)
    if numbers is None:
        raise ConfigError(field, ",".join(names), "names for numeric labels; these labels are not whole "
                          f"numbers ({', '.join(list(raw)[:5])})", reason="labels are not numbers")
    base = 1 if numbers and min(numbers) >= 1 and max(numbers) == len(names) else 0
    missing = [n for n in numbers if not 0 <= n - base < len(names)]
    if missing:
        raise ConfigError(field, ",".join(names), f"a name for every label ({len(names)} names for labels "
                          f"{min(numbers)}..{max(numbers)})", reason=f"no name for label {missing[0]}")
    return [names[n - base] for n in numbers]


def _not_too_many(names: list[str], raw: Sequence[str], field: str, value: str) -> list[str]:
    """``names``, unless there are more of them than classes: a name with no class means the
    list is not what the data holds (another data set's names, a class missing from this file),
    and matching the rest by position would name classes wrongly, silently."""
    if len(names) > len(raw):
        shown = ", ".join(list(raw)[:10]) + (", ..." if len(raw) > 10 else "")
        raise ConfigError(field, value, f"one name per class, in label order ({len(raw)} names, for "
                          f"labels {shown})", reason=f"{len(names)} names for {len(raw)} classes")
    return names


def names_from_file(path: str | Path) -> list[str]:
    """One name per line (blank lines skipped)."""
    names = [line.strip() for line in split_lines(read_text(path)) if line.strip()]
    if not names:
        raise DataError(path, "no label names in the file (one name per line)")
    return names


def names_from_rows(raw: Sequence[str], labels: Sequence[str], row_names: Sequence[str],
                    column: str, path: Path) -> list[str]:
    """Names of the sorted raw labels read from a column beside the label."""
    seen: dict[str, str] = {}
    for label, name in zip(labels, row_names, strict=True):
        if name and seen.setdefault(label, name) != name:
            raise DataError(path, f"column {column!r} names label {label!r} both {seen[label]!r} and {name!r}")
    return [seen.get(r, r) for r in raw]


def label_display_names(
    raw: Sequence[str], *, names: str = "", names_file: str = "", class_names: Sequence[str] | None = None,
    labels: Sequence[str] = (), row_names: Sequence[str] | None = None, name_column: str = "",
    path: Path | None = None,
) -> list[str]:
    """The names shown for the sorted raw labels ``raw``: the first of a list, a file, a column,
    the dataset's own ClassLabel names; else the labels themselves."""
    if names.strip():
        given = [n.strip() for n in names.split(",") if n.strip()]
        out = names_from_list(raw, _not_too_many(given, raw, "data.label_names", names), "data.label_names")
    elif names_file.strip():
        given = names_from_file(names_file)
        out = names_from_list(raw, _not_too_many(given, raw, "data.label_names_file", names_file),
                              "data.label_names_file")
    elif row_names is not None:
        out = names_from_rows(raw, labels, row_names, name_column, path or Path("data"))
    elif class_names:
        out = names_from_list(raw, list(class_names), "the dataset's ClassLabel names")
    else:
        return list(raw)
    doubled = {n for n in out if out.count(n) > 1}
    if doubled:
        raise DataError(path or "data", f"two labels get the same name {sorted(doubled)[0]!r}")
    return out
