"""The supervisor: the one owner of this machine's worker processes (held by the app).

:class:`Supervisor` starts worker subprocesses (``python -m core.workers``) lazily while runs are
queued, caps them at :func:`default_max_workers`, pins each to a GPU when there are several,
notices within about a second when one dies and marks its run failed with a readable reason,
and restarts workers while runs are queued.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from filelock import BaseFileLock

from core.config import RunConfig, processes_wanted  # no torch: the registry loads on first use
from core.errors import WorkbenchError
from core.jobs.environment import worker_env
from core.jobs.liveness import (
    fail_if_still_running,
    mark_orphans,
    resume_hint,
    worker_label,
)
from core.jobs.queue import in_race, queue_run, race_tag
from core.store import Run, Store
from core.sweep.schedule import trial_demand

log = logging.getLogger(__name__)

PIDFILE = "supervisor.pid"  # which process hosts a home's supervisor (core.workers.host)

MAX_WORKERS_ENV = "LMWB_MAX_WORKERS"
DEFAULT_IDLE_EXIT_S = 300.0  # supervised workers exit after this long without work
# Workers kept ready (keep_warm, prewarm): one that takes any run, and beside it one that takes
# only race entrants (the cap on other runs holds), so both entrants of a race of two (the Home
# page's) start at once instead of after a Python + torch start-up (~250 MB each, when idle).
WARM_WORKERS = 2
SUPERVISED_POLL_S = 0.25  # how often a supervised idle worker looks at the queue


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
    race: str | None = None  # the race tag this worker trains one entrant of
    races_only: bool = False  # a warm worker that trains entrants of any race, nothing else
    only_run: str | None = None  # the multi-process run this worker holds its GPUs for

    @property
    def label(self) -> str:
        """The ``Run.worker`` value this worker writes on the runs it trains."""
        return worker_label(self.pid)

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
    return max(1, len(visible_gpus()))


def visible_gpus() -> list[str]:
    """The GPU ids a worker may be pinned to (``CUDA_VISIBLE_DEVICES`` order), or none."""
    from core.device import visible_gpu_ids  # imports torch: only when the cap or pinning needs it

    return visible_gpu_ids()


class Supervisor:
    """Starts and watches worker subprocesses for one store; one per app process.

    * :meth:`ensure_workers` (also run by the monitor every ``monitor_s``) starts workers
      while runs are queued and fewer than ``max_workers`` are alive, so an idle app costs
      nothing; a worker exits after ``idle_exit_s`` without work.
    * :meth:`prewarm` starts :data:`WARM_WORKERS` workers ahead of time (call it when the
      train page opens): the first run, or both entrants of a race of two, then skip the
      Python + torch start-up (2-5 s each, two at once on two cores 7 s, on a busy machine 20).
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
        keep_warm: bool = False,
        host_lock: BaseFileLock | None = None,
    ) -> None:
        self.host_lock = host_lock  # held while this supervisor hosts its home (host_supervisor)
        self.store_url = store_url
        self.home = Path(home).expanduser().resolve()
        self.store = Store(store_url, self.home)
        self.max_workers = max_workers if max_workers is not None else default_max_workers()
        if self.max_workers < 1:
            raise WorkbenchError(f"max_workers = {self.max_workers}: expected at least 1")
        # Pin GPUs only when several workers may share a machine with several GPUs.
        self._gpus = visible_gpus() if self.max_workers > 1 else []
        self.idle_exit_s = idle_exit_s
        # Keep WARM_WORKERS alive, so a queued run or race starts within a poll: the app
        # server's supervisor does, an idle machine pays resident workers for it.
        self.keep_warm = keep_warm
        self.poll_s = poll_s
        self.monitor_s = monitor_s
        self.log_dir = self.home / "logs"
        self._workers: dict[int, WorkerInfo] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        # Runs left "running" by an app or worker that died before we started.
        self.orphans = mark_orphans(self.store, orphan_stale_after_s)
        self._monitor = threading.Thread(target=self._monitor_loop, name="lmwb-supervisor", daemon=True)
        self._monitor.start()

    # -- public ---------------------------------------------------------------------------------
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
        """Start workers for queued runs and for the trials running sweeps want (up to
        ``max_workers`` alive: the one cap for every training on this machine), and for each
        race one worker per entrant, started together with the cores split between them;
        return how many were started."""
        if self._closed.is_set():
            return 0
        with self._lock:
            self._reap()
            # Running before queued: a run claimed between the two reads is then in neither
            # (a worker short until the next tick) rather than in both (a worker too many).
            running = self.store.list_runs(status="running")
            queued = self.store.list_runs(status="queued")
            started = self._start_races(queued, running) + self._start_wide_runs(queued)
            live = [w for w in self._workers.values() if w.alive]
            room = self.max_workers - sum(1 for w in live if not w.races_only)  # those train races only
            if room <= 0:
                return started

            wide = bool(self._gpus)  # on GPUs a multi-process run has a worker of its own
            demand = sum(1 for r in queued if not in_race(r) and not (wide and processes_wanted(r.config) > 1))
            demand += sum(n for _, n in trial_demand(self.store))
            if demand == 0:
                return started
            plain = {w.label for w in live if w.race is None and w.only_run is None and not w.races_only}
            busy = sum(1 for r in running if r.worker in plain)
            # Idle workers (including ones still starting) will claim within poll_s.
            needed = min(room, demand - (len(plain) - busy))
            if self._gpus:
                needed = min(needed, len(self._free_gpus()))  # never two trainings on one GPU
            for _ in range(max(0, needed)):
                self._spawn(idle_exit_s=self.idle_exit_s)
            return started + max(0, needed)

    def _start_races(self, queued: Sequence[Run], running: Sequence[Run]) -> int:
        """A worker for each queued race entrant that no idle worker will claim: a race's
        entrants train at the same time (each on its share of the cores, set by the worker that
        claims it), on the same data and budget, so their curves race from the first second.
        Idle warm workers claim entrants within a poll (that is what they are kept for); only
        entrants beyond them get a worker of their own, which pays the start-up."""
        entrants: dict[str, int] = {}
        for run in queued:
            if (tag := race_tag(run)) is not None:
                entrants[tag] = entrants.get(tag, 0) + 1
        if not entrants:
            return 0
        busy = {r.worker for r in running}
        idle = [w for w in self._workers.values() if w.alive and w.label not in busy and w.only_run is None]
        # An idle worker that takes any run claims the oldest queued one: count it for a race
        # only while no other run waits for it.
        others_wait = any(race_tag(r) is None for r in queued)
        spare = sum(1 for w in idle if w.race is None and (w.races_only or not others_wait))
        started = 0
        for tag, waiting in entrants.items():
            need = max(0, waiting - sum(1 for w in idle if w.race == tag))
            covered = min(spare, need)
            spare -= covered
            for _ in range(need - covered):
                self._spawn(idle_exit_s=5.0, race=tag)
                started += 1
        return started

    def prewarm(self) -> bool:
        """Start workers now until :data:`WARM_WORKERS` are alive for queued runs and races
        (one taking any run, the others race entrants only), so the next run, or both entrants
        of a race of two, start without delay; True when one was started. With ``keep_warm``
        they never exit for being idle. With pinned GPUs only the first: a waiting worker holds
        a GPU another run could train on."""
        if self._closed.is_set():
            return False
        with self._lock:
            self._reap()
            ready = [w for w in self._workers.values() if w.alive and w.race is None and w.only_run is None]
            idle_exit_s = None if self.keep_warm else self.idle_exit_s
            started = False
            if all(w.races_only for w in ready):
                ready.append(self._spawn(idle_exit_s=idle_exit_s))
                started = True
            for _ in range(0 if self._gpus else WARM_WORKERS - len(ready)):
                self._spawn(idle_exit_s=idle_exit_s, races_only=True)
                started = True
            return started

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
        if self.host_lock is not None and self.host_lock.is_locked:
            with contextlib.suppress(OSError):
                (self.home / PIDFILE).unlink()
            self.host_lock.release()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- internals ------------------------------------------------------------------------------
    def _free_gpus(self) -> list[str]:
        """GPUs no live worker holds: each GPU trains one run at a time."""
        held = {g for w in self._workers.values() if w.alive and w.gpu for g in w.gpu.split(",")}
        return [g for g in self._gpus if g not in held]

    def _start_wide_runs(self, queued: Sequence[Run]) -> int:
        """A queued run that asks for N processes gets a worker of its own holding N free GPUs
        (its ranks take one each); it waits while fewer are free. On a CPU any worker takes it."""
        if not self._gpus:
            return 0
        waiting = {w.only_run for w in self._workers.values() if w.alive and w.only_run}
        started = 0
        for run in queued:
            wanted = processes_wanted(run.config)
            if wanted <= 1 or run.id in waiting:
                continue
            free = self._free_gpus()
            if len(free) < wanted:
                continue  # placed when enough GPUs are free
            self._spawn(idle_exit_s=5.0, only_run=run.id, gpus=free[:wanted])
            started += 1
        return started

    def _spawn(
        self, *, idle_exit_s: float | None, race: str | None = None, races_only: bool = False,
        only_run: str | None = None, gpus: Sequence[str] | None = None,
    ) -> WorkerInfo:
        used = {w.slot for w in self._workers.values()}
        slot = next(i for i in range(len(used) + 1) if i not in used)
        read_fd, write_fd = os.pipe()  # both non-inheritable; pass_fds hands read_fd over
        env = worker_env(self.store_url, self.home)
        if gpus is None and self._gpus:
            free = self._free_gpus()
            gpus = free[:1] or [self._gpus[slot % len(self._gpus)]]
        gpu = ",".join(gpus) if gpus else None
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        racing = race is not None or races_only  # the worker sets an entrant's share when it claims it
        if not racing and gpu is None and self.max_workers > 1 and "OMP_NUM_THREADS" not in os.environ:
            # CPU workers that may train at once share the cores instead of each starting one
            # thread per core (oversubscribed cores run small models many times slower).
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.max_workers))
        cmd = [
            sys.executable, "-m", "core.workers", "--home", str(self.home),
            "--poll", str(self.poll_s), "--parent-pid", str(os.getpid()),
            "--parent-fd", str(read_fd),
        ]
        if idle_exit_s is not None:
            cmd += ["--idle-exit", str(idle_exit_s)]
        # A race entrant's worker trains that one run; a races-only one any race's entrants.
        if race is not None:
            cmd += ["--only-tag", race, "--once"]
        elif races_only:
            cmd += ["--races-only"]
        if only_run is not None:
            cmd += ["--only-run", only_run, "--once"]
        elif self._gpus:
            cmd += ["--max-processes", "1"]  # runs for several GPUs wait for a worker with that many
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
        info = WorkerInfo(process.pid, slot, time.time(), gpu, log_path, process, write_fd, race, races_only,
                          only_run)
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
                f"{resume_hint(self.store, run.id)}"
            )
            if fail_if_still_running(self.store, run, reason):
                with contextlib.suppress(Exception):
                    self.store.log_event(run.id, "info", f"worker log: {w.log_path}")
                if run.sweep_id:  # its trial too, now rather than after Optuna's grace period
                    from core.sweep.study import fail_trial_of_run

                    fail_trial_of_run(self.store, run, reason)

    def _monitor_loop(self) -> None:
        while not self._closed.wait(self.monitor_s):
            try:
                with self._lock:
                    self._reap()
                    own = frozenset(w.label for w in self._workers.values())
                # Local runs whose process died (e.g. a killed `lmwb train` in a terminal);
                # pid check only: heartbeat ages are judged once, at start-up.
                mark_orphans(self.store, None, skip_workers=own)
                self.ensure_workers()
                if self.keep_warm:
                    self.prewarm()
            except Exception:
                log.exception("supervisor monitor: tick failed; retrying")


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"died (signal {name})"
    return f"exited with code {code}"
