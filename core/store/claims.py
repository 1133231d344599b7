"""Fenced claims: a worker's hold on the run it trains, and the store as that holder sees it.

A run is trained by whoever holds its claim: a queue worker that claimed it, a foreground
``lmwb train`` / ``lmwb resume``, a sweep trial. Each claim carries the run's ``claim_epoch``
at the moment it was taken (a fencing token). The epoch is raised every time someone takes the
run (:meth:`ClaimQueries.take_claim`, ``claim_next_queued``) and every time a claim is revoked
because its holder looked gone (:meth:`ClaimQueries.revoke_claim`: a dead pid, a heartbeat
silent past the grace period). Every write a holder makes for its run goes through
:class:`ClaimedRun`, which checks the epoch *inside the write's own transaction*: once the run
was declared orphaned and claimed again, a worker that comes back (a frozen VM, a SIGSTOP, a
network partition that heals) has every metric, event, status, heartbeat and checkpoint refused
with :class:`ClaimLost`, and stops that run, saying why, at its next contact with the store.

Why in the transaction: on PostgreSQL the check is an UPDATE of the run's row, whose row lock
makes a concurrent re-claim wait until the write commits (or see the write refused); on SQLite
every write transaction is ``BEGIN IMMEDIATE``, so writes and claims are serialised anyway.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.errors import RunNotFound, WorkbenchError
from core.store.schema import runs_table

# How long a holder may stay silent before its claim is revoked (its run or sweep trial declared
# orphaned). Holders heartbeat every few seconds, so this only has to outlast a hiccup. On
# PostgreSQL it also bounds how long a frozen holder may sit inside a transaction: the server
# then ends its session, so its row locks never block the machines that take over.
GRACE_ENV = "LMWB_WORKER_GRACE_S"
DEFAULT_GRACE_S = 30.0
MIN_GRACE_S = 10.0  # two missed heartbeats at the least


def grace_s() -> float:
    """``$LMWB_WORKER_GRACE_S`` (at least :data:`MIN_GRACE_S`), else :data:`DEFAULT_GRACE_S`;
    an unreadable value is refused, naming the variable."""
    raw = os.environ.get(GRACE_ENV, "").strip()
    if not raw:
        return DEFAULT_GRACE_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= MIN_GRACE_S or value == float("inf"):
        raise WorkbenchError(f"{GRACE_ENV}={raw!r}: expected a number of seconds >= {MIN_GRACE_S:g}")
    return value


def postgres_session_options() -> dict[str, str]:
    """libpq options for every connection to a PostgreSQL store (the workbench's and Optuna's):
    a session idle inside a transaction for longer than the grace period (its process frozen
    mid-write) is ended by the server, releasing its locks."""
    return {"options": f"-c idle_in_transaction_session_timeout={int(grace_s() * 1000)}"}


@dataclass(frozen=True)
class Claim:
    """Who holds a run (its ``worker`` label) and the epoch the claim was taken at."""

    run_id: str
    epoch: int
    worker: str


class ClaimLost(WorkbenchError):
    """The run was revoked from this holder or claimed by another one: nothing more may be
    written for it by this process. The message says who holds it now."""

    def __init__(self, claim: Claim, status: str, worker: str | None, epoch: int, error: str | None) -> None:
        if worker and worker != claim.worker:
            now = f"claimed again by {worker} (claim {epoch}, now {status})"
        else:
            now = f"marked {status}" + (f": {error}" if error else "") + f" (claim {epoch})"
        super().__init__(
            f"{claim.worker} (claim {claim.epoch}) no longer holds run {claim.run_id}: it was declared gone and "
            f"{now}; its writes for the run are refused, so it stops the run here"
        )
        self.claim = claim


def hold_claim(conn: Connection, claim: Claim) -> None:
    """Inside a write transaction: make sure ``claim`` still holds its run, else raise
    :class:`ClaimLost` (or :class:`RunNotFound`). An UPDATE rather than a SELECT, so that on
    PostgreSQL the row stays locked until the caller's write commits."""
    c = runs_table.c
    held = conn.execute(
        sa.update(runs_table).where(c.id == claim.run_id, c.claim_epoch == claim.epoch)
        .values(claim_epoch=claim.epoch)
    ).rowcount
    if held == 1:
        return
    row = conn.execute(
        sa.select(c.status, c.worker, c.claim_epoch, c.error).where(c.id == claim.run_id)
    ).first()
    if row is None:
        raise RunNotFound(claim.run_id)
    raise ClaimLost(claim, row.status, row.worker, int(row.claim_epoch), row.error)


