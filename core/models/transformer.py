"""Transformer backbones: a BERT-style encoder and a GPT-style decoder, nanoGPT-readable.

Both stack the same ``Block`` (attention + MLP, each in a residual branch) over token and position
embeddings. The encoder sees the whole sequence (padding masked out) and can prepend a learned
[CLS] vector; the decoder is causal, pre-LN, with a final LayerNorm and GPT-2 initialisation.

Every block passes its activations through named hook points (``core.models.hooks``):
``hook_resid_pre`` (the residual stream entering the block), ``attn.hook_pattern`` (the
attention weights), ``hook_attn_out`` (the attention branch's output), ``hook_resid_mid``,
``hook_mlp_out`` and ``hook_resid_post`` (the stream leaving it). Attention capture, the logit
lens and activation patching are forward hooks on these (``core.inspect.activations``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from core.errors import ConfigError
from core.models.base import Backbone, BackboneOutput
from core.models.catalog import DECODER_PARAMS, ENCODER_PARAMS, check_heads
from core.models.embeddings import PositionalEncoding, TokenEmbedding
from core.models.hooks import HookPoint
from core.models.multihead import MultiHeadAttention
from core.params import Param, validate_params

# Sinusoidal positions cost nothing to extend, so they cover at least this many positions.
SINUSOIDAL_MIN_LEN = 2048


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff, bias=bias)
        self.act = nn.GELU()
        self.proj = nn.Linear(d_ff, d_model, bias=bias)  # residual output projection
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """Attention then MLP, each added to the residual stream.

    ``norm_first`` (pre-LN, GPT-2) normalises each branch's input; otherwise (post-LN, the 2017
    Transformer) normalises after each residual sum. The hook points see the stream as it is
    at each place (post-LN: the normalised sums).
    """

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float, bias: bool = True,
        norm_first: bool = True,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.ln1 = nn.LayerNorm(d_model, bias=bias)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout, bias=bias)
        self.ln2 = nn.LayerNorm(d_model, bias=bias)
        self.mlp = MLP(d_model, d_ff, dropout, bias=bias)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, x: torch.Tensor, pad_mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        if self.norm_first:
            a = self.attn(self.ln1(x), key_padding_mask=pad_mask, causal=causal)
            x = self.hook_resid_mid(x + self.hook_attn_out(a))
            x = x + self.hook_mlp_out(self.mlp(self.ln2(x)))
        else:
            a = self.attn(x, key_padding_mask=pad_mask, causal=causal)
            x = self.hook_resid_mid(self.ln1(x + self.hook_attn_out(a)))
            x = self.ln2(x + self.hook_mlp_out(self.mlp(x)))
        return self.hook_resid_post(x)


def init_gpt2(model: nn.Module, n_layers: int) -> None:
    """GPT-2 initialisation: N(0, 0.02) weights, zero biases, and residual output projections
    scaled by 1/sqrt(2 * n_layers) so the residual stream's variance does not grow with depth."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
    for name, param in model.named_parameters():
        if name.endswith("proj.weight"):
            nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * n_layers))


