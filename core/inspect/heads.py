"""What each attention head does, in numbers: entropy, distance, positional shares, a label.

Pure numpy over an :class:`~core.inspect.maps.AttentionMaps`; the Attention page draws these
as layer x head heatmaps.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from core.inspect.maps import AttentionMaps


@dataclass
class HeadSummary:
    """Per (layer, head) statistics averaged over query rows; arrays are (layers, heads)."""

    entropy: np.ndarray  # bits
    normalized_entropy: np.ndarray  # entropy / log(keys the row may see): 1 = uniform
    distance: np.ndarray  # mean |query - key| weighted by attention (self-attention only)
    previous: np.ndarray  # mean weight on the previous token
    first: np.ndarray  # mean weight on the first token (e.g. [CLS] / <bos>)
    self_weight: np.ndarray  # mean weight on the token itself
    # "previous token" | "next token" | "self" | "reversed" | "in order" | "first token" |
    # "broad" | "mixed": see PATTERNS
    pattern: list[list[str]]
    next_token: np.ndarray | None = None  # mean weight on the token after (non-causal self-attention)
    order: np.ndarray | None = None  # correlation of a query's position with its strongest key's
    peak: np.ndarray | None = None  # mean weight on each query's strongest key

    METRICS = {
        "entropy": "Entropy (bits)", "normalized_entropy": "Entropy / max", "distance": "Mean distance",
        "previous": "Weight on previous token", "first": "Weight on first token", "self_weight": "Weight on itself",
    }


PATTERN_SHARE = 0.5  # a head putting over half its weight on one relative position "is" that
BROAD_ENTROPY = 0.85  # normalized entropy above which a head "attends broadly"
ORDER_CORRELATION = 0.8  # |correlation| of a query's position with its strongest key's
ORDER_PEAK = 0.3  # mean weight on the strongest key: the head must point somewhere

# What each label says a head does, in the order they are tried (the first that fits wins).
PATTERNS: dict[str, str] = {
    "previous token": "over half its weight on the token just before",
    "next token": "over half its weight on the token just after",
    "self": "over half its weight on the token itself",
    "reversed": "later queries look at earlier keys, in reverse order (a reversal, or a mirror)",
    "in order": "each query looks at a key further along as it goes (an alignment in order)",
    "first token": "over half its weight on the first token ([CLS], <bos>, a resting place)",
    "broad": "near-uniform over what it may see",
    "mixed": "none of these",
}


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
        # The token after: only where it may be seen (a causal map's rows see no later token).
        nxt = w[..., rows[:-1], rows[:-1] + 1].mean(-1) if tq > 1 and not maps.causal else nan
    else:
        distance, diag, prev, nxt = nan, nan, nan, nan
    # Rows after the first: row 0 of a causal map can only see token 0, which says nothing.
    first = w[..., 1:, 0].mean(-1) if tq > 1 else w[..., :, 0].mean(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (single-token input)
        norm_mean = np.nanmean(norm, axis=-1)
    summary = HeadSummary(
        entropy=ent.mean(-1) / math.log(2), normalized_entropy=norm_mean, distance=distance,
        previous=prev, first=first, self_weight=diag, pattern=[], next_token=nxt, order=_order(w),
        peak=w.max(-1).mean(-1),
    )
    summary.pattern = [[_pattern(summary, layer, head) for head in range(w.shape[1])] for layer in range(w.shape[0])]
    return summary


def _order(w: np.ndarray) -> np.ndarray:
    """Per (layer, head): the correlation of each query's position with the position of its
    strongest key (1: a diagonal, -1: an anti-diagonal), over queries whose strongest keys
    differ; NaN with fewer than three distinct ones (a head always on one token has no order)."""
    layers, heads, tq, _ = w.shape
    out = np.full((layers, heads), np.nan)
    if tq < 3:
        return out
    rows = np.arange(tq, dtype=np.float64)
    strongest = w.argmax(-1).astype(np.float64)  # (L, H, Tq)
    for layer in range(layers):
        for head in range(heads):
            keys = strongest[layer, head]
            if len(np.unique(keys)) >= 3:
                out[layer, head] = float(np.corrcoef(rows, keys)[0, 1])
    return out


def _pattern(s: HeadSummary, layer: int, head: int) -> str:
    """The first label of :data:`PATTERNS` that fits the head (NaN never fits)."""
    def at(values: np.ndarray | None) -> float:
        return math.nan if values is None else float(values[layer, head])

    local = {"previous token": at(s.previous), "next token": at(s.next_token), "self": at(s.self_weight)}
    name = max(local, key=lambda k: -1.0 if math.isnan(local[k]) else local[k])
    if local[name] > PATTERN_SHARE:
        return name
    if at(s.peak) > ORDER_PEAK:
        if at(s.order) < -ORDER_CORRELATION:
            return "reversed"
        if at(s.order) > ORDER_CORRELATION:
            return "in order"
    if at(s.first) > PATTERN_SHARE:
        return "first token"
    return "broad" if at(s.normalized_entropy) > BROAD_ENTROPY else "mixed"


def alignment_argmax(maps: AttentionMaps, layer: int | None = None) -> np.ndarray:
    """For each query (target) row, the key (source) position with the most weight.

    ``layer`` None averages over layers and heads (the usual alignment read-out).
    """
    w = maps.weights.mean(axis=(0, 1)) if layer is None else maps.weights[layer].mean(axis=0)
    return w.argmax(axis=-1)

