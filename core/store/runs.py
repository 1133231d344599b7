"""Run rows: create, look up, list, update, claim from the queue, stop, delete."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.config import processes_wanted
from core.errors import RunNotFound, WorkbenchError
from core.paths import safe_join
from core.store.claims import Claim, ClaimQueries
from core.store.database import ARTIFACTS_ENV, Database
from core.store.records import (
    TERMINAL_STATUSES,
    Run,
    check_status,
    jsonable,
    run_name,
    tags_list,
    text,
    to_run,
)
from core.store.schema import events_table, metrics_table, runs_table

# Fields update_run may write; id and created_at never change, claim_epoch only with a claim.
_UPDATABLE = frozenset(c.name for c in runs_table.columns) - {"id", "created_at", "claim_epoch"}
_JSON_FIELDS = frozenset({"config", "summary", "tags", "progress"})


class RunQueries(ClaimQueries, Database):
    """The ``runs`` table. Writes a run's holder makes take its claim as ``fence``
    (:class:`core.store.claims.ClaimedRun` passes it): refused once the claim is lost."""

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
        check_status(status)
        now = time.time()
        values: dict[str, Any] = {
            "task": text(task, "task", 64),
            "arch": text(arch, "arch", 64),
            "config": jsonable(dict(config), "config"),
            "status": status,
            "created_at": now,
            "updated_at": now,
            "started_at": now if status == "running" else None,
            "finished_at": now if status in TERMINAL_STATUSES else None,
            "summary": {},
            "tags": tags_list(tags),
            "parent_id": parent_id,
            "sweep_id": sweep_id,
            "stop_requested": False,
            "progress": {},
        }
        for _attempt in range(8):  # 32-bit ids: a collision is rare, so a retry is enough
            run_id = "r" + secrets.token_hex(4)
            values["id"] = run_id
            values["name"] = (
                run_name(name) if name is not None else f"{arch}-{run_id[1:]}"
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
                return to_run(row)
            for clause, what in (
                (c.name == ref, "named"),
                (c.id.startswith(ref, autoescape=True), "with an id starting with"),
            ):
                rows = conn.execute(
                    sa.select(runs_table).where(clause).order_by(c.created_at.desc()).limit(6)
                ).all()
                if len(rows) == 1:
                    return to_run(rows[0])
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
                check_status(s)
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
        runs = [to_run(row) for row in rows]
        if tag is not None:
            # Tags are a JSON list; matching them in Python keeps the SQL portable across
            # backends, and a store holds thousands of runs, not millions.
            runs = [r for r in runs if tag in r.tags]
            if limit is not None:
                runs = runs[: max(0, int(limit))]
        return runs

    def update_run(self, run_id: str, *, fence: Claim | None = None, **fields: Any) -> None:
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
            check_status(values["status"])
        if "name" in values:
            values["name"] = text(values["name"], "name", 200)
        if "tags" in values:
            values["tags"] = tags_list(values["tags"])
        for key in (_JSON_FIELDS - {"tags"}) & values.keys():
            values[key] = jsonable(values[key] if values[key] is not None else {}, key)
        values["updated_at"] = time.time()
        self._update(run_id, values, fence)

    def set_status(self, run_id: str, status: str, error: str | None = None, *, fence: Claim | None = None) -> None:
        """Move a run to ``status`` and keep its timestamps right.

        * ``queued``: clears finished_at, error, worker and a pending stop (a re-queued run).
        * ``running``: sets started_at if unset (kept across resumes), clears finished_at
          and error, and records a heartbeat.
        * a terminal status (completed, failed, stopped, pruned): sets finished_at; ``error``,
          when given, is stored (usually with ``failed``).
        """
        check_status(status)
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
        self._update(run_id, values, fence)

    def set_summary(self, run_id: str, summary: Mapping[str, Any], *, fence: Claim | None = None) -> dict[str, Any]:
        """Merge ``summary`` into the run's summary (top-level keys); return the merged dict."""
        new = jsonable(dict(summary), "summary")
        c = runs_table.c
        with self._write(fence) as conn:
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

    def set_progress(self, run_id: str, progress: Mapping[str, Any], *, fence: Claim | None = None) -> None:
        """Replace the run's live progress (e.g. step, max_steps, tokens_per_s, eta_s).

        Also records a heartbeat: a worker reporting progress is alive.
        """
        now = time.time()
        values = {
            "progress": jsonable(dict(progress), "progress"),
            "heartbeat_at": now,
            "updated_at": now,
        }
        self._update(run_id, values, fence)

    def heartbeat(self, run_id: str, *, fence: Claim | None = None) -> None:
        """Record that the worker training this run is alive (see ``Run.heartbeat_at``)."""
        now = time.time()
        self._update(run_id, {"heartbeat_at": now, "updated_at": now}, fence)

    def rename_run(self, run_id: str, name: str) -> None:
        """Rename a run; a name another run has is refused, since names refer to runs (the
        CLI's RUN arguments, ``task.init_from_run``). New runs may still share a name."""
        name = run_name(name)
        c = runs_table.c
        with self._read() as conn:
            other = conn.execute(sa.select(c.id).where(c.name == name, c.id != run_id).limit(1)).scalar()
        if other is not None:
            raise WorkbenchError(f"name {name!r} is already used by run {other}; pick another")
        self._update(run_id, {"name": name, "updated_at": time.time()})

    def set_tags(self, run_id: str, tags: Iterable[str]) -> None:
        """Replace the run's tags (stripped, empty ones dropped, duplicates removed, in order)."""
        self._update(run_id, {"tags": tags_list(tags), "updated_at": time.time()})

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

    def claim_next_queued(
        self, worker: str, *, only_tag: str | None = None, skip_tag_prefix: str | None = None,
        only_run: str | None = None, max_processes: int | None = None,
    ) -> Run | None:
        """Atomically take the oldest queued run for ``worker`` (e.g. ``"host:pid"``): with
        ``only_tag``, only a run with that tag; with ``skip_tag_prefix``, none with a tag so
        starting (a race's entrants wait for the workers started for them together); with
        ``only_run``, that run only; with ``max_processes``, none that asks to train on more
        processes (a run for several GPUs waits for a worker given that many).

        Safe with any number of competing processes: each queued run is claimed by exactly
        one. The claimed run is returned already ``running``; None when the queue is empty.
        """
        c = runs_table.c
        worker = text(worker, "worker", 255)
        filtered = any(x is not None for x in (only_tag, skip_tag_prefix, only_run, max_processes))

        def wanted(row: Any) -> bool:
            tags = list(row.tags or [])
            if only_run is not None and row.id != only_run:
                return False
            if only_tag is not None and only_tag not in tags:
                return False
            if max_processes is not None and processes_wanted(row.config) > max_processes:
                return False
            return not (skip_tag_prefix and any(t.startswith(skip_tag_prefix) for t in tags))

        while True:
            with self._read() as conn:
                rows = conn.execute(
                    sa.select(c.id, c.tags, c.config)
                    .where(c.status == "queued", c.stop_requested.is_(False))
                    .order_by(c.created_at, c.id)
                    .limit(256 if filtered else 16)  # tags are JSON: filtered here, portably
                ).all()
            candidates = [row.id for row in rows if wanted(row)]
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
                            claim_epoch=c.claim_epoch + 1,  # a new claim: any earlier holder is fenced off
                        )
                    ).rowcount
                if won == 1:
                    return self.get_run(run_id)
            # Every candidate was taken by someone else: look again.

    def run_files(self, run_id: str) -> Path:
        """The folder of a run that has trained here or on a machine sharing the artifact root;
        a :class:`WorkbenchError` naming the machine that holds it when this one cannot see it
        (its own ``{home}/runs`` while the run trained elsewhere)."""
        folder = safe_join(self.runs_root, run_id)
        if folder.is_dir() and any(folder.iterdir()):
            return folder
        run = self.get_run(run_id)
        host = (run.worker or "").rpartition(":")[0]
        # An empty folder here (left by an older reader) says nothing about where the files are.
        if run.started_at is None or not host:
            folder.mkdir(parents=True, exist_ok=True)  # nothing written yet: an empty folder is the truth
            return folder
        raise WorkbenchError(
            f"the files of run {run.id} (checkpoints, tokenizer) are on {host}, where it trained, not in "
            f"{self.runs_root}; run this there, or give every machine one shared folder with "
            f"{ARTIFACTS_ENV} (docs/scaling.md)"
        )

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

