"""Training one run on several processes (DDP, Gloo on the CPU), end to end.

Each test starts real processes (torchrun's agent runs in this process, in a thread, as
``lmwb train`` would run it; its ranks are children), with tiny models, a few steps and one
thread per rank, so the file stays within ~40 s on two shared cores.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

from core.cli import main
from core.config import validate_config
from core.tasks.base import Batch
from tests.conftest import REPO, wait_until

# A 2-layer char model on the built-in arithmetic text: ~10k parameters, milliseconds a step.
TINY_LM = [
    "--task", "language_model", "--set", "data.name=arithmetic", "--set", "model.d_model=32",
    "--set", "model.n_heads=2", "--set", "model.n_layers=1", "--set", "model.d_ff=64",
    "--set", "task.sample_length=0", "--set", "training.eval_max_batches=2", "--set", "training.log_every=5",
    "--set", "training.attention_snapshots=false", "--set", "optimizer.lr=0.003",
]


def _in_thread(argv: list[str]) -> tuple[threading.Thread, dict[str, Any]]:
    """``lmwb ARGV`` in a thread of this process (its launcher is torchrun's agent)."""
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.setdefault("code", main(argv)), daemon=True)
    thread.start()
    return thread, out


def _only_run(store: Any) -> Any:
    runs = store.list_runs()
    assert len(runs) == 1, [r.name for r in runs]  # created once, by rank 0
    return runs[0]


def _reached(store: Any, step: int, thread: threading.Thread) -> bool:
    """Whether the run logged ``step`` (an ended launcher ends the wait: it failed)."""
    assert thread.is_alive(), "the launcher ended early"
    runs = store.list_runs()
    return bool(runs) and int((runs[0].progress or {}).get("step", 0)) >= step


def _one_series(store: Any, run_id: str) -> Any:
    points = store.metrics(run_id)
    assert not points.duplicated(["step", "split", "name"]).any()  # only rank 0 writes
    return points


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- (1) one step on 2 ranks = one step on one process over both ranks' batches ------------------
def test_a_step_on_two_ranks_equals_one_step_over_both_shards(tmp_path: Path) -> None:
    from core.strategies.group import rank_seed
    from core.train import Trainer
    from tests.integration import ddp_ranks

    # Spawned, not forked: a fork of this process (its threads, its finalizers) can hang at exit.
    torch.multiprocessing.start_processes(ddp_ranks.one_step, args=(_free_port(), str(tmp_path)), nprocs=2,
                                          start_method="spawn")
    for name, (arch, accum) in ddp_ranks.CASES.items():
        # The same step alone, over every micro-batch the two ranks drew (shard A + shard B).
        trainer = Trainer(validate_config(ddp_ranks.config(arch, 1, batch=8 * accum)), tmp_path / f"{name}-one")
        trainer.setup()
        streams = [torch.Generator().manual_seed(rank_seed(3, r) + 1) for r in (0, 1)]
        draws = [trainer.task.train_batch(4, g) for g in streams for _ in range(accum)]
        both = Batch({"ids": torch.cat([b.inputs["ids"] for b in draws])}, torch.cat([b.targets for b in draws]),
                     sum(b.n_tokens for b in draws))
        trainer.task.train_batch = lambda *_, both=both: both  # type: ignore[method-assign]
        before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        trainer.fit()
        ranked = torch.load(tmp_path / f"{name}.pt")
        for key, value in trainer.model.state_dict().items():
            assert not torch.equal(value, before[key]) or "pos" in key or "table" in key  # it trained
            torch.testing.assert_close(ranked[key], value, atol=1e-5, rtol=0, msg=f"{name}: {key}")


