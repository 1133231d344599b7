"""Hugging Face ``datasets`` data: Parquet and Arrow files, folders saved with ``save_to_disk``
and hub names (``imdb``, ``glue/sst2``), as the same string tables the CSV reader makes
(:mod:`core.data.tables`), one per split.

Files are read with pyarrow and wrapped in a ``datasets.Dataset``, which reads the features the
``datasets`` library stores in the schema (a ``ClassLabel`` column brings its label names).
Nothing is unpickled: Parquet, Arrow IPC and a ``save_to_disk`` folder's JSON are data formats.
A hub name needs network; without it the lookup fails at once, through the same offline check
as pretrained models (:mod:`core.models.hf`). ``datasets`` is imported on first use (seconds).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.data import reading
from core.data.table import Table, cell_text
from core.errors import DataError

SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
               "val": "validation", "dev": "validation", "test": "test", "testing": "test"}
_FILE_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".jsonl", ".gz", ".parquet", ".arrow", ".feather"}
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _check_size(path: Path, size: int, max_bytes: int | None) -> None:
    limit = int(reading.MAX_FILE_MB * reading.MB) if max_bytes is None else int(max_bytes)
    if size > limit:
        raise DataError(path, f"is {size / reading.MB:.1f} MB, over the {limit / reading.MB:g} MB limit "
                              "(set LMWB_MAX_FILE_MB to raise it)")


def _to_table(path: Path, fmt: str, ds: Any) -> Table:
    """A ``datasets.Dataset`` as rows of strings; ClassLabel columns keep their names and an
    unlabelled row (-1, as in GLUE test sets) gets an empty label."""
    from datasets import ClassLabel

    columns = list(ds.column_names)
    data = ds.to_dict()
    class_names: dict[str, list[str]] = {}
    for name, feature in ds.features.items():
        if isinstance(feature, ClassLabel):
            class_names[name] = list(feature.names)
            data[name] = ["" if v is None or v < 0 else str(v) for v in data[name]]
    n = len(ds)
    rows = [{c: cell_text(data[c][i]) for c in columns} for i in range(n)]
    if not rows:
        raise DataError(path, "no rows in the dataset")
    return Table(path, fmt, columns, rows, [None] * n, header=True, class_names=class_names)


def read_arrow_file(path: str | Path, fmt: str, max_bytes: int | None = None) -> Table:
    """One Parquet or Arrow (IPC file or stream) file as a table."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(p, "file not found")
    if p.is_dir():
        raise DataError(p, "is a folder, not a file (a save_to_disk folder goes in data.dataset)")
    _check_size(p, p.stat().st_size, max_bytes)
    try:
        if fmt == "parquet":
            table = pq.read_table(p)
        else:
            try:
                with pa.memory_map(str(p)) as source:
                    table = pa.ipc.open_file(source).read_all()
            except pa.ArrowInvalid:  # save_to_disk writes the stream format
                with pa.memory_map(str(p)) as source:
                    table = pa.ipc.open_stream(source).read_all()
        ds = Dataset(table)
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        kind = "Parquet" if fmt == "parquet" else "Arrow"
        raise DataError(p, f"not a valid {kind} file ({_first_line(exc)})") from None
    return _to_table(p, fmt, ds)


def is_hub_name(ref: str) -> bool:
    """``imdb`` or ``glue/sst2``: not an existing path, and shaped like a hub id."""
    path = Path(ref).expanduser()
    # "reviews.csv" that is not there is a missing file, not a dataset to download.
    return bool(_HUB_NAME.match(ref.strip())) and not path.exists() and path.suffix.lower() not in _FILE_SUFFIXES


def load_splits(ref: str, max_bytes: int | None = None) -> tuple[str, dict[str, Table]]:
    """(description, {split: table}) for a ``save_to_disk`` folder or a hub name; the split names
    train / validation (or valid, dev) / test are kept, other splits are left out."""
    ref = ref.strip()
    folder = Path(ref).expanduser()
    if folder.is_dir():
        ds, where = _from_disk(folder, max_bytes), folder
    elif folder.is_file():
        raise DataError(folder, "data.dataset takes a save_to_disk folder or a hub name; give a "
                                "Parquet or Arrow file as data.path")
    elif is_hub_name(ref):
        ds, where = _from_hub(ref), Path(ref)
    else:
        raise DataError(ref, "no such folder, and not a Hugging Face hub name (imdb, glue/sst2)")
    parts = {"train": ds} if not hasattr(ds, "keys") else dict(ds)
    tables: dict[str, Table] = {}
    for name, part in parts.items():
        role = SPLIT_NAMES.get(str(name).lower(), "train" if len(parts) == 1 else None)
        if role is not None and role not in tables:
            tables[role] = _to_table(where / str(name), "arrow", part)
    if "train" not in tables:
        raise DataError(where, f"no train split (the dataset has {', '.join(map(str, parts))})")
    return f"{ref} ({', '.join(f'{k}: {len(v.rows)} rows' for k, v in tables.items())})", tables


def _from_disk(folder: Path, max_bytes: int | None) -> Any:
    from datasets import load_from_disk

    if not any((folder / f).is_file() for f in ("dataset_dict.json", "state.json")):
        raise DataError(folder, "not a folder written by save_to_disk (no dataset_dict.json or state.json)")
    _check_size(folder, sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()), max_bytes)
    try:
        return load_from_disk(str(folder), keep_in_memory=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(folder, f"cannot be read as a save_to_disk folder ({_first_line(exc)})") from None


def _from_hub(name: str) -> Any:
    """``load_dataset(name)``; ``a/b`` is a repository, else dataset ``a`` with configuration ``b``
    (glue/sst2). Without network this fails before ``datasets`` starts its retries."""
    from core.models.hf import _hub_offline, hub_reachable  # the pretrained models' offline check

    if _hub_offline() or not hub_reachable(name):
        raise DataError(name, "could not download it from the Hugging Face hub (no network?): use a "
                              "Parquet/Arrow file (data.path) or a save_to_disk folder (data.dataset)")
    from datasets import load_dataset

    try:
        return load_dataset(name)
    except Exception as first:  # noqa: BLE001 - datasets raises many types; the message is what counts
        if "/" not in name:
            raise DataError(name, f"cannot be loaded from the hub ({_first_line(first)})") from None
        repo, config = name.split("/", 1)
        try:
            return load_dataset(repo, config)
        except Exception as exc:  # noqa: BLE001
            raise DataError(name, f"cannot be loaded from the hub ({_first_line(exc)})") from None
