"""Sweep rows (core/sweep): definition, life cycle, and the atomic trial-slot counter."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.errors import WorkbenchError
from core.store.database import Database
from core.store.records import SWEEP_STATUSES, SweepRecord, jsonable, text
from core.store.schema import sweeps_table


class SweepQueries(Database):
    """The ``sweeps`` table."""

    def create_sweep(self, spec: Mapping[str, Any], *, name: str | None, task: str) -> SweepRecord:
        """Insert a sweep (status ``created``); ``name`` defaults to ``"sweep-{8 hex digits}"``."""
        now = time.time()
        for _attempt in range(8):
            sweep_id = "s" + secrets.token_hex(4)
            values = {
                "id": sweep_id,
                "name": text(name, "name", 200) if name else f"sweep-{sweep_id[1:]}",
                "task": text(task, "task", 64),
                "spec": jsonable(dict(spec), "spec"),
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
            fields["spec"] = jsonable(dict(fields["spec"]), "spec")
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