class _Transformer(Backbone):
    """Embeddings + blocks (+ final LayerNorm when pre-LN); what encoder and decoder share."""

    def __init__(
        self, *, vocab_size: int, pad_id: int, max_len: int, d_model: int, n_layers: int,
        n_heads: int, d_ff: int, dropout: float, positions: str, bias: bool, norm_first: bool,
        pooling: str, block: type[Block] = Block,
    ) -> None:
        super().__init__()
        self.hidden_size = d_model
        self.pooling = pooling  # what SequenceClassifier pools by default
        if positions == "sinusoidal":
            max_len = max(max_len, SINUSOIDAL_MIN_LEN)
        self.tokens = TokenEmbedding(vocab_size, d_model, pad_id)
        self.positions = PositionalEncoding(positions, d_model, max_len)
        self.drop = nn.Dropout(dropout)
        # ``block``: a seq2seq decoder passes a Block subclass that adds cross-attention.
        self.blocks = nn.ModuleList(
            block(d_model, n_heads, d_ff, dropout, bias=bias, norm_first=norm_first)
            for _ in range(n_layers)
        )
        # Pre-LN leaves the residual stream un-normalised: one LayerNorm at the end fixes that.
        self.ln_f = nn.LayerNorm(d_model, bias=bias) if norm_first else nn.Identity()
        init_gpt2(self, n_layers)
        # A fixed sinusoidal table has amplitude ~1, which would drown GPT-2's N(0, 0.02) token
        # vectors; as in "Attention Is All You Need", init tokens at d^-0.5 and scale by sqrt(d).
        self.embed_scale = 1.0
        if positions == "sinusoidal":
            self.embed_scale = math.sqrt(d_model)
            with torch.no_grad():
                weight = self.tokens.embedding.weight
                nn.init.normal_(weight, mean=0.0, std=d_model**-0.5)
                if self.tokens.embedding.padding_idx is not None:
                    weight[self.tokens.embedding.padding_idx].zero_()

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.tokens.embedding

    def _run(self, x: torch.Tensor, pad_mask: torch.Tensor | None) -> BackboneOutput:
        if self.embed_scale != 1.0:
            x = x * self.embed_scale
        x = self.drop(self.positions(x))
        for block in self.blocks:
            x = block(x, pad_mask, self.causal)
        return BackboneOutput(hidden=self.ln_f(x))


class TransformerEncoder(_Transformer):
    """Bidirectional encoder for classification.

    With ``pooling="cls"`` a learned [CLS] vector is prepended: ``hidden`` and the attention maps
    then have T + 1 positions and ``hidden[:, 0]`` is the [CLS] state (``has_cls`` says so).
    """

    causal = False

    def __init__(self, **kwargs: Any) -> None:
        has_cls = kwargs["pooling"] == "cls"
        if has_cls:
            kwargs["max_len"] += 1  # the [CLS] slot takes position 0
        super().__init__(**kwargs)
        self.has_cls = has_cls
        self.cls = nn.Parameter(torch.randn(1, 1, self.hidden_size) * 0.02) if has_cls else None

    def forward(
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> BackboneOutput:
        x = self.tokens(ids)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], dim=1)
            if pad_mask is not None:  # [CLS] is never padding
                pad_mask = torch.cat([pad_mask.new_zeros(pad_mask.shape[0], 1), pad_mask], dim=1)
        return self._run(x, pad_mask)


class TransformerDecoder(_Transformer):
    """GPT: causal self-attention, pre-LN, GELU MLP, final LayerNorm, GPT-2 init."""

    causal = True

    def forward(
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None
    ) -> BackboneOutput:
        return self._run(self.tokens(ids), pad_mask)


# -- factories (declared in core.models.catalog) ------------------------------------------------

def _resolve(declared: tuple[Param, ...], params: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled, values checked: the factory may be called with a partial dict."""
    p = validate_params(declared, {k: v for k, v in params.items() if k != "name"}, "model")
    if problem := check_heads(p):
        raise ConfigError("model", p, problem, reason="invalid combination")
    return p


def build_encoder(params: dict[str, Any], *, vocab_size: int, pad_id: int, max_len: int) -> Backbone:
    p = _resolve(ENCODER_PARAMS, params)
    return TransformerEncoder(
        vocab_size=vocab_size, pad_id=pad_id, max_len=max_len, d_model=p["d_model"],
        n_layers=p["n_layers"], n_heads=p["n_heads"], d_ff=p["d_ff"], dropout=p["dropout"],
        positions=p["positions"], bias=True, norm_first=p["norm_first"], pooling=p["pooling"],
    )


def build_decoder(params: dict[str, Any], *, vocab_size: int, pad_id: int, max_len: int) -> Backbone:
    p = _resolve(DECODER_PARAMS, params)
    return TransformerDecoder(
        vocab_size=vocab_size, pad_id=pad_id, max_len=max_len, d_model=p["d_model"],
        n_layers=p["n_layers"], n_heads=p["n_heads"], d_ff=p["d_ff"], dropout=p["dropout"],
        positions=p["positions"], bias=p["bias"], norm_first=True, pooling=p["pooling"],
    )
