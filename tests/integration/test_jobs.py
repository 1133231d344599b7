"""The run queue and worker processes: claiming, stopping, resuming, dead workers, orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.cli import main
from core.config import RunConfig, default_config, validate_config
from core.jobs import RESUME_KEY, checkpoint_step, mark_orphans, queue_run, request_resume, stop_run
from core.store import Run, Store
from core.workers import Supervisor, worker_loop
from tests.conftest import wait_until as _wait

REPO = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()


def _config(max_steps: int, eval_every: int, **data: Any) -> RunConfig:
    raw = default_config("classification")
    raw["data"] = data or {"name": "sentiment", "n_examples": 600}
    raw["model"] = {"name": "gru", "embed_dim": 16, "hidden_size": 16}
    raw["task"] = {"name": "classification", "max_length": 24}
    # Every step it is given: these tests count steps (no early stop, no budget by data size).
    raw["training"] = {"max_steps": max_steps, "eval_every": eval_every, "log_every": 5,
                       "eval_max_batches": 2, "early_stopping_patience": 0, "max_epochs": None}
    return validate_config(raw)


def _status(store: Store, run_id: str, *statuses: str) -> Callable[[], Run | None]:
    def check() -> Run | None:
        run = store.get_run(run_id)
        return run if run.status in statuses else None

    return check


def _losses(store: Store, run_id: str) -> pd.DataFrame:
    return store.metrics(run_id, names="loss", split="train")


def _assert_continuous(store: Store, run_id: str, before: pd.DataFrame, resumed_from: int,
                       max_steps: int) -> None:
    """The loss series has no repeats or gaps back in time, ends at max_steps, and the points
    up to the checkpoint are the first session's (kept, not retrained)."""
    after = _losses(store, run_id)
    steps = after["step"].tolist()
    assert all(a < b for a, b in zip(steps, steps[1:], strict=False)), steps
    assert steps[-1] == max_steps
    kept_before = before[before["step"] <= resumed_from].reset_index(drop=True)
    kept_after = after[after["step"] <= resumed_from].reset_index(drop=True)
    assert len(kept_before) > 0
    pd.testing.assert_frame_equal(kept_before, kept_after)


def _pid_of(run: Run) -> int:
    assert run.worker is not None and run.worker.startswith(f"{HOST}:")
    return int(run.worker.rpartition(":")[2])


@pytest.fixture
def supervisor(store: Store, workbench_home: Path) -> Iterator[Supervisor]:
    sup = Supervisor(store.url, workbench_home, max_workers=1, idle_exit_s=60)
    try:
        yield sup
    finally:
        sup.shutdown(timeout=10)


def test_one_worker_runs_the_queue_in_order(store: Store, supervisor: Supervisor) -> None:
    first = queue_run(store, _config(60, 30), name="first")
    second = queue_run(store, _config(20, 10), name="second")
    assert first.status == second.status == "queued"
    assert supervisor.ensure_workers() == 1
    assert supervisor.ensure_workers() == 0  # at the cap: no second worker

    _wait(_status(store, first.id, "running", "completed"), 30, "the first run to start")
    while store.get_run(first.id).status == "running":
        assert store.get_run(second.id).status == "queued"
        time.sleep(0.05)
    done = [_wait(_status(store, r.id, "completed"), 60, f"{r.name} to complete")
            for r in (first, second)]
    assert done[0].worker == done[1].worker  # one worker process trained both, in turn
    assert done[1].started_at >= done[0].finished_at
    assert done[1].summary["step"] == 20 and len(supervisor.workers) == 1


def test_stop_then_resume_continues_the_series(store: Store, supervisor: Supervisor) -> None:
    max_steps = 200  # the stop lands within ~0.25 s of step 10: tens of steps at most
    run = queue_run(store, _config(max_steps, 50))
    waiting = queue_run(store, _config(10, 5), name="never-started")
    assert stop_run(store, waiting.id).status == "stopped"  # a queued run stops at once
    supervisor.ensure_workers()
    _wait(lambda: (store.last_step(run.id) or 0) >= 10, 60, "the first loss points")
    assert stop_run(store, run.id).stop_requested
    stopped = _wait(_status(store, run.id, "stopped", "completed"), 20, "the run to stop")
    assert stopped.status == "stopped"
    resumed_from = checkpoint_step(store.run_dir(run.id))
    assert resumed_from is not None and 10 <= resumed_from < max_steps
    before = _losses(store, run.id)

    queued = request_resume(store, run.id)
    assert queued.status == "queued" and queued.progress[RESUME_KEY] is True
    supervisor.ensure_workers()
    _wait(_status(store, run.id, "completed"), 60, "the resumed run to complete")
    _assert_continuous(store, run.id, before, resumed_from, max_steps)
    assert any(f"step {resumed_from}" in e.message for e in store.events(run.id))
    assert store.get_run(waiting.id).status == "stopped" and not store.metrics(waiting.id).size


