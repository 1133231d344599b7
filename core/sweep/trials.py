"""Running trials: :func:`run_trials`, the loop of a sweep worker, and the objective it hands
Optuna.

Every trial is an ordinary run in the store (``runs.sweep_id`` set, tagged ``sweep-<id>``),
trained in-process by :func:`core.runs.execute_run`; :class:`TrialReporter` reports its
periodic validation metric to the trial, and a trial the pruner stops is marked ``pruned``
with its step. A trial whose training raises is FAIL in Optuna and ``failed`` in the store;
the sweep goes on. A grid trial takes one of the points enqueued when the sweep was created
(Optuna hands each waiting trial to one worker), so parallel workers never evaluate a point
twice.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from core.callbacks import Callback
from core.errors import ConfigError, WorkbenchError
from core.jobs import worker_label
from core.jobs.queue import sweep_tag
from core.registry import load_components
from core.runs import create_run, execute_run, warm_up
from core.store import Store, SweepRecord
from core.store.claims import ClaimedRun
from core.sweep.lifecycle import finalize
from core.sweep.space import SearchSpace
from core.sweep.spec import SweepSpec, trial_config
from core.sweep.study import STOPPED_ATTR, load_study

log = logging.getLogger(__name__)


class TrialStopped(WorkbenchError):
    """The trial's run was stopped by a sweep stop or a worker shutdown (not a failure of
    its own: resuming the sweep runs its parameters again)."""


class TrialReporter(Callback):
    """Trainer callback: reports the objective metric at every evaluation to the trial and
    stops the run when the pruner says so (or when the sweep is being stopped)."""

    def __init__(
        self, trial: optuna.Trial, metric: str, direction: str, stop: threading.Event,
        max_steps: int, should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.trial = trial
        self.metric = metric
        self.maximize = direction == "maximize"
        self.stop = stop
        self.max_steps = max_steps
        self.should_stop = should_stop
        self.best: float | None = None
        self.last_step = 0
        self.pruned_at: int | None = None
        self.error: str | None = None

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        self.last_step = step
        # Stopped from outside (sweep stop, shutdown): this is the trainer's final score of a
        # stopped run, not a point for the pruner to judge.
        stopping = self.stop.is_set()
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            self.error = (
                f"objective metric {self.metric!r} is not among this run's validation metrics "
                f"({', '.join(sorted(metrics))})" if value is None else
                f"objective metric {self.metric} became {value} at step {step}"
            )
            self.stop.set()
            return
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best = value
        self.trial.report(value, step)
        if stopping:
            return
        # The last evaluation is the trial's result: nothing left to save by pruning it.
        if step < self.max_steps and self.trial.should_prune():
            self.pruned_at = step
            self.stop.set()
        elif self.should_stop is not None and self.should_stop():
            self.stop.set()


@dataclass
class WorkerState:
    """What a worker's signal handler needs: the shutdown flag and the current trial's stop."""

    shutdown: threading.Event = field(default_factory=threading.Event)
    current: threading.Event | None = None

    def request_stop(self) -> None:
        self.shutdown.set()
        if self.current is not None:
            self.current.set()


def run_trials(
    store: Store, ref: str, *, state: WorkerState | None = None, max_trials: int | None = None,
) -> int:
    """Run trials of a sweep until its budget is spent or it is stopped; return how many.

    Any number of these may run at once, in other processes or on other machines sharing the
    database: each trial slot is claimed atomically, and each trial's values depend on the
    sweep's seed and its trial number, not on the worker (:class:`core.sweep.study.PerTrialSeed`).
    """
    load_components()
    warm_up()
    state = state or WorkerState()
    sweep = store.get_sweep(ref)
    spec = SweepSpec.from_dict(sweep.spec)
    space = spec.search_space()
    study = load_study(store, sweep)
    label = worker_label()
    done = 0
    db_errors = 0
    while not state.shutdown.is_set() and (max_trials is None or done < max_trials):
        if not store.claim_sweep_trial(sweep.id, spec.expected_trials()):
            break
        entered = threading.Event()
        objective = _objective(store, sweep, spec, space, label, state, entered)
        try:
            study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True)
            db_errors = 0
        except Exception as exc:  # Optuna's own bookkeeping failed (database trouble)
            log.warning("sweep %s: trial bookkeeping failed: %s", sweep.id, exc)
            if not entered.is_set():
                store.release_sweep_trial(sweep.id)
            db_errors += 1
            if db_errors >= 5:
                raise
            time.sleep(min(10.0, 0.5 * 2**db_errors))
            continue
        done += 1
    with contextlib.suppress(Exception):
        finalize(store, sweep.id)
    return done


def _objective(
    store: Store, sweep: SweepRecord, spec: SweepSpec, space: SearchSpace, label: str,
    state: WorkerState, entered: threading.Event,
) -> Callable[[optuna.Trial], float]:
    def sweep_stopping() -> bool:
        try:
            return store.get_sweep(sweep.id).status != "running"
        except Exception:
            return False

    def objective(trial: optuna.Trial) -> float:
        entered.set()
        trial.set_user_attr("worker", label)  # first: lets the driver fail it if we die
        values = space.sample(trial)
        try:
            config = trial_config(spec.base, values)
        except ConfigError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        run = create_run(
            store, config, name=f"{sweep.name}-t{trial.number}", status="running",
            tags=[sweep_tag(sweep.id), f"trial-{trial.number}"], sweep_id=sweep.id,
        )
        trial.set_user_attr("run_id", run.id)
        # This worker's claim on the run: every write for it below is fenced by it, so a worker
        # thawed after its trial was failed for silence cannot finish the run a second time.
        writer = ClaimedRun(store, store.take_claim(run.id, label))
        writer.update_run(run.id, summary={"sweep_trial": trial.number})
        stop = threading.Event()
        state.current = stop
        if state.shutdown.is_set() or sweep_stopping():
            stop.set()
        reporter = TrialReporter(
            trial, spec.metric, spec.direction, stop, config["training"]["max_steps"],
            should_stop=lambda: state.shutdown.is_set() or sweep_stopping(),
        )
        try:
            result = execute_run(store, run.id, callbacks=[reporter], stop_event=stop, claim=writer.claim,
                                 also_stop_on=(state.shutdown,))
        except BaseException as exc:
            trial.set_user_attr("error", str(exc)[:1000] or type(exc).__name__)
            raise
        finally:
            state.current = None
        if reporter.error is not None:
            writer.set_status(run.id, "failed", error=reporter.error)
            trial.set_user_attr("error", reporter.error)
            raise WorkbenchError(reporter.error)
        if reporter.pruned_at is not None and result.status == "stopped":
            step = reporter.pruned_at
            writer.set_status(run.id, "pruned")
            writer.set_summary(run.id, {"pruned_at_step": step})
            writer.log_event(run.id, "info", f"pruned by the sweep's {spec.pruner['name']} pruner at step {step}")
            trial.set_user_attr("pruned_at_step", step)
            raise optuna.TrialPruned(f"pruned at step {step}")
        if result.status == "stopped":
            trial.set_user_attr(STOPPED_ATTR, True)
            writer.log_event(run.id, "info", f"sweep trial {trial.number} stopped at step {result.step}")
            raise TrialStopped(f"trial {trial.number} stopped at step {result.step}")
        if reporter.best is None:
            message = f"run {run.id} finished without an evaluation of {spec.metric}"
            trial.set_user_attr("error", message)
            raise WorkbenchError(message)
        return reporter.best

    return objective

