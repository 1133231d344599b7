"""Random generators: one seed for every library a run draws from, and their states saved with a
checkpoint so a resumed run draws the same numbers it would have drawn."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """The global generators a training step draws from (dropout, sampling): torch's CPU one
    and, on a GPU, that device's own. Saved with each checkpoint so a resume continues them."""
    states = {"cpu_rng": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda_rng"] = torch.cuda.get_rng_state(device)
    return states


def restore_rng_states(states: dict[str, torch.Tensor], device: torch.device) -> None:
    """Undo :func:`rng_states`; a device's state applies only to the same kind of device."""
    if "cpu_rng" in states:
        torch.set_rng_state(states["cpu_rng"])
    if "cuda_rng" in states and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda_rng"], device)
