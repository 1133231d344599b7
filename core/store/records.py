"""What the store hands out (plain, frozen snapshots of rows) and the checks on values it
takes in (statuses, names, tags, JSON)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from core.errors import WorkbenchError
from core.params import PRINTABLE_TEXT, shown_text, text_problem

STATUSES = ("queued", "running", "completed", "failed", "stopped", "pruned")
ACTIVE_STATUSES = frozenset({"queued", "running"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "stopped", "pruned"})
EVENT_LEVELS = ("debug", "info", "warning", "error")

@dataclass(frozen=True)
class Run:
    """A snapshot of one run's row: plain values, detached from any database session."""

    id: str
    name: str
    task: str
    arch: str
    config: dict[str, Any]
    status: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float | None = None
    heartbeat_at: float | None = None
    device: str | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    parent_id: str | None = None
    sweep_id: str | None = None
    worker: str | None = None
    stop_requested: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    claim_epoch: int = 0  # the fencing token of the worker's claim (core.store.claims)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish (to now while running); None before it starts."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else time.time()
        return max(0.0, end - self.started_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    """One line of a run's log."""

    id: int
    run_id: str
    time: float
    level: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SWEEP_STATUSES = ("created", "running", "stopping", "stopped", "completed", "failed")


@dataclass(frozen=True)
class SweepRecord:
    """A snapshot of one sweep's row (see ``sweeps_table``)."""

    id: str
    name: str
    task: str
    spec: dict[str, Any]
    status: str
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    trials_claimed: int = 0
    deadline_at: float | None = None
    time_used_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise WorkbenchError(f"status {status!r}: expected one of {', '.join(STATUSES)}")


_RUN_ID = re.compile(r"r[0-9a-f]{8}")


def run_name(value: Any, what: str = "name") -> str:
    """A run name: text that does not look like a run id, which lookups try first. ``what``
    names where it was given (``--name``) in the message."""
    name = text(value, what, 200)
    if _RUN_ID.fullmatch(name):
        raise WorkbenchError(f"{what} {name!r}: looks like a run id (r + 8 hex digits), which would hide "
                             "the run behind another run's id; pick another")
    return name


def text(value: Any, what: str, max_len: int) -> str:
    """A name to store: one line of printable text (a tab, a line feed or a terminal escape in a
    name would garble every list and log that shows it), not empty, at most ``max_len`` long."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise WorkbenchError(f"{what}: may not be empty")
    if problem := text_problem(text):
        raise WorkbenchError(f"{what} {shown_text(text)}: {problem}; expected {PRINTABLE_TEXT}")
    if len(text) > max_len:
        raise WorkbenchError(f"{what}: {len(text)} characters; at most {max_len} allowed")
    return text


def tags_list(tags: Iterable[str] | str | None) -> list[str]:
    """Tags to store: stripped, empty ones dropped, duplicates removed, in order; each one line
    of printable text like a name."""
    if tags is None:
        return []
    if isinstance(tags, str):  # a lone tag, not its characters
        tags = [tags]
    cleaned = [str(t).strip() for t in tags]
    return list(dict.fromkeys(text(t, "tag", 200) for t in cleaned if t))


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (see the module docstring), or a WorkbenchError naming
    the offending key path."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), where)
    if isinstance(value, np.generic):
        return jsonable(value.item(), where)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise WorkbenchError(f"{where}: key {key!r} is not text; JSON keys must be text")
            out[str(key)] = jsonable(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise WorkbenchError(
        f"{where}: a {type(value).__name__} cannot be stored; use text, numbers, true/false, "
        "null, lists or mappings"
    )


def to_run(row: sa.Row[Any]) -> Run:
    m = row._mapping
    return Run(
        id=m["id"],
        name=m["name"],
        task=m["task"],
        arch=m["arch"],
        config=m["config"] or {},
        status=m["status"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        updated_at=m["updated_at"],
        heartbeat_at=m["heartbeat_at"],
        device=m["device"],
        error=m["error"],
        summary=m["summary"] or {},
        tags=list(m["tags"] or []),
        parent_id=m["parent_id"],
        sweep_id=m["sweep_id"],
        worker=m["worker"],
        stop_requested=bool(m["stop_requested"]),
        progress=m["progress"] or {},
        claim_epoch=int(m["claim_epoch"] or 0),
    )


