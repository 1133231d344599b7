"""Word-vector models for the ``word_embeddings`` task: Word2Vec (SGNS) and GloVe.

They are not backbones: nothing maps a sequence to hidden states. Each is a pair of embedding
tables whose ``forward`` returns the per-example loss of its objective, and ``vectors()`` gives
the word vectors to evaluate and export. The factories keep the registry's architecture
signature ``factory(params, *, vocab_size, pad_id, max_len)`` (``pad_id`` and ``max_len`` are
unused) so ``Task.build_backbone`` builds them like any other architecture.

The task decides the batches from the component's ``objective`` meta: ``"sgns"`` wants
(input, target, negatives) ids, ``"glove"`` wants co-occurrence entries (rows, cols, counts).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.catalog import WORD2VEC_MODES


class Word2Vec(nn.Module):
    """Skip-gram / CBOW with negative sampling (Mikolov et al., 2013).

    ``input_vectors`` are the word vectors; ``output_vectors`` the context ("output") vectors of
    the softmax the negative samples approximate. The model is the same for both modes: only the
    input side differs (one centre word for skip-gram, the mean of the context words for CBOW).
    """

    def __init__(self, vocab_size: int, dim: int, mode: str = "skipgram") -> None:
        super().__init__()
        if mode not in WORD2VEC_MODES:
            raise ValueError(f"mode must be one of {WORD2VEC_MODES}, got {mode!r}")
        self.mode = mode
        self.input_vectors = nn.Embedding(vocab_size, dim)
        self.output_vectors = nn.Embedding(vocab_size, dim)
        # word2vec.c's initialisation: small random inputs, zero outputs (every score starts at 0).
        nn.init.uniform_(self.input_vectors.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.output_vectors.weight)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.input_vectors

    def vectors(self) -> torch.Tensor:
        return self.input_vectors.weight.detach()

    def forward(
        self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-example loss -log s(u_t.h) - sum_k log s(-u_k.h).

        inputs: (B,) centre ids (skip-gram) or (B, C) context ids (CBOW, ``mask`` True where real);
        targets: (B,) ids to predict; negatives: (B, K) noise ids.
        """
        h = self.input_vectors(inputs)
        if h.dim() == 3:
            weights = mask.unsqueeze(-1).to(h.dtype) if mask is not None else torch.ones_like(h[..., :1])
            h = (h * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        pos = (self.output_vectors(targets) * h).sum(-1)
        neg = torch.bmm(self.output_vectors(negatives), h.unsqueeze(-1)).squeeze(-1)
        return -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)


class GloVe(nn.Module):
    """GloVe (Pennington et al., 2014): w_i.w~_j + b_i + b~_j fits log X_ij, weighted by f(X_ij).

    f(x) = min(1, (x / x_max) ** alpha) keeps rare pairs from dominating and caps frequent ones.
    The word vectors are ``W + W~``, as the paper recommends.
    """

    def __init__(self, vocab_size: int, dim: int, x_max: float = 10.0, alpha: float = 0.75) -> None:
        super().__init__()
        self.x_max, self.alpha = float(x_max), float(alpha)
        self.word = nn.Embedding(vocab_size, dim)
        self.context = nn.Embedding(vocab_size, dim)
        self.word_bias = nn.Embedding(vocab_size, 1)
        self.context_bias = nn.Embedding(vocab_size, 1)
        for table in (self.word, self.context):
            nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)
        for table in (self.word_bias, self.context_bias):
            nn.init.zeros_(table.weight)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.word

    def vectors(self) -> torch.Tensor:
        return (self.word.weight + self.context.weight).detach()

    def forward(self, rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Per-entry weighted squared error f(x) * (prediction - log x)^2."""
        pred = (
            (self.word(rows) * self.context(cols)).sum(-1)
            + self.word_bias(rows).squeeze(-1) + self.context_bias(cols).squeeze(-1)
        )
        weight = (counts / self.x_max).pow(self.alpha).clamp(max=1.0)
        return weight * (pred - counts.log()).pow(2)


def word2vec(p: dict[str, Any], *, vocab_size: int, pad_id: int, max_len: int) -> Word2Vec:
    return Word2Vec(vocab_size, p["dim"], p["mode"])


def glove(p: dict[str, Any], *, vocab_size: int, pad_id: int, max_len: int) -> GloVe:
    return GloVe(vocab_size, p["dim"], p["x_max"], p["alpha"])
