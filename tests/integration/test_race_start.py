"""A race starts on the workers kept warm: `lmwb ui`'s supervisor (keep_warm) holds two, and
both entrants of a race of two are claimed by them, each on its share of the cores, instead of
waiting for workers of their own to import Python and torch (13-23 s on a busy machine)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import RunConfig, default_config, validate_config
from core.jobs import queue_run, stop_run
from core.jobs.queue import new_race_tag
from core.store import Run, Store
from core.workers import Supervisor
from core.workers.supervisor import WARM_WORKERS
from tests.conftest import wait_until


def _config(max_steps: int) -> RunConfig:
    raw = default_config("classification")
    raw["data"] = {"name": "sentiment", "n_examples": 400}
    raw["model"] = {"name": "gru", "embed_dim": 16, "hidden_size": 16}
    raw["task"] = {"name": "classification", "max_length": 24}
    raw["training"] = {"max_steps": max_steps, "eval_every": max_steps, "log_every": 5,
                       "eval_max_batches": 2, "early_stopping_patience": 0, "max_epochs": None}
    return validate_config(raw)


@pytest.fixture
def warm(store: Store, workbench_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    """The supervisor as `lmwb ui`'s supervisor process holds it, its workers warm (polling)."""
    # The workers choose their own threads, as under `lmwb ui` (the test run pins one).
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    sup = Supervisor(store.connect_url, workbench_home, max_workers=1, keep_warm=True)
    try:
        sup.prewarm()
        wait_until(lambda: sum("polling" in w.log_path.read_text() for w in sup.workers) == WARM_WORKERS,
                   120, f"{WARM_WORKERS} warm workers")
        yield sup
    finally:
        sup.shutdown(timeout=10)


def _threads(store: Store, run: Run) -> int:
    """The threads the run trained on to its end, as its summary says ("cpu (N threads)")."""
    found = re.search(r"\((\d+) threads?\)", str(store.get_run(run.id).summary.get("device")))
    assert found, store.get_run(run.id).summary
    return int(found.group(1))


def test_a_race_of_two_starts_on_the_warm_workers(store: Store, warm: Supervisor) -> None:
    """Both entrants train on the two warm workers, each on its share of the cores; then two
    plain runs under a cap of one train one after the other: the second warm worker trains race
    entrants only."""
    ready = {w.label for w in warm.workers}
    tag = new_race_tag()
    runs = [queue_run(store, _config(2000), name=f"entrant-{n}", tags=[tag]) for n in "ab"]
    assert warm.ensure_workers() == 0  # nobody waits for a worker of its own

    def both_have_a_point() -> list[Run] | None:
        now = [store.get_run(r.id) for r in runs]
        return now if all(r.status == "running" and store.last_step(r.id) for r in now) else None

    def state() -> str:
        return "; ".join(f"{r.name} {store.get_run(r.id).status} step {store.last_step(r.id)}" for r in runs)

    training = wait_until(both_have_a_point, 60, "both entrants to log a loss point while neither has finished",
                          state)
    assert {r.worker for r in training} == ready  # the two warm workers, one entrant each
    for r in runs:
        stop_run(store, r.id)
    wait_until(lambda: all(store.get_run(r.id).status == "stopped" for r in runs), 30, "the race to stop")
    # Each on its share of the cores, not every core each (at most as many as a plain run).
    share = max(1, (os.cpu_count() or 1) // 2)
    assert all(_threads(store, r) <= share for r in runs), [_threads(store, r) for r in runs]

    plain = [queue_run(store, _config(30), name=n) for n in ("first", "second")]
    warm.ensure_workers()
    seen: list[dict[str, Any]] = []

    def done() -> bool:
        now = [store.get_run(r.id) for r in plain]
        seen.append({r.name: r.status for r in now})
        return all(r.status == "completed" for r in now)

    wait_until(done, 120, "both plain runs to complete", lambda: str(seen[-1]))
    assert not any(all(s == "running" for s in row.values()) for row in seen)
    assert len({store.get_run(r.id).worker for r in plain}) == 1
    assert {w.label for w in warm.workers} == ready  # the same two, still warm for the next race
