"""The run queue and the worker processes that drain it (DESIGN principle 4).

The UI (or ``lmwb train --queue``) puts a run in the store with status ``queued`` and returns
at once; a worker process claims it atomically (:meth:`Store.claim_next_queued`), trains it
with :func:`core.runs.execute_run` and goes back to polling. Pages only ever read the store.

Pieces
    * :func:`queue_run`, :func:`stop_run`, :func:`request_resume`: what a page or the CLI calls.
    * :func:`worker_loop`: the body of a worker process (``python -m core.jobs`` or
      ``lmwb worker``); one run at a time, a failing run never takes the worker down.
    * :class:`Supervisor`: held by the Streamlit app (``st.cache_resource``); starts worker
      subprocesses lazily, notices within about a second when one dies and marks its run
      failed with a readable reason, restarts workers while runs are queued.
    * :func:`mark_orphans`: called when the app starts; fails ``running`` runs whose worker is
      gone (a dead local pid, or a stale heartbeat for a worker on another machine).

Resuming
    :func:`request_resume` puts a stopped/failed run back in the queue with
    ``progress["resume"] = True`` when its folder holds a ``last`` checkpoint; the worker that
    claims it then calls ``execute_run(..., resume=True)``. The flag only has to survive until
    the claim: the trainer replaces ``progress`` with live values at its first log. A run
    without a checkpoint restarts from scratch (its old metric points are deleted).

Worker lifetime and parent death
    Workers run in their own session (``start_new_session``), so a Ctrl-C in the terminal of
    ``lmwb ui`` or a Streamlit rerun never signals them. They still must not outlive the app:
    each worker gets the read end of a pipe whose only write end stays in the supervisor's
    process. The kernel closes that write end when the supervisor's process exits however it
    exits (even SIGKILL), so the worker's read returns EOF at once. A once-a-second
    ``os.getppid()`` check backs this up (the write end can leak into a child the app forks,
    e.g. a DataLoader worker; a dead parent still re-parents the worker). On parent death,
    SIGTERM or SIGINT the worker stops its current run gracefully (after the current step,
    with a checkpoint, status ``stopped``: resumable) and exits.

Heartbeats
    While a run executes, the worker writes ``heartbeat_at`` every few seconds from a side
    thread, independent of the trainer's log interval, so a long step or a slow data load
    never looks like a dead worker to :func:`mark_orphans` on another machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from core.errors import RunNotFound, WorkbenchError
from core.store import STORE_ENV, Run, Store

if TYPE_CHECKING:  # core.runs / core.config import torch: keep this module light to import
    from core.config import RunConfig
    from core.train import Callback

log = logging.getLogger(__name__)

MAX_WORKERS_ENV = "LMWB_MAX_WORKERS"
RESUME_KEY = "resume"  # progress[RESUME_KEY] = True: the claiming worker resumes from "last"
HEARTBEAT_S = 5.0  # worker heartbeat period while a run executes
DEFAULT_IDLE_EXIT_S = 300.0  # supervised workers exit after this long without work
SUPERVISED_POLL_S = 0.25  # how often a supervised idle worker looks at the queue


# --------------------------------------------------------------------------------------------
# Queue operations (what pages and the CLI call)
# --------------------------------------------------------------------------------------------
def queue_run(
    store: Store,
    config: RunConfig,
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
    parent_id: str | None = None,
    sweep_id: str | None = None,
) -> Run:
    """Create the run with status ``queued`` and return it at once; a worker trains it."""
    from core.finetune import link_parent  # lazy, like the imports above: keep this module light

    # A fine-tune records the run it starts from (task.init_from_run, resolved to an id).
    config, parent_id = link_parent(store, config, parent_id)
    return store.create_run(
        config.to_dict(), name=name, task=config.task, arch=config.arch, status="queued",
        tags=list(tags), parent_id=parent_id, sweep_id=sweep_id,
    )


def stop_run(store: Store, run_id: str) -> Run:
    """Stop a run: a queued one becomes ``stopped`` at once; a running one is asked to stop
    after its current step (the worker saves a checkpoint, so it stays resumable).

    A finished run is left as it is. Returns the run as it is now (``stop_requested`` is
    True while a running run winds down).
    """
    run = store.get_run(run_id)
    if run.status in ("queued", "running"):
        # request_stop is atomic: a queued run is marked stopped in the same transaction, so
        # a worker racing to claim it either loses or sees the flag.
        store.request_stop(run.id)
    return store.get_run(run.id)


def request_resume(store: Store, run_id: str, *, force: bool = False) -> Run:
    """Put a stopped or failed run back in the queue to continue from its last checkpoint.

    Without a checkpoint the run starts again from scratch (old metric points are dropped).
    A completed or pruned run is refused unless ``force``. Returns the queued run.
    """
    from core.checkpoint import has_checkpoint  # imports torch; only needed here

    run = store.get_run(run_id)
    if run.status in ("queued", "running"):
        raise WorkbenchError(f"run {run.id} is already {run.status}")
    if run.status in ("completed", "pruned") and not force:
        raise WorkbenchError(
            f"run {run.id} is {run.status}; to train longer, start a new run with a higher "
            "training.max_steps"
        )
    folder = store.run_dir(run.id)
    if has_checkpoint(folder / "checkpoints" / "last"):
        step = checkpoint_step(folder)
        store.update_run(run.id, progress={**run.progress, RESUME_KEY: True})
        note = f"queued to resume from the checkpoint at step {step}"
    else:
        # Nothing to continue from: forget the old attempt so its points don't mix with new.
        store.truncate_metrics(run.id, -1)
        store.update_run(run.id, progress={RESUME_KEY: False}, summary={}, started_at=None)
        note = "no checkpoint yet: queued to start again from scratch"
    # Status last: only a queued run can be claimed, so the flag is in place before any worker
    # can see the run. set_status("queued") also clears error, worker and stop_requested.
    store.set_status(run.id, "queued")
    store.log_event(run.id, "info", note)
    return store.get_run(run.id)


def checkpoint_step(run_folder: Path) -> int | None:
    """The step of the run's ``last`` checkpoint, or None (read from its JSON, no torch)."""
    import json

    state = Path(run_folder) / "checkpoints" / "last" / "state.json"
    try:
        return int(json.loads(state.read_text())["state"]["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --------------------------------------------------------------------------------------------
# Orphans
# --------------------------------------------------------------------------------------------
def mark_orphans(store: Store, stale_after_s: float | None = 30.0) -> list[str]:
    """Mark ``running`` runs whose worker is gone as failed; return their ids.

    A worker on this host (``worker`` = ``"{hostname}:{pid}"``) is judged by its pid alone:
    dead, a zombie, or a pid reused by a process started after the run's last heartbeat means
    gone; a live pid is never orphaned, however long its current step takes. A worker on
    another host (or an unknown one) is gone when its heartbeat is older than
    ``stale_after_s`` (None: skip those). Supervised workers heartbeat every few seconds.
    """
    return _mark_orphans(store, stale_after_s)


def _mark_orphans(
    store: Store, stale_after_s: float | None, skip_workers: frozenset[str] = frozenset()
) -> list[str]:
    host = socket.gethostname()
    now = time.time()
    marked: list[str] = []
    for run in store.list_runs(status="running"):
        if run.worker in skip_workers:
            continue
        worker_host, pid = _parse_worker(run.worker)
        last_beat = run.heartbeat_at or run.updated_at or run.started_at or run.created_at
        if worker_host == host and pid is not None:
            if _pid_alive(pid, started_before=last_beat):
                continue
            reason = f"orphaned: worker {run.worker} is gone"
        elif stale_after_s is not None and now - last_beat > stale_after_s:
            reason = (
                f"orphaned: no heartbeat from worker {run.worker or '(unknown)'} for "
                f"{now - last_beat:.0f} s"
            )
        else:
            continue
        if _fail_if_still_running(store, run, f"{reason}{_resume_hint(store, run.id)}"):
            marked.append(run.id)
    return marked


def _parse_worker(worker: str | None) -> tuple[str | None, int | None]:
    if not worker or ":" not in worker:
        return None, None
    host, _, pid = worker.rpartition(":")
    return (host, int(pid)) if pid.isdigit() else (host, None)


def _pid_alive(pid: int, started_before: float | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process that could have written a heartbeat at
    ``started_before`` (a process started later is a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: alive
    stat = _proc_stat(pid)
    if stat is None:  # no /proc (macOS): the kill probe is all we have
        return True
    state, start_ticks = stat
    if state in ("Z", "X"):
        return False
    if started_before is not None:
        boot = _boot_time()
        if boot is not None:
            started = boot + start_ticks / os.sysconf("SC_CLK_TCK")
            if started > started_before + 2.0:  # 2 s: boot time is whole seconds
                return False
    return True


def _proc_stat(pid: int) -> tuple[str, int] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def _resume_hint(store: Store, run_id: str) -> str:
    step = checkpoint_step(store.run_dir(run_id))
    if step is None:
        return "; resume to start it again (no checkpoint yet)"
    return f"; resume to continue from the last checkpoint (step {step})"


def _fail_if_still_running(store: Store, run: Run, reason: str) -> bool:
    """Mark ``run`` failed unless it moved on since it was read (finished, or re-claimed)."""
    try:
        now = store.get_run(run.id)
    except RunNotFound:
        return False
    if now.status != "running" or now.worker != run.worker:
        return False
    store.set_status(run.id, "failed", error=reason)
    store.log_event(run.id, "error", reason)
    log.warning("run %s: %s", run.id, reason)
    return True


# --------------------------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------------------------
class ShutdownEvent(threading.Event):
    """An Event that also says why it was set (logged on the run it interrupts)."""

    reason = ""

    def request(self, reason: str) -> None:
        if not self.is_set():
            self.reason = reason
        self.set()


def worker_loop(
    store: Store,
    *,
    worker_name: str | None = None,
    once: bool = False,
    poll_s: float = 0.5,
    idle_exit_s: float | None = None,
    shutdown: threading.Event | None = None,
    callbacks: Sequence[Callback] = (),
) -> int:
    """Claim queued runs one at a time and train them; return how many were executed.

    ``once``: execute at most one run (exit at once on an empty queue). ``idle_exit_s``: exit
    after that long without a run (None: never). ``shutdown``: set it to make the worker stop
    its current run gracefully and exit; SIGTERM and SIGINT do the same when the loop runs in
    the main thread (a second SIGINT aborts). A run that fails is recorded failed by
    :func:`core.runs.execute_run` and the worker moves on.
    """
    from core.registry import load_components
    from core.runs import worker_label

    load_components()  # pay imports and registration before the first claim, not after it
    warm_up()
    stop_all = shutdown if shutdown is not None else ShutdownEvent()
    label = worker_name or worker_label()
    current: list[threading.Event] = []  # the running run's stop event, for signal handlers
    restore = _install_signal_handlers(stop_all, current)
    executed = 0
    idle_since = time.monotonic()
    log.info("worker %s: polling %s every %.2f s", label, store.url, poll_s)
    try:
        while not stop_all.is_set():
            try:
                run = store.claim_next_queued(label)
            except Exception as exc:  # database busy or briefly unreachable: try again
                log.warning("worker %s: could not read the queue: %s", label, exc)
                run = None
            if run is None:
                if once:
                    break
                if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                    log.info("worker %s: idle for %.0f s; exiting", label, idle_exit_s)
                    break
                stop_all.wait(poll_s)
                continue
            stop = threading.Event()
            current.append(stop)
            try:
                poisoned = _execute_claimed(store, run, label, stop, stop_all, callbacks)
            finally:
                current.clear()
            executed += 1
            idle_since = time.monotonic()
            if once or poisoned:
                break
    finally:
        restore()
    return executed


def warm_up() -> None:
    """One tiny optimizer step, so the first real run doesn't pay torch's lazy start-up.

    The first ``Optimizer.step`` in a process imports ``torch._dynamo`` (about 1 s on CPU), and
    the metrics import scikit-learn; done here, while the worker is idle, both are off the
    queue-to-first-loss path. Sweep workers use it too.
    """
    with contextlib.suppress(Exception):
        import torch

        import core.metrics  # noqa: F401  (imports scikit-learn)

        weight = torch.nn.Parameter(torch.zeros(2))
        optimizer = torch.optim.AdamW([weight], lr=1e-3)
        (weight * 2).sum().backward()
        optimizer.step()


def _execute_claimed(
    store: Store, run: Run, label: str, stop: threading.Event, stop_all: threading.Event,
    callbacks: Sequence[Callback],
) -> bool:
    """Train one claimed run. Returns True when the process should exit (CUDA state broken)."""
    from core.runs import execute_run

    resume = bool(run.progress.get(RESUME_KEY))
    try:
        if store.stop_requested(run.id):
            # Stop asked for between the claim and now: execute_run would clear the flag.
            store.set_status(run.id, "stopped")
            store.log_event(run.id, "info", "stopped before it started")
            return False
    except RunNotFound:  # deleted meanwhile
        return False
    log.info("worker %s: run %s (%s)%s", label, run.id, run.name, " resuming" if resume else "")
    guard_done = threading.Event()
    guard_args = (store, run.id, stop, stop_all, guard_done)
    guard = threading.Thread(target=_guard_run, args=guard_args, name="run-guard", daemon=True)
    guard.start()
    poisoned = False
    try:
        result = execute_run(store, run.id, resume=resume, callbacks=callbacks, stop_event=stop)
        if result.status == "stopped" and stop_all.is_set():
            why = getattr(stop_all, "reason", "") or "the worker was shut down"
            store.log_event(
                run.id, "warning",
                f"stopped at step {result.step} because {why}; resume to continue",
            )
        log.info("worker %s: run %s %s at step %d", label, run.id, result.status, result.step)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        # execute_run records its own failures; this covers errors before its try block
        # (an unreadable config, a deleted run) so no run is left "running" forever.
        log.warning("worker %s: run %s failed: %s", label, run.id, exc)
        with contextlib.suppress(Exception):
            now = store.get_run(run.id)
            if now.status == "running" and now.worker in (label, _own_label(), None):
                message = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
                store.set_status(run.id, "failed", error=message)
        poisoned = "CUDA error" in str(exc)  # a broken CUDA context poisons later runs too
    finally:
        guard_done.set()
        guard.join(timeout=2)
        gc.collect()  # free the model before the next claim
        _empty_cuda_cache()
    return poisoned


def _guard_run(
    store: Store, run_id: str, stop: threading.Event, stop_all: threading.Event,
    done: threading.Event,
) -> None:
    """Heartbeat every HEARTBEAT_S and turn a worker shutdown into a graceful run stop."""
    next_beat = time.monotonic() + HEARTBEAT_S
    while not done.wait(0.2):
        if stop_all.is_set():
            stop.set()
        if time.monotonic() >= next_beat:
            next_beat = time.monotonic() + HEARTBEAT_S
            with contextlib.suppress(Exception):  # a busy database must not kill the run
                store.heartbeat(run_id)


def _own_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _install_signal_handlers(
    stop_all: threading.Event, current: list[threading.Event]
) -> Any:
    """SIGTERM/SIGINT -> graceful stop; returns a function that restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and stop_all.is_set():
            raise KeyboardInterrupt  # second Ctrl-C: abort now
        reason = f"the worker received {signal.Signals(signum).name}"
        if isinstance(stop_all, ShutdownEvent):
            stop_all.request(reason)
        else:
            stop_all.set()
        for event in current:
            event.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def watch_parent(
    shutdown: ShutdownEvent, parent_pid: int, parent_fd: int | None = None
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
                log.warning("worker %d: cannot watch fd %d (%s)", os.getpid(), fd, exc)
                fd = None
        else:
            return
        log.warning("worker %d: parent process %d is gone; stopping", os.getpid(), parent_pid)
        shutdown.request("the app that started this worker exited")

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------------------------
# The supervisor (held by the app)
# --------------------------------------------------------------------------------------------
@dataclass
class WorkerInfo:
    """One worker subprocess started by a :class:`Supervisor`."""

    pid: int
    slot: int
    started_at: float
    gpu: str | None
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    pipe_w: int = field(repr=False)

    @property
    def label(self) -> str:
        """The ``Run.worker`` value this worker writes on the runs it trains."""
        return f"{socket.gethostname()}:{self.pid}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def default_max_workers() -> int:
    """``$LMWB_MAX_WORKERS``, else one worker per CUDA GPU, else 1."""
    raw = os.environ.get(MAX_WORKERS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise WorkbenchError(f"{MAX_WORKERS_ENV}={raw!r}: expected a whole number >= 1") from None
        if value < 1:
            raise WorkbenchError(f"{MAX_WORKERS_ENV}={raw!r}: expected a whole number >= 1")
        return value
    return max(1, len(_visible_gpus()))


def _visible_gpus() -> list[str]:
    import torch  # only when the cap or GPU pinning needs it

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        return ids[:count] if count else []
    return [str(i) for i in range(count)]


class Supervisor:
    """Starts and watches worker subprocesses for one store; one per app process.

    * :meth:`ensure_workers` (also run by the monitor every ``monitor_s``) starts workers
      while runs are queued and fewer than ``max_workers`` are alive, so an idle app costs
      nothing; a worker exits after ``idle_exit_s`` without work.
    * :meth:`prewarm` starts one worker ahead of time (call it when the train page opens):
      the first run then skips the 1-2 s Python + torch start-up.
    * The monitor thread reaps dead workers and marks the run a dead worker was training
      ``failed`` with the reason (signal, step, where to resume from) within about a second.
    * With several GPUs each worker is pinned to one through ``CUDA_VISIBLE_DEVICES``.

    ``store_url`` must be the real URL (with any password; ``Store.url`` hides it). It reaches
    the workers through the environment, not the command line, so ``ps`` never shows it.
    """

    def __init__(
        self,
        store_url: str,
        home: Path,
        max_workers: int | None = None,
        *,
        idle_exit_s: float | None = DEFAULT_IDLE_EXIT_S,
        poll_s: float = SUPERVISED_POLL_S,
        monitor_s: float = 1.0,
        orphan_stale_after_s: float | None = 30.0,
    ) -> None:
        self.store_url = store_url
        self.home = Path(home).expanduser().resolve()
        self.store = Store(store_url, self.home)
        self.max_workers = max_workers if max_workers is not None else default_max_workers()
        if self.max_workers < 1:
            raise WorkbenchError(f"max_workers = {self.max_workers}: expected at least 1")
        # Pin GPUs only when several workers may share a machine with several GPUs.
        self._gpus = _visible_gpus() if self.max_workers > 1 else []
        self.idle_exit_s = idle_exit_s
        self.poll_s = poll_s
        self.monitor_s = monitor_s
        self.log_dir = self.home / "logs"
        self._workers: dict[int, WorkerInfo] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        # Runs left "running" by an app or worker that died before we started.
        self.orphans = _mark_orphans(self.store, orphan_stale_after_s)
        self._monitor = threading.Thread(target=self._monitor_loop, name="lmwb-supervisor", daemon=True)
        self._monitor.start()

    # -- public ---------------------------------------------------------------------------------
    @classmethod
    def shared(cls, store_url: str, home: Path, max_workers: int | None = None) -> Supervisor:
        """The one live supervisor of this process for ``(store_url, home)``, started on first
        use. Streamlit may drop its ``cache_resource`` entries (code edits, "clear cache")
        without shutting them down; this keeps a second monitor from doubling the workers."""
        key = (store_url, str(Path(home).expanduser().resolve()))
        with _SHARED_LOCK:
            current = _SHARED.get(key)
            if current is None or current._closed.is_set():
                current = _SHARED[key] = cls(store_url, Path(home), max_workers)
            return current

    @property
    def workers(self) -> list[WorkerInfo]:
        """Live workers, oldest first."""
        with self._lock:
            return [w for w in self._workers.values() if w.alive]

    def queue(self, config: RunConfig, *, name: str | None = None, tags: Sequence[str] = ()) -> Run:
        """:func:`queue_run` and start a worker for it right away."""
        run = queue_run(self.store, config, name=name, tags=tags)
        self.ensure_workers()
        return run

    def ensure_workers(self) -> int:
        """Start workers for queued runs (up to ``max_workers`` alive); return how many."""
        if self._closed.is_set():
            return 0
        with self._lock:
            self._reap()
            live = [w for w in self._workers.values() if w.alive]
            room = self.max_workers - len(live)
            if room <= 0:
                return 0
            queued = len(self.store.list_runs(status="queued"))
            if queued == 0:
                return 0
            labels = {w.label for w in live}
            busy = sum(1 for r in self.store.list_runs(status="running") if r.worker in labels)
            # Idle workers (including ones still starting) will claim within poll_s.
            needed = min(room, queued - (len(live) - busy))
            for _ in range(max(0, needed)):
                self._spawn()
            return max(0, needed)

    def prewarm(self) -> bool:
        """Start one worker now if none is alive, so the next run starts without delay."""
        if self._closed.is_set():
            return False
        with self._lock:
            self._reap()
            if any(w.alive for w in self._workers.values()):
                return False
            self._spawn()
            return True

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop the monitor, ask every worker to stop gracefully (SIGTERM: the current run
        stops after its step with a checkpoint), kill those still alive after ``timeout``."""
        self._closed.set()
        if self._monitor.is_alive() and threading.current_thread() is not self._monitor:
            self._monitor.join(timeout=5)
        with self._lock:
            workers = list(self._workers.values())
            for w in workers:
                if w.alive:
                    with contextlib.suppress(ProcessLookupError):
                        w.process.terminate()
            deadline = time.monotonic() + timeout
            for w in workers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    w.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            for w in workers:
                if w.alive:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(w.pid, signal.SIGKILL)  # its own group: take any children too
                    w.process.wait()
            self._reap()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- internals ------------------------------------------------------------------------------
    def _spawn(self) -> WorkerInfo:
        used = {w.slot for w in self._workers.values()}
        slot = next(i for i in range(len(used) + 1) if i not in used)
        read_fd, write_fd = os.pipe()  # both non-inheritable; pass_fds hands read_fd over
        env = dict(os.environ)
        env[STORE_ENV] = self.store_url
        env["LMWB_HOME"] = str(self.home)
        env["PYTHONUNBUFFERED"] = "1"
        # OpenMP threads that spin while waiting turn tiny CPU models 10-20x slower as soon as
        # anything else (the app itself) wants a core; sleeping waiters cost little. The
        # user's own setting wins.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        # Find core/ even when the app was started from another folder without an install.
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        gpu = self._gpus[slot % len(self._gpus)] if self._gpus else None
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        cmd = [
            sys.executable, "-m", "core.jobs", "--home", str(self.home),
            "--poll", str(self.poll_s), "--parent-pid", str(os.getpid()),
            "--parent-fd", str(read_fd),
        ]
        if self.idle_exit_s is not None:
            cmd += ["--idle-exit", str(self.idle_exit_s)]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"worker-{slot}.log"
        logfile: IO[bytes] = log_path.open("ab")
        try:
            process = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                pass_fds=(read_fd,), start_new_session=True,
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)  # the child has its copy; ours would keep the pipe open
            logfile.close()
        info = WorkerInfo(process.pid, slot, time.time(), gpu, log_path, process, write_fd)
        self._workers[process.pid] = info
        log.info("started worker %d (slot %d%s)", process.pid, slot, f", GPU {gpu}" if gpu else "")
        return info

    def _reap(self) -> None:
        """Forget exited workers; fail the run each was training when it died."""
        for pid, w in list(self._workers.items()):
            code = w.process.poll()
            if code is None:
                continue
            del self._workers[pid]
            with contextlib.suppress(OSError):
                os.close(w.pipe_w)
            try:
                self._fail_runs_of(w, code)
            except Exception:  # never let a store error kill the monitor
                log.exception("could not record the death of worker %d", pid)

    def _fail_runs_of(self, w: WorkerInfo, code: int) -> None:
        for run in self.store.list_runs(status="running"):
            if run.worker != w.label:
                continue
            step = run.progress.get("step")
            if step is None:
                step = self.store.last_step(run.id) or 0
            hint = " (killed by hand or by the out-of-memory killer)" if code == -signal.SIGKILL else ""
            reason = (
                f"worker process {w.pid} {_describe_exit(code)} at step {step}{hint}"
                f"{_resume_hint(self.store, run.id)}"
            )
            if _fail_if_still_running(self.store, run, reason):
                with contextlib.suppress(Exception):
                    self.store.log_event(run.id, "info", f"worker log: {w.log_path}")

    def _monitor_loop(self) -> None:
        while not self._closed.wait(self.monitor_s):
            try:
                with self._lock:
                    self._reap()
                    own = frozenset(w.label for w in self._workers.values())
                # Local runs whose process died (e.g. a killed `lmwb train` in a terminal);
                # pid check only: heartbeat ages are judged once, at start-up.
                _mark_orphans(self.store, None, skip_workers=own)
                self.ensure_workers()
            except Exception:
                log.exception("supervisor monitor: tick failed; retrying")


_SHARED: dict[tuple[str, str], Supervisor] = {}
_SHARED_LOCK = threading.Lock()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"died (signal {name})"
    return f"exited with code {code}"


# --------------------------------------------------------------------------------------------
# Entry point: python -m core.jobs
# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.jobs", description="An LM Workbench worker: trains queued runs."
    )
    parser.add_argument("--store", help="database URL (default: $LMWB_STORE, else SQLite in the home)")
    parser.add_argument("--home", help="workbench home folder (default: $LMWB_HOME, else ~/.lmwb)")
    parser.add_argument("--once", action="store_true", help="train at most one run, then exit")
    parser.add_argument("--idle-exit", type=float, metavar="S", help="exit after S seconds without work")
    parser.add_argument("--poll", type=float, default=0.5, metavar="S", help="queue poll interval")
    # Set by the Supervisor: how the worker notices that the app died.
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent-fd", type=int, help=argparse.SUPPRESS)
    return parser


def run_worker(
    store: Store, *, once: bool = False, idle_exit_s: float | None = None, poll_s: float = 0.5,
    parent_pid: int | None = None, parent_fd: int | None = None,
) -> int:
    """A worker process's main: worker_loop plus the parent-death watch; returns runs done."""
    shutdown = ShutdownEvent()
    if parent_pid is not None:
        watch_parent(shutdown, parent_pid, parent_fd)
    return worker_loop(store, once=once, poll_s=poll_s, idle_exit_s=idle_exit_s, shutdown=shutdown)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s")
    store = Store(url=args.store, home=Path(args.home) if args.home else None)
    done = run_worker(
        store, once=args.once, idle_exit_s=args.idle_exit, poll_s=args.poll,
        parent_pid=args.parent_pid, parent_fd=args.parent_fd,
    )
    log.info("worker %d: exiting after %d run(s)", os.getpid(), done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
