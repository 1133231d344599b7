"""A worker that comes back from the dead trains nothing twice (fenced claims).

Two machines share one queue and one artifact folder. Machine B's worker is frozen (SIGSTOP)
while it trains a run, stays silent past the grace period, and the run is declared orphaned
and resumed by machine A, which finishes it. Then B is thawed (SIGCONT): its next write for
the run is refused, it stops the run and says why in its log. The run has one completed
series: no duplicate metric rows, one "completed", A's checkpoints untouched.

"Another machine" is a worker in a UTS namespace of its own (``unshare --uts``) with another
hostname, so the liveness check judges it by its heartbeat, as it would a remote machine,
instead of by its (still alive, frozen) pid. The same test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main
from core.config import apply_overrides, default_config, validate_config
from core.jobs import checkpoint_step, queue_run
from core.store import Store
from core.store.claims import Claim, ClaimedRun, ClaimLost
from tests.conftest import REPO, wait_until

pytestmark = [pytest.mark.faults]

GRACE_S = 10  # core.store.claims.MIN_GRACE_S: the shortest silence that counts as gone
OTHER_HOST = "lmwb-machine-b"

# Long enough that the frozen worker is mid-run whatever the load (frozen within ~0.05 s of its
# step-50 checkpoint, it would need 250 more steps, ~2 s of CPU, to finish; an assert below says
# so if it ever does); each step cheap. Machine A trains the rest: 600 steps cost it 6.5 s more.
RUN = {"training.max_steps": 300, "training.eval_every": 50, "training.log_every": 10,
       "training.checkpoint": True, "training.eval_max_batches": 1, "data.n_examples": 400,
       "model.embed_dim": 8, "model.hidden_size": 8, "training.batch_size": 8,
       "training.early_stopping_patience": 0}


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--uts", "sh", "-c", f"hostname {OTHER_HOST}"], capture_output=True)
    return probe.returncode == 0


needs_unshare = pytest.mark.skipif(not _can_unshare(), reason="needs `unshare --uts` (root) to fake a second machine")


def _env(home: Path, url: str, artifacts: Path) -> dict[str, str]:
    env = dict(os.environ, LMWB_HOME=str(home), LMWB_STORE=url, LMWB_ARTIFACTS=str(artifacts),
               LMWB_WORKER_GRACE_S=str(GRACE_S), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("LMWB_NO_WORKERS", None)
    return env


def _worker(env: dict[str, str], log: Path, host: str | None = None) -> subprocess.Popen[bytes]:
    """``python -m core.workers --once`` (train one run, then exit), on another hostname if asked;
    the returned process is the worker itself (unshare and sh exec into it)."""
    cmd = [sys.executable, "-m", "core.workers", "--once", "--poll", "0.1"]
    if host is not None:
        cmd = ["unshare", "--uts", "sh", "-c", f'hostname {host} && exec "$@"', "sh", *cmd]
    with log.open("wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _freeze_outside_a_write(process: subprocess.Popen[bytes], url: str) -> None:
    """SIGSTOP ``process``. On SQLite, at a moment it holds no write lock: SQLite's lock belongs
    to a process, so one frozen inside a write blocks every other writer until it thaws, and no
    machine could take its run over (a SQLite store is for one machine; docs/scaling.md). On
    PostgreSQL any moment will do: the server ends a session idle in a transaction for longer
    than the grace period (core.store.claims.postgres_session_options), releasing its locks."""
    process.send_signal(signal.SIGSTOP)
    if not url.startswith("sqlite"):
        return
    database = url.removeprefix("sqlite:///")
    for _ in range(100):
        probe = sqlite3.connect(database, timeout=0.2)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:  # frozen while writing: let it finish, freeze it again
            process.send_signal(signal.SIGCONT)
            time.sleep(0.01)
            process.send_signal(signal.SIGSTOP)
        finally:
            probe.close()
    raise AssertionError("could not freeze the worker outside a write")


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def _frozen_worker_is_fenced(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    artifacts = tmp_path / "shared-runs"
    home_a, home_b = tmp_path / "machine-a", tmp_path / "machine-b"
    env_a, env_b = _env(home_a, url, artifacts), _env(home_b, url, artifacts)
    for key in ("LMWB_HOME", "LMWB_STORE", "LMWB_ARTIFACTS", "LMWB_WORKER_GRACE_S"):
        monkeypatch.setenv(key, env_a[key])  # this test process is machine A
    store = Store(url=url, home=home_a)
    config = validate_config(apply_overrides(default_config("classification"), RUN))
    run = queue_run(store, config, name="fenced")
    folder = artifacts / run.id

    b = _worker(env_b, tmp_path / "worker-b.log", host=OTHER_HOST)
    try:
        wait_until(lambda: (checkpoint_step(folder) or 0) >= 50, 120, "machine B to write its first checkpoint")
        _freeze_outside_a_write(b, url)
        frozen = store.get_run(run.id)
        assert frozen.status == "running" and frozen.worker.startswith(f"{OTHER_HOST}:")
        assert frozen.progress.get("step", 0) < RUN["training.max_steps"], "B finished before it could be frozen"

        # Silent past the grace period: any command that reads the queue declares the run
        # orphaned; `resume --queue` puts it back, and machine A's worker finishes it.
        wait_until(lambda: time.time() - store.get_run(run.id).heartbeat_at > GRACE_S + 0.5, 60,
                   "B's heartbeat to go stale")
        assert main(["resume", run.id, "--queue"]) == 0
        revoked = [e.message for e in store.events(run.id) if e.message.startswith("orphaned: no heartbeat")]
        assert revoked, store.events(run.id)
        a = _worker(env_a, tmp_path / "worker-a.log")
        assert a.wait(timeout=180) == 0, (tmp_path / "worker-a.log").read_text()[-3000:]
        done = store.get_run(run.id)
        assert done.status == "completed" and done.worker == f"{socket.gethostname()}:{a.pid}", done
        finished = checkpoint_step(folder)
        assert finished == RUN["training.max_steps"]
        checkpoints = _digest(folder / "checkpoints")
        metrics_before = store.metrics(run.id)
        events_before = len(store.events(run.id))

        b.send_signal(signal.SIGCONT)  # B wakes mid-step, still believing it trains the run
        assert b.wait(timeout=120) == 0
    finally:
        if b.poll() is None:
            b.send_signal(signal.SIGCONT)
            b.kill()
            b.wait()

    log_b = (tmp_path / "worker-b.log").read_text()
    assert f"stopped run {run.id}: " in log_b and f"no longer holds run {run.id}" in log_b, log_b[-3000:]
    assert f"claimed again by {done.worker} (claim {done.claim_epoch}, now completed)" in log_b, log_b[-3000:]
    after = store.get_run(run.id)
    assert (after.status, after.worker, after.claim_epoch) == ("completed", done.worker, done.claim_epoch)
    metrics = store.metrics(run.id)
    assert not metrics.duplicated(["step", "split", "name"]).any()
    assert len(metrics) == len(metrics_before), "B wrote metric points after it lost the run"
    assert len(store.events(run.id)) == events_before, "B wrote to the run's log after it lost the run"
    assert sum(e.message.startswith("completed at step") for e in store.events(run.id)) == 1
    assert checkpoint_step(folder) == finished and _digest(folder / "checkpoints") == checkpoints
    assert not (folder / "checkpoints" / "last.tmp").exists()


@pytest.mark.slow
@needs_unshare
def test_a_frozen_worker_is_fenced_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _frozen_worker_is_fenced(f"sqlite:///{tmp_path / 'shared.db'}", tmp_path, monkeypatch)


@pytest.mark.slow
@needs_unshare
def test_a_frozen_worker_is_fenced_on_postgres(
    fresh_postgres_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    _frozen_worker_is_fenced(fresh_postgres_db, tmp_path, monkeypatch)


def test_every_write_of_a_lost_claim_is_refused(store: Store) -> None:
    """The unit of the above: once the run is revoked and claimed again, each kind of write the
    old holder makes raises ClaimLost naming the new holder, and nothing reaches the store."""
    config = validate_config(apply_overrides(default_config("classification"), RUN))
    run = queue_run(store, config)
    first = store.claim_next_queued("machine-b:1")
    old = ClaimedRun(store, Claim(run.id, first.claim_epoch, "machine-b:1"))
    old.log_metrics(run.id, [(1, "train", "loss", 0.7, 0.1)])  # still the holder: accepted
    assert store.revoke_claim(run.id, "machine-b:1", "orphaned: no heartbeat from worker machine-b:1 for 31 s")
    assert not store.revoke_claim(run.id, "machine-b:1", "twice")  # no longer running under it
    store.set_status(run.id, "queued")
    second = store.claim_next_queued("machine-a:2")
    assert second.claim_epoch == first.claim_epoch + 2  # revoked once, claimed once
    new = ClaimedRun(store, Claim(run.id, second.claim_epoch, "machine-a:2"))
    writes = [
        lambda: old.log_metrics(run.id, [(2, "train", "loss", 0.6, 0.2)]),
        lambda: old.log_event(run.id, "info", "completed at step 2"),
        lambda: old.set_status(run.id, "completed"),
        lambda: old.set_progress(run.id, {"step": 2}),
        lambda: old.set_summary(run.id, {"step": 2}),
        lambda: old.update_run(run.id, device="cpu"),
        lambda: old.truncate_metrics(run.id, 0),
        lambda: old.heartbeat(run.id),
        lambda: old.check_writable(run.id),
    ]
    for write in writes:
        with pytest.raises(ClaimLost, match="claimed again by machine-a:2"):
            write()
    assert old.stop_requested(run.id)  # what its stop watcher polls: stop now
    new.log_metrics(run.id, [(2, "train", "loss", 0.5, 0.2)])  # the holder's writes go through
    new.check_writable(run.id)
    assert not new.stop_requested(run.id)
    assert store.get_run(run.id).status == "running"
    assert list(store.metrics(run.id)["value"]) == [0.7, 0.5]
    assert [e.message for e in store.events(run.id)] == []


def test_a_save_that_fails_after_the_claim_was_lost_reports_the_lost_claim(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker frozen in the middle of a checkpoint save wakes to find its temporary folder
    moved by the new holder: the write fails, and the reason it reports is its lost claim, not
    "could not write the checkpoint ...; free some disk space"."""
    import torch

    from core import checkpoint as ckpt

    config = validate_config(apply_overrides(default_config("classification"), RUN))
    run = queue_run(store, config)
    first = store.claim_next_queued("machine-b:1")
    old = ClaimedRun(store, Claim(run.id, first.claim_epoch, "machine-b:1"))
    model = torch.nn.Linear(2, 2)
    ckpt.save_checkpoint(tmp_path / "last", model, None, {"step": 1}, before_commit=lambda: old.check_writable(run.id))
    assert store.revoke_claim(run.id, "machine-b:1", "orphaned")

    def moved_away(*_args: object, **_kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(ckpt, "save_model", moved_away)
    with pytest.raises(ClaimLost, match="no longer holds run"):
        ckpt.save_checkpoint(tmp_path / "last", model, None, {"step": 2}, before_commit=lambda: old.check_writable(run.id))
    assert ckpt.has_checkpoint(tmp_path / "last")  # the earlier checkpoint is still there


def test_a_run_that_fails_after_its_claim_was_lost_is_reported_as_taken_over(
    store: Store, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PostgreSQL server ends a frozen worker's session; the thawed worker's next write fails
    with a connection error. Its run is not marked failed by it: the error it reports is the
    lost claim, naming the new holder."""
    from core.runs import execute_run
    from core.train import Trainer

    small = {**RUN, "training.max_steps": 4, "training.eval_every": 2, "data.n_examples": 100}
    run = queue_run(store, validate_config(apply_overrides(default_config("classification"), small)))
    claimed = store.claim_next_queued("machine-b:1")

    def dropped_connection(self: Trainer) -> None:
        assert store.revoke_claim(run.id, "machine-b:1", "orphaned: no heartbeat from worker machine-b:1 for 31 s")
        raise RuntimeError("terminating connection due to idle-in-transaction timeout")

    monkeypatch.setattr(Trainer, "fit", dropped_connection)
    with pytest.raises(ClaimLost, match="marked failed: orphaned: no heartbeat"):
        execute_run(store, run.id, claim=Claim(run.id, claimed.claim_epoch, "machine-b:1"))
    after = store.get_run(run.id)
    assert (after.status, after.error) == ("failed", "orphaned: no heartbeat from worker machine-b:1 for 31 s")
    assert not [e for e in store.events(run.id) if "terminating connection" in e.message]
