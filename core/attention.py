"""Attention, captured from the trained model itself: tokens and weights for any model + input.

:func:`capture_attention` runs the very modules that trained (their ``return_attention=True``
path: explicit softmax, same masks, same weights) and returns every attention the model has:

* ``encoder``: bidirectional self-attention (Transformer encoder, Hugging Face encoders);
* ``decoder``: causal self-attention (GPT-style decoder, the decoder of an encoder-decoder);
* ``cross``: decoder queries over encoder states (Transformer seq2seq, RNN seq2seq attention).

Each is an :class:`AttentionMaps`: weights ``(layers, heads, queries, keys)`` plus the token
labels of both axes. Inputs run as one padded batch and every row is cropped to its real
length, so padding never reaches a view; inputs longer than the model (or ``max_tokens``) are
truncated and a note says so.

Also here, all without Streamlit: bertviz HTML that renders offline (:func:`bertviz_html`),
per-head summaries (:func:`head_summary`), JSON export, and the training-time snapshots of a
fixed probe input (:class:`SnapshotRecorder`) that the Evolution view replays.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import json
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from core.errors import WorkbenchError

DEFAULT_MAX_TOKENS = 64  # bertviz draws tokens^2 lines per head: beyond ~100 it gets sluggish
CLS_TOKEN = "[CLS]"
KINDS = ("encoder", "decoder", "cross")  # display order
KIND_TITLES = {"encoder": "Encoder self-attention", "decoder": "Decoder self-attention (causal)",
               "cross": "Cross-attention (target → source)"}

# Snapshots: on by default, but only for models this small (a snapshot per evaluation of a big
# model is disk and time nobody asked for); capped so one file stays ~200 KB.
SNAPSHOT_DIR = "attention"
SNAPSHOT_MAX_PARAMS = 20_000_000
SNAPSHOT_MAX_VALUES = 32_768
SNAPSHOT_MAX_TOKENS = 48
SNAPSHOT_DECIMALS = 4  # ~float16 precision; JSON stays compact
EXPORT_DECIMALS = 5


class NoAttentionError(WorkbenchError):
    """The model has no attention to show (RNN, LSTM, GRU, TextCNN without attention)."""


class ModelSource(Protocol):
    """Anything holding a trained model and its task: a ``TrainedRun`` or a ``Trainer``."""

    model: nn.Module
    task: Any  # core.tasks.base.Task (tokenizer, params, state)


@dataclass
class AttentionMaps:
    """One kind of attention of one input: ``weights[layer, head, query, key]``."""

    kind: str  # encoder | decoder | cross
    weights: np.ndarray  # float32 (L, H, Tq, Tk); each row sums to 1
    query_tokens: list[str]
    key_tokens: list[str]
    causal: bool = False

    @property
    def n_layers(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.weights.shape[1])

    def matrix(self, layer: int, head: int | None = None) -> np.ndarray:
        """(Tq, Tk) weights of one head, or the mean over heads when ``head`` is None."""
        w = self.weights[layer]
        return w.mean(axis=0) if head is None else w[head]


@dataclass
class AttentionCapture:
    """Everything one input shows: its attention maps, the model's output, and notes."""

    maps: dict[str, AttentionMaps]
    notes: list[str] = field(default_factory=list)  # e.g. "truncated to 64 of 210 tokens"
    prediction: str | None = None  # class, next token, or the translation
    prediction_kind: str | None = None  # "class" | "next token" | "translation"
    # Seq2seq: the token each decoder row produces (the row of <bos> produces the first word),
    # which is how an alignment matrix labels its rows.
    output_tokens: list[str] | None = None
    text: str = ""
    target: str | None = None

    @property
    def structure(self) -> str:
        """encoder-decoder | encoder | decoder."""
        if "cross" in self.maps:
            return "encoder-decoder"
        return "decoder" if "decoder" in self.maps else "encoder"

    @property
    def self_kind(self) -> str | None:
        """The self-attention of a single-stack model (None for encoder-decoder)."""
        return None if self.structure == "encoder-decoder" else next(iter(self.maps))


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


