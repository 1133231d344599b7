"""One rank of several: DDP through :class:`core.strategies.group.Ranks`.

The ranks meet only where the one-process loop pauses anyway: each loss read-back (one
all-reduce: loss, tokens, stop and deadline votes) and each evaluation (rank 0's alone; the
others wait for its verdict on early stopping). Between them the steps run as alone, with
DDP's gradient all-reduce on each step's last micro-batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.device import device_label
from core.strategies.base import ReadBack, Strategy
from core.strategies.group import Ranks, peer_state_tensors

if TYPE_CHECKING:
    from torch.nn.parallel import DistributedDataParallel


class DDP(Strategy):
    """This process is rank ``ranks.rank`` of ``ranks.world``."""

    stops_anywhere = False  # a stop lands at the next read-back, where every rank votes

    def __init__(self, ranks: Ranks) -> None:
        self.ranks = ranks
        self.device = ranks.device
        self.rank, self.world = ranks.rank, ranks.world
        self.wrapped: DistributedDataParallel | None = None  # the DistributedDataParallel module, once wrapped
        self.rank_devices: list[str] | None = None
        self._peer_states: list[dict[str, torch.Tensor]] | None = None

    def setup(self) -> None:
        # The Run page lists where each rank trains; only rank 0's summary is written.
        self.rank_devices = self.ranks.gather(device_label(self.device))

    def describe(self) -> str:
        return f"{device_label(self.device)} x {self.ranks.label}"

    def summary(self) -> dict[str, Any]:
        return {"processes": self.world, "rank_devices": self.rank_devices}

    def barrier(self) -> None:
        self.ranks.barrier()

    def any(self, flag: bool) -> bool:
        return self.ranks.any(flag)

    def wrap(self, model: nn.Module, probe_loss: Callable[[], torch.Tensor]) -> nn.Module:
        self.wrapped = self.ranks.wrap(model, probe_loss)
        return self.wrapped

    def micro_batch(self, last: bool) -> contextlib.AbstractContextManager[Any]:
        # Accumulated micro-batches skip DDP's gradient all-reduce except the last one.
        if last or self.wrapped is None:
            return contextlib.nullcontext()
        return self.wrapped.no_sync()

    def read_back(self, window_loss: torch.Tensor, micro_steps: int, tokens: int, stop: bool, late: bool) -> ReadBack:
        # The global batch's loss; a NaN on any rank is a NaN on all.
        total, tokens_all, stops, lates = self.ranks.sum([window_loss, tokens, stop, late])
        return ReadBack(total / (micro_steps * self.world), int(tokens_all), stops > 0, lates > 0)

    def share_streams(self, states: Callable[[], dict[str, torch.Tensor]]) -> None:
        self._peer_states = self.ranks.gather(states())

    def stream_tensors(self, own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**own, **peer_state_tensors(self._peer_states)}  # ranks 1.. as rank{r}.<name>
