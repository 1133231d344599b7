"""The Optuna side of a sweep: its study in the store's database, samplers, pruners, and how
a trial's state reads to people.

The study lives in the same database as the store (Optuna's ``RDBStorage``: SQLite by
default; a PostgreSQL URL lets workers on several machines share one study, Optuna's
documented distributed mode). On SQLite every Optuna transaction starts with
``BEGIN IMMEDIATE`` (as the store's writes do), because Optuna's read-then-write updates rely
on row locks that SQLite does not have. A running trial sends Optuna heartbeats; on other
machines a trial whose heartbeat stops is failed after a grace period, and so is its run.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
import sqlalchemy as sa
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from core.errors import ConfigError, WorkbenchError
from core.store import Run, Store, SweepRecord
from core.store.claims import grace_s, postgres_session_options
from core.sweep import settings
from core.sweep.space import SearchSpace
from core.sweep.spec import SweepSpec

# Optuna's heartbeat of a running trial (its RDBStorage wants whole seconds). Not the run
# heartbeat a run's guard writes on its run (core.run_guard.RUN_HEARTBEAT_S).
TRIAL_HEARTBEAT_S = 5
STUDY_PREFIX = "lmwb-sweep-"
# Trial states as shown to people: Optuna's, plus "stopped" (FAIL because someone stopped it).
STOPPED_ATTR = "stopped"

_STORAGES: dict[tuple[str, int], optuna.storages.RDBStorage] = {}
_STORAGES_LOCK = threading.Lock()


def optuna_storage(store: Store) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on the store's database (one per process and URL)."""
    url = store.connect_url  # with any password: Optuna's tables go in the same database
    key = (url, os.getpid())
    with _STORAGES_LOCK:
        cached = _STORAGES.get(key)
        if cached is not None:
            return cached
        sqlite = url.startswith("sqlite")
        engine_kwargs: dict[str, Any] = (
            {"connect_args": {"timeout": 60}} if sqlite else {"pool_pre_ping": True, "pool_size": 3}
        )
        if url.startswith("postgresql"):  # a frozen trial worker's locks end with its session
            engine_kwargs["connect_args"] = postgres_session_options()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=TRIAL_HEARTBEAT_S,
                grace_period=_grace_s(), heartbeat_stale_trial_callback=_StaleTrialHandler(store),
            )
        if sqlite:
            # Optuna updates trials read-then-write under SELECT ... FOR UPDATE, a no-op on
            # SQLite: take the write lock up front instead so concurrent workers queue.
            sa.event.listen(storage.engine, "connect", _optuna_sqlite_connect)
            sa.event.listen(storage.engine, "begin", _optuna_sqlite_begin)
            storage.engine.dispose()  # connections made so far lack the hooks
        _STORAGES[key] = storage
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no INFO line per trial
        return storage


def _grace_s() -> int:
    """Optuna's grace period: the workbench's one declaration (core.store.claims.grace_s)."""
    return max(2 * TRIAL_HEARTBEAT_S, int(grace_s()))


def _optuna_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's begin hook below emits BEGIN itself
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _optuna_sqlite_begin(conn: sa.engine.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class _StaleTrialHandler:
    """Optuna failed a trial whose worker stopped sending heartbeats: fail its run too."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get("run_id")
        worker = trial.user_attrs.get("worker", "?")
        fail_trial_run(self.store, run_id, f"sweep worker {worker} stopped sending heartbeats; trial {trial.number} failed")



def make_sampler(spec: SweepSpec, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler for ``spec.method``: random, TPE and GP draw each trial from (the sweep's
    seed, the trial number) (:class:`PerTrialSeed`). A grid's points are all enqueued when the
    sweep is created (:func:`core.sweep.lifecycle.create_sweep`), so its GridSampler only
    serves sweeps created before that (trial number -> grid point)."""
    if spec.method == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=spec.seed)
    if spec.method not in ("random", "tpe", "gp"):
        raise ConfigError("method", spec.method, settings.METHOD.allowed())

    def build(seed: int) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if spec.method == "random":
                return optuna.samplers.RandomSampler(seed=seed)
            if spec.method == "tpe":
                return optuna.samplers.TPESampler(
                    seed=seed, n_startup_trials=spec.startup(), multivariate=True,
                    group=space.conditional, constant_liar=True,
                )
            return optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=spec.startup(), warn_independent_sampling=False
            )

    return PerTrialSeed(spec.seed, build)


