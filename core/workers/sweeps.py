"""Driving a sweep on this machine: :func:`run_local` (``lmwb sweep start``) marks the sweep
running and lets the machine's one supervisor (:class:`core.jobs.Supervisor`) train its trials
with the same workers as queued runs: `lmwb ui`'s when it runs, else one started here with
``workers`` slots. :func:`launch_detached` does the same in the background;
:func:`worker_main` is ``lmwb sweep worker SWEEP``, a plain worker that trains only that
sweep's trials (for a machine that joins one sweep).

A worker that dies (killed, out of memory) has its run and trial failed by the supervisor
within a second, and another worker takes the next trial. Ctrl-C / SIGTERM stop the sweep
gracefully: running trials stop after their current step.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from optuna.trial import FrozenTrial

from core.jobs import worker_env
from core.store import Store, SweepRecord
from core.sweep.lifecycle import finalize, start_sweep, stop_sweep
from core.sweep.spec import SweepSpec
from core.sweep.study import load_study
from core.sweep.trials import WorkerState, run_trials
from core.workers.host import AttachedSupervisor, host_supervisor, machine_supervisor

log = logging.getLogger(__name__)


def run_local(
    store: Store, ref: str, workers: int | None = None, *, poll_s: float = 0.5,
    on_trial: Callable[[FrozenTrial], None] | None = None,
) -> SweepRecord:
    """Start (or resume) a sweep and wait until it ends while the machine's supervisor trains
    its trials; ``workers``: trials at once (default: the sweep's own setting). ``on_trial`` is
    called once for each trial that finishes."""
    sweep = start_sweep(store, ref)
    spec = SweepSpec.from_dict(sweep.spec)
    if workers and workers != spec.workers:
        spec.workers = workers
        store.update_sweep(sweep.id, spec=spec.to_dict())
    # The home's one supervisor: `lmwb ui`'s when it runs (attached here), else hosted here
    # with the sweep's own number of workers as its cap.
    supervisor = host_supervisor(store.connect_url, store.home, max_workers=spec.workers,
                                 idle_exit_s=max(5.0, 10 * poll_s))
    if isinstance(supervisor, AttachedSupervisor):
        log.info("sweep %s: the supervisor of process %s trains its trials", sweep.id, supervisor.host_pid)
    seen: set[int] = set()

    def handle(signum: int, _frame: Any) -> None:
        log.warning("sweep %s: stopping (signal %d)", sweep.id, signum)
        stop_sweep(store, sweep.id)

    restore = _install_handlers(handle)
    try:
        while True:
            supervisor.ensure_workers()  # its monitor does too, once a second (attached: a no-op)
            current = finalize(store, sweep.id)
            if on_trial is not None:
                _report_new_trials(store, sweep.id, seen, on_trial)
            if current.status not in ("running", "stopping"):
                break
            time.sleep(poll_s)
    finally:
        restore()
        supervisor.shutdown()
    if on_trial is not None:
        _report_new_trials(store, sweep.id, seen, on_trial)
    return store.get_sweep(sweep.id)


def launch_detached(store: Store, ref: str, workers: int | None = None) -> subprocess.Popen[bytes] | None:
    """Start a sweep and return at once (``lmwb sweep start --detach``): `lmwb ui`'s supervisor
    trains it when it runs (None is returned), else :func:`run_local` in a process of its own,
    which outlives this one. Its log is ``{home}/logs/sweep-<id>.log``."""
    sweep = start_sweep(store, ref)
    if machine_supervisor(store.home) is not None:
        return None
    cmd = [sys.executable, "-m", "core.cli", "sweep", "start", sweep.id]
    if workers:
        cmd += ["--workers", str(workers)]
    log_dir = store.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"sweep-{sweep.id}.log").open("ab") as out:
        return subprocess.Popen(
            cmd, env=worker_env(store.connect_url, store.home), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )


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


def worker_main(store: Store, ref: str) -> int:
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
        return run_trials(store, ref, state=state)
    finally:
        restore()

