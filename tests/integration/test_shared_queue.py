"""A lab: several machines (here: workers with homes of their own) share one PostgreSQL store
and one artifact folder. They drain one queue with no run trained twice, and any machine
opens any run's predictions and attention; a machine that cannot see the shared folder is told
which machine holds a run instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import apply_overrides, default_config, validate_config
from core.errors import WorkbenchError
from core.inspect import capture_attention
from core.jobs import queue_run
from core.runs import load_trained, predict_texts
from core.store import ARTIFACTS_ENV, Store
from tests.conftest import REPO, wait_until

TINY = {"model.name": "transformer_encoder", "model.d_model": 16, "model.n_heads": 2, "model.d_ff": 32,
        "model.n_layers": 1, "data.n_examples": 200, "training.max_steps": 6, "training.eval_every": 6,
        "training.batch_size": 8, "training.attention_snapshots": False}


def _worker(url: str, home: Path, shared: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", **{ARTIFACTS_ENV: str(shared)})
    env.pop("LMWB_STORE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "--store", url, "--home", str(home), "worker", "--idle-exit", "4"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_two_machines_drain_one_queue_and_a_third_opens_every_run(
    fresh_postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = tmp_path / "shared-runs"
    homes = [tmp_path / f"machine-{n}" for n in "abc"]
    monkeypatch.setenv(ARTIFACTS_ENV, str(shared))
    store = Store(fresh_postgres_db, homes[0])
    config = validate_config(apply_overrides(default_config("classification"), TINY))
    runs = [queue_run(store, config, name=f"lab-{i}") for i in range(6)]
    workers = [_worker(fresh_postgres_db, home, shared) for home in homes[:2]]
    try:
        wait_until(lambda: all(store.get_run(r.id).status == "completed" for r in runs), 180,
                   "both machines to drain the queue")
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    for run in runs:  # each run trained exactly once, its files in the shared folder only
        starts = [e for e in store.events(run.id) if e.message.startswith("started on")]
        assert len(starts) == 1, [e.message for e in store.events(run.id)]
        assert (shared / run.id / "checkpoints" / "best" / "model.safetensors").is_file()
    assert not any((home / "runs").exists() and any((home / "runs").iterdir()) for home in homes[:2])

    third = Store(fresh_postgres_db, homes[2])  # a machine that trained nothing
    for run in runs:
        trained = load_trained(third, run.id)
        assert set(predict_texts(trained, ["a fine film"])[0]) == {"negative", "positive"}
        capture = capture_attention(trained, "a fine film")
        assert capture.maps["encoder"].weights.shape[-1] >= 3  # attention over the input tokens

    monkeypatch.delenv(ARTIFACTS_ENV)  # this machine does not mount the shared folder
    with pytest.raises(WorkbenchError, match=rf"the files of run {runs[0].id} .* are on .*, where it trained"):
        load_trained(Store(fresh_postgres_db, homes[2]), runs[0].id)
