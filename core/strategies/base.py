"""The strategy contract: where the training steps run, and what the processes agree on.

The loop calls a strategy at a few fixed points: once in set-up (:meth:`Strategy.setup`,
:meth:`Strategy.prepare`), around each micro-batch (:meth:`Strategy.micro_batch`), at each loss
read-back (:meth:`Strategy.read_back`) and around each evaluation (:meth:`Strategy.share_streams`,
:meth:`Strategy.any`). One process (:class:`~core.strategies.single.SingleDevice`) answers each
of them at no cost; several (:class:`~core.strategies.ddp.DDP`) meet only there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn


class ReadBack(NamedTuple):
    """What a loss read-back returns: the window's mean loss (over every rank), the tokens
    counted (every rank's), and whether any rank was asked to stop or ran out of time."""

    mean: float
    tokens: int
    stop: bool
    late: bool


class Strategy:
    """Where and on how many processes a run's steps run. A subclass implements
    :meth:`describe` and :meth:`read_back`; the other methods' defaults are one process's."""

    device: torch.device
    rank: int = 0  # this process among ``world``; rank 0 alone evaluates and writes
    world: int = 1
    # Alone, a stop or the time budget is honoured at any step; ranks only where they all vote.
    stops_anywhere: bool = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def setup(self) -> None:
        """Once, after the device is configured (a collective for several ranks)."""

    def describe(self) -> str:
        """Where the run trains, for a person: the run's ``device`` text."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """What the run's summary says about the processes (nothing for one)."""
        return {}

    def barrier(self) -> None:
        """Wait for every rank (one process: nothing to wait for)."""

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on one."""
        return flag

    def wrap(self, model: nn.Module, probe_loss: Callable[[], torch.Tensor]) -> nn.Module:
        """The module the training steps run through (``model`` stays the one evaluated and
        saved). ``probe_loss`` runs one training forward, for a wrapper that needs to know
        which parameters get gradients."""
        return model

    def prepare(self, model: nn.Module, probe_loss: Callable[[], torch.Tensor], compile: bool) -> nn.Module:
        """:meth:`wrap`, then ``torch.compile`` when asked (training.compile)."""
        stepped = self.wrap(model, probe_loss)
        # torch types compile's result as the callable it was given; for a module it is a module
        return torch.compile(stepped) if compile else stepped  # type: ignore[return-value]

    def micro_batch(self, last: bool) -> contextlib.AbstractContextManager[Any]:
        """Around one micro-batch's forward and backward; ``last``: the step's last one."""
        return contextlib.nullcontext()

    def read_back(self, window_loss: torch.Tensor, micro_steps: int, tokens: int, stop: bool, late: bool) -> ReadBack:
        """The one host synchronisation of a logged step: the mean of ``window_loss`` (a sum
        over ``micro_steps`` micro-batches), with the tokens and the stop and deadline votes."""
        raise NotImplementedError

    def share_streams(self, states: Callable[[], dict[str, torch.Tensor]]) -> None:
        """Before an evaluation that saves a checkpoint: every rank's random streams to rank 0
        (``states`` gives this rank's). One process: nothing to share."""

    def stream_tensors(self, own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The random streams a checkpoint keeps: rank 0's ``own``, and the others' shared."""
        return own
