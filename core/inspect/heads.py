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

