"""Decoding a translation model: batched greedy decoding and beam search.

A translation model (core/models/seq2seq.py) encodes the source once, then ``decode_step`` gives
next-token logits for a prefix. Its encoder output and cache are dicts of batch-first tensors,
so dropping finished sentences and reordering beams is one ``index_select`` per tensor.

Length controls (``Limits``) act on the next-token logits of every step, for greedy and beam
search alike: <eos> is refused before ``min_len`` tokens, and a token that would repeat an
n-gram already in the output is refused (``no_repeat_ngram``, counted without <bos>).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, overload, runtime_checkable

import torch
from torch import nn

from core.decoding import settings as decoding
from core.models.base import evaluating

Tensors = dict[str, torch.Tensor]


@runtime_checkable
class Translator(Protocol):
    """What decoding needs of a model: the translation contract (core/models/seq2seq.py)."""

    def encode(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None) -> Tensors: ...
    def decode_step(self, encoded: Tensors, prefix: torch.Tensor,
                    state: Tensors | None) -> tuple[torch.Tensor, Tensors | None]: ...


def _translator(model: nn.Module) -> Translator:
    if not isinstance(model, Translator):
        raise TypeError(f"{type(model).__name__} is not a translation model (it has no encode / decode_step)")
    return model


@overload
def _rows(tensors: Tensors, index: torch.Tensor) -> Tensors: ...
@overload
def _rows(tensors: Tensors | None, index: torch.Tensor) -> Tensors | None: ...
def _rows(tensors: Tensors | None, index: torch.Tensor) -> Tensors | None:
    return None if tensors is None else {k: v.index_select(0, index) for k, v in tensors.items()}


@dataclass(frozen=True)
class Limits:
    """Length controls: no <eos> before ``min_len`` output tokens; no n-gram of
    ``no_repeat_ngram`` tokens twice (0: off)."""

    min_len: int = decoding.MIN_OUTPUT_TOKENS.default
    no_repeat_ngram: int = decoding.NO_REPEAT_NGRAM.default


def _repeat_bans(prefix: torch.Tensor, n: int) -> list[tuple[int, int]]:
    """(row, token) pairs whose token would complete an n-gram already in that row's output."""
    out = prefix[:, 1:].tolist()  # without <bos>
    bans = []
    for row, tokens in enumerate(out):
        if len(tokens) < n:
            continue
        last = tuple(tokens[len(tokens) - n + 1:]) if n > 1 else ()
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i:i + n - 1]) == last:
                bans.append((row, tokens[i + n - 1]))
    return bans


def _step(
    model: Translator, encoded: dict[str, torch.Tensor], prefix: torch.Tensor,
    state: dict[str, torch.Tensor] | None, suppress: Sequence[int], eos_id: int = -1,
    limits: Limits = Limits(),
) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
    logits, state = model.decode_step(encoded, prefix, state)
    if suppress:
        logits = logits.float().index_fill(1, torch.tensor(list(suppress), device=logits.device), float("-inf"))
    if limits.min_len and prefix.shape[1] - 1 < limits.min_len and eos_id >= 0:
        logits = logits.float().index_fill(1, torch.tensor([eos_id], device=logits.device), float("-inf"))
    if limits.no_repeat_ngram:
        bans = _repeat_bans(prefix, limits.no_repeat_ngram)
        if bans:
            logits = logits.float().clone()
            rows, tokens = zip(*bans, strict=True)
            logits[list(rows), list(tokens)] = float("-inf")
    return logits, state


def _check_translate_args(src_ids: torch.Tensor, max_len: int) -> None:
    if src_ids.dim() != 2 or src_ids.shape[1] == 0:
        raise ValueError(f"src_ids must be (batch, time) with time >= 1, got {tuple(src_ids.shape)}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")


@torch.no_grad()
def greedy_translate(
    model: nn.Module, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None, *, bos_id: int,
    eos_id: int, max_len: int, suppress: Sequence[int] = (), limits: Limits = Limits(),
) -> list[list[int]]:
    """The most likely next token at every step, for a batch of sources.

    Returns one token list per source, without <bos> / <eos>; at most ``max_len`` tokens are
    generated (<eos> included). Token ids in ``suppress`` are never generated (e.g. <pad> and
    <bos>, which no target contains); ``limits`` are the length controls. Finished sentences leave the batch, so a long one never
    makes the others compute.
    """
    _check_translate_args(src_ids, max_len)
    with evaluating(model):
        out: list[list[int]] = [[] for _ in range(src_ids.shape[0])]
        translator = _translator(model)
        encoded = translator.encode(src_ids, src_pad_mask)
        alive = torch.arange(src_ids.shape[0], device=src_ids.device)  # original row of each row
        prefix = torch.full((src_ids.shape[0], 1), bos_id, dtype=torch.long, device=src_ids.device)
        state = None
        for _ in range(max_len):
            logits, state = _step(translator, encoded, prefix, state, suppress, eos_id, limits)
            token = logits.argmax(dim=-1)
            prefix = torch.cat([prefix, token[:, None]], dim=1)
            done = token == eos_id
            if bool(done.any()):
                for row in done.nonzero().flatten().tolist():
                    out[int(alive[row])] = prefix[row, 1:-1].tolist()
                keep = (~done).nonzero().flatten()
                alive, prefix = alive[keep], prefix[keep]
                encoded, state = _rows(encoded, keep), _rows(state, keep)
                if len(alive) == 0:
                    break
        for row, original in enumerate(alive.tolist()):  # ran out of length without <eos>
            out[original] = prefix[row, 1:].tolist()
    return out


