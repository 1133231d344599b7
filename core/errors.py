"""Errors a user can act on. Each names where the problem is and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class WorkbenchError(Exception):
    """Base class: the message is meant for the user, never a traceback."""


class ConfigError(WorkbenchError):
    """A config value is invalid: names the field path, the value and what is allowed."""

    def __init__(self, path: str, value: Any, allowed: str, reason: str = "invalid value") -> None:
        self.path = path
        self.value = value
        self.allowed = allowed
        self.reason = reason
        if reason == "invalid combination":
            # The value is a whole section; the sentence in ``allowed`` says what is wrong.
            super().__init__(f"{path}: {allowed}")
            return
        if reason == "syntax error":  # path names the file and line; value is the parser's words
            super().__init__(f"{path}: syntax error, {value}; expected {allowed}")
            return
        if reason == "unknown section":  # the name is the mistake, not what it holds
            super().__init__(f"{path}: unknown section; expected {allowed}")
            return
        shown = _short(value)
        super().__init__(f"{path} = {shown}: {reason}; expected {allowed}")


class DataError(WorkbenchError):
    """A data file is unusable: names the file, the line when there is one, and the problem."""

    def __init__(self, file: str | Path, message: str, line: int | None = None) -> None:
        self.file = str(file)
        self.line = line
        where = f"{self.file}, line {line}" if line is not None else self.file
        super().__init__(f"{where}: {message}")


class RunNotFound(WorkbenchError):
    def __init__(self, run: str) -> None:
        super().__init__(f"no run {run!r} in the store (see `lmwb runs list`)")


class TrainingDiverged(WorkbenchError):
    """Raised when the loss becomes NaN or infinite."""


class CheckpointError(WorkbenchError):
    """A checkpoint cannot be read (damaged, truncated, for another model) or written (a full
    disk): names the file and what the user can do."""


def _short(value: Any, limit: int = 160) -> str:
    # None / True / False as a config file or --set spells them.
    text = {None: "null", True: "true", False: "false"}.get(value, repr(value)) if _plain(value) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> bool:
    """None or a bool (1 == True, so a dict lookup alone would turn the number 1 into "true")."""
    return value is None or isinstance(value, bool)
