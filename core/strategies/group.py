"""One training process among several: the process group, DDP, and what the ranks agree on.

A :class:`Ranks` is what the trainer holds when it is one of ``world`` processes (None when it
trains alone: then none of this runs). It is built from the environment torchrun gives each
process (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``), so the same
code serves ``lmwb train`` (which starts torchrun itself), ``torchrun ... -m core.cli train`` run
by hand or by a cluster scheduler, and tests that set those variables themselves.

The collectives here run only at points the single-process loop already pays for (a log
step reads the loss back; an evaluation is rare): one small all-reduce carries the window's
loss, its tokens and every rank's stop / deadline votes.
"""

from __future__ import annotations

import datetime
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from core.device import pick_device
from core.errors import ConfigError

if TYPE_CHECKING:
    from torch.nn.parallel import DistributedDataParallel

# How long a rank waits in a collective for the others (an evaluation on rank 0 is the longest
# wait in normal training). A dead peer is noticed far sooner: Gloo sees its socket close and
# torchrun's agent tears the group down.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=60)
RANK_SEED_STRIDE = 1_000_003  # a prime: rank r's streams start far from every other seed's


def rank_seed(seed: int, rank: int) -> int:
    """Seed of rank ``rank``'s streams (batches, dropout); rank 0 keeps the run's own seed, so a
    one-process run and rank 0 of a DDP run draw the same batches."""
    return seed + RANK_SEED_STRIDE * rank


def resolve_backend(choice: str, device: torch.device) -> str:
    """``auto``: NCCL on CUDA, Gloo elsewhere; an explicit choice must suit the device."""
    if choice == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if choice == "nccl" and device.type != "cuda":
        raise ConfigError("training.dist_backend", choice, "'auto' or 'gloo'",
                          reason=f"NCCL needs CUDA GPUs and this run trains on {device.type}")
    return choice


@dataclass
class Ranks:
    """This process's place in the group, and the few collectives the trainer uses."""

    rank: int
    world: int
    local_rank: int
    local_world: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes metrics, samples, snapshots and checkpoints."""
        return self.rank == 0

    @property
    def label(self) -> str:
        nodes = max(1, self.world // max(1, self.local_world))
        where = f" on {nodes} nodes" if nodes > 1 else ""
        return f"{self.world} processes{where} ({self.backend})"

    # -- collectives ----------------------------------------------------------------------------
    def sum(self, values: list[float | torch.Tensor]) -> list[float]:
        """Element-wise sum over ranks of a few numbers (tensors stay on their device until the
        one read-back); a NaN on any rank makes that sum NaN everywhere."""
        parts = [v.detach().reshape(()).to(torch.float64) if isinstance(v, torch.Tensor)
                 else torch.tensor(float(v), dtype=torch.float64) for v in values]
        packed = torch.stack([p.to(self.comm_device) for p in parts])
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
        return packed.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on one."""
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (None elsewhere)."""
        out: list[Any] | None = [None] * self.world if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

    @property
    def comm_device(self) -> torch.device:
        """Where tensors for collectives live: NCCL talks GPU memory only."""
        return self.device if self.backend == "nccl" else torch.device("cpu")

    # -- model -----------------------------------------------------------------------------------
    def wrap(self, model: nn.Module, probe_loss: Callable[[], torch.Tensor]) -> DistributedDataParallel:
        """The DDP wrapper the training step runs through. ``model`` stays the module that is
        evaluated and saved (checkpoints hold no ``module.`` prefix, so any number of ranks can
        resume them). Its parameters are broadcast from rank 0 here; buffers are constants in
        these models (position tables), so they are not re-broadcast before every forward.

        ``probe_loss`` runs one training forward: parameters it leaves without a gradient (a
        task that ignores part of a model) must be declared to DDP, which otherwise waits for
        them forever; every rank must make the same choice."""
        find_unused = self.any(bool(unused_parameters(model, probe_loss, self.device)))
        ids = [self.device.index] if self.device.type == "cuda" else None
        # Newer torch calls "no buffer broadcast before each forward" forward_sync_buffers.
        newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
        buffers: dict[str, Any] = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused, **buffers)


def join(device_choice: str, backend_choice: str) -> Ranks:
    """Join the group described by the environment (torchrun's variables) and return this
    process's :class:`Ranks`. On CUDA, local rank r trains on visible GPU r."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    device = pick_device(device_choice)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ConfigError("training.nproc_per_node", local_world, f"at most {count} (the GPUs this node sees)",
                              reason=f"local rank {local_rank} has no GPU of its own")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type == "mps":
        raise ConfigError("training.device", "mps", "'cpu' or 'cuda'", reason="several processes cannot share Apple's MPS")
    backend = resolve_backend(backend_choice, device)
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend, "timeout": COLLECTIVE_TIMEOUT}
        if backend == "nccl" and "device_id" in inspect.signature(dist.init_process_group).parameters:
            kwargs["device_id"] = device  # binds the communicator now, not at the first collective
        dist.init_process_group(**kwargs)
    return Ranks(rank, world, local_rank, local_world, backend, device)


def leave() -> None:
    """Destroy the process group (a no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_comm_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says a peer went away (its socket closed, a collective timed out): the
    consequence of another rank's failure, not a cause of its own."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return any(s in text for s in ("Connection closed by peer", "Connection reset by peer", "Broken pipe",
                                   "NCCL communicator was aborted", "Timed out"))


def unused_parameters(model: nn.Module, loss: Callable[[], torch.Tensor], device: torch.device) -> list[str]:
    """Names of trainable parameters that get no gradient from one ``loss()`` (a callable that
    runs a training forward). DDP must be told about such parameters or it waits for their
    gradients forever; asking costs one forward and backward at start-up, with the random
    generators put back afterwards, so the run's own streams are untouched."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        loss().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None]
    model.zero_grad(set_to_none=True)
    return missing


# -- every rank's random streams in rank 0's checkpoint -------------------------------------------
RANK_STATE_KEYS = ("generator", "cpu_rng", "cuda_rng")


def rank_states(extra: dict[str, torch.Tensor], rank: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s random states among a checkpoint's tensors: rank 0's under the plain
    names (what a one-process run stores, so either can resume the other), rank r's as
    ``rank{r}.generator`` etc. A rank the saving run did not have finds none."""
    if rank == 0:
        return {k: v for k, v in extra.items() if k in RANK_STATE_KEYS}
    prefix = f"rank{rank}."
    return {k[len(prefix):]: v for k, v in extra.items() if k.startswith(prefix)}


def peer_state_tensors(gathered: list[dict[str, torch.Tensor]] | None) -> dict[str, torch.Tensor]:
    """Ranks 1..n-1's states from :meth:`Ranks.gather`, named for :func:`rank_states`."""
    return {f"rank{rank}.{k}": v for rank, states in enumerate(gathered or []) if rank > 0
            for k, v in states.items()}
