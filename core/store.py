"""The run store: one row per run plus its metric series and log events (SQLAlchemy Core).

A run is a row plus a folder (DESIGN principle 3): the row lives here, the folder is
``{home}/runs/{run_id}/`` (see :meth:`Store.run_dir`). The store is what the app, the CLI and
worker processes share, so every method is a short transaction of its own and is safe to call
from several processes at once.

Backends
    SQLite by default (``sqlite:///{home}/store.db``): WAL journal, a 30 s busy timeout, and
    ``BEGIN IMMEDIATE`` for writes, so concurrent writers queue instead of failing and readers
    never block. WAL needs a local disk (not NFS/SMB). Any other SQLAlchemy URL, e.g.
    ``postgresql+psycopg://user:pw@host/db``, works with the same code (principle 8).

Conventions
    * Timestamps (``created_at``, ``started_at``, ``finished_at``, ``updated_at``,
      ``heartbeat_at``, event ``time``) are floats: seconds since the Unix epoch, UTC, as
      :func:`time.time` returns. A metric's ``wall_time`` is seconds since the run started.
    * ``config``, ``summary``, ``tags`` and ``progress`` are JSON: values go in and come out as
      plain dicts / lists / str / int / float / bool / None. NumPy scalars and arrays are
      converted; non-finite floats (NaN, inf) are stored as None because JSON has no spelling
      for them that every backend accepts.
    * Run ids are generated here (``"r"`` + 8 hex digits). Methods take exact ids; only
      :meth:`Store.get_run` also resolves a unique id prefix or a run name, for the CLI.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from core.errors import RunNotFound, WorkbenchError
from core.paths import safe_join, workbench_home

STORE_ENV = "LMWB_STORE"
SCHEMA_VERSION = 1

STATUSES = ("queued", "running", "completed", "failed", "stopped", "pruned")
ACTIVE_STATUSES = frozenset({"queued", "running"})
TERMINAL_STATUSES = frozenset({"completed", "failed", "stopped", "pruned"})
EVENT_LEVELS = ("debug", "info", "warning", "error")
METRIC_COLUMNS = ["step", "split", "name", "value", "wall_time"]

_BUSY_TIMEOUT_MS = 30_000
_PG_INIT_LOCK = 0x4C4D5742  # "LMWB": serialises schema creation between processes on PostgreSQL


class StoreSchemaError(WorkbenchError):
    """The store's schema is from another version of LM Workbench than this one."""


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------
metadata = sa.MetaData()

# Integer primary keys: BIGINT on servers, but plain INTEGER on SQLite, where only
# "INTEGER PRIMARY KEY" is the auto-incrementing rowid.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