def capture_batch(
    source: ModelSource, texts: Sequence[str], targets: Sequence[str] | None = None, *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> list[AttentionCapture]:
    """:func:`capture_attention` for several inputs in one padded forward pass."""
    model, task = source.model, source.task
    if not texts:
        return []
    if "return_attention" not in _forward_params(model):  # e.g. Word2Vec / GloVe
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


def _is_seq2seq(model: nn.Module) -> bool:
    # The seq2seq contract: forward(src_ids, src_pad_mask, tgt_ids, return_attention=True).
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
    rows = [_truncate(tokenizer.encode(t), limit, "Input", n) for t, n in zip(texts, notes, strict=True)]
    rows = [r or [tokenizer.unk_id] for r in rows]  # an empty text still shows one position
    device = _device(model)
    ids, pad_mask = _pad(rows, tokenizer.pad_id, device)
    if "pad_mask" in _forward_params(model):
        logits, attentions = model(ids=ids, pad_mask=pad_mask, return_attention=True)
    else:
        # Causal language model: right padding sits after every real token, so no real query
        # ever sees it and no mask is needed.
        logits, attentions = model(ids=ids, return_attention=True)
    if not attentions:
        raise NoAttentionError(f"{_arch_name(model)} has no attention layers to show")
    backbone = getattr(model, "backbone", model)
    causal = bool(getattr(backbone, "causal", False))
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
    (nothing for a masked language model, whose outputs are guesses for masked positions)."""
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
    _, found = model(src_ids=src_ids, src_pad_mask=src_mask, tgt_ids=tgt_ids, return_attention=True)
    found = found or {}
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
    from core.decoding.seq2seq import greedy_translate

    return greedy_translate(model, src_ids, src_mask, bos_id=tgt_tok.bos_id, eos_id=tgt_tok.eos_id,
                            max_len=max_len, suppress=(tgt_tok.pad_id, tgt_tok.bos_id))


def _target_text(tokenizer: Any, ids: list[int]) -> str:
    text = tokenizer.decode(ids)
    if getattr(tokenizer, "kind", "") == "word":
        from core.tasks.translation import detokenize  # what the task's own translate() shows

        text = detokenize(text)
    return text


# -- labels ------------------------------------------------------------------------------------
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "Ġ": "␣", "Ċ": "↵", "▁": "␣"})


def display_token(token: str) -> str:
    """A token as a label: whitespace made visible (char models), BPE markers shown as ␣."""
    return token.translate(_VISIBLE) if token else "∅"


# -- per-head summaries ------------------------------------------------------------------------
@dataclass
class HeadSummary:
    """Per (layer, head) statistics averaged over query rows; arrays are (layers, heads)."""

    entropy: np.ndarray  # bits
    normalized_entropy: np.ndarray  # entropy / log(keys the row may see): 1 = uniform
    distance: np.ndarray  # mean |query - key| weighted by attention (self-attention only)
    previous: np.ndarray  # mean weight on the previous token
    first: np.ndarray  # mean weight on the first token (e.g. [CLS] / <bos>)
    self_weight: np.ndarray  # mean weight on the token itself
    pattern: list[list[str]]  # "previous token" | "first token" | "self" | "broad" | "mixed"

    METRICS = {
        "entropy": "Entropy (bits)", "normalized_entropy": "Entropy / max", "distance": "Mean distance",
        "previous": "Weight on previous token", "first": "Weight on first token", "self_weight": "Weight on itself",
    }


PATTERN_SHARE = 0.5  # a head putting over half its weight on one relative position "is" that
BROAD_ENTROPY = 0.85  # normalized entropy above which a head "attends broadly"


def head_summary(maps: AttentionMaps) -> HeadSummary:
    """Entropy, mean attention distance and positional shares per head, plus a pattern label."""
    w = maps.weights.astype(np.float64)  # (L, H, Tq, Tk)
    tq, tk = w.shape[-2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0)
    ent = -plogp.sum(-1)  # nats, (L, H, Tq)
    allowed = (w > 0).sum(-1)  # masked keys have weight exactly 0
    wide = allowed > 1
    norm = np.where(wide, ent / np.log(np.maximum(allowed, 2)), np.nan)
    self_attn = maps.kind != "cross" and tq == tk
    rows = np.arange(tq)
    nan = np.full(w.shape[:2], np.nan)
    if self_attn:
        dist = np.abs(rows[:, None] - np.arange(tk)[None, :])
        distance = (w * dist).sum(-1).mean(-1)
        diag = w[..., rows, rows].mean(-1)
        prev = w[..., rows[1:], rows[1:] - 1].mean(-1) if tq > 1 else nan
    else:
        distance, diag, prev = nan, nan, nan
    # Rows after the first: row 0 of a causal map can only see token 0, which says nothing.
    first = w[..., 1:, 0].mean(-1) if tq > 1 else w[..., :, 0].mean(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (single-token input)
        norm_mean = np.nanmean(norm, axis=-1)
    summary = HeadSummary(
        entropy=ent.mean(-1) / math.log(2), normalized_entropy=norm_mean, distance=distance,
        previous=prev, first=first, self_weight=diag, pattern=[],
    )
    summary.pattern = [[_pattern(summary, layer, head) for head in range(w.shape[1])] for layer in range(w.shape[0])]
    return summary


def _pattern(s: HeadSummary, layer: int, head: int) -> str:
    shares = {"previous token": s.previous, "first token": s.first, "self": s.self_weight}
    name, value = max(((k, float(v[layer, head])) for k, v in shares.items()),
                      key=lambda kv: -1.0 if math.isnan(kv[1]) else kv[1])
    if not math.isnan(value) and value > PATTERN_SHARE:
        return name
    ne = float(s.normalized_entropy[layer, head])
    return "broad" if not math.isnan(ne) and ne > BROAD_ENTROPY else "mixed"


def alignment_argmax(maps: AttentionMaps, layer: int | None = None) -> np.ndarray:
    """For each query (target) row, the key (source) position with the most weight.

    ``layer`` None averages over layers and heads (the usual alignment read-out).
    """
    w = maps.weights.mean(axis=(0, 1)) if layer is None else maps.weights[layer].mean(axis=0)
    return w.argmax(axis=-1)


# -- JSON --------------------------------------------------------------------------------------
def _rounded(a: np.ndarray, decimals: int) -> list[Any]:
    # float64 after rounding: json writes the shortest repr (0.1234), not float32 noise.
    return np.round(a.astype(np.float64), decimals).tolist()


def capture_to_dict(capture: AttentionCapture, decimals: int = EXPORT_DECIMALS) -> dict[str, Any]:
    return {
        "format": "lmwb-attention", "version": 1, "structure": capture.structure,
        "text": capture.text, "target": capture.target, "prediction": capture.prediction,
        "prediction_kind": capture.prediction_kind,
        "output_tokens": capture.output_tokens, "notes": capture.notes,
        "maps": {
            kind: {
                "query_tokens": m.query_tokens, "key_tokens": m.key_tokens, "causal": m.causal,
                "shape": list(m.weights.shape), "weights": _rounded(m.weights, decimals),
            }
            for kind, m in capture.maps.items()
        },
    }


def capture_from_dict(doc: dict[str, Any]) -> AttentionCapture:
    maps = {
        kind: AttentionMaps(kind, np.asarray(m["weights"], dtype=np.float32).reshape(m["shape"]),
                            list(m["query_tokens"]), list(m["key_tokens"]), bool(m.get("causal")))
        for kind, m in doc["maps"].items()
    }
    return AttentionCapture(
        maps, list(doc.get("notes") or []), doc.get("prediction"), doc.get("prediction_kind"),
        doc.get("output_tokens"), doc.get("text") or "", doc.get("target"),
    )


def capture_to_json(capture: AttentionCapture, decimals: int = EXPORT_DECIMALS) -> str:
    """The tensors and their token labels as JSON (the Export download)."""
    return json.dumps(capture_to_dict(capture, decimals), ensure_ascii=False, separators=(",", ":"))


# -- bertviz, offline --------------------------------------------------------------------------
@dataclass(frozen=True)
class ScriptAsset:
    """A script bertviz loads from a CDN, and the installed package that ships a copy."""

    module: str  # the require.js module name bertviz asks for ("" for require.js itself)
    cdn: str
    package: str
    path: str  # inside the package folder
    global_name: str = ""  # what the script sets on window when loaded without AMD


# bertviz 1.4 pins require.js 2.3.6, d3 5.7.0 and jQuery 2.0.0 on cdnjs. pywebio ships
# require.js 2.3.6 and jQuery 3.4.1 (the API bertviz uses is unchanged); mpld3 ships d3 5.7.0.
REQUIRE_JS = ScriptAsset("", "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js",
                         "pywebio", "html/js/require.min.js")
AMD_ASSETS = (
    ScriptAsset("jquery", "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min",
                "pywebio", "html/js/jquery.min.js", "jQuery"),
    ScriptAsset("d3", "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min",
                "mpld3", "js/d3.v5.min.js", "d3"),
)
_REQUIRE_TAG = re.compile(r"<script\s+src=\"[^\"]*require(?:\.min)?\.js\"></script>")
_REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\s*\}\);", re.DOTALL)
_SCRIPT_SRC = re.compile(r"<script[^>]*\ssrc=[\"']([^\"']+)[\"']", re.IGNORECASE)
_PARAMS_COMMENT = "; // HACK: "
# bertviz's head view draws one SVG line per (head, query, key) with d3, about nine DOM calls
# each: 33k lines for 8 heads x 64 tokens, the bulk of the view's time. The lines of one
# (query, key) pair lie exactly on top of each other, one per head, each in the head's colour at
# opacity weight / heads shown; drawn in turn, without anti-aliasing, they make the pixel that
# one line of the composited colour and opacity makes ("over" is associative). So bertviz's
# ``renderAttention`` and ``updateAttention`` are swapped for a pair that draws that one line per
# pair (8x fewer elements, the same picture), leaves out lines under half an 8-bit alpha step
# (they change no pixel), builds the markup as one string, and keeps the groups and token-index
# attributes bertviz's hover selects by. A head toggle redraws. If a bertviz release changes
# these functions, the pattern misses and bertviz's own renderer stays.
MIN_VISIBLE_OPACITY = 0.5 / 255
_RENDER_ATTENTION = re.compile(
    r"function renderAttention\(svg, attention\) \{.*?\n    \}\n(?=\s*function boxOffsets)", re.DOTALL)
_FAST_RENDER_ATTENTION = """function renderAttention(svg, attention) {
        renderAttention.attention = attention;  // what a head toggle redraws
        const active = activeHeads(), x1 = BOXWIDTH, x2 = BOXWIDTH + MATRIX_WIDTH, parts = [];
        const colors = attention.map((_, h) => d3.rgb(headColors(h)));
        const rows = attention.length ? attention[0].length : 0;
        for (let i = 0; i < rows; i++) {
            const y1 = TEXT_TOP + i * BOXHEIGHT + BOXHEIGHT / 2;
            parts.push(`<g class="tokenAttention" left-token-index="${i}">`);
            for (let j = 0; j < attention[0][i].length; j++) {
                let r = 0, g = 0, b = 0, a = 0;  // premultiplied, heads composited in bertviz's order
                for (let h = 0; h < attention.length; h++) {
                    const alpha = config.headVis[h] ? attention[h][i][j] / active : 0;
                    if (!(alpha >= MIN_OPACITY)) continue;
                    const c = colors[h];
                    r = c.r * alpha + r * (1 - alpha);
                    g = c.g * alpha + g * (1 - alpha);
                    b = c.b * alpha + b * (1 - alpha);
                    a = alpha + a * (1 - alpha);
                }
                if (!(a >= MIN_OPACITY)) continue;
                const colour = `rgb(${Math.round(r / a)},${Math.round(g / a)},${Math.round(b / a)})`;
                parts.push(`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${TEXT_TOP + j * BOXHEIGHT + BOXHEIGHT / 2}" `
                    + `left-token-index="${i}" right-token-index="${j}" stroke="${colour}" stroke-opacity="${a.toFixed(4)}"></line>`);
            }
            parts.push("</g>");
        }
        const group = document.createElementNS("http://www.w3.org/2000/svg", "g");
        group.setAttribute("id", "attention");
        group.setAttribute("stroke-width", "2");
        group.innerHTML = parts.join("");
        const old = svg.select("#attention").node();
        if (old) old.replaceWith(group); else svg.node().appendChild(group);
    }

    function updateAttention(svg) {
        renderAttention(svg, renderAttention.attention);
    }
"""
# The model view's thumbnails keep bertviz's own drawing; there a row's trailing exact zeros (a
# causal or padded row's tail) are dropped from its data, which keeps every other line's index.
_ARC_DATA = re.compile(r'(\.selectAll\("line"\)\s*\.data\()(?:d => d|function \(d\) \{[^{}]*?return d;\s*\})\)')
_TRIM_JS = ("<script>function __lmwbTrim(row) { let n = row.length; "
            "while (n > 0 && row[n - 1] === 0) n--; return row.slice(0, n); }</script>")
# Rasterising 16k translucent anti-aliased lines costs ~130 ms per tile (~400 ms for the view,
# measured in headless Chromium); without anti-aliasing it is ~2.5x cheaper, and in a mesh of
# faint overlapping arcs the difference hardly shows. A layer of its own lets a change around the
# iframe (a chart appearing beside it) move that layer instead of repainting every line.
_LAYER_CSS = "<style>#vis { will-change: transform; } #attention line { shape-rendering: crispEdges; }</style>"
_PATH_URL = re.compile(r"require\.config\(\{\s*paths:\s*\{([^}]*)\}", re.DOTALL)


@functools.cache
def asset_file(asset: ScriptAsset) -> Path | None:
    """The installed copy of a script, or None when its package is missing."""
    try:
        # find_spec on a top-level name locates the package without importing it (mpld3 would
        # pull in matplotlib).
        spec = importlib.util.find_spec(asset.package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / asset.path
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _asset_text(asset: ScriptAsset) -> str | None:
    path = asset_file(asset)
    if path is None:
        return None
    # "</script" inside an inlined script would end the tag early.
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def offline_assets() -> dict[str, Path | None]:
    """Which bertviz scripts are served from installed packages (None: CDN fallback)."""
    return {a.module or "requirejs": asset_file(a) for a in (REQUIRE_JS, *AMD_ASSETS)}


def external_script_urls(html: str) -> list[str]:
    """Script URLs a page would fetch: ``<script src>`` and require.js ``paths``."""
    urls = [u for u in _SCRIPT_SRC.findall(html) if not u.startswith("data:")]
    for block in _PATH_URL.findall(html):
        urls += re.findall(r"['\"]((?:https?:)?//[^'\"]+)['\"]", block)
    return urls


def localize_bertviz(html: str, merge_heads: bool = True) -> str:
    """Make bertviz's HTML self-contained: inline require.js, d3 and jQuery from installed
    packages (an iframe's srcdoc has no server to ask), keeping a CDN URL only for a script
    whose package is missing.

    d3 and jQuery go in *before* require.js, so they set window globals instead of calling an
    anonymous ``define`` (which require.js rejects inline); named ``define``s then hand those
    globals to bertviz's ``requirejs(['jquery', 'd3'], ...)``. ``merge_heads`` swaps in the head
    view's composited lines (``_RENDER_ATTENTION``).
    """
    head: list[str] = []
    defines: list[str] = []
    missing: dict[str, str] = {}
    for asset in AMD_ASSETS:
        text = _asset_text(asset)
        if text is None:
            missing[asset.module] = asset.cdn
            continue
        head.append(f"<script>{text}</script>")
        defines.append(f"define('{asset.module}', [], function () {{ return window.{asset.global_name}; }});")
    require = _asset_text(REQUIRE_JS)
    head.append(f"<script>{require}</script>" if require else f'<script src="{REQUIRE_JS.cdn}"></script>')
    if defines:
        head.append("<script>" + "\n".join(defines) + "</script>")
    config = f"require.config({{paths: {json.dumps(missing)}}});" if missing else ""
    body = _REQUIRE_TAG.sub("", html, count=1)
    body = _REQUIRE_CONFIG.sub(lambda _: config, body, count=1)
    if merge_heads:
        fast = _FAST_RENDER_ATTENTION.replace("MIN_OPACITY", repr(MIN_VISIBLE_OPACITY))
        body = _RENDER_ATTENTION.sub(lambda _: fast, body, count=1)
    body = _ARC_DATA.sub(r"\1__lmwbTrim)", body)
    return "\n".join([*head, _TRIM_JS, _LAYER_CSS]) + _drop_params_comment(body)


def _drop_params_comment(body: str) -> str:
    """bertviz fills its ``PYTHON_PARAMS`` marker twice: in the code and in the comment after
    it, which doubles the page with a second copy of every weight. Cut the comment."""
    start = body.find(_PARAMS_COMMENT)
    end = body.find("\n", start)
    return body if start < 0 or end < 0 else body[: start + 1] + body[end:]


def bertviz_html(
    capture: AttentionCapture, view: str = "head", *, layer: int | None = None,
    heads: Sequence[int] | None = None, include_layers: Sequence[int] | None = None, decimals: int = 3,
    merge_heads: bool = True, kind: str | None = None,
) -> str:
    """bertviz's head or model view of a capture, as one self-contained HTML document.

    Single-stack models get bertviz's self-attention form (one token list); encoder-decoder
    models its encoder/decoder/cross form, with source tokens on the encoder side and decoder
    tokens on the other. Weights are rounded (``decimals``) to keep the page small;
    ``include_layers`` (head view) embeds only those layers, for long inputs; ``merge_heads``
    False keeps bertviz's own line per head (see ``_RENDER_ATTENTION``). ``kind`` (encoder-decoder
    models: encoder, decoder or cross) is the attention bertviz's own picker opens on.
    """
    if view not in ("head", "model"):
        raise ValueError(f"view must be 'head' or 'model', got {view!r}")
    from bertviz import head_view, model_view  # imports IPython: only when a view is asked for

    def tensors(kind: str) -> list[torch.Tensor] | None:
        m = capture.maps.get(kind)
        if m is None:
            return None
        # bertviz wants per-layer (1, H, Tq, Tk) torch tensors.
        return list(torch.from_numpy(np.round(m.weights.astype(np.float64), decimals)).unsqueeze(1))

    kwargs: dict[str, Any]
    single = capture.self_kind
    if single is not None:
        m = capture.maps[single]
        kwargs = {"attention": tensors(single), "tokens": m.query_tokens}
    else:
        cross = capture.maps.get("cross")
        enc = capture.maps.get("encoder")
        dec = capture.maps.get("decoder")
        kwargs = {
            "encoder_attention": tensors("encoder"), "decoder_attention": tensors("decoder"),
            "cross_attention": tensors("cross"),
            "encoder_tokens": (cross or enc).key_tokens if (cross or enc) else None,
            "decoder_tokens": (cross or dec).query_tokens if (cross or dec) else None,
        }
        # bertviz indexes every stack with one layer list: an encoder deeper than its decoder
        # (or the reverse) shows the layers both have.
        depth = min(m.n_layers for m in capture.maps.values())
        include_layers = [i for i in (include_layers or range(depth)) if i < depth]
    layers = list(include_layers) if include_layers else None
    if view == "head":
        if layers is not None and layer not in layers:
            layer = layers[-1]
        html = head_view(**kwargs, prettify_tokens=False, html_action="return", layer=layer,
                         heads=list(heads) if heads else None, include_layers=layers).data
    else:
        html = model_view(**kwargs, prettify_tokens=False, display_mode="light", html_action="return",
                          include_layers=layers).data
    if single is None and kind is not None:
        html = _open_on(html, [k for k in ("encoder", "decoder", "cross") if k in capture.maps], kind)
    return localize_bertviz(html, merge_heads=merge_heads)


def _open_on(html: str, kinds: list[str], kind: str) -> str:
    """bertviz's encoder-decoder page always opens on its first attention; open on ``kind``."""
    if kind not in kinds:
        return html
    i = kinds.index(kind)
    html = html.replace('"default_filter": "0"', f'"default_filter": "{i}"', 1)
    return html.replace(f'<option value="{i}">', f'<option value="{i}" selected>', 1)


def bertviz_height(capture: AttentionCapture, view: str = "head") -> int:
    """Pixel height the view needs (bertviz sizes its SVG by token count)."""
    longest = max(max(len(m.query_tokens), len(m.key_tokens)) for m in capture.maps.values())
    if view == "head":
        return int(longest * 22.5 + 80)  # + the layer select, head colours and padding
    # model_view.js: thumbnails of (7 * 12 / heads) px per token, a detail panel of 18 px per token.
    m = next(iter(capture.maps.values()))
    thumbnail = longest * 7 * 12 / max(1, m.n_heads) + 10
    return int(max(m.n_layers * thumbnail + 50, longest * 18 + 55) + 80)


# -- snapshots during training -----------------------------------------------------------------
def probe_input(data: Any) -> tuple[str, str | None] | None:
    """The fixed probe of a run: its first validation example (and its target, for translation)."""
    for split in (data.validation, data.train):
        if split.texts:
            target = split.targets[0] if getattr(split, "targets", None) else None
            return split.texts[0][:2000], target  # a long document only needs its start
    return None


def snapshot_folder(run_dir: str | Path) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR


class SnapshotRecorder:
    """Saves ``attention/step_<N>.json`` for the run's probe input at each evaluation.

    Built by the trainer with :meth:`create`, which returns None when snapshots are off, the
    model is too big, or there is no probe. A model without attention turns it off at the first
    try; any other failure is a warning, never a failed run.
    """

    def __init__(self, run_dir: str | Path, probe: tuple[str, str | None], max_tokens: int = SNAPSHOT_MAX_TOKENS) -> None:
        self.folder = snapshot_folder(run_dir)
        self.text, self.target = probe
        self.max_tokens = max_tokens
        self.enabled = True

    @classmethod
    def create(
        cls, enabled: bool, run_dir: str | Path, data: Any, n_params: int,
    ) -> SnapshotRecorder | None:
        probe = probe_input(data) if enabled and n_params <= SNAPSHOT_MAX_PARAMS else None
        return None if probe is None else cls(run_dir, probe)

    def _capture(self, source: ModelSource) -> AttentionCapture:
        capture = capture_attention(source, self.text, self.target, max_tokens=self.max_tokens)
        values = sum(m.weights.size for m in capture.maps.values())
        if values > SNAPSHOT_MAX_VALUES:
            # A wide model: shorten the probe once (values grow with tokens^2), so every later
            # snapshot shows the same tokens.
            longest = max(max(m.weights.shape[-2:]) for m in capture.maps.values())
            self.max_tokens = max(2, int(longest * math.sqrt(SNAPSHOT_MAX_VALUES / values)))
            capture = capture_attention(source, self.text, self.target, max_tokens=self.max_tokens)
        return capture

    def snapshot(self, source: ModelSource, step: int) -> Path | None:
        if not self.enabled:
            return None
        try:
            capture = self._capture(source)
        except NoAttentionError:
            self.enabled = False
            return None
        except Exception as exc:  # a view must never cost a training run
            warnings.warn(f"attention snapshot at step {step} failed: {exc}", stacklevel=2)
            return None
        return save_snapshot(self.folder, step, capture)


def save_snapshot(folder: Path, step: int, capture: AttentionCapture) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"step": step, **capture_to_dict(capture, SNAPSHOT_DECIMALS)}
    path = folder / f"step_{step}.json"
    tmp = path.with_suffix(".json.tmp")  # write then rename: a reader never sees half a file
    tmp.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)
    return path


def snapshot_steps(run_dir: str | Path) -> list[int]:
    """Steps with a saved snapshot, ascending."""
    folder = snapshot_folder(run_dir)
    if not folder.is_dir():
        return []
    steps = []
    for path in folder.glob("step_*.json"):
        with contextlib.suppress(ValueError):
            steps.append(int(path.stem.removeprefix("step_")))
    return sorted(steps)


def load_snapshot(run_dir: str | Path, step: int) -> AttentionCapture:
    path = snapshot_folder(run_dir) / f"step_{step}.json"
    return capture_from_dict(json.loads(path.read_text(encoding="utf-8")))
