"""The contract every backbone keeps, so any head or task can drive any architecture."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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

    @property
    def token_embedding(self) -> nn.Embedding:
        """The token embedding table (what ``tie_weights`` shares); every architecture here has
        one. One without it raises AttributeError, so ``getattr(b, "token_embedding", None)``
        still finds none."""
        raise AttributeError(f"{type(self).__name__} has no token embedding")

    def forward(  # pragma: no cover - interface
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> BackboneOutput:
        raise NotImplementedError


@runtime_checkable
class WordVectors(Protocol):
    """A model that is a table of word vectors (word2vec, GloVe): ``vectors()`` is (vocab, dim)."""

    def vectors(self) -> torch.Tensor: ...


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