# -- (2) lmwb train on 2 processes; one series, one checkpoint set; resume on 1 ------------------
def test_two_process_run_trains_writes_once_and_resumes_on_one(store, workbench_home: Path) -> None:
    thread, out = _in_thread(["train", *TINY_LM, "--name", "ddp", "--set", "training.max_steps=300",
                              "--set", "training.eval_every=100", "--set", "training.nproc_per_node=2"])
    wait_until(lambda: _reached(store, 15, thread), 90, "the 2-process run to log step 15")
    run = _only_run(store)
    store.request_stop(run.id)  # as `lmwb runs stop`: the ranks agree on a step and stop there
    thread.join(60)
    assert out.get("code") == 0
    run = store.get_run(run.id)
    assert run.status == "stopped" and run.summary["processes"] == 2 and "2 processes" in run.summary["device"]
    stopped_at = run.summary["step"]
    assert stopped_at % 5 == 0 and stopped_at < 300  # at a read-back, where every rank voted
    loss = _one_series(store, run.id).query("split == 'train' and name == 'loss'")["value"].tolist()
    assert loss[-1] < loss[0]
    folder = store.run_dir(run.id)
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["best", "last"]
    assert [p.name for p in (workbench_home / "runs").iterdir()] == [run.id]

    # One process continues the same series from the checkpoint (it holds the unwrapped model).
    assert main(["resume", run.id, "--nproc-per-node", "1"]) == 0
    run = store.get_run(run.id)
    assert run.status == "completed" and run.config["training"]["nproc_per_node"] == 1
    steps = _one_series(store, run.id).query("split == 'train' and name == 'loss'")["step"].tolist()
    assert steps == sorted(steps) and steps[-1] == 300 and stopped_at in steps


# -- (3) two "nodes" on this machine meet at a c10d rendezvous and train one run ------------------
def test_two_nodes_train_one_run(store) -> None:
    """One node runs `lmwb train` (our launcher), the other torchrun by hand, as a scheduler would."""
    from core.distributed import torchrun_args

    port = _free_port()
    argv = ["train", *TINY_LM, "--set", "training.max_steps=20", "--set", "training.eval_every=10",
            "--set", "training.nnodes=2", "--set", f"training.rdzv_endpoint=127.0.0.1:{port}"]
    by_hand = torchrun_args({"nnodes": 2, "rdzv_endpoint": f"127.0.0.1:{port}"}, ["-m", "core.cli", *argv], "lmwb")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    other = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *by_hand], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    thread, out = _in_thread(argv)
    thread.join(120)
    text = other.communicate(timeout=60)[0]
    assert out.get("code") == 0 and other.returncode == 0, text[-2000:]
    run = _only_run(store)
    assert run.status == "completed" and run.summary["processes"] == 2 and "2 nodes" in run.summary["device"]
    assert run.config["training"]["nnodes"] == 2
    assert sorted(set(_one_series(store, run.id).query("split == 'val'")["step"])) == [10, 20]


# -- (4) a queued run on 2 processes: a worker launches it; a rank killed with SIGKILL fails the run
#        within seconds, and nothing is left behind ------------------------------------------------
@pytest.mark.faults
def test_a_killed_rank_fails_the_run_and_leaves_no_process(store) -> None:
    from core.workers import worker_loop

    assert main(["train", *TINY_LM, "--queue", "--set", "training.max_steps=100000",
                 "--set", "training.eval_every=50", "--set", "training.nproc_per_node=2"]) == 0
    thread = threading.Thread(target=worker_loop, args=(store,), kwargs={"once": True}, daemon=True)
    thread.start()
    wait_until(lambda: _reached(store, 10, thread), 90, "the 2-process run to log step 10")
    ranks = [p for p in psutil.Process().children(recursive=True) if "core.distributed" in " ".join(p.cmdline())]
    assert len(ranks) == 2
    victim = next(p for p in ranks if p.environ().get("RANK") == "1")
    victim.send_signal(signal.SIGKILL)
    thread.join(30)  # the worker's launch ends (the run is not left hanging until it is stopped)
    assert not thread.is_alive()
    run = _only_run(store)
    assert run.status == "failed"
    assert f"process 1 (pid {victim.pid}) was killed by SIGKILL" in run.error and "resume" in run.error
    _, alive = psutil.wait_procs(ranks, timeout=5)
    assert not alive


def _running_cmdline(p: psutil.Process) -> str:
    """A child's command line; "" for one that has ended (a zombie another test's module left to
    be reaped in this test process is dead, not a hung rank)."""
    try:
        return "" if p.status() == psutil.STATUS_ZOMBIE else " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return ""


@pytest.fixture(autouse=True)
def _no_leftovers():
    """Whatever a test started must be gone when it ends (a hung rank would fail the suite). Only
    what it started: another module's app test, run earlier in this test process, may leave its
    idle worker to exit by itself."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    leftovers = {p: line for p in psutil.Process().children(recursive=True)
                 if p.pid not in before and "core." in (line := _running_cmdline(p))}
    for p in leftovers:
        p.kill()
    assert not leftovers, list(leftovers.values())
