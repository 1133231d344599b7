"""The uploads folder: files a person uploads on the Data page, checked before they are kept.

No Streamlit in the checks (they are tested directly); the Data page draws the uploader and the
Train page lists the stored files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from core.data import reading
from core.data.tables import read_records
from core.errors import DataError
from core.paths import safe_join, sanitize_filename, workbench_home
from core.server import MAX_UPLOAD_MB

UPLOAD_TYPES = ["csv", "tsv", "jsonl", "json", "txt", "gz", "parquet", "arrow"]
UPLOADS_FOLDER = "uploads"


def uploads_dir(home: Path | None = None) -> Path:
    """``{home}/uploads`` (the workbench home by default), created on demand."""
    folder = safe_join(home or workbench_home(), UPLOADS_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_limit_mb() -> float:
    """The stricter of the engine's file limit (LMWB_MAX_FILE_MB) and the app's upload limit
    (core/server.py, the value `lmwb ui` gives Streamlit)."""
    return min(reading.MAX_FILE_MB, float(MAX_UPLOAD_MB))


def save_upload(name: str, data: bytes, *, folder: Path | None = None, max_mb: float | None = None) -> Path:
    """Check an uploaded file and store it under the uploads folder; return its path.

    The name is sanitized (no user string becomes a path outside the folder). The file is
    parsed in a staging folder first, so a bad upload raises :class:`DataError` (naming the
    file and line) and leaves every stored file as it was; an upload with the name of a
    different stored file gets a ``-2`` (``-3``...) suffix instead of replacing it.
    """
    folder = folder or uploads_dir()
    shown = sanitize_filename(name, default="upload.txt")
    limit = reading.MAX_FILE_MB if max_mb is None else max_mb
    if len(data) > limit * 1_000_000:
        raise DataError(shown, f"file is {len(data) / 1e6:.1f} MB, over the {limit:g} MB upload limit")
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=folder))
    try:
        candidate = staging / shown
        candidate.write_bytes(data)
        try:
            read_records(candidate, max_bytes=int(limit * 1_000_000))
        except DataError as exc:
            raise _renamed(exc, shown) from None
        target = _free_name(folder, shown, data)
        os.replace(candidate, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def stored_uploads(folder: Path | None = None) -> list[str]:
    """Names of stored uploads, newest first (staging folders and hidden files left out)."""
    folder = folder or uploads_dir()
    found = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def _renamed(exc: DataError, shown: str) -> DataError:
    """The same error naming the uploaded file instead of its staging path."""
    where = f"{exc.file}, line {exc.line}: " if exc.line is not None else f"{exc.file}: "
    message = str(exc)
    return DataError(shown, message.removeprefix(where), exc.line)


def _free_name(folder: Path, name: str, data: bytes) -> Path:
    stem, dot, rest = name.partition(".")
    target, n = safe_join(folder, name), 1
    while target.exists() and (target.stat().st_size != len(data) or target.read_bytes() != data):
        n += 1
        target = safe_join(folder, f"{stem}-{n}{dot}{rest}")
    return target


