"""Reading a sweep: what the CLI and the Sweeps page show (trials table, status, best trial,
learning curves) and promoting the best trial to a full run."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from core.config import apply_overrides, validate_config
from core.errors import WorkbenchError
from core.jobs import queue_run
from core.store import Run, Store, SweepRecord
from core.sweep.lifecycle import finalize
from core.sweep.spec import SweepSpec, trial_config
from core.sweep.study import load_study, trial_status


def trials_frame(store: Store, sweep: SweepRecord, study: optuna.Study | None = None) -> pd.DataFrame:
    """One row per trial that has started (not the grid points and retries still queued):
    trial, status, value, one column per parameter, duration_s, step (pruned: the step it
    stopped at), run_id, run_status, error."""
    study = study or load_study(store, sweep)
    spec = SweepSpec.from_dict(sweep.spec)
    runs = {r.id: r for r in store.list_runs(sweep_id=sweep.id)}
    keys = spec.search_space().keys
    rows = []
    now = time.time()
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:
            continue
        run = runs.get(t.user_attrs.get("run_id", ""))
        if t.datetime_start is not None:
            end = t.datetime_complete.timestamp() if t.datetime_complete else now
            duration = max(0.0, end - t.datetime_start.timestamp())
        else:
            duration = None
        step = t.user_attrs.get("pruned_at_step")
        if step is None and run is not None:
            step = (run.progress or {}).get("step") or (run.summary or {}).get("step")
        row: dict[str, Any] = {
            "trial": t.number,
            "status": trial_status(t),
            "value": t.value if t.state == TrialState.COMPLETE else _last_intermediate(t),
        }
        row.update({k: t.params.get(k) for k in keys})
        row.update({
            "duration_s": duration,
            "step": step,
            "run_id": run.id if run else t.user_attrs.get("run_id"),
            "run_status": run.status if run else None,
            "error": t.user_attrs.get("error") or (run.error if run else None),
        })
        rows.append(row)
    columns = ["trial", "status", "value", *keys, "duration_s", "step", "run_id", "run_status", "error"]
    return pd.DataFrame(rows, columns=columns)


def _last_intermediate(trial: FrozenTrial) -> float | None:
    if not trial.intermediate_values:
        return None
    return trial.intermediate_values[max(trial.intermediate_values)]


def sweep_status(store: Store, ref: str) -> dict[str, Any]:
    """Counts, budget and best trial of a sweep (after :func:`finalize`)."""
    sweep = finalize(store, store.get_sweep(ref).id)
    spec = SweepSpec.from_dict(sweep.spec)
    study = load_study(store, sweep)
    trials = study.get_trials(deepcopy=False)
    counts = dict.fromkeys(("complete", "pruned", "fail", "stopped", "running", "waiting"), 0)
    for t in trials:
        counts[trial_status(t)] += 1
    best = best_trial(store, sweep, study)
    return {
        "sweep": sweep,
        "spec": spec,
        "counts": counts,
        "expected_trials": spec.expected_trials(),
        "best": best,
        "trials": len(trials) - counts["waiting"],  # started; the queued ones are still to come
    }


def best_trial(store: Store, sweep: SweepRecord, study: optuna.Study | None = None) -> dict[str, Any] | None:
    """The best complete trial: number, value, params, run_id, config; None before one."""
    study = study or load_study(store, sweep)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    run_id = best.user_attrs.get("run_id")
    config: dict[str, Any] | None = None
    if run_id:
        with contextlib.suppress(WorkbenchError):
            config = store.get_run(run_id).config
    if config is None:
        spec = SweepSpec.from_dict(sweep.spec)
        config = trial_config(spec.base, best.params).to_dict()
    return {"trial": best.number, "value": best.value, "params": dict(best.params),
            "run_id": run_id, "config": config}


def best_so_far(values: Sequence[float | None], direction: str) -> list[float | None]:
    """Running best of objective values in trial order (None where no trial finished yet)."""
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            better = best is None or (v > best if direction == "maximize" else v < best)
            best = v if better else best
        out.append(best)
    return out


def promote_best(
    store: Store, ref: str, *, overrides: Mapping[str, Any] | None = None, name: str | None = None,
) -> Run:
    """Queue a full run from the best trial's config (plus ``overrides``, e.g. more steps):
    a worker trains it like any other run. Its parent is the best trial's run."""
    sweep = store.get_sweep(ref)
    best = best_trial(store, sweep)
    if best is None:
        raise WorkbenchError(f"sweep {sweep.id} has no complete trial yet")
    config = validate_config(apply_overrides(best["config"], dict(overrides or {})))
    return queue_run(
        store, config, name=name or f"{sweep.name}-best", parent_id=best["run_id"],
        tags=[f"promoted-from-sweep-{sweep.id}"],
    )


def format_trials(frame: pd.DataFrame) -> str:
    """A plain-text trials table for the terminal."""
    if frame.empty:
        return "no trials yet"
    shown = frame.drop(columns=["error", "run_status"]).copy()
    shown["duration_s"] = shown["duration_s"].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.1f}")
    return shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")

