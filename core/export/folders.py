"""Where an export may write: a folder the user named, never inside the workbench home, and
never over files already there."""

from __future__ import annotations

from pathlib import Path

from core.errors import WorkbenchError


def output_folder(path_text: str, home: Path, *, may_exist_with: bool = False) -> Path:
    """``path_text`` as a folder to write into. Refused: inside the workbench home (its store and
    run folders), a file, a folder whose parent is missing, and (unless ``may_exist_with``: a
    shared log folder, such as a TensorBoard logdir that holds several runs) a non-empty folder."""
    if not str(path_text).strip():
        raise WorkbenchError("output folder: empty path; name the folder to write")
    path = Path(path_text).expanduser()
    resolved = path.resolve()
    home = home.resolve()
    if resolved == home or home in resolved.parents:
        raise WorkbenchError(f"output {path_text}: inside the workbench home ({home}), whose store and runs "
                             "it could overwrite; write it somewhere else")
    if resolved.exists() and not resolved.is_dir():
        raise WorkbenchError(f"output {path_text}: is a file; expected a folder (new or empty)")
    if not resolved.parent.is_dir():
        raise WorkbenchError(f"output {path_text}: folder {resolved.parent} does not exist")
    if not may_exist_with and resolved.is_dir() and any(resolved.iterdir()):
        raise WorkbenchError(f"output {path_text}: folder exists and is not empty; name a new or empty folder")
    return resolved
