"""A sweep's life cycle: create, start (or resume), stop, finalize.

``created`` -> ``running`` -> ``completed`` when the budget is spent, or ``stopping`` ->
``stopped`` after :func:`stop_sweep`; ``failed`` when every local worker died. The sweep row
(``core.store.sweeps_table``) holds an atomic trial counter: a worker takes a slot with a
conditional UPDATE before it asks Optuna for a trial, so any number of workers on any number
of machines start exactly the budgeted number of trials.

Stopping and resuming
    :func:`stop_sweep` asks the running trials' runs to stop (they stop after their current
    step); such trials are FAIL in Optuna with the user attribute ``stopped``. Starting a
    stopped sweep again continues the same study: the interrupted trials' parameters are
    enqueued again and the budget counts only trials that really finished.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from core.errors import WorkbenchError
from core.store import Store, SweepRecord
from core.sweep.spec import SweepSpec
from core.sweep.study import (
    STUDY_PREFIX,
    counts_for_budget,
    load_study,
    optuna_storage,
    was_stopped,
)


def _study_direction(direction: str) -> optuna.study.StudyDirection:
    """A spec's direction (``maximize`` / ``minimize``: :func:`build_spec` resolved ``auto``) as Optuna's."""
    try:
        return optuna.study.StudyDirection[direction.upper()]
    except KeyError:
        raise WorkbenchError(f"sweep direction {direction!r}: expected maximize or minimize") from None


def create_sweep(store: Store, spec: SweepSpec, *, name: str | None = None) -> SweepRecord:
    """Store a validated spec and create its Optuna study in the same database: empty, or
    for a grid with the points to run queued (:func:`_enqueue_grid`)."""
    config = spec.config()
    record = store.create_sweep(spec.to_dict(), name=name, task=config.task)
    spec.study_name = STUDY_PREFIX + record.id
    storage = optuna_storage(store)
    study = optuna.create_study(
        storage=storage, study_name=spec.study_name, direction=_study_direction(spec.direction),
        sampler=optuna.samplers.RandomSampler(),
    )
    if spec.method == "grid":
        _enqueue_grid(study, spec, [])
    store.update_sweep(record.id, spec=spec.to_dict())
    return store.get_sweep(record.id)


def start_sweep(store: Store, ref: str) -> SweepRecord:
    """Mark a sweep running (new, stopped or failed: resuming continues the same study).

    Trials a stop interrupted are enqueued again; the trial budget then counts only trials
    that finished (complete, pruned, or failed on their own); the time budget is what the
    earlier sessions left. Starting a running sweep changes nothing (more workers may join).
    """
    sweep = store.get_sweep(ref)
    if sweep.status == "running":
        return sweep
    if sweep.status == "completed":
        raise WorkbenchError(f"sweep {sweep.id} already completed; create a new sweep for more trials")
    if sweep.status == "stopping":
        raise WorkbenchError(f"sweep {sweep.id} is still stopping; start it again once it has stopped")
    spec = SweepSpec.from_dict(sweep.spec)
    study = load_study(store, sweep)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if was_stopped(t) and t.number not in retried:  # its own values (grid: its point) again
            study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})
    if spec.method == "grid":
        _enqueue_grid(study, spec, study.get_trials(deepcopy=False))
    finished = sum(1 for t in trials if counts_for_budget(t))
    now = time.time()
    deadline = None
    if spec.timeout_s:
        deadline = now + max(0.0, spec.timeout_s - sweep.time_used_s)
    store.update_sweep(
        sweep.id, status="running", started_at=now, finished_at=None, error=None,
        trials_claimed=finished, deadline_at=deadline,
        only_if_status=("created", "stopped", "failed"),
    )
    return store.get_sweep(sweep.id)


def _enqueue_grid(study: optuna.Study, spec: SweepSpec, trials: list[FrozenTrial]) -> None:
    """Enqueue the grid points no trial holds yet, in the seed's order, up to the budget.

    Why a queue: Optuna hands a waiting trial to exactly one worker (its WAITING -> RUNNING
    update runs under a row lock, ``BEGIN IMMEDIATE`` on SQLite), so any number of workers on
    SQLite or PostgreSQL give each point to one trial, whatever trial numbers retries of
    stopped trials take. (GridSampler maps trial numbers below the grid size to points, and
    picks the others at random among the points not yet run: two workers can pick the same.)
    A stopped trial's point is held by its retry, enqueued by :func:`start_sweep`.
    """
    def key(params: Mapping[str, Any]) -> str:
        return repr(sorted(params.items()))

    holding = [t for t in trials if not was_stopped(t)]  # done, running, or waiting in the queue
    taken = {key(t.system_attrs.get("fixed_params", t.params)) for t in holding}
    room = (spec.expected_trials() or 0) - len(holding)
    points = spec.search_space().grid_points()
    for i in np.random.default_rng(spec.seed).permutation(len(points)):
        if room <= 0:
            break
        if key(points[int(i)]) not in taken:
            study.enqueue_trial(points[int(i)])
            room -= 1


def stop_sweep(store: Store, ref: str) -> SweepRecord:
    """Stop a sweep: no new trials; running trials stop after their current step (their runs
    keep a checkpoint). The sweep is ``stopped`` once the last of them has wound down."""
    sweep = store.get_sweep(ref)
    if sweep.status == "created":
        store.update_sweep(sweep.id, status="stopped", only_if_status=("created",))
        return store.get_sweep(sweep.id)
    store.update_sweep(sweep.id, status="stopping", only_if_status=("running",))
    for run in store.list_runs(sweep_id=sweep.id, status=["running", "queued"]):
        with contextlib.suppress(WorkbenchError):
            store.request_stop(run.id)
    return finalize(store, sweep.id)


def finalize(store: Store, sweep_id: str) -> SweepRecord:
    """Close a sweep whose work is done: ``stopped`` after a stop, ``completed`` when the
    budget is spent; nothing while a trial still runs. Safe to call from anywhere, any time
    (workers call it as they exit; ``status`` calls it too). Fails stale remote trials first."""
    sweep = store.get_sweep(sweep_id)
    if sweep.status not in ("running", "stopping"):
        return sweep
    study = load_study(store, sweep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.RUNNING for t in trials):
        return sweep
    spec = SweepSpec.from_dict(sweep.spec)
    now = time.time()
    if sweep.status == "stopping":
        new = "stopped"
    else:
        spent = sum(1 for t in trials if counts_for_budget(t))
        out_of_time = sweep.deadline_at is not None and now >= sweep.deadline_at
        out_of_trials = spec.expected_trials() is not None and spent >= (spec.expected_trials() or 0)
        if not (out_of_time or out_of_trials):
            return sweep  # trials left: more workers may still come
        new = "completed"
    used = sweep.time_used_s + (now - sweep.started_at if sweep.started_at else 0.0)
    store.update_sweep(sweep.id, status=new, finished_at=now, time_used_s=used,
                       only_if_status=(sweep.status,))
    return store.get_sweep(sweep.id)

