"""One training process's random streams, and their place in a checkpoint.

Two kinds: the generator its batches are drawn from, and torch's global generators (dropout,
sampling), seeded by :func:`core.seeding.seed_everything`. Rank 0 draws what a one-process run
draws; rank r > 0 draws streams of its own (:func:`core.strategies.group.rank_seed`). A
checkpoint keeps every rank's (rank 0's under the plain names), so a resume draws the numbers
the uninterrupted run would have drawn.
"""

from __future__ import annotations

import torch

from core.seeding import restore_rng_states, rng_states
from core.strategies.group import rank_seed, rank_states


class RandomStreams:
    """Built after the model, so every rank's initialisation is the same."""

    def __init__(self, seed: int, rank: int, device: torch.device) -> None:
        self.seed, self.rank, self.device = seed, rank, device
        self.generator = torch.Generator().manual_seed(rank_seed(seed, rank) + 1)  # batches
        if rank > 0:  # dropout masks of its own
            torch.manual_seed(rank_seed(seed, rank))

    def state(self) -> dict[str, torch.Tensor]:
        """This process's streams now, as a checkpoint's tensors."""
        return {"generator": self.generator.get_state(), **rng_states(self.device)}

    def restore(self, tensors: dict[str, torch.Tensor], step: int) -> None:
        """This rank's streams from a checkpoint's tensors, saved after ``step``."""
        mine = rank_states(tensors, self.rank)
        if "generator" in mine:
            self.generator.set_state(mine["generator"])
        elif self.rank > 0:  # a rank the saving run did not have: a stream of its own from here
            self.generator.manual_seed(rank_seed(self.seed, self.rank) + 1 + step)
        restore_rng_states(mine, self.device)
