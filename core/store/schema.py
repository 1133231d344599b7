"""The store's tables, schema version and migrations (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import WorkbenchError

SCHEMA_VERSION = 2

PG_INIT_LOCK = 0x4C4D5742  # "LMWB": serialises schema creation between processes on PostgreSQL


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
    # The fencing token of the run's claim (core.store.claims): raised each time a worker takes
    # the run and each time a claim is revoked, so a holder that lost it can write nothing more.
    sa.Column("claim_epoch", sa.BigInteger, nullable=False, server_default="0"),
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
def _add_claim_epoch(conn: Connection) -> None:
    """Version 2: runs.claim_epoch, the fencing token of a run's claim (0 for existing runs)."""
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN claim_epoch BIGINT NOT NULL DEFAULT 0"))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _add_claim_epoch}


