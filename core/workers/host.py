"""Which process hosts a workbench home's one supervisor, and the others that attach to it.

The process that holds ``{home}/supervisor.lock`` (an OS file lock through ``filelock``, freed by
the kernel when that process ends, even by SIGKILL) hosts the home's :class:`Supervisor`;
``{home}/supervisor.pid`` says which process that is. `lmwb ui`'s supervisor process
(:func:`serve`), the app, and `lmwb sweep start` all ask :func:`host_supervisor`: the first
hosts, the others get an :class:`AttachedSupervisor` that starts nothing and hosts once the
host is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
from pathlib import Path
from typing import Any

from filelock import BaseFileLock, FileLock, Timeout

from core.workers.supervisor import PIDFILE, Supervisor, WorkerInfo

log = logging.getLogger(__name__)

# One supervisor hosts each workbench home: the process that holds LOCKFILE (an OS file lock,
# which the kernel releases when that process ends, however it ends). PIDFILE says who it is.
LOCKFILE = "supervisor.lock"


def _take_host_lock(home: Path) -> BaseFileLock | None:
    """The home's host lock if no other process holds it (then this process hosts), else None."""
    Path(home).mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(Path(home) / LOCKFILE), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def machine_supervisor(home: Path) -> int | None:
    """The pid of the process hosting this home's supervisor (this one included), or None when
    no process does."""
    lock = _take_host_lock(home)
    if lock is not None:
        lock.release()
        return None
    try:
        return int((Path(home) / PIDFILE).read_text().strip())
    except (OSError, ValueError):
        return -1  # held, by a host still writing its pid


def host_supervisor(store_url: str, home: Path, **options: Any) -> Supervisor | AttachedSupervisor:
    """This home's one supervisor: a :class:`Supervisor` hosted here when no other process
    hosts one (``options`` go to it), else an :class:`AttachedSupervisor` that leaves the
    training to that host and takes over should the host end. `lmwb ui`'s supervisor process,
    the app, `lmwb sweep start` all ask here, so a machine never has two supervisors starting
    workers for one home."""
    lock = _take_host_lock(Path(home))
    if lock is None:
        return AttachedSupervisor(store_url, Path(home), options)
    try:
        supervisor = Supervisor(store_url, Path(home), host_lock=lock, **options)
    except BaseException:
        lock.release()
        raise
    with contextlib.suppress(OSError):
        (supervisor.home / PIDFILE).write_text(str(os.getpid()))
    return supervisor


class AttachedSupervisor:
    """Another process hosts this home's supervisor: its monitor starts workers within a
    second, so nothing is started here. Each call checks that the host is still there and, once
    it has ended, hosts the supervisor in this process instead."""

    def __init__(self, store_url: str, home: Path, options: dict[str, Any]) -> None:
        self.store_url, self.home, self.options = store_url, Path(home), options
        self.own: Supervisor | None = None

    @property
    def host_pid(self) -> int | None:
        return os.getpid() if self.own is not None else machine_supervisor(self.home)

    def _take_over(self) -> Supervisor | None:
        if self.own is None or self.own._closed.is_set():  # noqa: SLF001
            hosted = host_supervisor(self.store_url, self.home, **self.options)
            self.own = hosted if isinstance(hosted, Supervisor) else None
            if self.own is not None:
                log.warning("supervisor: the host of %s ended; this process (%d) hosts it now", self.home, os.getpid())
        return self.own

    @property
    def workers(self) -> list[WorkerInfo]:
        return self.own.workers if self.own is not None else []

    def ensure_workers(self) -> int:
        own = self._take_over()
        return own.ensure_workers() if own is not None else 0

    def prewarm(self) -> bool:
        own = self._take_over()
        return own.prewarm() if own is not None else False

    def shutdown(self, timeout: float = 15.0) -> None:
        if self.own is not None:
            self.own.shutdown(timeout)


def serve(store_url: str, home: Path, watch_fd: int, ready_fd: int | None = None) -> int:
    """The machine's supervisor as a process of its own: ``lmwb ui`` forks it before it becomes
    the Streamlit server, so orphaned runs are marked and queued runs start when the server
    starts, not when the first browser tab opens. It keeps workers warm (``WARM_WORKERS``) and
    lives as long as the server: ``watch_fd`` is the read end of a pipe whose only write end the
    server holds, so the server's exit (even by SIGKILL) is end-of-file here; SIGTERM or SIGINT stop
    it too. Every worker is then asked to stop after its current step (resumable). It hosts the
    home's supervisor (:func:`host_supervisor`), or waits attached while another `lmwb ui` of the
    same home does; ``ready_fd`` hears one byte once that is settled."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = host_supervisor(store_url, home, keep_warm=True)
    if ready_fd is not None:  # the server may start: this home's supervisor is settled
        with contextlib.suppress(OSError):
            os.write(ready_fd, b"1")
            os.close(ready_fd)
    try:
        while not stop.is_set():
            supervisor.prewarm()  # attached: takes over once another host of this home ends
            ready, _, _ = select.select([watch_fd], [], [], 0.5)
            if ready and not os.read(watch_fd, 64):
                break  # the server is gone
    except (OSError, InterruptedError):
        pass
    finally:
        supervisor.shutdown()
    return 0