@torch.no_grad()
def beam_search(
    model: nn.Module, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None, *, beam_size: int,
    bos_id: int, eos_id: int, max_len: int, length_penalty: float = decoding.LENGTH_PENALTY.default, suppress: Sequence[int] = (),
    limits: Limits = Limits(),
) -> list[list[int]]:
    """Beam search for a batch of sources; returns the best token list per source (no <bos>/<eos>).

    Each step extends every live beam by every token and keeps the ``beam_size`` best non-<eos>
    continuations per sentence (of the top ``2 * beam_size``, so enough survive); an <eos> among
    the top ``beam_size`` completes a hypothesis. A sentence is done once it has ``beam_size``
    complete hypotheses (then it leaves the batch) or at ``max_len`` tokens. Hypotheses are
    ranked by ``log p / length ** length_penalty`` (length counts <eos>; 0 = raw log-probability,
    1 = per-token average); ``suppress`` and ``limits`` as in :func:`greedy_translate`. With ``beam_size=1``
    this is exactly greedy decoding.
    """
    _check_translate_args(src_ids, max_len)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    with evaluating(model):
        device, n_src, k = src_ids.device, src_ids.shape[0], beam_size
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n_src)]
        translator = _translator(model)
        encoded = _rows(translator.encode(src_ids, src_pad_mask), torch.arange(n_src, device=device).repeat_interleave(k))
        alive = torch.arange(n_src, device=device)  # the source of each group of k rows
        prefix = torch.full((n_src * k, 1), bos_id, dtype=torch.long, device=device)
        # All beams start equal: only the first is live, or the k would fill with copies.
        scores = torch.full((n_src, k), float("-inf"), device=device)
        scores[:, 0] = 0.0
        state = None
        for step in range(1, max_len + 1):
            logits, state = _step(translator, encoded, prefix, state, suppress, eos_id, limits)
            logp = torch.log_softmax(logits.float(), dim=-1)
            vocab = logp.shape[-1]
            cand = (scores.reshape(-1, 1) + logp).view(len(alive), k * vocab)
            top, flat = cand.topk(min(2 * k, k * vocab), dim=1)
            beam, token = flat // vocab, flat % vocab
            is_eos = token == eos_id
            for i, j in (is_eos[:, :k] & torch.isfinite(top[:, :k])).nonzero().tolist():
                sent = int(alive[i])
                if len(finished[sent]) < k:
                    tokens = prefix[i * k + int(beam[i, j]), 1:].tolist()
                    finished[sent].append((float(top[i, j]) / step**length_penalty, tokens))
            # Stable sort on the <eos> flag: the best non-<eos> candidates, in score order.
            pick = torch.sort(is_eos.to(torch.int8), dim=1, stable=True).indices[:, :k]
            scores, beam, token = top.gather(1, pick), beam.gather(1, pick), token.gather(1, pick)
            rows = (torch.arange(len(alive), device=device)[:, None] * k + beam).flatten()
            prefix = torch.cat([prefix[rows], token.reshape(-1, 1)], dim=1)
            state = _rows(state, rows)  # ``encoded`` needs no reorder: a sentence's k rows are equal
            done = torch.tensor([len(finished[int(s)]) >= k for s in alive.tolist()], device=device)
            if step == max_len:
                break
            if bool(done.any()):
                keep = (~done).nonzero().flatten()
                rows = (keep[:, None] * k + torch.arange(k, device=device)).flatten()
                alive, scores, prefix = alive[keep], scores[keep], prefix[rows]
                encoded, state = _rows(encoded, rows), _rows(state, rows)
                if len(alive) == 0:
                    break
        for i, sent in enumerate(alive.tolist()):  # out of length: live beams compete as they are
            for j in range(k):
                if torch.isfinite(scores[i, j]) and len(finished[sent]) < k:
                    finished[sent].append((float(scores[i, j]) / max_len**length_penalty, prefix[i * k + j, 1:].tolist()))
        return [max(hyps, key=lambda h: h[0])[1] if hyps else [] for hyps in finished]
