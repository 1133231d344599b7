"""Recovery that needs no browser: a worker killed with SIGKILL leaves a run that any command
reading the queue marks failed (with the reason) and that `lmwb resume` continues; `lmwb ui`
marks orphans and starts queued runs when it starts, before any page view, and leaves no
process behind when it is stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.cli import main
from core.config import apply_overrides, default_config, validate_config
from core.jobs import checkpoint_step, queue_run
from core.runs import create_run
from core.store import Store
from tests.conftest import REPO, wait_until

pytestmark = pytest.mark.faults

# A run long enough to be killed mid-way, cheap enough to start in a second.
LONG = {"training.max_steps": 100_000, "training.eval_every": 5, "data.n_examples": 200,
        "model.embed_dim": 8, "model.hidden_size": 8, "training.batch_size": 8}


def _config(**overrides: object):
    return validate_config(apply_overrides(default_config("classification"), {**LONG, **overrides}))


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, LMWB_HOME=str(home), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("LMWB_STORE", None)
    env.pop("LMWB_NO_WORKERS", None)
    return env


def _worker(home: Path) -> subprocess.Popen[bytes]:
    log = (home / "worker.log").open("ab")  # read back when a wait times out
    return subprocess.Popen([sys.executable, "-m", "core.cli", "worker"], env=_env(home),
                            stdout=log, stderr=subprocess.STDOUT)


def _what_happened(store: Store, home: Path, run_id: str) -> str:
    run = store.get_run(run_id)
    events = "\n".join(f"  {e.level}: {e.message}" for e in store.events(run_id, limit=8))
    log = (home / "worker.log").read_text(errors="replace")[-3000:]
    return (f"run {run_id} is {run.status} (error: {run.error}; checkpoint step "
            f"{checkpoint_step(store.run_dir(run_id))})\nlast events:\n{events}\nworker log:\n{log}")


def _kill_while_training(store: Store, home: Path, run_id: str) -> int:
    """Start a standalone worker, let it train ``run_id`` past a new checkpoint, SIGKILL it;
    its pid."""
    before = checkpoint_step(store.run_dir(run_id)) or 0
    worker = _worker(home)
    try:
        wait_until(lambda: store.get_run(run_id).status == "running"
                   and (checkpoint_step(store.run_dir(run_id)) or 0) > before, 180,
                   "the worker to train past a new checkpoint",
                   explain=lambda: _what_happened(store, home, run_id))
    finally:
        worker.kill()
        worker.wait()
    return worker.pid


@pytest.mark.slow
def test_a_killed_standalone_worker_is_noticed_by_any_command_and_resume_continues(
    store: Store, workbench_home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    run = queue_run(store, _config(), name="kill-me")
    for attempt in range(4):  # once per command; nothing depends on timing
        pid = _kill_while_training(store, workbench_home, run.id)
        assert store.get_run(run.id).status == "running"  # nobody has looked yet
        command = [["runs", "list"], ["runs", "show", run.id], ["runs", "stop", run.id], ["resume", run.id, "--queue"]][attempt % 4]
        assert main(command) == 0
        out = capsys.readouterr().out
        if command[0] != "resume":
            after = store.get_run(run.id)
            assert after.status == "failed", attempt
            assert after.error.startswith(f"orphaned: worker {socket.gethostname()}:{pid} is gone; resume"), after.error
            if command[1] == "stop":
                assert "marked failed; `lmwb resume" in out
            assert main(["resume", run.id, "--queue"]) == 0
        assert store.get_run(run.id).status == "queued"
        assert store.get_run(run.id).progress.get("resume") is True, attempt  # from its checkpoint
    # A last worker finishes it from the checkpoint rather than from scratch.
    store.update_run(run.id, config=_config(**{"training.max_steps": store.last_step(run.id) + 5}).to_dict())
    worker = _worker(workbench_home)
    try:
        wait_until(lambda: store.get_run(run.id).status == "completed", 180, "the resumed run to complete",
                   explain=lambda: _what_happened(store, workbench_home, run.id))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert any("resume" in e.message for e in store.events(run.id))


def test_a_stale_remote_worker_is_orphaned_after_the_grace_period(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = create_run(store, _config(), status="running")
    store.update_run(run.id, worker="elsewhere:123", heartbeat_at=time.time() - 5)
    monkeypatch.setenv("LMWB_WORKER_GRACE_S", "20")
    assert main(["runs", "list"]) == 0
    assert store.get_run(run.id).status == "running"  # within the grace period: alive
    store.update_run(run.id, heartbeat_at=time.time() - 25)
    assert main(["runs", "list"]) == 0
    assert store.get_run(run.id).error.startswith("orphaned: no heartbeat from worker elsewhere:123 for 25 s")
    monkeypatch.setenv("LMWB_WORKER_GRACE_S", "soon")
    assert main(["runs", "list"]) == 2


def test_lmwb_ui_recovers_at_start_and_leaves_nothing_behind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(home=home)
    orphan = create_run(store, _config(), status="running")
    store.update_run(orphan.id, worker=f"{socket.gethostname()}:{_dead_pid()}")
    queued = queue_run(store, _config(**{"training.max_steps": 20, "training.eval_every": 10}), name="waiting")
    port = _free_port()
    ui = subprocess.Popen([sys.executable, "-m", "core.cli", "ui", "--port", str(port)], env=_env(home),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seen: set[int] = set()
    try:
        def started() -> bool:
            seen.update(p.pid for p in psutil.Process(ui.pid).children(recursive=True))
            return store.get_run(queued.id).status == "completed"

        # No browser, no page view: the supervisor that `lmwb ui` starts does this on its own.
        wait_until(started, 120, "the queued run to complete without a page view")
        assert store.get_run(orphan.id).status == "failed"
        assert store.get_run(orphan.id).error.startswith("orphaned: worker")
        assert len(seen) >= 2, "a supervisor process and its worker"
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
    wait_until(lambda: not [p for p in seen if psutil.pid_exists(p) and _not_zombie(p)], 60,
               "every process of `lmwb ui` to exit")


def test_lmwb_ui_refuses_an_empty_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--host", " "]) == 2
    err = capsys.readouterr().err
    assert "--host is empty" in err and "--host 0.0.0.0" in err


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_resume_where_the_files_are_not_refuses_instead_of_starting_over(
    store: Store, capsys: pytest.CaptureFixture[str],
) -> None:
    # Trained on another machine whose run folders this one does not share: resuming here
    # would train again from step 1 and replace the run's series.
    run = create_run(store, _config(), status="stopped")
    store.update_run(run.id, worker="lab-gpu-3:4242", started_at=time.time() - 60)
    store.log_metrics(run.id, [(40, "train", "loss", 0.5, time.time())])
    folder = store.runs_root / run.id
    if folder.exists():
        folder.rmdir()
    for command in (["resume", run.id], ["resume", run.id, "--force"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"the files of run {run.id} (checkpoints, tokenizer) are on lab-gpu-3, where it trained" in err
    assert store.get_run(run.id).status == "stopped" and store.last_step(run.id) == 40
    assert not folder.exists()
    folder.mkdir(parents=True)  # an empty folder (an older reader left one) hides nothing
    assert main(["runs", "show", run.id]) == 0 and main(["resume", run.id]) == 2
    assert "are on lab-gpu-3, where it trained" in capsys.readouterr().err