class PerTrialSeed(optuna.samplers.BaseSampler):
    """Runs each trial with its own sampler, seeded from (the sweep's seed, the trial number).

    Why: a job worker loads the study afresh for every trial it trains, in any process on any
    machine, so a sampler seeded once per process (or per worker) draws the same first values
    in every trial that worker runs (random search, and the start-up trials of TPE and GP).
    Seeded by trial number, each trial gets independent draws whichever worker runs it, and
    the same draws as any other run of the same seed: random search repeats with any number of
    workers; TPE and GP repeat with one worker (their proposals also depend on which trials
    have finished when a trial starts).
    """

    def __init__(self, seed: int, build: Callable[[int], optuna.samplers.BaseSampler]) -> None:
        self._seed = seed
        self._build = build
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def _of(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        sampler = self._by_trial.get(trial.number)
        if sampler is None:
            seed = int(np.random.SeedSequence([self._seed, trial.number]).generate_state(1)[0])
            sampler = self._by_trial[trial.number] = self._build(seed)
        return sampler

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._of(trial).before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._of(trial).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)

    def reseed_rng(self) -> None:
        """Nothing to do: every trial has its own seed already."""


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    p = spec.pruner
    name = p.get("name", "none")
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p["startup_trials"], n_warmup_steps=p["warmup_steps"]
        )
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p["min_resource"], reduction_factor=p["reduction_factor"]
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p["min_resource"], max_resource=spec.base["training"]["max_steps"],
            reduction_factor=p["reduction_factor"],
        )
    return optuna.pruners.NopPruner()


def load_study(store: Store, sweep: SweepRecord) -> optuna.Study:
    spec = SweepSpec.from_dict(sweep.spec)
    space = spec.search_space()
    return optuna.load_study(
        study_name=spec.study_name, storage=optuna_storage(store),
        sampler=make_sampler(spec, space), pruner=make_pruner(spec),
    )



# --------------------------------------------------------------------------------------------
# Trial states
# --------------------------------------------------------------------------------------------
def trial_status(trial: FrozenTrial) -> str:
    """Optuna's state in lower case, or ``stopped`` for a trial a sweep stop interrupted."""
    if was_stopped(trial):
        return "stopped"
    return trial.state.name.lower()


def was_stopped(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(STOPPED_ATTR))


def counts_for_budget(trial: FrozenTrial) -> bool:
    """Finished on its own (complete, pruned or failed): a stopped trial runs again."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not was_stopped(trial)


def fail_trial_of_run(store: Store, run: Run, reason: str) -> None:
    """The trial whose run ``run`` failed outside it (its worker died): FAIL in Optuna now, with
    the reason, instead of after the heartbeat grace period."""
    if not run.sweep_id:
        return
    try:
        study = load_study(store, store.get_sweep(run.sweep_id))
    except WorkbenchError:
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("run_id") != run.id:
            continue
        with contextlib.suppress(Exception):  # the attribute first: a finished trial is frozen
            study._storage.set_trial_user_attr(trial._trial_id, "error", reason)  # noqa: SLF001
        with contextlib.suppress(Exception):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def fail_trial_run(store: Store, run_id: str | None, reason: str) -> None:
    """Mark the run of a failed trial failed too (unless it already finished)."""
    if not run_id:
        return
    try:
        run = store.get_run(run_id)
    except WorkbenchError:
        return
    if run.status == "running":  # revoked: its worker, should it only be frozen, writes nothing more
        if store.revoke_claim(run.id, run.worker, reason):
            store.log_event(run.id, "error", reason)
    elif run.status == "queued":
        store.set_status(run.id, "failed", error=reason)
        store.log_event(run.id, "error", reason)
