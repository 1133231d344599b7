"""Recurrent backbones: vanilla RNN, LSTM and GRU, one module for all three.

The three cells differ only in the ``nn`` class (and the LSTM's extra cell state), so ``"rnn"``,
``"lstm"`` and ``"gru"`` are one ``RecurrentBackbone`` with the cell picked by name.

Padded batches go through ``pack_padded_sequence`` so the recurrence stops at each sequence's
real end: outputs at padding are zero and the final states are the true last states, which is
what ``pooling="last"`` needs (for a bidirectional model: the forward direction's state after
the last token concatenated with the backward direction's state after the first).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from core.errors import ConfigError
from core.models import catalog
from core.models.base import Backbone, BackboneOutput
from core.models.catalog import RNN_PARAMS as PARAMS
from core.models.catalog import check_recurrent
from core.models.embeddings import TokenEmbedding
from core.models.hooks import HookPoint
from core.params import validate_params

CELLS: dict[str, type[nn.RNN] | type[nn.LSTM] | type[nn.GRU]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
assert tuple(CELLS) == catalog.CELLS  # the declared cells are the ones built here


class RecurrentBackbone(Backbone):
    """Embedding -> dropout -> stacked (bi)RNN/LSTM/GRU -> hidden (B, T, hidden_size).

    ``pooled`` is filled (with the final states) only for ``pooling="last"``; ``mean`` and
    ``max`` are done by the classifier head over ``hidden``. ``hook_embed`` is the recurrence's
    input (B, T, embed_dim), after the dropout: exactly what the RNN consumes (the Learn page
    recomputes the gates from it).
    """

    def __init__(
        self, cell: str, *, vocab_size: int, pad_id: int, embed_dim: int, hidden_size: int,
        n_layers: int, bidirectional: bool, dropout: float, pooling: str,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.bidirectional = bidirectional
        self.causal = not bidirectional
        self.hidden_size = hidden_size * (2 if bidirectional else 1)
        self.pooling = pooling
        self.tokens = TokenEmbedding(vocab_size, embed_dim, pad_id)
        self.drop = nn.Dropout(dropout)
        self.hook_embed = HookPoint()
        self.rnn = CELLS[cell](
            embed_dim, hidden_size, num_layers=n_layers, batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if n_layers > 1 else 0.0,  # nn.RNN* warns on dropout with one layer
        )

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.tokens.embedding

    def forward(
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> BackboneOutput:
        x = self.hook_embed(self.drop(self.tokens(ids)))
        if pad_mask is None or not bool(pad_mask.any()):
            # No padding (language modelling; a batch of one, or of equal lengths): packing would
            # change nothing and costs more than the recurrence on short batches.
            hidden, state = self.rnn(x)
        else:
            # Packing needs lengths on the CPU and >= 1; an all-padding row runs one step.
            lengths = (~pad_mask).sum(dim=1).clamp(min=1).cpu()
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            hidden, state = self.rnn(packed)
            hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=ids.shape[1])
        pooled = None
        if self.pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
            # h_n: (n_layers * directions, B, H); the top layer's directions are the last rows.
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.bidirectional else h_n[-1]
        return BackboneOutput(hidden=hidden, pooled=pooled)


def _build(cell: str, params: dict[str, Any], *, vocab_size: int, pad_id: int, max_len: int) -> Backbone:
    # max_len is unused: recurrences have no position limit.
    p = validate_params(PARAMS, {k: v for k, v in params.items() if k != "name"}, "model")
    if problem := check_recurrent(p):
        raise ConfigError("model", p, problem, reason="invalid combination")
    return RecurrentBackbone(
        cell, vocab_size=vocab_size, pad_id=pad_id, embed_dim=p["embed_dim"],
        hidden_size=p["hidden_size"], n_layers=p["n_layers"], bidirectional=p["bidirectional"],
        dropout=p["dropout"], pooling=p["pooling"],
    )


# One factory per cell, as core.models.catalog declares them.
build_rnn = functools.partial(_build, "rnn")
build_lstm = functools.partial(_build, "lstm")
build_gru = functools.partial(_build, "gru")
