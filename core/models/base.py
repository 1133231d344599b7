"""The contract every backbone keeps, so any head or task can drive any architecture."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class BackboneOutput:
    hidden: torch.Tensor  # (batch, time, hidden_size): one vector per input position
    # Architectures that pool internally (TextCNN) put the (batch, hidden_size) vector here.
    pooled: torch.Tensor | None = None


class Backbone(nn.Module):
    """Token ids -> hidden states.

    ``forward(ids, pad_mask=None)``:
      ids       LongTensor (batch, time)
      pad_mask  BoolTensor (batch, time), True where the position is padding; None = no padding
    Attention weights and other activations are read at the model's hook points
    (``core.models.hooks``), never returned.
    ``causal`` is True when position t only sees positions <= t (usable for language models).
    """

    hidden_size: int
    causal: bool = False

    def forward(  # pragma: no cover - interface
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> BackboneOutput:
        raise NotImplementedError


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode (no dropout) for the block, then back in the mode it was in, even
    when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
