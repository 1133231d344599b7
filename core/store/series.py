"""A run's metric series and its log of events."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.errors import RunNotFound, WorkbenchError
from core.store.claims import Claim
from core.store.database import Database
from core.store.records import EVENT_LEVELS, Event, finite_or_none
from core.store.schema import events_table, metrics_table

METRIC_COLUMNS = ["step", "split", "name", "value", "wall_time"]


class SeriesQueries(Database):
    """The ``metrics`` and ``events`` tables."""

    def log_metrics(
        self, run_id: str, rows: Sequence[tuple[int, str, str, float, float]], *, fence: Claim | None = None
    ) -> None:
        """Append metric points ``(step, split, name, value, wall_time)``: one insert per call.

        Callers batch (e.g. every few seconds), since each call is one transaction. ``fence``:
        the writer's claim on the run (:mod:`core.store.claims`), here and below.
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
                    "value": finite_or_none(float(value)),
                    "wall_time": float(wall_time),
                }
                for step, split, name, value, wall_time in rows
            ]
        except (TypeError, ValueError) as exc:
            raise WorkbenchError(
                f"log_metrics({run_id}): each row must be (step, split, name, value, wall_time): "
                f"{exc}"
            ) from exc
        self._insert_for_run(run_id, metrics_table, params, fence)

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

    def truncate_metrics(self, run_id: str, after_step: int, *, fence: Claim | None = None) -> int:
        """Delete points logged after ``after_step`` (resuming from a checkpoint at that step);
        return how many were deleted."""
        c = metrics_table.c
        with self._write(fence) as conn:
            return conn.execute(
                sa.delete(metrics_table).where(c.run_id == run_id, c.step > int(after_step))
            ).rowcount

    # -- events ------------------------------------------------------------------------------
    def log_event(self, run_id: str, level: str, message: str, *, fence: Claim | None = None) -> None:
        """Append a line to the run's log. ``level``: debug, info, warning (or warn), error."""
        lvl = str(level).lower()
        lvl = "warning" if lvl == "warn" else lvl
        if lvl not in EVENT_LEVELS:
            raise WorkbenchError(
                f"event level {level!r}: expected one of {', '.join(EVENT_LEVELS)}"
            )
        row = {"run_id": run_id, "time": time.time(), "level": lvl, "message": str(message)}
        self._insert_for_run(run_id, events_table, [row], fence)

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

    def _insert_for_run(
        self, run_id: str, table: sa.Table, rows: list[dict[str, Any]], fence: Claim | None = None
    ) -> None:
        try:
            with self._write(fence) as conn:
                conn.execute(sa.insert(table), rows)  # executemany
        except IntegrityError:
            # The foreign key refused the rows: say which run is missing, not which constraint.
            if not self._exists(run_id):
                raise RunNotFound(run_id) from None
            raise




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
