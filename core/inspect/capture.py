"""Attention, captured from the trained model itself: tokens and weights for any model + input.

:func:`capture_attention` runs the very modules that trained and reads their weights at the
attention hook points (``run_with_cache``: with a hook there, attention takes its explicit
softmax path, same masks, same weights) and returns every attention the model has (see
:mod:`core.inspect.maps`). Inputs run as one padded batch and every row is cropped to its
real length, so padding never reaches a view; inputs longer than the model (or ``max_tokens``)
are truncated and a note says so.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from core.decoding.seq2seq import greedy_translate
from core.inspect.activations import pattern_points, run_with_cache
from core.inspect.maps import (
    CLS_TOKEN,
    DEFAULT_MAX_TOKENS,
    KINDS,
    AttentionCapture,
    AttentionMaps,
    ModelSource,
    NoAttentionError,
    display_token,
)


# -- capture -----------------------------------------------------------------------------------
# -- capture -----------------------------------------------------------------------------------
def capture_attention(
    source: ModelSource, text: str, target: str | None = None, *, max_tokens: int = DEFAULT_MAX_TOKENS,
) -> AttentionCapture:
    """Tokens and attention weights of ``text`` (and, for translation, ``target``).

    ``source`` is a run loaded with ``core.runs.load_trained`` (any checkpoint of it) or a live
    ``Trainer``. For an encoder-decoder with no ``target``, the model's own greedy translation
    is used as the decoder input. Raises :class:`NoAttentionError` for models without attention.
    """
    targets = None if target is None else [target]
    return capture_batch(source, [text], targets, max_tokens=max_tokens)[0]


def may_have_attention(model: nn.Module) -> bool:
    """False when the model surely has no attention to show (an LSTM, Word2Vec, a TextCNN): no
    hook point reads attention weights, and it is no encoder-decoder (whose RNN attention, if
    any, shows only in a forward). Cheap: no forward pass."""
    return bool(pattern_points(model)) or _is_seq2seq(model)


def capture_batch(
    source: ModelSource, texts: Sequence[str], targets: Sequence[str] | None = None, *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> list[AttentionCapture]:
    """:func:`capture_attention` for several inputs in one padded forward pass."""
    model, task = source.model, source.task
    if not texts:
        return []
    if not may_have_attention(model):  # e.g. Word2Vec, an LSTM
        raise NoAttentionError(f"{_arch_name(model)} has no attention layers to show")
    with torch.no_grad(), _eval_mode(model):
        if _is_seq2seq(model):
            return _capture_seq2seq(model, task, list(texts), targets, max_tokens)
        return _capture_single_stack(model, task, list(texts), max_tokens)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout on the weights we show), restored afterwards (training hook)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _forward_params(model: nn.Module) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


def _kind(name: str) -> str:
    """Which attention a seq2seq pattern point belongs to, from its module name:
    ``encoder.blocks.i.attn`` / ``attention.encoder.i`` (Hugging Face), ``decoder.blocks.i.cross``
    / ``attention.cross.i``, ``decoder.blocks.i.attn`` / ``attention.decoder.i``; the RNN's one
    ``attention`` is decoder states over the source: cross."""
    parts = name.split(".")
    if "encoder" in parts:
        return "encoder"
    if "cross" in parts:
        return "cross"
    return "decoder" if "attn" in parts or "decoder" in parts else "cross"


def _run_capturing(model: nn.Module, **inputs: Any) -> tuple[Any, dict[str, list[torch.Tensor]]]:
    """The model's output and its attention weights per layer, by kind, read at its pattern
    hook points."""
    names = pattern_points(model)
    out, seen = run_with_cache(model, names=names, **inputs)
    by_kind: dict[str, list[torch.Tensor]] = {}
    for name in names:
        if seen[name]:  # a step-by-step decoder calls its attention once per query row
            by_kind.setdefault(_kind(name), []).append(torch.cat(seen[name], dim=-2))
    return out, by_kind


def _is_seq2seq(model: nn.Module) -> bool:
    # The seq2seq contract: forward(src_ids, src_pad_mask, tgt_ids).
    return "src_ids" in _forward_params(model)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def input_limit(task: Any) -> int | None:
    """The longest input the run's model takes (its task's max length or context)."""
    params = getattr(task, "params", {}) or {}
    for key in ("max_length", "max_source_length", "context_length"):
        if isinstance(params.get(key), int):
            return int(params[key])
    try:
        return int(task.max_len)
    except (AttributeError, NotImplementedError, TypeError):
        return None


def _truncate(ids: list[int], limit: int, what: str, notes: list[str]) -> list[int]:
    if len(ids) > limit:
        notes.append(f"{what} truncated: showing the first {limit} of {len(ids)} tokens.")
        return ids[:limit]
    return ids


def _pad(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and the padding mask (True at padding)."""
    width = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    lengths = torch.tensor([len(r) for r in rows])
    mask = torch.arange(width)[None, :] >= lengths[:, None]
    return ids.to(device), mask.to(device)


