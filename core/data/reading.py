"""Reading the user's files safely: size limits, gzip (by magic bytes), text decoding with
errors that name the file, and aligned parallel files (one sentence per line)."""

from __future__ import annotations

import codecs
import gzip
import os
import warnings
import zlib
from pathlib import Path

from core.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
MB = 1_000_000
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



# -- raw bytes -> text ------------------------------------------------------------------------

def _limit_bytes(max_bytes: int | None) -> int:
    return int(MAX_FILE_MB * MB) if max_bytes is None else int(max_bytes)


def _too_big(path: Path, size: int, limit: int, decompressed: bool = False) -> DataError:
    if decompressed:
        # Only the first limit + 1 bytes were read, so the true size is unknown.
        size_text = f"decompresses to more than {limit / MB:g} MB"
    else:
        mb = size / MB
        size_text = f"is {mb:.1f} MB" if mb >= 1 else f"is {mb:.2g} MB"
    return DataError(
        path, f"file {size_text}, over the {limit / MB:g} MB limit (set LMWB_MAX_FILE_MB to raise it)"
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


_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decode(path: Path, data: bytes) -> str:
    """UTF-8, or any UTF with a byte-order mark; a bad byte is reported with its line, and
    UTF-16 without a mark (NUL in every other byte) is named rather than misread."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                raise DataError(path, f"starts with a {encoding.upper()} byte-order mark but is not valid "
                                      f"{encoding.upper()}; save the file as UTF-8") from None
    if guess := _bomless_utf16(data):
        raise DataError(path, f"looks like {guess} text without a byte-order mark (a NUL byte in every "
                              "other byte); save the file as UTF-8")
    if b"\x00" in data[:65536]:
        raise DataError(path, "holds NUL bytes: a binary file, not text (expected UTF-8 text)")
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


def _bomless_utf16(data: bytes) -> str | None:
    """``UTF-16 LE`` / ``UTF-16 BE`` when most odd / even bytes of the start are NUL (ASCII
    text in UTF-16), else None."""
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    odd_nul = sample[1::2].count(0) / pairs
    even_nul = sample[0::2].count(0) / pairs
    if odd_nul > 0.6 and even_nul < 0.1:
        return "UTF-16 LE"
    if even_nul > 0.6 and odd_nul < 0.1:
        return "UTF-16 BE"
    return None


def read_str(path: str | Path, max_bytes: int | None) -> tuple[Path, str]:
    p, data = _read_bytes(path, max_bytes)
    text = _decode(p, data)
    if not text.strip():
        raise DataError(p, "file is empty")
    return p, text


def read_text(path: str | Path, max_bytes: int | None = None) -> str:
    """A whole text corpus (``.txt`` or its ``.gz``), with Windows line endings made ``\\n``."""
    _, text = read_str(path, max_bytes)
    # CRLF would put "\r" into a character vocabulary for no benefit.
    return text.replace("\r\n", "\n")


def split_lines(text: str) -> list[str]:
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
    src_file, src_text = read_str(source_path, max_bytes)
    tgt_file, tgt_text = read_str(target_path, max_bytes)
    src, tgt = split_lines(src_text), split_lines(tgt_text)
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


