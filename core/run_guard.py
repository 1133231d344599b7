"""The run guard: one per run being trained, in the process that holds its claim. It alone polls
the run's stop flag and writes its heartbeat.

The training loop only checks a ``threading.Event`` (free). The guard, a daemon thread that
lives from the run's set-up to its last write, asks the store every :data:`POLL_S` whether
someone pressed Stop (or whether this process lost its claim on the run: see
:meth:`core.store.claims.ClaimedRun.stop_requested`), beats the run's heartbeat every
:data:`RUN_HEARTBEAT_S` however slow a step, an evaluation or the data loading is, and turns a
stop of the process itself (a worker's shutdown on a signal, the app that started it gone) into
the run's stop, with its reason. A run stopped keeps its heartbeat until it has finished
writing, so a long final evaluation never looks like a dead worker.

:func:`watch_parent` is the other stop a training process has: its parent (the supervisor, a
launcher) gone.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from core.store.claims import ClaimLost

log = logging.getLogger(__name__)

POLL_S = 0.25  # how often the stop flag is read
RUN_HEARTBEAT_S = 5.0  # how often the heartbeat is written (the orphan check's grace is >= 10 s)


class StopEvent(threading.Event):
    """A stop flag that can say who raised it (the trainer logs it before the run stops)."""

    reason = ""

    def request(self, reason: str) -> None:
        if not self.is_set():
            self.reason = reason
        self.set()


class RunGuard:
    """``with RunGuard(writer, stop, also=(shutdown,)):`` around a run's set-up and training.

    ``writer``: the run's :class:`~core.store.claims.ClaimedRun`. ``stop``: the event the
    trainer checks. ``also``: events of the process (a worker's shutdown) that stop the run too.
    """

    def __init__(self, writer: Any, stop: threading.Event, also: Sequence[threading.Event] = (), *,
                 poll_s: float = POLL_S, heartbeat_s: float = RUN_HEARTBEAT_S) -> None:
        self.writer, self.stop, self.also = writer, stop, tuple(also)
        self.poll_s, self.heartbeat_s = poll_s, heartbeat_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-guard", daemon=True)

    def __enter__(self) -> RunGuard:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join(timeout=2 * self.poll_s + 1)

    def _watch(self) -> None:
        run_id = self.writer.run_id
        next_beat = time.monotonic() + self.heartbeat_s
        while not self._done.wait(self.poll_s):
            for source in self.also:
                if source.is_set() and not self.stop.is_set():
                    self._request(getattr(source, "reason", "") or "the process training it was shut down")
            try:
                if not self.stop.is_set() and self.writer.stop_requested(run_id):
                    self.stop.set()  # whoever asked through the store logged it there
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.heartbeat_s
                    self.writer.heartbeat(run_id)
            except ClaimLost:
                self.stop.set()  # the trainer's next write raises it and says who holds the run
            except Exception:  # noqa: S112  (a busy database must not kill the run: try again)
                continue

    def _request(self, reason: str) -> None:
        if isinstance(self.stop, StopEvent):
            self.stop.request(reason)
        else:
            self.stop.set()


def watch_parent(
    shutdown: StopEvent, parent_pid: int, parent_fd: int | None = None
) -> threading.Thread:
    """Start a daemon thread that requests ``shutdown`` when the parent process dies.

    ``parent_fd``: the read end of a pipe whose write end only the parent holds (EOF the
    moment the parent exits). The ``os.getppid()`` check once a second catches the rest.
    """

    def watch() -> None:
        fd = parent_fd
        while not shutdown.is_set():
            if os.getppid() != parent_pid:
                break
            if fd is None:
                time.sleep(1.0)
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 1.0)
                if ready and not os.read(fd, 64):
                    break  # EOF: every write end is closed, so the parent is gone
            except OSError as exc:  # a pipe we cannot watch: fall back to getppid alone
                log.warning("process %d: cannot watch fd %d (%s)", os.getpid(), fd, exc)
                fd = None
        else:
            return
        log.warning("process %d: parent process %d is gone; stopping", os.getpid(), parent_pid)
        shutdown.request("the app that started this worker exited")

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