def _stack(layers: Sequence[torch.Tensor] | None, row: int, n_query: int, n_key: int) -> np.ndarray:
    """(L, H, Tq, Tk) float32 for one batch row, cropped to its real positions."""
    return np.stack([
        layer[row, :, :n_query, :n_key].float().cpu().numpy() for layer in layers or []
    ]).astype(np.float32, copy=False)


def _tokens(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    return [tokenizer.id_to_token(int(i)) for i in ids]


def _capture_single_stack(model: nn.Module, task: Any, texts: list[str], max_tokens: int) -> list[AttentionCapture]:
    tokenizer = task.tokenizer
    limit = min(max_tokens, input_limit(task) or max_tokens)
    notes: list[list[str]] = [[] for _ in texts]
    # A sentence-pair run reads "a [SEP] b" as its task encodes it (<bos> a <eos> b).
    encode = task.encode if (getattr(task, "state", None) or {}).get("text_pair") else None
    rows = [_truncate(encode([t])[0] if encode else tokenizer.encode(t), limit, "Input", n)
            for t, n in zip(texts, notes, strict=True)]
    rows = [r or [tokenizer.unk_id] for r in rows]  # an empty text still shows one position
    device = _device(model)
    ids, pad_mask = _pad(rows, tokenizer.pad_id, device)
    if "pad_mask" in _forward_params(model):
        logits, found = _run_capturing(model, ids=ids, pad_mask=pad_mask)
    else:
        # Causal language model: right padding sits after every real token, so no real query
        # ever sees it and no mask is needed.
        logits, found = _run_capturing(model, ids=ids)
    attentions = next(iter(found.values()), [])
    if not attentions:
        raise NoAttentionError(f"{_arch_name(model)} has no attention layers to show")
    backbone = getattr(model, "backbone", model)
    causal = bool(getattr(model, "causal", getattr(backbone, "causal", False)))  # HF models say it themselves
    extra = int(attentions[0].shape[-1]) - ids.shape[1]  # a prepended [CLS] adds one position
    out = []
    for b, row in enumerate(rows):
        tokens = [display_token(t) for t in _tokens(tokenizer, row)]
        if extra == 1:
            tokens = [CLS_TOKEN, *tokens]
        n = len(tokens)
        kind = "decoder" if causal else "encoder"
        maps = {kind: AttentionMaps(kind, _stack(attentions, b, n, n), tokens, tokens, causal)}
        out.append(AttentionCapture(
            maps, notes[b], *_prediction(task, logits, b, len(row)), text=texts[b],
        ))
    return out


def _prediction(task: Any, logits: torch.Tensor, row: int, length: int) -> tuple[str | None, str | None]:
    """What the model says about the input, and what that is: its class or its next token
    (nothing for a masked language model, whose outputs are guesses for masked positions, nor for
    a reader, whose (start, end) logits point into a context)."""
    if not isinstance(logits, torch.Tensor):
        return None, None
    if logits.dim() == 2:
        names = (getattr(task, "state", {}) or {}).get("label_names") or []
        k = int(logits[row].argmax())
        return (str(names[k]) if k < len(names) else str(k)), "class"
    if logits.dim() == 3 and getattr(task, "name", "") == "language_model":
        # Next-token logits (B, T, V): the prediction after the last real token.
        return display_token(task.tokenizer.id_to_token(int(logits[row, length - 1].argmax()))), "next token"
    return None, None


def _arch_name(model: nn.Module) -> str:
    backbone = getattr(model, "backbone", model)
    cell = getattr(backbone, "cell", None)  # the recurrent backbone names its cell
    return cell.upper() if isinstance(cell, str) else type(backbone).__name__


# -- encoder-decoder ---------------------------------------------------------------------------
def _capture_seq2seq(
    model: nn.Module, task: Any, texts: list[str], targets: Sequence[str] | None, max_tokens: int,
) -> list[AttentionCapture]:
    """Encoder-decoder: the translation task's conventions (sources end with <eos>; the decoder
    reads <bos> y1 .. yn), the target side in the target tokenizer's tokens."""
    src_tok = task.tokenizer
    tgt_tok = getattr(task, "target_tokenizer", src_tok)
    params = getattr(task, "params", {}) or {}
    src_limit = min(max_tokens, int(params.get("max_source_length") or max_tokens))
    tgt_limit = min(max_tokens, int(params.get("max_target_length") or max_tokens))
    notes: list[list[str]] = [[] for _ in texts]
    src_rows = [[*_truncate(src_tok.encode(t), src_limit, "Source", n), src_tok.eos_id]
                for t, n in zip(texts, notes, strict=True)]
    device = _device(model)
    src_ids, src_mask = _pad(src_rows, src_tok.pad_id, device)
    predictions: list[str | None] = [None] * len(texts)
    if targets is None:  # the model's own (greedy) translation is what the decoder reads
        tgt_rows = [r[:tgt_limit] for r in _translate_ids(model, task, tgt_tok, src_ids, src_mask, tgt_limit)]
        predictions = [_target_text(tgt_tok, r) for r in tgt_rows]
    else:
        tgt_rows = [_truncate(tgt_tok.encode(t), tgt_limit, "Target", n) for t, n in zip(targets, notes, strict=True)]
    # Teacher forcing: the decoder reads <bos> y1 .. yn and its rows produce y1 .. yn <eos>.
    dec_rows = [[tgt_tok.bos_id, *r] for r in tgt_rows]
    tgt_ids, _ = _pad(dec_rows, tgt_tok.pad_id, device)
    _, found = _run_capturing(model, src_ids=src_ids, src_pad_mask=src_mask, tgt_ids=tgt_ids)
    # An RNN's one attention is (B, T, S): a single head.
    found = {k: [w if w.dim() == 4 else w[:, None] for w in ws] for k, ws in found.items()}
    if not any(found.get(k) for k in KINDS):
        raise NoAttentionError(f"{_arch_name(model)} has no attention (model.attention = none)")
    eos = display_token(tgt_tok.id_to_token(tgt_tok.eos_id))
    out = []
    for b, (src, dec) in enumerate(zip(src_rows, dec_rows, strict=True)):
        src_tokens = [display_token(t) for t in _tokens(src_tok, src)]
        dec_tokens = [display_token(t) for t in _tokens(tgt_tok, dec)]
        axes = {"encoder": (src_tokens, src_tokens, False), "decoder": (dec_tokens, dec_tokens, True),
                "cross": (dec_tokens, src_tokens, False)}
        maps = {
            kind: AttentionMaps(kind, _stack(found[kind], b, len(q), len(k)), q, k, causal)
            for kind, (q, k, causal) in axes.items() if found.get(kind)
        }
        out.append(AttentionCapture(
            maps, notes[b], predictions[b], "translation" if predictions[b] is not None else None,
            output_tokens=[*dec_tokens[1:], eos], text=texts[b],
            target=None if targets is None else targets[b],
        ))
    return out


def _translate_ids(
    model: nn.Module, task: Any, tgt_tok: Any, src_ids: torch.Tensor, src_mask: torch.Tensor, limit: int,
) -> list[list[int]]:
    """Greedy output ids per source (no <bos> / <eos>), decoded the way the task decodes."""
    max_len = min(2 * src_ids.shape[1] + 10, limit + 1)
    if hasattr(task, "translate_ids"):
        return task.translate_ids(model, src_ids, src_mask, beam_size=1, max_len=max_len, length_penalty=1.0)

    return greedy_translate(model, src_ids, src_mask, bos_id=tgt_tok.bos_id, eos_id=tgt_tok.eos_id,
                            max_len=max_len, suppress=(tgt_tok.pad_id, tgt_tok.bos_id))


def _target_text(tokenizer: Any, ids: list[int]) -> str:
    text = tokenizer.decode(ids)
    if getattr(tokenizer, "kind", "") == "word":
        from core.tasks.translation import detokenize  # what the task's own translate() shows

        text = detokenize(text)
    return text

