"""One process on one device: no process group, no wrapper, no collective."""

from __future__ import annotations

import torch

from core.device import device_label
from core.strategies.base import ReadBack, Strategy


class SingleDevice(Strategy):
    """Trains on ``device`` alone; every collective of the contract is the identity."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def describe(self) -> str:
        return device_label(self.device)

    def read_back(self, window_loss: torch.Tensor, micro_steps: int, tokens: int, stop: bool, late: bool) -> ReadBack:
        return ReadBack((window_loss / micro_steps).item(), tokens, stop, late)