class ClaimQueries:
    """Taking and revoking claims (a mixin of :class:`core.store.Store`; ``_write`` and
    ``_read`` come from :class:`core.store.database.Database`)."""

    _write: Any
    _read: Any

    def take_claim(self, run_id: str, worker: str) -> Claim:
        """Take the run for ``worker`` whatever its state (the caller was told to train it:
        ``lmwb train``, ``lmwb resume`` in the foreground, a sweep trial it created): the run
        becomes ``running`` under a new epoch, so any earlier holder is fenced off."""
        c = runs_table.c
        now = time.time()
        with self._write() as conn:
            found = conn.execute(
                sa.update(runs_table).where(c.id == run_id).values(
                    claim_epoch=c.claim_epoch + 1, worker=worker, status="running",
                    started_at=sa.func.coalesce(c.started_at, now), finished_at=None, error=None,
                    heartbeat_at=now, updated_at=now,
                )
            ).rowcount
            if not found:
                raise RunNotFound(run_id)
            epoch = conn.execute(sa.select(c.claim_epoch).where(c.id == run_id)).scalar_one()
        return Claim(run_id, int(epoch), worker)

    def revoke_claim(self, run_id: str, worker: str | None, error: str) -> bool:
        """Fail a ``running`` run whose holder ``worker`` is gone, raising its epoch so that
        holder's writes are refused if it ever comes back. False (nothing changed) when the run
        is no longer running under that worker (finished, or taken over meanwhile)."""
        c = runs_table.c
        now = time.time()
        held_by = c.worker.is_(None) if worker is None else c.worker == worker
        with self._write() as conn:
            changed = conn.execute(
                sa.update(runs_table).where(c.id == run_id, c.status == "running", held_by).values(
                    status="failed", error=str(error), finished_at=now, updated_at=now,
                    claim_epoch=c.claim_epoch + 1,
                )
            ).rowcount
        return changed == 1

    def claim_holder(self, run_id: str) -> tuple[int, str | None, bool] | None:
        """``(epoch, worker, stop_requested)`` of the run now, or None when it is gone: what a
        holder polls to learn that it should stop (a light read: no config or summary)."""
        c = runs_table.c
        with self._read() as conn:
            row = conn.execute(
                sa.select(c.claim_epoch, c.worker, c.stop_requested).where(c.id == run_id)
            ).first()
        return None if row is None else (int(row.claim_epoch), row.worker, bool(row.stop_requested))


class ClaimedRun:
    """The store as the holder of one run's claim sees it: every write for that run is fenced
    by the claim (refused with :class:`ClaimLost` once the claim is lost); reads and everything
    else are the store's own. It is the trainer's ``MetricSink`` and what a worker writes its
    run's log, status and heartbeat through."""

    def __init__(self, store: Any, claim: Claim) -> None:
        self.store = store
        self.claim = claim
        self.lost: ClaimLost | None = None  # set once a write or a poll found the claim gone

    @property
    def run_id(self) -> str:
        return self.claim.run_id

    def __getattr__(self, name: str) -> Any:  # reads (get_run, run_dir, home, ...): the store's
        return getattr(self.store, name)

    def _fence(self, run_id: str) -> Claim | None:
        """The claim for writes to ``run_id`` (writes to other runs are not this claim's)."""
        if run_id != self.claim.run_id:
            return None
        if self.lost is not None:
            raise self.lost
        return self.claim

    def _guarded(self, run_id: str, write: Any, *args: Any, **kwargs: Any) -> Any:
        fence = self._fence(run_id)
        try:
            return write(run_id, *args, fence=fence, **kwargs)
        except ClaimLost as exc:
            self.lost = exc
            raise

    # -- writes, fenced -----------------------------------------------------------------------
    def log_metrics(self, run_id: str, rows: list[tuple[int, str, str, float, float]]) -> None:
        self._guarded(run_id, self.store.log_metrics, rows)

    def log_event(self, run_id: str, level: str, message: str) -> None:
        self._guarded(run_id, self.store.log_event, level, message)

    def set_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        self._guarded(run_id, self.store.set_progress, progress)

    def set_summary(self, run_id: str, summary: dict[str, Any]) -> dict[str, Any]:
        return self._guarded(run_id, self.store.set_summary, summary)

    def set_status(self, run_id: str, status: str, error: str | None = None) -> None:
        self._guarded(run_id, self.store.set_status, status, error)

    def update_run(self, run_id: str, **fields: Any) -> None:
        self._guarded(run_id, self.store.update_run, **fields)

    def truncate_metrics(self, run_id: str, after_step: int) -> int:
        return self._guarded(run_id, self.store.truncate_metrics, after_step)

    def heartbeat(self, run_id: str) -> None:
        self._guarded(run_id, self.store.heartbeat)

    # -- what the holder polls ----------------------------------------------------------------
    def check_writable(self, run_id: str) -> None:
        """Raise :class:`ClaimLost` if this holder may no longer write the run (its files
        included: called right before a checkpoint is put in place)."""
        fence = self._fence(run_id)
        if fence is None:
            return
        try:
            with self.store._write(fence):  # noqa: SLF001  (the check is the transaction's first statement)
                pass
        except ClaimLost as exc:
            self.lost = exc
            raise

    def stop_requested(self, run_id: str) -> bool:
        """True when someone asked the run to stop, when it was deleted, or when this holder's
        claim is gone (then :attr:`lost` says why)."""
        if run_id != self.claim.run_id:
            return bool(self.store.stop_requested(run_id))
        if self.lost is not None:
            return True
        holder = self.store.claim_holder(run_id)
        if holder is None:
            return True
        epoch, _worker, stop = holder
        if epoch != self.claim.epoch:
            try:
                self.check_writable(run_id)  # builds the ClaimLost that says who holds it now
            except (ClaimLost, RunNotFound):
                return True
        return stop
