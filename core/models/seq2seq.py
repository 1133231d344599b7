"""Encoder-decoder models for translation: an RNN with attention and a Transformer.

Both keep one contract, which training, greedy / beam decoding and the attention views share:

``forward(src_ids, src_pad_mask, tgt_ids)``
    Teacher forcing. ``tgt_ids`` (B, T) are the decoder's inputs (``<bos> y1 .. y_n``); returns
    logits (B, T, V_tgt) where position t predicts the token after ``tgt_ids[:, t]``. The
    attention weights pass hook points (``core.models.hooks``): the Transformer's
    ``encoder.blocks.i.attn.hook_pattern`` (B,H,S,S), ``decoder.blocks.i.attn.hook_pattern``
    (B,H,T,T) and ``decoder.blocks.i.cross.hook_pattern`` (B,H,T,S); the RNN's
    ``attention.hook_pattern`` (B,T,S), once per step when it decodes step by step.
``encode(src_ids, src_pad_mask) -> Encoded``
    The encoder's work, done once per sentence: a dict of batch-first tensors.
``decode_step(encoded, prefix, state) -> (logits (N, V_tgt), state)``
    Next-token logits for decoder inputs ``prefix`` (N, t). ``state`` is the model's own cache
    (None at the first step): a dict of batch-first tensors, so decoding can pick, repeat and
    reorder rows (beams) of ``encoded`` and ``state`` with one ``index_select``.

``src_pad_mask`` is True at padding, as everywhere in the engine. Translation architectures are
registered in MODELS with ``tasks=("translation",)`` and a factory taking
``(params, *, src_vocab_size, tgt_vocab_size, src_pad_id, tgt_pad_id, max_len)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import torch
from torch import nn

from core.models.catalog import ATTENTION_KINDS, SEQ2SEQ_RNN_PARAMS, TRANSFORMER_SEQ2SEQ_PARAMS
from core.models.embeddings import TokenEmbedding
from core.models.hooks import HookPoint
from core.models.multihead import MultiHeadAttention
from core.models.rnn import CELLS, RecurrentBackbone
from core.models.transformer import Block, TransformerEncoder, _resolve, _Transformer
from core.params import validate_params

Encoded = dict[str, torch.Tensor]
State = dict[str, torch.Tensor] | None


class Seq2SeqModel(nn.Module):
    """Base of translation models; see the module docstring for the contract."""

    def encode(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None) -> Encoded:  # pragma: no cover
        raise NotImplementedError

    def decode_step(self, encoded: Encoded, prefix: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:  # pragma: no cover
        raise NotImplementedError


# -- RNN encoder-decoder ---------------------------------------------------------------------------



class _Attention(nn.Module):
    """Scores decoder queries against encoder keys; softmax over the source; weighted memory.

    The weights pass through ``hook_pattern`` (B, T, S): a step-by-step decoder passes one query
    row per step."""

    def __init__(self) -> None:
        super().__init__()
        self.hook_pattern = HookPoint()

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """What ``score`` compares queries with; computed once per sentence, not per step."""
        return memory

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, pad_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """query (B, T, H), keys / memory (B, S, H) -> context (B, T, H); weights (B, T, S) at
        ``hook_pattern``."""
        scores = self.score(query, keys)
        if pad_mask is not None:
            # Every source keeps >= 1 real token (the task appends <eos>), so no row is all -inf.
            scores = scores.masked_fill(pad_mask[:, None, :], float("-inf"))
        return self.hook_pattern(scores.softmax(dim=-1)) @ memory


class AdditiveAttention(_Attention):
    """Bahdanau et al. (2015): ``v . tanh(W_q q + W_k h)``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.query = nn.Linear(size, size, bias=False)
        self.key = nn.Linear(size, size)
        self.v = nn.Linear(size, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.v(torch.tanh(self.query(query)[:, :, None] + keys[:, None])).squeeze(-1)


class DotAttention(_Attention):
    """Luong et al. (2015): ``q . h`` (dot) or ``q . W h`` (general)."""

    def __init__(self, size: int, general: bool) -> None:
        super().__init__()
        self.key = nn.Linear(size, size, bias=False) if general else nn.Identity()

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.key(memory)

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return query @ keys.transpose(1, 2)


def build_attention(kind: str, size: int) -> _Attention | None:
    if kind == "bahdanau":
        return AdditiveAttention(size)
    if kind in ("luong_dot", "luong_general"):
        return DotAttention(size, general=kind == "luong_general")
    if kind == "none":
        return None
    raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {kind!r}")


class RNNSeq2Seq(Seq2SeqModel):
    """(Bi)RNN / LSTM / GRU encoder -> attention -> RNN decoder.

    * The encoder is the engine's ``RecurrentBackbone`` (packed, so padding never enters a state).
      A bidirectional encoder's states are projected to ``hidden_size`` so every score is defined.
    * The decoder starts from ``tanh(W [final encoder state])`` in every layer (LSTM cells at 0).
    * ``bahdanau``: attention reads the previous decoder state and its context is fed into the
      RNN with the input token, so decoding runs step by step. ``luong_*``: the RNN runs first
      and its new state attends (one batched pass over the whole target in training).
      With attention, the output is Luong's ``tanh(W_c [s_t; c_t])`` -> linear -> logits.
    """

    def __init__(
        self, *, cell: str, attention: str, src_vocab_size: int, tgt_vocab_size: int, src_pad_id: int,
        tgt_pad_id: int, embed_dim: int, hidden_size: int, n_layers: int, bidirectional: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.cell, self.n_layers = cell, n_layers
        self.encoder = RecurrentBackbone(
            cell, vocab_size=src_vocab_size, pad_id=src_pad_id, embed_dim=embed_dim,
            hidden_size=hidden_size, n_layers=n_layers, bidirectional=bidirectional,
            dropout=dropout, pooling="last",
        )
        enc_size = self.encoder.hidden_size
        self.memory_proj: nn.Module = nn.Linear(enc_size, hidden_size) if enc_size != hidden_size else nn.Identity()
        self.bridge = nn.Linear(enc_size, hidden_size)
        self.tgt_tokens = TokenEmbedding(tgt_vocab_size, embed_dim, tgt_pad_id)
        self.drop = nn.Dropout(dropout)
        self.input_feed = attention == "bahdanau"
        self.decoder = CELLS[cell](
            embed_dim + (hidden_size if self.input_feed else 0), hidden_size, num_layers=n_layers,
            batch_first=True, dropout=dropout if n_layers > 1 else 0.0,
        )
        self.attention = build_attention(attention, hidden_size)
        self.combine = nn.Linear(2 * hidden_size, hidden_size) if self.attention is not None else None
        self.out = nn.Linear(hidden_size, tgt_vocab_size)

    # -- state: nn.RNN* keeps (layers, B, H); the contract wants batch first ---------------------
    def _to_rnn(self, state: dict[str, torch.Tensor]) -> Any:
        h = state["h"].transpose(0, 1).contiguous()
        return (h, state["c"].transpose(0, 1).contiguous()) if self.cell == "lstm" else h

    def _from_rnn(self, hidden: Any) -> dict[str, torch.Tensor]:
        if self.cell == "lstm":
            return {"h": hidden[0].transpose(0, 1), "c": hidden[1].transpose(0, 1)}
        return {"h": hidden.transpose(0, 1)}

    def encode(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None) -> Encoded:
        out = self.encoder(src_ids, pad_mask=src_pad_mask)
        memory = self.memory_proj(out.hidden)
        h0 = torch.tanh(self.bridge(out.pooled))[:, None].expand(-1, self.n_layers, -1).contiguous()
        encoded = {"memory": memory, "h": h0}
        if self.attention is not None:
            encoded["keys"] = self.attention.keys(memory)
        if src_pad_mask is not None:
            encoded["pad_mask"] = src_pad_mask
        if self.cell == "lstm":
            encoded["c"] = torch.zeros_like(h0)
        return encoded

    def _decode(
        self, tgt_ids: torch.Tensor, encoded: Encoded, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Decoder inputs (B, T) -> logits (B, T, V), new state."""
        emb = self.drop(self.tgt_tokens(tgt_ids))
        hidden = self._to_rnn(state)
        mask = encoded.get("pad_mask")
        if self.attention is None or self.combine is None:  # no attention (``combine`` comes with it)
            out, hidden = self.decoder(emb, hidden)
        elif self.input_feed:
            outs = []
            for t in range(emb.shape[1]):
                top = (hidden[0] if self.cell == "lstm" else hidden)[-1][:, None]  # s_{t-1}, (B, 1, H)
                context = self.attention(top, encoded["keys"], encoded["memory"], mask)
                o, hidden = self.decoder(torch.cat([emb[:, t : t + 1], context], dim=-1), hidden)
                outs.append(torch.cat([o, context], dim=-1))
            out = torch.tanh(self.combine(torch.cat(outs, dim=1)))
        else:
            o, hidden = self.decoder(emb, hidden)
            context = self.attention(o, encoded["keys"], encoded["memory"], mask)
            out = torch.tanh(self.combine(torch.cat([o, context], dim=-1)))
        return self.out(self.drop(out)), self._from_rnn(hidden)

    def _initial(self, encoded: Encoded) -> dict[str, torch.Tensor]:
        return {k: encoded[k] for k in (("h", "c") if self.cell == "lstm" else ("h",))}

    def forward(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None, tgt_ids: torch.Tensor) -> torch.Tensor:
        encoded = self.encode(src_ids, src_pad_mask)
        return self._decode(tgt_ids, encoded, self._initial(encoded))[0]

    def decode_step(self, encoded: Encoded, prefix: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        # The recurrent state carries the whole prefix: only its last token is new.
        logits, new_state = self._decode(prefix[:, -1:], encoded, state or self._initial(encoded))
        return logits[:, -1], new_state


# -- Transformer encoder-decoder --------------------------------------------------------------------

class CrossAttentionBlock(Block):
    """Decoder block (pre-LN): causal self-attention, cross-attention over the encoder, MLP.

    Its hook points are the Block's plus ``hook_cross_out`` (the cross-attention branch) and
    ``cross.hook_pattern``; ``hook_resid_mid`` is the stream after self-attention."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float, bias: bool = True,
        norm_first: bool = True,
    ) -> None:
        if not norm_first:
            raise ValueError("the seq2seq decoder block is pre-LN only")
        super().__init__(d_model, n_heads, d_ff, dropout, bias=bias, norm_first=True)
        self.ln_cross = nn.LayerNorm(d_model, bias=bias)
        self.cross = MultiHeadAttention(d_model, n_heads, dropout, bias=bias)
        self.hook_cross_out = HookPoint()

    # Called with the encoder's memory, never in a Block's place: the signature differs on purpose.
    def forward(  # type: ignore[override]
        self, x: torch.Tensor, memory: torch.Tensor, memory_pad_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        # Target padding sits at the end, so the causal mask alone keeps real tokens from it.
        a = self.attn(self.ln1(x), causal=True)
        return self.hook_resid_post(self._cross_and_mlp(x + self.hook_attn_out(a), memory, memory_pad_mask))

    def step(
        self, x: torch.Tensor, past: torch.Tensor | None, memory: torch.Tensor,
        memory_pad_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One new position ``x`` (N, 1, D) given ``past`` (N, t, D), the normalised inputs of the
        earlier positions; returns its output and the past extended by it (the decoding cache)."""
        x = self.hook_resid_pre(x)
        h = self.ln1(x)
        past = h if past is None else torch.cat([past, h], dim=1)
        # The new position attending over itself and the past *is* causal self-attention there:
        # MultiHeadAttention's kv path projects with the same Q / K / V weights.
        a = self.attn(h, kv=past)
        return self.hook_resid_post(self._cross_and_mlp(x + self.hook_attn_out(a), memory, memory_pad_mask)), past

    def _cross_and_mlp(
        self, x: torch.Tensor, memory: torch.Tensor, memory_pad_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        x = self.hook_resid_mid(x)
        c = self.cross(self.ln_cross(x), kv=memory, key_padding_mask=memory_pad_mask)
        x = x + self.hook_cross_out(c)
        return x + self.hook_mlp_out(self.mlp(self.ln2(x)))


class CrossAttentionDecoder(_Transformer):
    """Token + position embeddings, ``CrossAttentionBlock``s, final LayerNorm."""

    causal = True

    # Reads the encoder's memory: used by TransformerSeq2Seq, never in a Backbone's place.
    def forward(  # type: ignore[override]
        self, ids: torch.Tensor, memory: torch.Tensor, memory_pad_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        x = self._embed(ids)
        for block in self.blocks:
            x = block(x, memory, memory_pad_mask)
        return self.ln_f(x)

    def _embed(self, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        x = self.tokens(ids) * self.embed_scale
        if offset:
            # PositionalEncoding adds rows 0..T-1 of its table; a zero front reaches rows offset...
            x = self.positions(torch.cat([x.new_zeros(x.shape[0], offset, x.shape[2]), x], dim=1))[:, offset:]
        else:
            x = self.positions(x)
        return self.drop(x)

    def step(
        self, ids: torch.Tensor, past: dict[str, torch.Tensor] | None, memory: torch.Tensor,
        memory_pad_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Incremental decoding: one new token per row (N, 1) -> hidden (N, 1, D), updated cache."""
        offset = 0 if past is None else past["layer0"].shape[1]
        x = self._embed(ids, offset)
        cache: dict[str, torch.Tensor] = {}
        blocks = cast(Iterable[CrossAttentionBlock], self.blocks)  # built with block=CrossAttentionBlock
        for i, block in enumerate(blocks):
            x, cache[f"layer{i}"] = block.step(x, None if past is None else past[f"layer{i}"], memory, memory_pad_mask)
        return self.ln_f(x), cache


class TransformerSeq2Seq(Seq2SeqModel):
    """"Attention Is All You Need", pre-LN: the engine's TransformerEncoder + a cross-attention
    decoder. ``decode_step`` is incremental: its state caches each layer's normalised inputs, so
    a step runs the decoder for the newest token only."""

    def __init__(
        self, *, src_vocab_size: int, tgt_vocab_size: int, src_pad_id: int, tgt_pad_id: int,
        max_len: int, d_model: int, n_heads: int, encoder_layers: int, decoder_layers: int,
        d_ff: int, dropout: float, positions: str, tie_weights: bool,
    ) -> None:
        super().__init__()
        shared: dict[str, Any] = dict(
            max_len=max_len, d_model=d_model, n_heads=n_heads, d_ff=d_ff, dropout=dropout,
            positions=positions, bias=True, norm_first=True, pooling="mean",
        )
        self.encoder = TransformerEncoder(vocab_size=src_vocab_size, pad_id=src_pad_id, n_layers=encoder_layers, **shared)
        self.decoder = CrossAttentionDecoder(
            vocab_size=tgt_vocab_size, pad_id=tgt_pad_id, n_layers=decoder_layers,
            block=CrossAttentionBlock, **shared,
        )
        self.lm_head = nn.Linear(d_model, tgt_vocab_size, bias=False)
        self.out_scale = 1.0
        if tie_weights:
            self.lm_head.weight = self.decoder.token_embedding.weight
            # Tied rows are the input vectors (norm ~1 with sinusoidal positions), so a decoder
            # state would score its own input token ~sqrt(d) higher than the rest and training
            # stalls on "copy the input". Scaling by d^-0.5 first, as T5 does, removes that bias.
            self.out_scale = d_model**-0.5
        else:
            nn.init.normal_(self.lm_head.weight, std=0.02)

    def encode(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None) -> Encoded:
        encoded = {"memory": self.encoder(src_ids, pad_mask=src_pad_mask).hidden}
        if src_pad_mask is not None:
            encoded["pad_mask"] = src_pad_mask
        return encoded

    def forward(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None, tgt_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.decoder(tgt_ids, self.encoder(src_ids, pad_mask=src_pad_mask).hidden, src_pad_mask)
        return self.lm_head(hidden * self.out_scale)

    def decode_step(self, encoded: Encoded, prefix: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        # Feed the tokens the cache has not seen yet: all of the prefix at the first step.
        seen = 0 if state is None else state["layer0"].shape[1]
        for t in range(seen, prefix.shape[1]):
            hidden, state = self.decoder.step(prefix[:, t : t + 1], state, encoded["memory"], encoded.get("pad_mask"))
        return self.lm_head(hidden[:, -1] * self.out_scale), state


# -- factories (declared in core.models.catalog) -----------------------------------------------------

TRANSLATION_FACTORY_KEYWORDS = ("src_vocab_size", "tgt_vocab_size", "src_pad_id", "tgt_pad_id", "max_len")


def build_rnn_seq2seq(
    params: dict[str, Any], *, src_vocab_size: int, tgt_vocab_size: int, src_pad_id: int,
    tgt_pad_id: int, max_len: int,
) -> RNNSeq2Seq:
    # max_len is unused: recurrences have no position limit.
    p = validate_params(SEQ2SEQ_RNN_PARAMS, {k: v for k, v in params.items() if k != "name"}, "model")
    return RNNSeq2Seq(
        src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, src_pad_id=src_pad_id,
        tgt_pad_id=tgt_pad_id, **p,
    )


def build_transformer_seq2seq(
    params: dict[str, Any], *, src_vocab_size: int, tgt_vocab_size: int, src_pad_id: int,
    tgt_pad_id: int, max_len: int,
) -> TransformerSeq2Seq:
    p = _resolve(TRANSFORMER_SEQ2SEQ_PARAMS, params)
    return TransformerSeq2Seq(
        src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, src_pad_id=src_pad_id,
        tgt_pad_id=tgt_pad_id, max_len=max_len, **p,
    )