@pytest.mark.faults
def test_killed_worker_fails_its_run_and_resume_continues(
    store: Store, supervisor: Supervisor
) -> None:
    max_steps = 300
    run = queue_run(store, _config(max_steps, 20))
    supervisor.ensure_workers()
    folder = store.run_dir(run.id)
    _wait(lambda: checkpoint_step(folder) and len(_losses(store, run.id)), 60,
          "a checkpoint and a loss point")
    running = store.get_run(run.id)
    assert running.status == "running"
    pid = _pid_of(running)
    assert pid in {w.pid for w in supervisor.workers}

    os.kill(pid, signal.SIGKILL)
    # The supervisor's monitor notices by itself: nothing here calls into it.
    failed = _wait(_status(store, run.id, "failed"), 60, "the run to be marked failed")
    assert f"worker process {pid} died (signal SIGKILL)" in failed.error
    assert "resume to continue from the last checkpoint" in failed.error

    resumed_from = checkpoint_step(folder)
    assert resumed_from is not None and resumed_from > 0
    before = _losses(store, run.id)
    request_resume(store, run.id)
    # No ensure_workers call: the monitor starts a new worker for the queued run by itself.
    done = _wait(_status(store, run.id, "completed"), 90, "the resumed run to complete")
    assert _pid_of(done) != pid
    _assert_continuous(store, run.id, before, resumed_from, max_steps)


@pytest.mark.faults
def test_mark_orphans_uses_pids_here_and_heartbeats_elsewhere(store: Store) -> None:
    config = _config(10, 5)
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = time.time()
    cases = {
        # name: (worker, heartbeat age in s, expected to be marked)
        "dead-local": (f"{HOST}:{dead.pid}", 0.0, True),
        "live-local-slow-step": (f"{HOST}:{os.getpid()}", 2.0, False),
        "reused-pid": (f"{HOST}:{os.getpid()}", 10 * 86400.0, True),
        "remote-stale": ("elsewhere.example:4242", 100.0, True),
        "remote-fresh": ("elsewhere.example:4242", 0.0, False),
    }
    ids = {}
    for name, (worker, age, _) in cases.items():
        run = queue_run(store, config, name=name)
        store.set_status(run.id, "running")
        store.update_run(run.id, worker=worker, heartbeat_at=now - age)
        ids[name] = run.id

    # 30 s: "remote-fresh" stays fresh however slowly a loaded machine writes these runs.
    marked = set(mark_orphans(store, stale_after_s=30.0))
    assert marked == {ids[n] for n, (_, _, expected) in cases.items() if expected}
    for name, (worker, _, expected) in cases.items():
        run = store.get_run(ids[name])
        assert run.status == ("failed" if expected else "running"), name
        if expected:
            assert run.error.startswith("orphaned:") and worker in run.error
            assert "resume" in run.error


