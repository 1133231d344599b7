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

from core.store.database import ARTIFACTS_ENV, STORE_ENV
from core.store.records import (
    ACTIVE_STATUSES,
    EVENT_LEVELS,
    STATUSES,
    SWEEP_STATUSES,
    TERMINAL_STATUSES,
    Event,
    Run,
    SweepRecord,
)
from core.store.runs import RunQueries
from core.store.schema import SCHEMA_VERSION, StoreSchemaError
from core.store.series import METRIC_COLUMNS, SeriesQueries
from core.store.sweeps import SweepQueries


class Store(RunQueries, SeriesQueries, SweepQueries):
    """Runs, metric series and run logs in one SQL database; run folders under ``home``.

    ``url``: a SQLAlchemy URL; else ``$LMWB_STORE``; else ``sqlite:///{home}/store.db``. A bare
    file path is taken as a SQLite file. ``home``: where run folders live; default
    :func:`core.paths.workbench_home`. Opening a store creates its tables when missing and
    refuses one written by a newer LM Workbench (:class:`StoreSchemaError`).

    A Store may be passed to another process (it pickles as its URL and home); after a fork
    the child opens fresh connections instead of sharing the parent's.

    Its methods come in three groups, one module each: run rows (:mod:`core.store.runs`),
    metric series and events (:mod:`core.store.series`), sweeps (:mod:`core.store.sweeps`);
    connections and folders are :mod:`core.store.database`.
    """


__all__ = [
    "ACTIVE_STATUSES", "ARTIFACTS_ENV", "EVENT_LEVELS", "METRIC_COLUMNS", "SCHEMA_VERSION", "STATUSES", "STORE_ENV",
    "SWEEP_STATUSES", "TERMINAL_STATUSES", "Event", "Run", "Store", "StoreSchemaError", "SweepRecord",
]
