"""bertviz's head and model views of an attention capture, as self-contained HTML.

No Streamlit here (``app/components/attention_view.py`` puts the page in an iframe): a capture
from :mod:`core.inspect` in, one HTML document out, with the scripts bertviz needs inlined from
the copies this package ships (:mod:`app.components.bertviz.offline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.components.bertviz.offline import (
    AMD_ASSETS,
    MIN_VISIBLE_OPACITY,
    REQUIRE_JS,
    ScriptAsset,
    external_script_urls,
    localize_bertviz,
    vendored_scripts,
)
from core.inspect import KINDS, AttentionCapture

__all__ = [
    "AMD_ASSETS", "MIN_VISIBLE_OPACITY", "REQUIRE_JS", "ScriptAsset", "bertviz_height", "bertviz_html",
    "external_script_urls", "localize_bertviz", "vendored_scripts",
]


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
    import torch  # bertviz takes torch tensors; the Run view's snapshots are drawn without it
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
        html = _open_on(html, [k for k in KINDS if k in capture.maps], kind)
    return OWN_PICKERS_HIDDEN + localize_bertviz(html, merge_heads=merge_heads)


# The page has its own layer and attention pickers (one set, not two): bertviz's "Layer:" and
# "Attention:" selects, still driven by the page's choice (``layer``, ``kind``), are hidden.
OWN_PICKERS_HIDDEN = "<style>span:has(> #layer), span:has(> #filter) { display: none !important; }</style>\n"


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
        # head_view.js: 22.5 px a token below a 30 px top (head colours), and the page's
        # margins; the last token's text hangs ~20 px below its row.
        return int(longest * 22.5 + 30 + 60)
    # model_view.js: thumbnails of (7 * 12 / heads) px per token, a detail panel of 18 px per token.
    m = next(iter(capture.maps.values()))
    thumbnail = longest * 7 * 12 / max(1, m.n_heads) + 10
    return int(max(m.n_layers * thumbnail + 50, longest * 18 + 55) + 80)