meta_table = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs_table = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("task", sa.String(64), nullable=False),
    sa.Column("arch", sa.String(64), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double),
    sa.Column("device", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    # No foreign key on parent_id: a fine-tune keeps its provenance after the parent is deleted.
    sa.Column("parent_id", sa.String(16), index=True),
    sa.Column("sweep_id", sa.String(64), index=True),
    sa.Column("worker", sa.String(255)),
    sa.Column("stop_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("progress", sa.JSON, nullable=False),
    sa.Index("ix_runs_status_created", "status", "created_at"),
)

metrics_table = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(16), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("split", sa.String(32), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    # Nullable: SQLite stores NaN as NULL, so a diverged loss must still fit; read back as NaN.
    sa.Column("value", sa.Double),
    sa.Column("wall_time", sa.Double, nullable=False),
    sa.Index("ix_metrics_run_name", "run_id", "name"),
    sa.Index("ix_metrics_run_step", "run_id", "step"),  # last_step / truncate_metrics
)

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id",
        sa.String(16),
        sa.ForeignKey("runs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("time", sa.Double, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

# Sweeps (core/sweep.py): the definition and life cycle of a hyperparameter search. Its trials
# are ordinary runs (runs.sweep_id); the Optuna study lives in Optuna's own tables of the same
# database. ``spec`` holds base config, search space, method, objective, budget and pruner.
sweeps_table = sa.Table(
    "sweeps",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("task", sa.String(64), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    # Trial slots handed out so far: the atomic counter that keeps parallel workers (on any
    # number of machines) from starting more trials than the budget allows.
    sa.Column("trials_claimed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deadline_at", sa.Double),  # no new trial starts after this (time budget)
    sa.Column("time_used_s", sa.Double, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
)

# Schema migrations: MIGRATIONS[n] upgrades a store from version n to n + 1, inside the same
# transaction that records the new version. Tables that are new in a version need no entry:
# create_all adds them after the migrations have run.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


# --------------------------------------------------------------------------------------------
# Values handed to callers
# --------------------------------------------------------------------------------------------
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


# Fields update_run may write; id and created_at never change after creation.
_UPDATABLE = frozenset(c.name for c in runs_table.columns) - {"id", "created_at"}
_JSON_FIELDS = frozenset({"config", "summary", "tags", "progress"})


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------
class Store:
    """Runs, metric series and run logs in one SQL database; run folders under ``home``.

    ``url``: a SQLAlchemy URL; else ``$LMWB_STORE``; else ``sqlite:///{home}/store.db``. A bare
    file path is taken as a SQLite file. ``home``: where run folders live; default
    :func:`core.paths.workbench_home`. Opening a store creates its tables when missing and
    refuses one written by a newer LM Workbench (:class:`StoreSchemaError`).

    A Store may be passed to another process (it pickles as its URL and home); after a fork
    the child opens fresh connections instead of sharing the parent's.
    """

    def __init__(self, url: str | None = None, home: Path | None = None) -> None:
        self.home = Path(home).expanduser().resolve() if home is not None else workbench_home()
        self.home.mkdir(parents=True, exist_ok=True)
        raw = url or os.environ.get(STORE_ENV) or f"sqlite:///{self.home / 'store.db'}"
        if "://" not in raw:  # a plain path: a SQLite file
            raw = f"sqlite:///{Path(raw).expanduser().resolve()}"
        self._url = make_url(raw)
        self._engine: Engine | None = None
        self._pid = -1
        self._init_schema()

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The database URL with any password hidden (safe to show in the UI or logs)."""
        return self._url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self._url.get_backend_name() == "sqlite"

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            if self._engine is not None:
                # Inherited through fork: forget the parent's pooled connections without
                # closing them, since the parent is still using them.
                self._engine.dispose(close=False)
            self._engine = self._make_engine()
            self._pid = os.getpid()
        return self._engine

    def close(self) -> None:
        """Close pooled connections. The store reconnects if it is used again."""
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self._url.render_as_string(hide_password=False), "home": str(self.home)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], Path(state["home"]))  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Store({self.url!r}, home={str(self.home)!r})"

    def _make_engine(self) -> Engine:
        if not self.is_sqlite:
            # Small pool, checked before use: servers drop idle connections.
            return sa.create_engine(self._url, pool_size=5, max_overflow=5, pool_pre_ping=True)
        database = self._url.database or ""
        in_memory = database in ("", ":memory:") or self._url.query.get("mode") == "memory"
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000},
        }
        if in_memory:
            # One shared connection, or each checkout would see its own empty database.
            # Only for single-process tests: an in-memory store is invisible to workers.
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs.update(pool_size=2, max_overflow=8)  # connections are cheap; keep few idle
        engine = sa.create_engine(self._url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A short read transaction (a consistent snapshot; never blocks writers in WAL)."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A short write transaction, committed on success, rolled back on error.

        On SQLite it starts with BEGIN IMMEDIATE: the write lock is taken up front (waiting
        up to the busy timeout), so a read-then-write never fails half-way with "database is
        locked" when another process wrote in between.
        """
        with self.engine.connect() as conn:
            conn.execution_options(lmwb_write=True)
            with conn.begin():
                yield conn

    def _init_schema(self) -> None:
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INIT_LOCK})
            inspector = sa.inspect(conn)
            version: int | None = None
            if inspector.has_table("meta"):
                value = conn.execute(
                    sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
                ).scalar_one_or_none()
                version = int(value) if value is not None else None
            elif inspector.has_table("runs"):
                raise StoreSchemaError(
                    f"{self.url}: has a 'runs' table but no schema version; "
                    "it was not made by LM Workbench. Use another LMWB_STORE or LMWB_HOME."
                )
            if version is not None and version > SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self.url}: the store has schema version {version}, but this LM Workbench "
                    f"understands up to version {SCHEMA_VERSION}; upgrade lm-workbench "
                    "(pip install -U lm-workbench) to open it."
                )
            if version is not None:
                for current in range(version, SCHEMA_VERSION):
                    migrate = MIGRATIONS.get(current)
                    if migrate is None:
                        raise StoreSchemaError(
                            f"{self.url}: no migration from schema version {current} to "
                            f"{current + 1}; this store cannot be upgraded in place."
                        )
                    migrate(conn)
            metadata.create_all(conn)  # checkfirst: only what is missing
            if version != SCHEMA_VERSION:
                conn.execute(sa.delete(meta_table).where(meta_table.c.key == "schema_version"))
                conn.execute(
                    sa.insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION))
                )

    def schema_version(self) -> int:
        with self._read() as conn:
            value = conn.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar_one()
        return int(value)

    # -- folders -----------------------------------------------------------------------------
    @property
    def runs_root(self) -> Path:
        return self.home / "runs"

    def run_dir(self, run_id: str) -> Path:
        """The run's folder ``{home}/runs/{run_id}/``, created on demand."""
        path = safe_join(self.runs_root, run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        task: str,
        arch: str,
        status: str = "queued",
        tags: Iterable[str] = (),
        parent_id: str | None = None,
        sweep_id: str | None = None,
    ) -> Run:
        """Insert a new run and return it. ``name`` defaults to ``"{arch}-{8 hex digits}"``."""
        if not isinstance(config, Mapping):
            raise WorkbenchError(f"config: expected a mapping, got {type(config).__name__}")
        _check_status(status)
        now = time.time()
        values: dict[str, Any] = {
            "task": _text(task, "task", 64),
            "arch": _text(arch, "arch", 64),
            "config": _jsonable(dict(config), "config"),
            "status": status,
            "created_at": now,
            "updated_at": now,
            "started_at": now if status == "running" else None,
            "finished_at": now if status in TERMINAL_STATUSES else None,
            "summary": {},
            "tags": _tags(tags),
            "parent_id": parent_id,
            "sweep_id": sweep_id,
            "stop_requested": False,
            "progress": {},
        }
        for _attempt in range(8):  # 32-bit ids: a collision is rare, so a retry is enough
            run_id = "r" + secrets.token_hex(4)
            values["id"] = run_id
            values["name"] = (
                _run_name(name) if name is not None else f"{arch}-{run_id[1:]}"
            )
            try:
                with self._write() as conn:
                    conn.execute(sa.insert(runs_table).values(**values))
            except IntegrityError:
                if self._exists(run_id):
                    continue
                raise
            return self.get_run(run_id)
        raise WorkbenchError("could not allocate a new run id; try again")

    def get_run(self, run: str) -> Run:
        """The run with this exact id; else this exact name; else this unique id prefix.

        Raises :class:`RunNotFound`, or :class:`WorkbenchError` when a name or prefix matches
        several runs (the message lists them).
        """
        ref = str(run).strip()
        if not ref:
            raise RunNotFound(run)
        c = runs_table.c
        with self._read() as conn:
            row = conn.execute(sa.select(runs_table).where(c.id == ref)).first()
            if row is not None:
                return _to_run(row)
            for clause, what in (
                (c.name == ref, "named"),
                (c.id.startswith(ref, autoescape=True), "with an id starting with"),
            ):
                rows = conn.execute(
                    sa.select(runs_table).where(clause).order_by(c.created_at.desc()).limit(6)
                ).all()
                if len(rows) == 1:
                    return _to_run(rows[0])
                if rows:
                    ids = ", ".join(r.id for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
                    raise WorkbenchError(f"several runs {what} {ref!r}: {ids}; give the full id")
        raise RunNotFound(run)

    def list_runs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        task: str | None = None,
        tag: str | None = None,
        sweep_id: str | None = None,
        parent_id: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs matching every given filter, newest first. ``status`` may be one or several."""
        c = runs_table.c
        query = sa.select(runs_table).order_by(c.created_at.desc(), c.id.desc())
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                _check_status(s)
            query = query.where(c.status.in_(wanted))
        if task is not None:
            query = query.where(c.task == task)
        if sweep_id is not None:
            query = query.where(c.sweep_id == sweep_id)
        if parent_id is not None:
            query = query.where(c.parent_id == parent_id)
        if limit is not None and tag is None:
            query = query.limit(max(0, int(limit)))
        with self._read() as conn:
            rows = conn.execute(query).all()
        runs = [_to_run(row) for row in rows]
        if tag is not None:
            # Tags are a JSON list; matching them in Python keeps the SQL portable across
            # backends, and a store holds thousands of runs, not millions.
            runs = [r for r in runs if tag in r.tags]
            if limit is not None:
                runs = runs[: max(0, int(limit))]
        return runs

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Write the given columns of a run (any column except ``id`` and ``created_at``).

        Values are validated like :meth:`create_run`'s. Unlike :meth:`set_status`, setting
        ``status`` here touches no other column.
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise TypeError(
                f"update_run: unknown or read-only field(s) {sorted(unknown)}; "
                f"allowed: {sorted(_UPDATABLE)}"
            )
        values = dict(fields)
        if "status" in values:
            _check_status(values["status"])
        if "name" in values:
            values["name"] = _text(values["name"], "name", 200)
        if "tags" in values:
            values["tags"] = _tags(values["tags"])
        for key in (_JSON_FIELDS - {"tags"}) & values.keys():
            values[key] = _jsonable(values[key] if values[key] is not None else {}, key)
        values["updated_at"] = time.time()
        self._update(run_id, values)

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        """Move a run to ``status`` and keep its timestamps right.

        * ``queued``: clears finished_at, error, worker and a pending stop (a re-queued run).
        * ``running``: sets started_at if unset (kept across resumes), clears finished_at
          and error, and records a heartbeat.
        * a terminal status (completed, failed, stopped, pruned): sets finished_at; ``error``,
          when given, is stored (usually with ``failed``).
        """
        _check_status(status)
        now = time.time()
        c = runs_table.c
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == "queued":
            values.update(finished_at=None, error=None, worker=None, stop_requested=False)
        elif status == "running":
            values.update(
                started_at=sa.func.coalesce(c.started_at, now),
                finished_at=None,
                error=None,
                heartbeat_at=now,
            )
        else:
            values["finished_at"] = now
        if error is not None:
            values["error"] = str(error)
        self._update(run_id, values)

    def set_summary(self, run_id: str, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``summary`` into the run's summary (top-level keys); return the merged dict."""
        new = _jsonable(dict(summary), "summary")
        c = runs_table.c
        with self._write() as conn:
            # Read-modify-write inside one locked transaction, so concurrent merges never
            # lose each other's keys (FOR UPDATE on servers; BEGIN IMMEDIATE on SQLite).
            current = conn.execute(
                sa.select(c.summary).where(c.id == run_id).with_for_update()
            ).first()
            if current is None:
                raise RunNotFound(run_id)
            merged = {**(current.summary or {}), **new}
            conn.execute(
                sa.update(runs_table)
                .where(c.id == run_id)
                .values(summary=merged, updated_at=time.time())
            )
        return merged

    def set_progress(self, run_id: str, progress: Mapping[str, Any]) -> None:
        """Replace the run's live progress (e.g. step, max_steps, tokens_per_s, eta_s).

        Also records a heartbeat: a worker reporting progress is alive.
        """
        now = time.time()
        values = {
            "progress": _jsonable(dict(progress), "progress"),
            "heartbeat_at": now,
            "updated_at": now,
        }
        self._update(run_id, values)

    def heartbeat(self, run_id: str) -> None:
        """Record that the worker training this run is alive (see ``Run.heartbeat_at``)."""
        now = time.time()
        self._update(run_id, {"heartbeat_at": now, "updated_at": now})

    def rename_run(self, run_id: str, name: str) -> None:
        """Rename a run; a name another run has is refused, since names refer to runs (the
        CLI's RUN arguments, ``task.init_from_run``). New runs may still share a name."""
        name = _run_name(name)
        c = runs_table.c
        with self._read() as conn:
            other = conn.execute(sa.select(c.id).where(c.name == name, c.id != run_id).limit(1)).scalar()
        if other is not None:
            raise WorkbenchError(f"name {name!r} is already used by run {other}; pick another")
        self._update(run_id, {"name": name, "updated_at": time.time()})

    def set_tags(self, run_id: str, tags: Iterable[str]) -> None:
        """Replace the run's tags (stripped, empty ones dropped, duplicates removed, in order)."""
        self._update(run_id, {"tags": _tags(tags), "updated_at": time.time()})

    def request_stop(self, run_id: str) -> None:
        """Ask the worker training the run to stop at its next check.

        A run still queued is marked ``stopped`` at once, so no worker ever claims it.
        """
        now = time.time()
        c = runs_table.c
        with self._write() as conn:
            found = conn.execute(
                sa.update(runs_table)
                .where(c.id == run_id)
                .values(stop_requested=True, updated_at=now)
            ).rowcount
            if not found:
                raise RunNotFound(run_id)
            conn.execute(
                sa.update(runs_table)
                .where(c.id == run_id, c.status == "queued")
                .values(status="stopped", finished_at=now)
            )

    def stop_requested(self, run_id: str) -> bool:
        """Whether the run should stop. True also when the run was deleted meanwhile, so a
        worker training a deleted run stops instead of failing on its next write."""
        with self._read() as conn:
            flag = conn.execute(
                sa.select(runs_table.c.stop_requested).where(runs_table.c.id == run_id)
            ).scalar_one_or_none()
        return True if flag is None else bool(flag)

    def claim_next_queued(self, worker: str) -> Run | None:
        """Atomically take the oldest queued run for ``worker`` (e.g. ``"host:pid"``).

        Safe with any number of competing processes: each queued run is claimed by exactly
        one. The claimed run is returned already ``running``; None when the queue is empty.
        """
        c = runs_table.c
        worker = _text(worker, "worker", 255)
        while True:
            with self._read() as conn:
                candidates = (
                    conn.execute(
                        sa.select(c.id)
                        .where(c.status == "queued", c.stop_requested.is_(False))
                        .order_by(c.created_at, c.id)
                        .limit(16)
                    )
                    .scalars()
                    .all()
                )
            if not candidates:
                return None
            for run_id in candidates:
                now = time.time()
                # The WHERE on status makes this a compare-and-set: of several processes
                # racing for the same run, exactly one sees rowcount 1.
                with self._write() as conn:
                    won = conn.execute(
                        sa.update(runs_table)
                        .where(c.id == run_id, c.status == "queued", c.stop_requested.is_(False))
                        .values(
                            status="running",
                            worker=worker,
                            started_at=sa.func.coalesce(c.started_at, now),
                            finished_at=None,
                            error=None,
                            heartbeat_at=now,
                            updated_at=now,
                        )
                    ).rowcount
                if won == 1:
                    return self.get_run(run_id)
            # Every candidate was taken by someone else: look again.

    def delete_run(self, run_id: str) -> None:
        """Remove the run's row, its metrics and events, then its folder."""
        with self._write() as conn:
            conn.execute(sa.delete(metrics_table).where(metrics_table.c.run_id == run_id))
            conn.execute(sa.delete(events_table).where(events_table.c.run_id == run_id))
            found = conn.execute(sa.delete(runs_table).where(runs_table.c.id == run_id)).rowcount
            if not found:
                raise RunNotFound(run_id)
        folder = safe_join(self.runs_root, run_id)
        if folder.exists():
            try:
                shutil.rmtree(folder)
            except OSError as exc:
                raise WorkbenchError(
                    f"run {run_id} was deleted, but its folder {str(folder)!r} could not be "
                    f"removed: {exc}"
                ) from exc

    # -- metrics -----------------------------------------------------------------------------
    def log_metrics(self, run_id: str, rows: Sequence[tuple[int, str, str, float, float]]) -> None:
        """Append metric points ``(step, split, name, value, wall_time)``: one insert per call.

        Callers batch (e.g. every few seconds), since each call is one transaction.
        """
        if not rows:
            return
        try:
            params = [
                {
                    "run_id": run_id,
                    "step": int(step),
                    "split": str(split),
                    "name": str(name),
                    "value": _finite_or_none(float(value)),
                    "wall_time": float(wall_time),
                }
                for step, split, name, value, wall_time in rows
            ]
        except (TypeError, ValueError) as exc:
            raise WorkbenchError(
                f"log_metrics({run_id}): each row must be (step, split, name, value, wall_time): "
                f"{exc}"
            ) from exc
        self._insert_for_run(run_id, metrics_table, params)

    def metrics(
        self,
        run_id: str,
        *,
        names: str | Iterable[str] | None = None,
        split: str | None = None,
    ) -> pd.DataFrame:
        """A run's metric points: columns step, split, name, value, wall_time; sorted by step.

        Empty (with those columns) for a run without points, or one that does not exist.
        """
        c = metrics_table.c
        query = sa.select(c.step, c.split, c.name, c.value, c.wall_time).where(c.run_id == run_id)
        query = _filter_names(query, names, split)
        with self._read() as conn:
            rows = conn.execute(query.order_by(c.step, c.id)).all()
        return _frame(rows, METRIC_COLUMNS)

    def metrics_for_runs(
        self, run_ids: Iterable[str], name: str, *, split: str | None = None
    ) -> pd.DataFrame:
        """One metric for several runs, for comparisons: columns run_id, step, split, name,
        value, wall_time; grouped by run in the order given, each sorted by step."""
        ids = list(dict.fromkeys(run_ids))
        columns = ["run_id", *METRIC_COLUMNS]
        if not ids:
            return _frame([], columns)
        c = metrics_table.c
        query = sa.select(c.run_id, c.step, c.split, c.name, c.value, c.wall_time).where(
            c.run_id.in_(ids)
        )
        query = _filter_names(query, name, split)
        with self._read() as conn:
            rows = conn.execute(query.order_by(c.step, c.id)).all()
        frame = _frame(rows, columns)
        order = {run_id: i for i, run_id in enumerate(ids)}
        frame = frame.sort_values(
            "run_id", key=lambda s: s.map(order), kind="stable", ignore_index=True
        )
        return frame

    def last_step(self, run_id: str) -> int | None:
        """The highest step with a logged metric point, or None."""
        with self._read() as conn:
            step = conn.execute(
                sa.select(sa.func.max(metrics_table.c.step)).where(metrics_table.c.run_id == run_id)
            ).scalar()
        return None if step is None else int(step)

    def truncate_metrics(self, run_id: str, after_step: int) -> int:
        """Delete points logged after ``after_step`` (resuming from a checkpoint at that step);
        return how many were deleted."""
        c = metrics_table.c
        with self._write() as conn:
            return conn.execute(
                sa.delete(metrics_table).where(c.run_id == run_id, c.step > int(after_step))
            ).rowcount

    # -- events ------------------------------------------------------------------------------
    def log_event(self, run_id: str, level: str, message: str) -> None:
        """Append a line to the run's log. ``level``: debug, info, warning (or warn), error."""
        lvl = str(level).lower()
        lvl = "warning" if lvl == "warn" else lvl
        if lvl not in EVENT_LEVELS:
            raise WorkbenchError(
                f"event level {level!r}: expected one of {', '.join(EVENT_LEVELS)}"
            )
        row = {"run_id": run_id, "time": time.time(), "level": lvl, "message": str(message)}
        self._insert_for_run(run_id, events_table, [row])

    def events(
        self, run_id: str, *, after_id: int | None = None, limit: int | None = None
    ) -> list[Event]:
        """The run's log, oldest first. ``after_id``: only newer events (for polling);
        ``limit``: only the last ``limit`` of them."""
        c = events_table.c
        query = sa.select(events_table).where(c.run_id == run_id)
        if after_id is not None:
            query = query.where(c.id > int(after_id))
        query = query.order_by(c.id.desc())
        if limit is not None:
            query = query.limit(max(0, int(limit)))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            Event(id=r.id, run_id=r.run_id, time=r.time, level=r.level, message=r.message)
            for r in reversed(rows)
        ]

    # -- sweeps (core/sweep.py) ----------------------------------------------------------------
    def create_sweep(self, spec: Mapping[str, Any], *, name: str | None, task: str) -> SweepRecord:
        """Insert a sweep (status ``created``); ``name`` defaults to ``"sweep-{8 hex digits}"``."""
        now = time.time()
        for _attempt in range(8):
            sweep_id = "s" + secrets.token_hex(4)
            values = {
                "id": sweep_id,
                "name": _text(name, "name", 200) if name else f"sweep-{sweep_id[1:]}",
                "task": _text(task, "task", 64),
                "spec": _jsonable(dict(spec), "spec"),
                "status": "created",
                "created_at": now,
                "updated_at": now,
            }
            try:
                with self._write() as conn:
                    conn.execute(sa.insert(sweeps_table).values(**values))
            except IntegrityError:
                continue
            return self.get_sweep(sweep_id)
        raise WorkbenchError("could not allocate a new sweep id; try again")

    def get_sweep(self, ref: str) -> SweepRecord:
        """The sweep with this exact id; else this exact name; else this unique id prefix."""
        text = str(ref).strip()
        c = sweeps_table.c
        with self._read() as conn:
            for clause in (c.id == text, c.name == text, c.id.startswith(text, autoescape=True)):
                rows = conn.execute(
                    sa.select(sweeps_table).where(clause).order_by(c.created_at.desc()).limit(6)
                ).all()
                if len(rows) == 1:
                    return SweepRecord(**rows[0]._mapping)
                if rows:
                    ids = ", ".join(r.id for r in rows[:5])
                    raise WorkbenchError(f"several sweeps match {text!r}: {ids}; give the full id")
        raise WorkbenchError(f"no sweep {text!r} in the store (see `lmwb sweep status`)")

    def list_sweeps(self, *, status: str | Iterable[str] | None = None) -> list[SweepRecord]:
        """Sweeps, newest first."""
        c = sweeps_table.c
        query = sa.select(sweeps_table).order_by(c.created_at.desc(), c.id.desc())
        if status is not None:
            query = query.where(c.status.in_([status] if isinstance(status, str) else list(status)))
        with self._read() as conn:
            return [SweepRecord(**row._mapping) for row in conn.execute(query).all()]

    def update_sweep(self, sweep_id: str, *, only_if_status: Iterable[str] | None = None,
                     **fields: Any) -> bool:
        """Write columns of a sweep; with ``only_if_status`` only while its status is one of
        those (a compare-and-set). Returns whether the row was written."""
        unknown = set(fields) - {c.name for c in sweeps_table.columns} | ({"id"} & set(fields))
        if unknown:
            raise TypeError(f"update_sweep: unknown or read-only field(s) {sorted(unknown)}")
        if "status" in fields and fields["status"] not in SWEEP_STATUSES:
            raise WorkbenchError(f"sweep status {fields['status']!r}: expected one of {', '.join(SWEEP_STATUSES)}")
        if "spec" in fields:
            fields["spec"] = _jsonable(dict(fields["spec"]), "spec")
        c = sweeps_table.c
        query = sa.update(sweeps_table).where(c.id == sweep_id)
        if only_if_status is not None:
            query = query.where(c.status.in_(list(only_if_status)))
        with self._write() as conn:
            return conn.execute(query.values(**fields, updated_at=time.time())).rowcount == 1

    def claim_sweep_trial(self, sweep_id: str, max_trials: int | None) -> bool:
        """Atomically take one trial slot of a running sweep: False when the sweep is not
        running, its ``max_trials`` slots are taken or its deadline has passed. Exactly one of
        several racing processes gets each slot (a conditional UPDATE, as in
        :meth:`claim_next_queued`)."""
        c = sweeps_table.c
        now = time.time()
        query = sa.update(sweeps_table).where(
            c.id == sweep_id,
            c.status == "running",
            sa.or_(c.deadline_at.is_(None), c.deadline_at > now),
        )
        if max_trials is not None:
            query = query.where(c.trials_claimed < int(max_trials))
        with self._write() as conn:
            won = conn.execute(
                query.values(trials_claimed=c.trials_claimed + 1, updated_at=now)
            ).rowcount
        return won == 1

    def release_sweep_trial(self, sweep_id: str) -> None:
        """Give back a slot whose trial never started (e.g. the database was briefly down)."""
        c = sweeps_table.c
        with self._write() as conn:
            conn.execute(
                sa.update(sweeps_table)
                .where(c.id == sweep_id, c.trials_claimed > 0)
                .values(trials_claimed=c.trials_claimed - 1, updated_at=time.time())
            )

    # -- helpers -----------------------------------------------------------------------------
    def _exists(self, run_id: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(sa.select(runs_table.c.id).where(runs_table.c.id == run_id)).first()
                is not None
            )

    def _update(self, run_id: str, values: dict[str, Any]) -> None:
        with self._write() as conn:
            found = conn.execute(
                sa.update(runs_table).where(runs_table.c.id == run_id).values(**values)
            ).rowcount
        if not found:
            raise RunNotFound(run_id)

    def _insert_for_run(self, run_id: str, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        try:
            with self._write() as conn:
                conn.execute(sa.insert(table), rows)  # executemany
        except IntegrityError:
            # The foreign key refused the rows: say which run is missing, not which constraint.
            if not self._exists(run_id):
                raise RunNotFound(run_id) from None
            raise


# --------------------------------------------------------------------------------------------
# SQLite connection set-up
# --------------------------------------------------------------------------------------------
def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite's own transaction handling
    # skips BEGIN before SELECT and cannot do BEGIN IMMEDIATE).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")  # persistent; a no-op once set
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL, far fewer fsyncs
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("lmwb_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# --------------------------------------------------------------------------------------------
# Value helpers
# --------------------------------------------------------------------------------------------
def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise WorkbenchError(f"status {status!r}: expected one of {', '.join(STATUSES)}")


_RUN_ID = re.compile(r"r[0-9a-f]{8}")


def _run_name(value: Any) -> str:
    """A run name: text that does not look like a run id, which lookups try first."""
    name = _text(value, "name", 200)
    if _RUN_ID.fullmatch(name):
        raise WorkbenchError(f"name {name!r}: looks like a run id (r + 8 hex digits), which would hide "
                             "the run behind another run's id; pick another")
    return name


def _text(value: Any, what: str, max_len: int) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise WorkbenchError(f"{what}: may not be empty")
    if len(text) > max_len:
        raise WorkbenchError(f"{what}: {len(text)} characters; at most {max_len} allowed")
    return text


def _tags(tags: Iterable[str] | str | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):  # a lone tag, not its characters
        tags = [tags]
    cleaned = (str(t).strip() for t in tags)
    return list(dict.fromkeys(t for t in cleaned if t))


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (see the module docstring), or a WorkbenchError naming
    the offending key path."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _finite_or_none(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, np.generic):
        return _jsonable(value.item(), where)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise WorkbenchError(f"{where}: key {key!r} is not text; JSON keys must be text")
            out[str(key)] = _jsonable(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise WorkbenchError(
        f"{where}: a {type(value).__name__} cannot be stored; use text, numbers, true/false, "
        "null, lists or mappings"
    )


def _to_run(row: sa.Row[Any]) -> Run:
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
    )


def _filter_names(
    query: sa.Select[Any], names: str | Iterable[str] | None, split: str | None
) -> sa.Select[Any]:
    c = metrics_table.c
    if names is not None:
        wanted = [names] if isinstance(names, str) else list(names)
        query = query.where(c.name.in_(wanted))
    if split is not None:
        query = query.where(c.split == split)
    return query


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    # Fixed dtypes even when empty, so callers can filter and plot without special cases;
    # NULL values (NaN stored by SQLite) come back as NaN.
    return frame.astype({"step": "int64", "value": "float64", "wall_time": "float64"})
