"""Training on several processes, the parts that need no second process: declarations,
torchrun's arguments, naming the failure that explains the others, checkpoint layout."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from core.cli import main
from core.config import TRAINING_PARAMS, default_config, processes_wanted, validate_config
from core.distributed import torchrun_args
from core.distributed.launch import root_cause
from core.errors import ConfigError, WorkbenchError
from core.strategies.group import peer_state_tensors, rank_seed, rank_states, resolve_backend

PROCESS_PARAMS = ("nproc_per_node", "nnodes", "dist_backend", "rdzv_endpoint")


def test_process_parameters_are_declared_once_and_not_sweepable(capsys) -> None:
    declared = {p.name: p for p in TRAINING_PARAMS}
    assert all(not declared[name].sweepable for name in PROCESS_PARAMS)
    config = validate_config(default_config("language_model"))
    # The defaults are one process: no process group, nothing launched.
    assert processes_wanted(config) == 1 and config["training"]["dist_backend"] == "auto"
    assert processes_wanted(config.with_overrides(["training.nproc_per_node=4", "training.nnodes=2"])) == 8
    with pytest.raises(ConfigError, match="dist_backend"):
        config.with_overrides(["training.dist_backend=mpi"])
    assert main(["params", "training"]) == 0
    shown = capsys.readouterr().out
    assert all(name in shown for name in PROCESS_PARAMS)

    from core import sweep as sw

    with pytest.raises(ConfigError, match="not sweepable"):
        sw.parse_space({"training.nproc_per_node": {"values": [1, 2]}}, config)


def test_torchrun_arguments() -> None:
    entry = ["-m", "core.distributed", "r1"]
    one_node = torchrun_args({"nproc_per_node": 2, "nnodes": 1, "rdzv_endpoint": ""}, entry, "x")
    assert one_node[-3:] == entry and "--standalone" in one_node
    assert one_node[one_node.index("--max-restarts") + 1] == "0"  # a failed process fails the run
    assert one_node[one_node.index("--nproc-per-node") + 1] == "2"
    two = torchrun_args({"nproc_per_node": 1, "nnodes": 2, "rdzv_endpoint": "node0:29400"}, entry, "lmwb-r1")
    assert "--standalone" not in two
    assert two[two.index("--rdzv-endpoint") + 1] == "node0:29400" and two[two.index("--rdzv-id") + 1] == "lmwb-r1"
    with pytest.raises(ConfigError, match="rdzv_endpoint"):  # several nodes must meet somewhere
        torchrun_args({"nproc_per_node": 1, "nnodes": 2, "rdzv_endpoint": ""}, entry, "x")
    with pytest.raises(ConfigError, match="host:port"):
        torchrun_args({"nproc_per_node": 1, "nnodes": 2, "rdzv_endpoint": "node0"}, entry, "x")
    assert resolve_backend("auto", torch.device("cpu")) == "gloo"
    with pytest.raises(ConfigError, match="NCCL needs CUDA"):
        resolve_backend("nccl", torch.device("cpu"))


def _failure(pid: int, exitcode: int, message: str = "", consequence: bool = False, timestamp: int = 100) -> object:
    data = {"message": message, "lmwb_consequence": consequence} if message else {}
    import signal

    name = signal.Signals(-exitcode).name if exitcode < 0 else "<N/A>"
    return SimpleNamespace(pid=pid, exitcode=exitcode, error_file_data=data, timestamp=timestamp,
                           signal_name=lambda: name)


def test_the_failure_that_explains_the_others_is_named() -> None:
    # Rank 1 killed; rank 0 then lost its peer: the kill is the cause, whatever the timestamps.
    cause = root_cause({
        0: _failure(10, 1, "RuntimeError: Connection closed by peer", consequence=True, timestamp=99),
        1: _failure(11, -9, timestamp=100),
    })
    assert cause.rank == 1 and "killed by SIGKILL" in cause.text and "pid 11" in cause.text
    # A rank's own error beats the SIGTERM the agent sent the others while tearing down.
    cause = root_cause({0: _failure(10, -15), 1: _failure(11, 2, "data error: bad file")})
    assert cause.rank == 1 and "bad file" in cause.text and cause.own
    # Every rank diverged alike: rank 0's words.
    cause = root_cause({0: _failure(10, 2, "loss became nan"), 1: _failure(11, 2, "loss became nan")})
    assert cause.rank == 0


def test_checkpoint_holds_each_ranks_streams_under_its_own_name() -> None:
    gathered = [{"generator": torch.tensor([0])}, {"generator": torch.tensor([1]), "cpu_rng": torch.tensor([2])}]
    extra = {"generator": torch.tensor([0]), "cpu_rng": torch.tensor([5]), **peer_state_tensors(gathered)}
    assert set(extra) == {"generator", "cpu_rng", "rank1.generator", "rank1.cpu_rng"}
    assert int(rank_states(extra, 0)["cpu_rng"]) == 5 and set(rank_states(extra, 0)) == {"generator", "cpu_rng"}
    assert int(rank_states(extra, 1)["generator"]) == 1
    assert rank_states(extra, 2) == {}  # a rank the saving run did not have starts a stream of its own
    assert rank_seed(7, 0) == 7 and rank_seed(7, 1) != rank_seed(8, 0)


def test_a_run_for_several_processes_is_not_trained_in_one(store) -> None:
    from core.runs import create_run, execute_run

    config = validate_config(default_config("classification")).with_overrides(["training.nproc_per_node=2"])
    run = create_run(store, config)
    with pytest.raises(WorkbenchError, match="asks for 2 processes"):
        execute_run(store, run.id)
    assert store.get_run(run.id).status == "failed"


def test_checkpoints_hold_the_unwrapped_model(tmp_path) -> None:
    import torch.distributed as dist

    from core import checkpoint as ckpt

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = torch.nn.Linear(3, 2)
        ckpt.save_checkpoint(tmp_path / "last", torch.nn.parallel.DistributedDataParallel(model))
    finally:
        dist.destroy_process_group()
    other = torch.nn.Linear(3, 2)  # a plain model (one process) loads what the wrapped one saved
    ckpt.load_weights(tmp_path / "last", other)
    assert torch.equal(other.weight, model.weight)
