"""Is a worker alive? Worker labels, pid checks (psutil) and orphaned runs.

A run being trained names its worker as ``"{hostname}:{pid}"`` (:func:`worker_label`). On the
same host the pid decides: a dead process, a zombie, or a pid reused by a process started
after the run's last heartbeat means the worker is gone. For a worker on another host only
its heartbeat can tell; :func:`mark_orphans` fails runs whose heartbeat is too old.

psutil answers the pid questions on Linux, macOS and Windows alike (no ``/proc`` parsing).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time

import psutil

from core.errors import RunNotFound
from core.jobs.queue import checkpoint_step
from core.store import Run, Store
from core.store.claims import grace_s

log = logging.getLogger(__name__)

# A process start time is known to about a second (Linux counts from the boot time, which is
# whole seconds): a process that started within this much after a heartbeat may have sent it.
START_TIME_SLACK_S = 2.0
def reap_orphans(store: Store) -> list[str]:
    """What every command that reads or claims runs calls first: runs whose worker is gone
    (a dead local pid at once; a silent remote one after :func:`grace_s`) are marked failed
    with the reason, so ``runs list`` shows the truth and ``resume`` works. Nothing on a
    read-only store."""
    if getattr(store, "read_only", False):
        return []
    return mark_orphans(store, grace_s())


def worker_label(pid: int | None = None) -> str:
    """The ``Run.worker`` value of process ``pid`` (default: this one) on this host."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def parse_worker_label(worker: str | None) -> tuple[str | None, int | None]:
    """``"host:1234"`` -> ``("host", 1234)``; missing parts are None."""
    if not worker or ":" not in worker:
        return None, None
    host, _, pid = worker.rpartition(":")
    return (host, int(pid)) if pid.isdigit() else (host, None)


def pid_alive(pid: int, started_before: float | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process that could have written a heartbeat at
    ``started_before`` (epoch seconds): a process started later is a reused pid."""
    try:
        process = psutil.Process(pid)
        if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return False
        if started_before is not None and process.create_time() > started_before + START_TIME_SLACK_S:
            return False
    except psutil.NoSuchProcess:  # includes a zombie on platforms that report it this way
        return False
    except psutil.AccessDenied:
        return True  # someone else's process, which exists: alive
    return True


def mark_orphans(
    store: Store, stale_after_s: float | None = 30.0, *, skip_workers: frozenset[str] = frozenset()
) -> list[str]:
    """Mark ``running`` runs whose worker is gone as failed; return their ids.

    A worker on this host is judged by its pid alone (:func:`pid_alive` against the run's last
    heartbeat); a live pid is never orphaned, however long its current step takes. A worker on
    another host (or an unknown one) is gone when its heartbeat is older than
    ``stale_after_s`` (None: skip those). ``skip_workers``: labels the caller watches itself
    (a supervisor's own workers). Supervised workers heartbeat every few seconds.
    """
    host = socket.gethostname()
    now = time.time()
    marked: list[str] = []
    for run in store.list_runs(status="running"):
        if run.worker in skip_workers:
            continue
        worker_host, pid = parse_worker_label(run.worker)
        last_beat = run.heartbeat_at or run.updated_at or run.started_at or run.created_at
        if worker_host == host and pid is not None:
            if pid_alive(pid, started_before=last_beat):
                continue
            reason = f"orphaned: worker {run.worker} is gone"
        elif stale_after_s is not None and now - last_beat > stale_after_s:
            reason = (
                f"orphaned: no heartbeat from worker {run.worker or '(unknown)'} for "
                f"{now - last_beat:.0f} s"
            )
        else:
            continue
        if fail_if_still_running(store, run, f"{reason}{resume_hint(store, run.id)}"):
            marked.append(run.id)
    return marked


def resume_hint(store: Store, run_id: str) -> str:
    """``"; resume to ..."``: what resuming the run would do, for an error message."""
    folder = store.run_folder(run_id)
    if not folder.is_dir():  # trained on a machine whose run folders this one does not share
        return "; resume it where its files are (or with a shared LMWB_ARTIFACTS) to continue from its last checkpoint"
    step = checkpoint_step(folder)
    if step is None:
        return "; resume to start it again (no checkpoint yet)"
    return f"; resume to continue from the last checkpoint (step {step})"


def fail_if_still_running(store: Store, run: Run, reason: str) -> bool:
    """Mark ``run`` failed unless it moved on since it was read (finished, or re-claimed), in
    one compare-and-set that also revokes its worker's claim: if that worker was only frozen,
    everything it writes for the run from now on is refused (:mod:`core.store.claims`)."""
    if not store.revoke_claim(run.id, run.worker, reason):
        return False
    with contextlib.suppress(RunNotFound):  # deleted in between: nothing to log to
        store.log_event(run.id, "error", reason)
    log.warning("run %s: %s", run.id, reason)
    return True
