"""The worker: a process that claims queued runs one at a time and trains them.

:func:`worker_loop` is its body (``python -m core.workers`` or ``lmwb worker``); a failing run
never takes the worker down. :func:`run_worker` adds the parent-death watch a supervised
worker needs; :func:`main` is the process entry point the supervisor starts.

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

Heartbeats and stops
    While a run executes, its guard (:class:`core.run_guard.RunGuard`, started by
    :func:`core.runs.execute_run`) writes ``heartbeat_at`` every few seconds, however long a
    step or a data load takes, and passes the worker's own shutdown (a signal, the app gone) on
    to the run with its reason: the signal handler only sets the worker's shutdown event.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import processes_wanted
from core.distributed import launch_run
from core.errors import RunNotFound, WorkbenchError
from core.jobs.liveness import reap_orphans, worker_label
from core.jobs.queue import RESUME_KEY, race_tag
from core.registry import load_components
from core.run_guard import RUN_HEARTBEAT_S, StopEvent, watch_parent
from core.store import Run, Store
from core.store.claims import Claim, ClaimedRun, ClaimLost
from core.sweep.schedule import trial_demand

if TYPE_CHECKING:  # core.train imports torch: keep this module light to import
    from core.train import Callback, TrainResult

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.5  # how often an idle worker looks at the queue



def worker_loop(
    store: Store,
    *,
    worker_name: str | None = None,
    once: bool = False,
    poll_s: float = DEFAULT_POLL_S,
    idle_exit_s: float | None = None,
    shutdown: threading.Event | None = None,
    callbacks: Sequence[Callback] = (),
    only_tag: str | None = None,
    races_only: bool = False,
    only_run: str | None = None,
    max_processes: int | None = None,
) -> int:
    """Claim queued runs one at a time and train them; return how many were executed.

    ``only_tag``: claim only runs with this tag (a worker started for one race entrant; it
    trains no sweep trial). ``races_only``: claim only race entrants, of any race (a warm
    worker kept beside the one that takes any run; no sweep trial either). ``only_run``: claim
    that run only (a worker given the GPUs a multi-process run needs). ``max_processes``: leave
    runs that want more processes than this worker has GPUs. A race entrant trains on its share
    of the cores (:func:`race_threads`), whichever worker claims it.

    ``once``: execute at most one run (exit at once on an empty queue). ``idle_exit_s``: exit
    after that long without a run (None: never). ``shutdown``: set it to make the worker stop
    its current run gracefully and exit; SIGTERM and SIGINT do the same when the loop runs in
    the main thread (a second SIGINT aborts). A run that fails is recorded failed by
    :func:`core.runs.execute_run` and the worker moves on.
    """
    from core.runs import warm_up  # torch: loaded when the worker starts, not when it is imported

    load_components()  # pay imports and registration before the first claim, not after it
    warm_up()
    threads = _torch_threads()  # what a run that is no race entrant trains on
    stop_all = shutdown if shutdown is not None else StopEvent()
    label = worker_name or worker_label()
    restore = _install_signal_handlers(stop_all)
    executed = 0
    idle_since = time.monotonic()
    log.info("worker %s: polling %s every %.2f s", label, store.url, poll_s)
    try:
        next_reap = 0.0
        while not stop_all.is_set():
            try:
                if time.monotonic() >= next_reap:  # runs of dead workers: failed, resumable
                    next_reap = time.monotonic() + RUN_HEARTBEAT_S
                    reap_orphans(store)
                if races_only:
                    run = _claim_race_entrant(store, label, max_processes)
                else:
                    run = store.claim_next_queued(label, only_tag=only_tag, only_run=only_run,
                                                  max_processes=max_processes)
            except Exception as exc:  # database busy or briefly unreachable: try again
                log.warning("worker %s: could not read the queue: %s", label, exc)
                run = None
            dedicated = only_tag is not None or only_run is not None or races_only
            if run is None and not dedicated and _train_a_sweep_trial(store, stop_all):
                executed += 1  # no queued run, but a sweep wanted a trial: this worker trained it
                idle_since = time.monotonic()
                if once:
                    break
                continue
            if run is None:
                if once:
                    break
                if idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                    log.info("worker %s: idle for %.0f s; exiting", label, idle_exit_s)
                    break
                stop_all.wait(poll_s)
                continue
            share = _RaceShare(store, run, threads) if race_tag(run) is not None else None
            if share is not None:
                share.apply()  # already for the data and model build
            try:
                poisoned = _execute_claimed(store, run, label, StopEvent(), stop_all,
                                            (*callbacks, share) if share is not None else callbacks)
            finally:
                _set_torch_threads(threads)
            executed += 1
            idle_since = time.monotonic()
            if once or poisoned:
                break
    finally:
        restore()
    return executed


def _claim_race_entrant(store: Store, label: str, max_processes: int | None) -> Run | None:
    """Claim an entrant of the oldest race waiting in the queue (the store filters on one whole
    tag, so each waiting race's tag is asked in turn), or None when no race waits."""
    waiting = [r for r in reversed(store.list_runs(status="queued")) if not r.stop_requested]
    for tag in dict.fromkeys(t for r in waiting if (t := race_tag(r)) is not None):
        run = store.claim_next_queued(label, only_tag=tag, max_processes=max_processes)
        if run is not None:
            return run
    return None


def race_threads(store: Store, run: Run, threads: int) -> int:
    """The threads a race entrant trains on: the machine's cores split between the race's
    entrants that are queued or training (so two entrants on two cores take one each), never
    more than ``threads``, what this worker trains a plain run on (``OMP_NUM_THREADS`` caps it)."""
    tag = race_tag(run)
    if tag is None:
        return threads
    entrants = sum(1 for r in store.list_runs(status=("queued", "running"), tag=tag))
    return max(1, min(threads, (os.cpu_count() or 1) // max(1, entrants)))


class _RaceShare:
    """Sets a race entrant's threads (:func:`race_threads`) when it is claimed, and again once
    its set-up is done: by then every entrant of its race is in the store, even one queued a
    moment after this one was claimed. (A Callback by its five hooks: subclassing it would
    import torch with this module.)"""

    def __init__(self, store: Store, run: Run, threads: int) -> None:
        self.store, self.run, self.threads = store, run, threads

    def apply(self) -> None:
        try:
            _set_torch_threads(race_threads(self.store, self.run, self.threads))
        except Exception as exc:  # database busy: keep the share it has
            log.warning("run %s: could not count its race's entrants: %s", self.run.id, exc)

    def on_start(self, info: dict[str, Any]) -> None:
        self.apply()

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        return None

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        return None

    def on_stop(self, step: int, by: str) -> None:
        return None

    def on_end(self, result: TrainResult) -> None:
        return None


def _torch_threads() -> int:
    torch = sys.modules.get("torch")  # imported by warm_up; a worker without it trains nothing here
    return int(torch.get_num_threads()) if torch is not None else (os.cpu_count() or 1)


def _set_torch_threads(n: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _train_a_sweep_trial(store: Store, stop_all: threading.Event) -> bool:
    """Train one trial of the oldest running sweep that wants one (sweep trials share the
    machine's workers with queued runs, which come first); False when none wants one."""
    try:
        demand = trial_demand(store)
    except Exception as exc:  # database busy: the next poll looks again
        log.warning("could not read the sweeps: %s", exc)
        return False
    if not demand:
        return False
    from core.sweep.trials import WorkerState, run_trials

    return run_trials(store, demand[0][0], max_trials=1, state=WorkerState(shutdown=stop_all)) > 0


def _execute_claimed(
    store: Store, run: Run, label: str, stop: threading.Event, stop_all: threading.Event,
    callbacks: Sequence[Callback],
) -> bool:
    """Train one claimed run. Returns True when the process should exit (CUDA state broken).

    Everything written for the run goes through the claim (:class:`ClaimedRun`): if this
    worker was frozen past the grace period and the run was given to another worker meanwhile,
    the first write after it wakes is refused and the run stops here, with the reason in this
    worker's log."""
    from core.runs import execute_run

    claim = Claim(run.id, run.claim_epoch, label)
    writer = ClaimedRun(store, claim)
    resume = bool(run.progress.get(RESUME_KEY))
    try:
        if store.stop_requested(run.id):
            # Stop asked for between the claim and now: execute_run would clear the flag.
            writer.set_status(run.id, "stopped")
            writer.log_event(run.id, "info", "stopped before it started")
            return False
    except (RunNotFound, ClaimLost):  # deleted meanwhile, or no longer ours
        return False
    log.info("worker %s: run %s (%s)%s", label, run.id, run.name, " resuming" if resume else "")
    poisoned = False
    try:
        if processes_wanted(run.config) > 1:
            # DDP: torchrun's agent runs here, the ranks beside it; rank 0 guards the run, and the
            # launcher turns this worker's shutdown into the run's stop flag.
            result = launch_run(store, run.id, resume=resume, stop_event=stop_all, worker=label, claim=claim)
        else:  # the run's guard turns this worker's shutdown into the run's stop, with its reason
            result = execute_run(store, run.id, resume=resume, callbacks=callbacks, stop_event=stop, claim=claim,
                                 also_stop_on=(stop_all,))
        if result.status == "stopped" and stop_all.is_set():
            why = getattr(stop_all, "reason", "") or "the worker was shut down"
            writer.log_event(
                run.id, "warning",
                f"stopped at step {result.step} because {why}; resume to continue",
            )
        log.info("worker %s: run %s %s at step %d", label, run.id, result.status, result.step)
    except KeyboardInterrupt:
        raise
    except ClaimLost as exc:  # nothing may be written for the run: say so here, in the worker's log
        log.warning("worker %s: stopped run %s: %s", label, run.id, exc)
    except Exception as exc:
        # execute_run records its own failures; this covers errors before its try block
        # (an unreadable config, a deleted run) so no run is left "running" forever.
        log.warning("worker %s: run %s failed: %s", label, run.id, exc)
        with contextlib.suppress(Exception):
            if store.get_run(run.id).status == "running":
                message = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
                writer.set_status(run.id, "failed", error=message)
        poisoned = "CUDA error" in str(exc)  # a broken CUDA context poisons later runs too
    finally:
        gc.collect()  # free the model before the next claim
        _empty_cuda_cache()
    return poisoned


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _install_signal_handlers(stop_all: threading.Event) -> Any:
    """SIGTERM/SIGINT -> graceful stop (the run's guard passes it on to the run); returns a
    function that restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and stop_all.is_set():
            raise KeyboardInterrupt  # second Ctrl-C: abort now
        reason = f"the worker received {signal.Signals(signum).name}"
        if isinstance(stop_all, StopEvent):
            stop_all.request(reason)
        else:
            stop_all.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


# --------------------------------------------------------------------------------------------
# The process: python -m core.workers
# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.workers", description="An LM Workbench worker: trains queued runs."
    )
    parser.add_argument("--store", help="database URL (default: $LMWB_STORE, else SQLite in the home)")
    parser.add_argument("--home", help="workbench home folder (default: $LMWB_HOME, else ~/.lmwb)")
    parser.add_argument("--once", action="store_true", help="train at most one run, then exit")
    parser.add_argument("--idle-exit", type=float, metavar="S", help="exit after S seconds without work")
    parser.add_argument("--poll", type=float, default=DEFAULT_POLL_S, metavar="S", help="queue poll interval")
    # Set by the Supervisor: how the worker notices that the app died.
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent-fd", type=int, help=argparse.SUPPRESS)
    # Set by the Supervisor for a race: train only this race's entrant / any race's entrants.
    parser.add_argument("--only-tag", help=argparse.SUPPRESS)
    parser.add_argument("--races-only", action="store_true", help=argparse.SUPPRESS)
    # Set by the Supervisor on a GPU machine: the one run given these GPUs / runs that fit one GPU.
    parser.add_argument("--only-run", help=argparse.SUPPRESS)
    parser.add_argument("--max-processes", type=int, help=argparse.SUPPRESS)
    return parser


def run_worker(
    store: Store, *, once: bool = False, idle_exit_s: float | None = None, poll_s: float = DEFAULT_POLL_S,
    parent_pid: int | None = None, parent_fd: int | None = None, only_tag: str | None = None,
    races_only: bool = False, only_run: str | None = None, max_processes: int | None = None,
) -> int:
    """A worker process's main: worker_loop plus the parent-death watch; returns runs done."""
    shutdown = StopEvent()
    if parent_pid is not None:
        watch_parent(shutdown, parent_pid, parent_fd)
    return worker_loop(store, once=once, poll_s=poll_s, idle_exit_s=idle_exit_s, shutdown=shutdown,
                       only_tag=only_tag, races_only=races_only, only_run=only_run, max_processes=max_processes)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s")
    store = Store(url=args.store, home=Path(args.home) if args.home else None)
    done = run_worker(
        store, once=args.once, idle_exit_s=args.idle_exit, poll_s=args.poll,
        parent_pid=args.parent_pid, parent_fd=args.parent_fd, only_tag=args.only_tag,
        races_only=args.races_only, only_run=args.only_run, max_processes=args.max_processes,
    )
    log.info("worker %d: exiting after %d run(s)", os.getpid(), done)
    return 0


