"""Where the workbench keeps its files, and how user-supplied names become safe paths.

Every path built from something a user typed or uploaded (a file name, a run folder, an
artifact name) goes through :func:`safe_join`, so no such string can reach outside the folder
it was meant for.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath

from core.errors import WorkbenchError

HOME_ENV = "LMWB_HOME"
DEFAULT_HOME = "~/.lmwb"

# Names Windows reserves whatever the extension; refusing them keeps a workbench folder
# portable when it is zipped and opened on another machine.
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_UNSAFE_CHARS = re.compile(r"[^\w.\-]+")  # \w is Unicode-aware: letters in any script stay
_MAX_NAME_BYTES = 200  # below the usual 255-byte limit, leaving room for suffixes like ".tmp"


def workbench_home() -> Path:
    """The workbench's home folder: ``$LMWB_HOME``, else ``~/.lmwb``; created on demand.

    The path is resolved (absolute, symlinks followed) so later containment checks compare
    like with like.
    """
    raw = os.environ.get(HOME_ENV) or DEFAULT_HOME
    home = Path(raw).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home.resolve()


def safe_join(base: Path, *parts: str) -> Path:
    """``base / parts[0] / parts[1] ...``, refusing any part that would escape ``base``.

    A part may hold sub-folders (``"samples/epoch1.txt"``) but is refused, with a
    :class:`WorkbenchError` naming it, when it is empty, contains a NUL byte, is absolute
    (``/etc/passwd``, ``C:\\x``, ``\\\\server\\share``), contains a ``..`` component, or when
    the joined path, after following symlinks, lies outside ``base``. The returned path is
    resolved; it need not exist.
    """
    root = Path(base).expanduser().resolve()
    path = root
    for part in parts:
        _check_part(part)
        path = path / part
    resolved = path.resolve()  # follows any symlink already on disk, existing or not
    if resolved != root and not resolved.is_relative_to(root):
        shown = "/".join(parts)
        raise WorkbenchError(f"{shown!r}: the path leads outside {str(root)!r}; refused")
    return resolved


def _check_part(part: str) -> None:
    if not isinstance(part, str):
        raise WorkbenchError(f"{part!r}: a path part must be text, got {type(part).__name__}")
    if part == "" or part.strip() == "":
        raise WorkbenchError(f"{part!r}: empty path name; refused")
    if "\x00" in part:
        raise WorkbenchError(f"{part!r}: a path name may not contain a NUL byte; refused")
    # Check both flavours: a backslash or drive letter is a separator/anchor on Windows even
    # when the workbench runs on Linux and the name came from a Windows browser.
    windows = PureWindowsPath(part)
    if PurePosixPath(part).is_absolute() or windows.anchor or windows.drive:
        raise WorkbenchError(f"{part!r}: absolute paths are not allowed here; refused")
    if ".." in windows.parts or ".." in PurePosixPath(part).parts:
        raise WorkbenchError(f"{part!r}: '..' is not allowed in a path name; refused")


def sanitize_filename(name: str, default: str = "file") -> str:
    """A safe single-component file name for an upload, keeping it recognisable.

    Drops any folder part (browsers may send ``C:\\Users\\me\\data.csv``), normalises Unicode
    (NFKC), replaces runs of characters other than letters, digits, ``.``, ``-`` and ``_``
    with ``_``, strips leading dots (no hidden files, no ``..``), avoids Windows-reserved
    names and caps the length while keeping the extension. Never returns an empty string.
    """
    text = unicodedata.normalize("NFKC", str(name)).replace("\x00", "")
    text = re.split(r"[/\\]", text)[-1]  # the last path component, whichever separator
    text = _UNSAFE_CHARS.sub("_", text).strip("._ ")
    text = re.sub(r"_{2,}", "_", text)
    if not text:
        return default
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:  # "con.txt" is reserved too
        text = "_" + text
    ext = text.rpartition(".")[2] if "." in text else ""
    return _truncate(text, ext)


def _truncate(text: str, ext: str) -> str:
    if len(text.encode("utf-8")) <= _MAX_NAME_BYTES:
        return text
    suffix = f".{ext}" if ext and len(ext.encode("utf-8")) < 20 else ""
    stem = text[: len(text) - len(suffix)] if suffix else text
    budget = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    # Cut on a character boundary: encode, trim bytes, and drop any half character.
    cut = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip("._ ")
    return (cut or "file") + suffix