@pytest.mark.faults
def test_failing_run_does_not_stop_the_worker(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file.csv"
    bad = queue_run(store, _config(20, 10, name="file", path=str(missing)), name="bad")
    good = queue_run(store, _config(20, 10), name="good")
    assert worker_loop(store, poll_s=0.05, idle_exit_s=0.2) == 2

    bad_run, good_run = store.get_run(bad.id), store.get_run(good.id)
    assert bad_run.status == "failed"
    assert str(missing) in bad_run.error and "file not found" in bad_run.error
    assert good_run.status == "completed" and good_run.summary["step"] == 20
    assert bad_run.worker == good_run.worker


@pytest.mark.faults
def test_worker_stops_its_run_when_the_app_dies(store: Store, workbench_home: Path) -> None:
    run = queue_run(store, _config(5000, 20))
    app = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time; from pathlib import Path; from core.workers import Supervisor; "
            "s = Supervisor(sys.argv[1], Path(sys.argv[2]), max_workers=1); s.ensure_workers(); "
            "print(s.workers[0].pid, flush=True); time.sleep(300)"
        ), store.url, str(workbench_home)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert app.stdout is not None
        worker_pid = int(app.stdout.readline())
        _wait(lambda: len(_losses(store, run.id)), 60, "the run's first loss point")
        app.kill()  # SIGKILL: the app gets no chance to clean up
        app.wait()
        stopped = _wait(_status(store, run.id, "stopped", "failed"), 15, "the run to stop")
        assert stopped.status == "stopped"  # graceful: resumable from its checkpoint
        assert checkpoint_step(store.run_dir(run.id)) == stopped.summary["step"]
        assert any("the app that started this worker exited" in e.message
                   for e in store.events(run.id))
        _wait(lambda: not Path(f"/proc/{worker_pid}").exists()
              or Path(f"/proc/{worker_pid}/stat").read_text().split(")")[-1].split()[0] == "Z",
              15, "the worker to exit")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def test_cli_resume_queue_and_worker(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    run = queue_run(store, _config(20, 10))
    store.set_status(run.id, "failed", error="boom")
    assert main(["resume", run.id, "--queue"]) == 0
    assert "queued to resume" in capsys.readouterr().out
    assert store.get_run(run.id).status == "queued"
    assert main(["worker", "--once"]) == 0
    assert "1 run(s)" in capsys.readouterr().out
    assert store.get_run(run.id).status == "completed"


def test_resume_of_a_run_that_never_trained_leaves_it_runnable(
    store: Store, capsys: pytest.CaptureFixture[str],
) -> None:
    """`lmwb resume` of a queued run once failed it for good ("its files are on <host>, where it
    trained"); now --queue leaves it waiting and a plain resume takes it from the queue and
    trains it here. A run stopped before it started resumes from step 1 the same way."""
    queued = queue_run(store, _config(20, 10), name="q1")
    assert main(["resume", "q1", "--queue"]) == 0
    assert "is queued and has not started yet" in capsys.readouterr().out
    assert store.get_run(queued.id).status == "queued"
    assert main(["resume", "q1", "--force"]) == 0  # --force changes nothing for a run that never started
    assert "was queued: training it here from step 1" in capsys.readouterr().out
    done = store.get_run(queued.id)
    assert (done.status, done.error, store.last_step(queued.id)) == ("completed", None, 20)

    never = queue_run(store, _config(20, 10), name="q2")
    main(["runs", "stop", "q2"])
    assert store.get_run(never.id).status == "stopped" and store.get_run(never.id).started_at is None
    assert main(["resume", "q2"]) == 0
    assert store.get_run(never.id).status == "completed" and store.last_step(never.id) == 20


def test_resume_of_a_run_queued_to_resume_continues_from_its_checkpoint(
    store: Store, capsys: pytest.CaptureFixture[str],
) -> None:
    """`resume --queue` then `resume` (the path `runs list` suggests for an orphaned run) once
    trained it again from step 1 over its checkpoint, with duplicate metric steps."""
    run = queue_run(store, _config(20, 10), name="half")
    assert main(["worker", "--once"]) == 0  # 20 steps, a checkpoint at step 20
    # As if it had died there with 40 steps to go: failed, with its checkpoint in place.
    store.update_run(run.id, config={**run.config, "training": {**run.config["training"], "max_steps": 40}})
    store.set_status(run.id, "failed", error="orphaned: worker gone")
    assert main(["resume", "half", "--queue"]) == 0
    capsys.readouterr()
    assert main(["resume", "half", "--queue"]) == 0  # asked twice: it stays queued to resume
    assert "is queued to resume" in capsys.readouterr().out
    assert main(["resume", "half"]) == 0
    assert "was queued: resuming it here from the checkpoint at step 20" in capsys.readouterr().out
    assert not store.metrics(run.id).duplicated(["step", "split", "name"]).any()
    assert store.get_run(run.id).status == "completed" and store.last_step(run.id) == 40
    assert any(e.message.startswith("resumed at step 20") for e in store.events(run.id))


def test_a_race_trains_its_entrants_at_the_same_time(store: Store, supervisor: Supervisor) -> None:
    """Two entrants with a worker cap of one: both train at once, each in a worker of its own
    (the cores split between them), instead of one waiting for the other."""
    runs = [queue_run(store, _config(400, 200), name=f"entrant-{n}", tags=["race-abc123"]) for n in "ab"]
    supervisor.ensure_workers()
    _wait(lambda: all(store.get_run(r.id).status == "running" and store.last_step(r.id) for r in runs),
          60, "both entrants to be training at the same moment")
    assert len({store.get_run(r.id).worker for r in runs}) == 2
    _wait(lambda: all(store.get_run(r.id).status == "completed" for r in runs), 120, "the race to finish")


def test_gpus_are_placed_one_training_each_and_a_ddp_run_gets_its_own(
    store: Store, workbench_home: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With three GPUs (stood in for: the CPU trains, CUDA_VISIBLE_DEVICES is what is checked),
    a run for two processes gets a worker holding two free GPUs and a plain run one other GPU;
    no GPU is given twice."""
    from core.config import apply_overrides
    from core.workers import supervisor as supervisor_module

    monkeypatch.setattr(supervisor_module, "visible_gpus", lambda: ["0", "1", "2"])
    wide = queue_run(store, validate_config(apply_overrides(_config(30, 30).to_dict(), {"training.nproc_per_node": 2})),
                     name="ddp")
    plain = queue_run(store, _config(30, 30), name="plain")
    with Supervisor(store.url, workbench_home, max_workers=3, idle_exit_s=5) as sup:
        sup.ensure_workers()
        placed = {w.only_run or "plain": w.gpu for w in sup.workers}
        assert placed[wide.id] in ("0,1", "1,2", "0,2") and placed["plain"] not in placed[wide.id].split(",")
        assert len({g for gpus in placed.values() for g in gpus.split(",")}) == 3
        _wait(lambda: all(store.get_run(r.id).status == "completed" for r in (wide, plain)), 120,
              "both runs to train")
