"""Sweep processes on one machine: :func:`run_local` drives N worker processes
(``lmwb sweep worker``, whose main is :func:`worker_main`); :func:`spawn_driver` runs that
driver detached, for the UI.

A worker process that dies is noticed by the driver within a second: its trial and run are
failed, and a replacement worker starts while trials remain. Workers run in their own
session, so a Ctrl-C in the terminal reaches only the driver, which stops the sweep
gracefully. (Training runs queued outside a sweep have their own workers, under
:class:`core.jobs.Supervisor`.)
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from core.errors import WorkbenchError
from core.jobs import worker_env, worker_label
from core.store import Store, SweepRecord
from core.sweep.lifecycle import finalize, start_sweep, stop_sweep
from core.sweep.spec import SweepSpec
from core.sweep.study import fail_trial_run, load_study
from core.sweep.trials import WorkerState, run_trials

log = logging.getLogger(__name__)

@dataclass
class _Child:
    slot: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def label(self) -> str:
        return worker_label(self.process.pid)


def run_local(
    store: Store, ref: str, workers: int | None = None, *, poll_s: float = 0.5,
    on_trial: Callable[[FrozenTrial], None] | None = None, max_restarts: int | None = None,
) -> SweepRecord:
    """Start (or resume) a sweep and drive ``workers`` local worker processes until it ends.

    A worker that dies (killed, out of memory) has its trial and run marked failed within
    about ``poll_s`` and is replaced while trials remain. Ctrl-C / SIGTERM stop the sweep
    gracefully. ``on_trial`` is called once for each trial that finishes.
    """
    sweep = start_sweep(store, ref)
    spec = SweepSpec.from_dict(sweep.spec)
    n = workers or spec.workers
    children: list[_Child] = []
    restarts = 0
    max_restarts = 3 * n if max_restarts is None else max_restarts
    seen: set[int] = set()

    def handle(signum: int, _frame: Any) -> None:
        log.warning("sweep %s: stopping (signal %d)", sweep.id, signum)
        stop_sweep(store, sweep.id)

    restore = _install_handlers(handle)
    try:
        for slot in range(n):
            children.append(_spawn_worker(store, sweep.id, slot, n))
        while children:
            time.sleep(poll_s)
            for child in list(children):
                code = child.process.poll()
                if code is None:
                    continue
                children.remove(child)
                if code != 0:
                    _fail_trials_of(store, sweep.id, child, code)
                    current = finalize(store, sweep.id)
                    if current.status == "running" and restarts < max_restarts:
                        restarts += 1
                        children.append(_spawn_worker(store, sweep.id, child.slot, n))
            if on_trial is not None:
                _report_new_trials(store, sweep.id, seen, on_trial)
    finally:
        restore()
        for child in children:  # only on an exception here: don't leave workers behind
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
    final = finalize(store, sweep.id)
    if on_trial is not None:
        _report_new_trials(store, sweep.id, seen, on_trial)
    if final.status == "running" and restarts >= max_restarts:
        # Workers kept dying and trials remain: say so. (Still running otherwise: trials of
        # workers on other machines are in progress; the last of them closes the sweep.)
        store.update_sweep(sweep.id, status="failed", only_if_status=("running",),
                           error="all local workers exited before the budget was spent; start it again to resume")
        final = store.get_sweep(sweep.id)
    return final


def spawn_driver(store: Store, ref: str, workers: int | None = None) -> subprocess.Popen[bytes]:
    """Run :func:`run_local` in a detached process (the UI's "launch": it returns at once, and
    the sweep outlives the browser tab). Its log is ``{home}/logs/sweep-<id>.log``."""
    sweep = store.get_sweep(ref)
    cmd = [sys.executable, "-m", "core.cli", "sweep", "start", sweep.id]
    if workers:
        cmd += ["--workers", str(workers)]
    log_dir = store.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"sweep-{sweep.id}.log").open("ab") as out:
        return subprocess.Popen(
            cmd, env=_child_env(store, 1), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )


def _spawn_worker(store: Store, sweep_id: str, slot: int, n: int) -> _Child:
    log_dir = store.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"sweep-{sweep_id}-worker-{slot}.log"
    cmd = [sys.executable, "-m", "core.cli", "sweep", "worker", sweep_id, "--slot", str(slot)]
    with log_path.open("ab") as out:
        # Own session: a Ctrl-C in the terminal reaches only the driver, which stops the
        # sweep gracefully; the workers then finish their step and exit.
        process = subprocess.Popen(
            cmd, env=_child_env(store, n), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    return _Child(slot, process, log_path)


def _child_env(store: Store, n_workers: int) -> dict[str, str]:
    env = worker_env(store.connect_url, store.home)
    if n_workers > 1 and "OMP_NUM_THREADS" not in env:
        # N CPU workers share the cores instead of each starting one thread per core.
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n_workers))
    return env


def _fail_trials_of(store: Store, sweep_id: str, child: _Child, code: int) -> None:
    how = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit code {code}"
    study = load_study(store, store.get_sweep(sweep_id))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") != child.label:
            continue
        run_id = trial.user_attrs.get("run_id")
        step = None
        if run_id:
            with contextlib.suppress(WorkbenchError):
                step = store.get_run(run_id).progress.get("step")
        reason = (f"sweep worker {child.label} died ({how}) during trial {trial.number}"
                  + (f" at step {step}" if step is not None else "") + f"; log: {child.log_path}")
        with contextlib.suppress(Exception):  # the attribute first: a finished trial is frozen
            study._storage.set_trial_user_attr(trial._trial_id, "error", reason)  # noqa: SLF001
        with contextlib.suppress(Exception):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        fail_trial_run(store, run_id, reason)
        log.warning("sweep %s: %s", sweep_id, reason)


def _report_new_trials(store: Store, sweep_id: str, seen: set[int], on_trial: Callable[[FrozenTrial], None]) -> None:
    with contextlib.suppress(Exception):
        study = load_study(store, store.get_sweep(sweep_id))
        for trial in study.get_trials(deepcopy=False):
            if trial.state.is_finished() and trial.number not in seen:
                seen.add(trial.number)
                on_trial(trial)


def _install_handlers(handler: Callable[[int, Any], None]) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def worker_main(store: Store, ref: str, slot: int | None = None) -> int:
    """A worker process's main (``lmwb sweep worker``): starts a new (``created``) sweep;
    SIGTERM / Ctrl-C stop the current trial after its step (the trial can run again when the
    sweep resumes) and exit."""
    state = WorkerState()
    if store.get_sweep(ref).status == "created":
        start_sweep(store, ref)  # the first worker to arrive starts a new sweep

    def handle(signum: int, _frame: Any) -> None:
        if state.shutdown.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state.request_stop()

    restore = _install_handlers(handle)
    try:
        return run_trials(store, ref, slot=slot, state=state)
    finally:
        restore()

