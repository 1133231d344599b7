"""The store's connection to its database: engines for SQLite (WAL, BEGIN IMMEDIATE) or any
SQLAlchemy URL, short read and write transactions, schema creation, the run folders."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from core.errors import RunNotFound, WorkbenchError
from core.paths import safe_join, workbench_home
from core.store import schema
from core.store.claims import Claim, hold_claim, postgres_session_options
from core.store.schema import StoreSchemaError, meta_table, runs_table

STORE_ENV = "LMWB_STORE"
# Where run folders live when several machines share a store: a folder every machine mounts
# (NFS, SMB, a cluster file system). Default: {home}/runs on each machine.
ARTIFACTS_ENV = "LMWB_ARTIFACTS"
_BUSY_TIMEOUT_MS = 30_000


class Database:
    """Connection plumbing the store's query mixins share (see :class:`core.store.Store`)."""

    def __init__(self, url: str | None = None, home: Path | None = None) -> None:
        self.home = Path(home).expanduser().resolve() if home is not None else workbench_home()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkbenchError(f"workbench home {self.home}: cannot be created ({exc.strerror}); "
                                 "set LMWB_HOME or --home to a folder you can write") from None
        raw = url or os.environ.get(STORE_ENV) or f"sqlite:///{self.home / 'store.db'}"
        if "://" not in raw:  # a plain path: a SQLite file
            raw = f"sqlite:///{Path(raw).expanduser().resolve()}"
        self._url = make_url(raw)
        self._engine: Engine | None = None
        self._pid = -1
        # A SQLite file (or its folder) this process may not write: open it read-only, so the
        # commands that only read (runs list, predict) still work; writes say why they cannot.
        self.read_only = self._sqlite_file_read_only()
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

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connect_url(self) -> str:
        """The full URL, password included: for the child processes (workers, sweep drivers,
        Optuna's storage) that open the same database. Never show it."""
        return self._url.render_as_string(hide_password=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self._url.render_as_string(hide_password=False), "home": str(self.home)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled: build the engine again, through the class's own __init__ (Store's too)
        self.__init__(state["url"], Path(state["home"]))  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Store({self.url!r}, home={str(self.home)!r})"

    def _sqlite_file(self) -> Path | None:
        """The database file of a file-based SQLite store, else None."""
        database = self._url.database or ""
        if not self.is_sqlite or database in ("", ":memory:") or self._url.query.get("mode") == "memory":
            return None
        return Path(database).expanduser()

    def _sqlite_file_read_only(self) -> bool:
        path = self._sqlite_file()
        if path is None or not path.exists():
            return False  # a new store: creating it says plainly if the folder is read-only
        # WAL needs to write the -wal / -shm files beside the database, so the folder counts.
        return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))

    def read_only_error(self, what: str = "this command") -> WorkbenchError:
        return WorkbenchError(
            f"the store {self._sqlite_file()} is read-only (its file or folder may not be written): {what} "
            "needs to write to it. Point LMWB_HOME / --home at a writable copy, or fix the permissions."
        )

    def _make_engine(self) -> Engine:
        if self.read_only:
            return self._read_only_engine()
        if not self.is_sqlite:
            # Small pool, checked before use: servers drop idle connections.
            connect_args = postgres_session_options() if self._url.get_backend_name() == "postgresql" else {}
            return sa.create_engine(self._url, pool_size=5, max_overflow=5, pool_pre_ping=True,
                                    connect_args=connect_args)
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

    def _read_only_engine(self) -> Engine:
        # immutable=1: no -shm file is needed (none can be made in a read-only folder); whoever
        # can write this store is not using this process, so nothing changes under it.
        path = self._sqlite_file()
        uri = f"file:{quote(str(path))}?mode=ro&immutable=1"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, check_same_thread=False)

        return sa.create_engine("sqlite://", creator=connect, poolclass=StaticPool)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A short read transaction (a consistent snapshot; never blocks writers in WAL)."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, fence: Claim | None = None) -> Iterator[Connection]:
        """A short write transaction, committed on success, rolled back on error.

        On SQLite it starts with BEGIN IMMEDIATE: the write lock is taken up front (waiting
        up to the busy timeout), so a read-then-write never fails half-way with "database is
        locked" when another process wrote in between. ``fence``: the writer's claim on the
        run, checked first in the same transaction (:mod:`core.store.claims`).
        """
        if self.read_only:
            raise self.read_only_error()
        with self.engine.connect() as conn:
            conn.execution_options(lmwb_write=True)
            with conn.begin():
                if fence is not None:
                    hold_claim(conn, fence)
                yield conn

    def _init_schema(self) -> None:
        if self.read_only:
            self._check_schema_read_only()
            return
        try:
            self._create_or_upgrade_schema()
        except sa.exc.OperationalError as exc:
            path = self._sqlite_file()
            if path is None:
                raise
            if "locked" in str(exc.orig):
                # SQLite's write lock belongs to a process: one stopped mid-write holds it until it runs again.
                raise WorkbenchError(
                    f"the store {path} stayed locked by another process for {_BUSY_TIMEOUT_MS // 1000} s (one "
                    "writing to it, or stopped in the middle of a write); try again, or end that process") from None
            raise WorkbenchError(f"the store {path} cannot be opened ({exc.orig}); check that its folder "
                                 "exists and may be written, or set LMWB_HOME / --home") from None

    def _check_schema_read_only(self) -> None:
        with self._read() as conn:
            if not sa.inspect(conn).has_table("meta"):
                raise self.read_only_error("creating its tables")
            value = conn.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).scalar_one_or_none()
        if value is not None and int(value) != schema.SCHEMA_VERSION:
            raise self.read_only_error(f"upgrading its schema (version {value})")

    def _create_or_upgrade_schema(self) -> None:
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": schema.PG_INIT_LOCK})
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
            if version is not None and version > schema.SCHEMA_VERSION:
                raise StoreSchemaError(
                    f"{self.url}: the store has schema version {version}, but this LM Workbench "
                    f"understands up to version {schema.SCHEMA_VERSION}; upgrade lm-workbench "
                    "(pip install -U lm-workbench) to open it."
                )
            if version is not None:
                for current in range(version, schema.SCHEMA_VERSION):
                    migrate = schema.MIGRATIONS.get(current)
                    if migrate is None:
                        raise StoreSchemaError(
                            f"{self.url}: no migration from schema version {current} to "
                            f"{current + 1}; this store cannot be upgraded in place."
                        )
                    migrate(conn)
            schema.metadata.create_all(conn)  # checkfirst: only what is missing
            if version != schema.SCHEMA_VERSION:
                conn.execute(sa.delete(meta_table).where(meta_table.c.key == "schema_version"))
                conn.execute(
                    sa.insert(meta_table).values(key="schema_version", value=str(schema.SCHEMA_VERSION))
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
        """``$LMWB_ARTIFACTS`` (a folder shared by the machines of a lab), else ``{home}/runs``."""
        shared = os.environ.get(ARTIFACTS_ENV, "").strip()
        return Path(shared).expanduser().resolve() if shared else self.home / "runs"

    def run_folder(self, run_id: str) -> Path:
        """Where the run's folder is or would be here; unlike :meth:`run_dir`, nothing is created
        (a reader must not leave an empty folder that hides a run trained on another machine)."""
        return safe_join(self.runs_root, run_id)

    def run_dir(self, run_id: str) -> Path:
        """The run's folder ``{runs_root}/{run_id}/``, created on demand (for writing)."""
        path = safe_join(self.runs_root, run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- helpers -----------------------------------------------------------------------------
    def _exists(self, run_id: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(sa.select(runs_table.c.id).where(runs_table.c.id == run_id)).first()
                is not None
            )

    def _update(self, run_id: str, values: dict[str, Any], fence: Claim | None = None) -> None:
        with self._write(fence) as conn:
            found = conn.execute(
                sa.update(runs_table).where(runs_table.c.id == run_id).values(**values)
            ).rowcount
        if not found:
            raise RunNotFound(run_id)


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


