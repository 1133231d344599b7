"""Turning next-token logits into text: greedy, temperature, top-k and nucleus (top-p) sampling,
and generation from a language model. The knobs are declared in :mod:`core.decoding.settings`."""

from __future__ import annotations

import torch
from torch import nn

from core.decoding import settings as decoding
from core.errors import TrainingDiverged
from core.models.base import evaluating


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = decoding.TEMPERATURE.default,
    top_k: int | None = decoding.TOP_K.default,
    top_p: float | None = decoding.TOP_P.default,
    generator: torch.Generator | None = None,
    greedy: bool = decoding.GREEDY.default,
) -> torch.Tensor:
    """Pick one token per row of ``logits`` (B, V) -> (B,).

    ``greedy`` or ``temperature == 0`` takes the argmax. Otherwise logits are divided by the
    temperature, cut to the ``top_k`` most likely tokens, then to the smallest set whose
    probability reaches ``top_p`` (the most likely token always survives), and sampled.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if not bool(torch.isfinite(logits).all()):
        bad = "nan" if bool(torch.isnan(logits).any()) else "inf"
        raise TrainingDiverged(f"the model's next-token scores hold {bad}: its weights have diverged, "
                               "so nothing can be sampled; train again with a lower optimizer.lr")
    if greedy or temperature == 0:
        return logits.argmax(dim=-1)
    probs = filtered_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


def filtered_logits(
    logits: torch.Tensor, temperature: float, top_k: int | None = None, top_p: float | None = None,
) -> torch.Tensor:
    """What sampling draws from: ``logits`` (B, V) divided by ``temperature`` (> 0), cut to the
    ``top_k`` most likely tokens, then to the smallest set whose probability reaches ``top_p``;
    the tokens cut hold -inf (the Learn page's decoding chapter shows these sets)."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens before it already reach top_p.
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    *,
    context_length: int,
    temperature: float = decoding.TEMPERATURE.default,
    top_k: int | None = decoding.TOP_K.default,
    top_p: float | None = decoding.TOP_P.default,
    greedy: bool = decoding.GREEDY.default,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend ``prompt_ids`` (B, T) by up to ``max_new_tokens``; returns prompt + new tokens.

    The model sees at most the last ``context_length`` tokens (what it was trained on) and must
    return logits (B, T, V). A row that emitted ``eos_id`` keeps emitting it; generation stops
    early once every row has. The model runs in eval mode; its training mode is restored after.
    """
    if prompt_ids.dim() != 2 or prompt_ids.shape[1] == 0:
        raise ValueError(f"prompt_ids must be (batch, time) with time >= 1, got {tuple(prompt_ids.shape)}")
    if context_length < 1:
        raise ValueError(f"context_length must be >= 1, got {context_length}")
    with evaluating(model):
        ids = prompt_ids
        finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in range(max_new_tokens):
            logits = model(ids[:, -context_length:])
            if isinstance(logits, tuple):  # (logits, attentions)
                logits = logits[0]
            token = sample_next_token(
                logits[:, -1, :], temperature, top_k, top_p, generator=generator, greedy=greedy
            )
            if eos_id is not None:
                token = token.masked_fill(finished, eos_id)
                finished |= token == eos_id
            ids = torch.cat([ids, token[:, None]], dim=1)
            if eos_id is not None and bool(finished.all()):
                break
    return ids
