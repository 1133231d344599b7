"""Token and position embeddings shared by the architectures."""

from __future__ import annotations

import math

import torch
from torch import nn

from core.models.catalog import POSITION_KINDS


class TokenEmbedding(nn.Module):
    """Token ids -> vectors.

    The ``nn.Embedding`` stays reachable as ``.embedding`` so a language-model head can tie its
    output weight to it and pretrained vectors can be loaded into it.
    """

    def __init__(self, vocab_size: int, dim: int, pad_id: int | None = None) -> None:
        super().__init__()
        # padding_idx keeps the pad vector out of the gradient; ignore ids the vocab lacks.
        padding_idx = pad_id if pad_id is not None and 0 <= pad_id < vocab_size else None
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)

    @property
    def weight(self) -> torch.Tensor:  # a Parameter (torch types an embedding's weight as a Tensor)
        return self.embedding.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)

    @torch.no_grad()
    def load_vectors(self, vectors: torch.Tensor) -> None:
        """Copy pretrained vectors (vocab_size, dim) in (``task.freeze`` decides if they train)."""
        if tuple(vectors.shape) != tuple(self.embedding.weight.shape):
            raise ValueError(
                f"pretrained vectors have shape {tuple(vectors.shape)}, "
                f"the embedding needs {tuple(self.embedding.weight.shape)}"
            )
        with torch.no_grad():
            self.embedding.weight.copy_(vectors)


class PositionalEncoding(nn.Module):
    """Adds position information to (B, T, dim) embeddings.

    ``sinusoidal``: the fixed sin/cos table of "Attention Is All You Need" (a non-persistent
    buffer: it is derived, so checkpoints do not carry it). ``learned``: one trained vector per
    position, as in GPT-2.
    """

    embedding: nn.Embedding  # learned
    table: torch.Tensor  # sinusoidal (a buffer)

    def __init__(self, kind: str, dim: int, max_len: int) -> None:
        super().__init__()
        if kind not in POSITION_KINDS:
            raise ValueError(f"positions must be one of {POSITION_KINDS}, got {kind!r}")
        self.kind = kind
        self.max_len = max_len
        if kind == "learned":
            self.embedding = nn.Embedding(max_len, dim)
        else:
            self.register_buffer("table", sinusoidal_table(max_len, dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        if length > self.max_len:
            raise ValueError(
                f"sequence of {length} positions is longer than the {self.max_len} this model supports"
            )
        # Slicing the table is cheaper than an embedding lookup of arange(length).
        table = self.embedding.weight if self.kind == "learned" else self.table
        return x + table[:length]


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """(max_len, dim): sin on even channels, cos on odd, wavelengths 2pi .. 10000*2pi."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]  # odd dim: one fewer cos channel
    return table
