"""TextCNN (Kim, 2014): parallel 1-D convolutions over word embeddings, max over time.

Each kernel size k detects k-gram features; the max over positions keeps each feature's
strongest match anywhere in the text. Windows start at every real token and run past the end
into zero vectors (padding embeddings are zeroed), so inputs shorter than the largest kernel
work and appending padding never changes the result.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import Backbone, BackboneOutput
from core.models.catalog import CNN_PARAMS as PARAMS
from core.models.embeddings import TokenEmbedding
from core.params import validate_params


class TextCNN(Backbone):
    """Embedding -> Conv1d per kernel size -> ReLU -> max over valid windows.

    ``hidden`` (B, T, n_filters * len(kernel_sizes)): at position t, the features of the windows
    starting at t. ``pooled`` (B, same): their max over non-pad start positions; heads use it.
    Dropout is left to the classifier head (the classification task passes ``model.dropout``).
    """

    causal = False
    pooling = None  # pools internally: the head uses ``pooled``, whatever its own pooling says

    def __init__(
        self, *, vocab_size: int, pad_id: int, embed_dim: int, kernel_sizes: list[int],
        n_filters: int,
    ) -> None:
        super().__init__()
        self.kernel_sizes = list(kernel_sizes)
        self.hidden_size = n_filters * len(self.kernel_sizes)
        self.tokens = TokenEmbedding(vocab_size, embed_dim, pad_id)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, n_filters, k) for k in self.kernel_sizes)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.tokens.embedding

    def forward(
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> BackboneOutput:
        T = ids.shape[1]
        x = self.tokens(ids)
        if pad_mask is not None:
            x = x.masked_fill(pad_mask.unsqueeze(-1), 0.0)  # padding contributes nothing
        # (B, E, T + kmax - 1): zero-pad the end so every start position has a full window.
        x = F.pad(x.transpose(1, 2), (0, max(self.kernel_sizes) - 1))
        hidden = torch.cat([F.relu(conv(x)[:, :, :T]) for conv in self.convs], dim=1)
        if pad_mask is not None:
            # ReLU features are >= 0, so zeroing invalid starts equals masking them with -inf
            # before the max, and an all-padding row pools to zeros instead of -inf.
            hidden = hidden.masked_fill(pad_mask.unsqueeze(1), 0.0)
        pooled = hidden.max(dim=2).values
        return BackboneOutput(hidden=hidden.transpose(1, 2), pooled=pooled)


def build_textcnn(params: dict[str, Any], *, vocab_size: int, pad_id: int, max_len: int) -> Backbone:
    p = validate_params(PARAMS, {k: v for k, v in params.items() if k != "name"}, "model")
    return TextCNN(
        vocab_size=vocab_size, pad_id=pad_id, embed_dim=p["embed_dim"],
        kernel_sizes=p["kernel_sizes"], n_filters=p["n_filters"],
    )
