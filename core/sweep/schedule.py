"""Which sweeps want trials trained now: what the machine's supervisor and every worker read to
give sweep trials the same workers as queued runs (one supervisor for all training).

Reads only the sweep rows and the runs table (no Optuna): cheap enough for every queue poll.
"""

from __future__ import annotations

import time

from core.store import Store


def trial_demand(store: Store) -> list[tuple[str, int]]:
    """``(sweep id, trials wanted now)`` for each running sweep with budget and time left:
    its ``workers`` setting (trials in flight at once) less the trials already training,
    capped by the trials its budget still allows. Oldest sweep first."""
    out: list[tuple[str, int]] = []
    now = time.time()
    for sweep in reversed(store.list_sweeps(status="running")):
        if sweep.deadline_at is not None and now >= sweep.deadline_at:
            continue
        budget = sweep.spec.get("n_trials")
        left = None if budget is None else int(budget) - sweep.trials_claimed
        if left is not None and left <= 0:
            continue
        in_flight = len(store.list_runs(sweep_id=sweep.id, status="running"))
        wanted = max(1, int(sweep.spec.get("workers") or 1)) - in_flight
        if left is not None:
            wanted = min(wanted, left)
        if wanted > 0:
            out.append((sweep.id, wanted))
    return out
