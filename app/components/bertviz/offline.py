"""bertviz's HTML made self-contained and cheaper to draw (no Streamlit, no model).

bertviz loads require.js, d3 and jQuery from a CDN. An iframe's ``srcdoc`` has no server to ask
and the workbench must work offline, so :func:`localize_bertviz` inlines the copies this package
ships in ``static/`` (each beside its project's licence; ``static/README.md`` says where each
came from) and patches bertviz's script by regular expressions:

* the head view draws one composited line per token pair instead of one per head
  (``head_view_lines.js``);
* the model view drops each row's trailing exact zeros (a causal or padded row's tail);
* the lines get a compositing layer of their own and draw without anti-aliasing;
* bertviz's comment holding a second copy of every weight is cut.

A patch whose pattern misses (a bertviz release changed those functions) leaves bertviz's own
code in place. A vendored script that is missing is an error: the install is broken.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"


@dataclass(frozen=True)
class ScriptAsset:
    """A script bertviz loads from a CDN, and the copy shipped in ``static/``."""

    module: str  # the require.js module name bertviz asks for ("" for require.js itself)
    path: str  # inside static/: <project>-<version>/<file>, with the project's licence beside it
    global_name: str = ""  # what the script sets on window when loaded without AMD
    licence: str = "LICENSE"  # file name beside the script

    @property
    def file(self) -> Path:
        return STATIC / self.path

    @property
    def licence_file(self) -> Path:
        return self.file.parent / self.licence


# bertviz 1.4 pins require.js 2.3.6, d3 5.7.0 and jQuery 2.0.0 on cdnjs. The package ships
# require.js 2.3.6, d3 5.7.0 and jQuery 3.4.1 (the API bertviz uses is unchanged).
REQUIRE_JS = ScriptAsset("", "requirejs-2.3.6/require.min.js")
AMD_ASSETS = (
    ScriptAsset("jquery", "jquery-3.4.1/jquery.min.js", "jQuery", licence="LICENSE.txt"),
    ScriptAsset("d3", "d3-5.7.0/d3.min.js", "d3"),
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
# ``renderAttention`` and ``updateAttention`` are swapped for a pair (head_view_lines.js) that
# draws that one line per pair (8x fewer elements, the same picture), leaves out lines under half
# an 8-bit alpha step (they change no pixel), builds the markup as one string, and keeps the
# groups and token-index attributes bertviz's hover selects by. A head toggle redraws. If a
# bertviz release changes these functions, the pattern misses and bertviz's own renderer stays.
MIN_VISIBLE_OPACITY = 0.5 / 255
_RENDER_ATTENTION = re.compile(
    r"function renderAttention\(svg, attention\) \{.*?\n    \}\n(?=\s*function boxOffsets)", re.DOTALL)
_HEAD_VIEW_LINES = HERE / "head_view_lines.js"
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


def vendored_scripts() -> dict[str, Path]:
    """The shipped copy of each script bertviz needs, by require.js module name."""
    return {a.module or "requirejs": a.file for a in (REQUIRE_JS, *AMD_ASSETS)}


@functools.cache
def _asset_text(asset: ScriptAsset) -> str:
    try:
        text = asset.file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{asset.file} is missing: the attention views need it offline (reinstall lm-workbench)"
        ) from None
    # "</script" inside an inlined script would end the tag early.
    return text.replace("</script", "<\\/script")


@functools.cache
def _fast_render_attention() -> str:
    return _HEAD_VIEW_LINES.read_text(encoding="utf-8").replace("MIN_OPACITY", repr(MIN_VISIBLE_OPACITY))


def external_script_urls(html: str) -> list[str]:
    """Script URLs a page would fetch: ``<script src>`` and require.js ``paths``."""
    urls = [u for u in _SCRIPT_SRC.findall(html) if not u.startswith("data:")]
    for block in _PATH_URL.findall(html):
        urls += re.findall(r"['\"]((?:https?:)?//[^'\"]+)['\"]", block)
    return urls


def localize_bertviz(html: str, merge_heads: bool = True) -> str:
    """Make bertviz's HTML self-contained: inline require.js, d3 and jQuery from ``static/``.

    d3 and jQuery go in *before* require.js, so they set window globals instead of calling an
    anonymous ``define`` (which require.js rejects inline); named ``define``s then hand those
    globals to bertviz's ``requirejs(['jquery', 'd3'], ...)``. ``merge_heads`` swaps in the head
    view's composited lines (``_RENDER_ATTENTION``).
    """
    head = [f"<script>{_asset_text(asset)}</script>" for asset in AMD_ASSETS]
    head.append(f"<script>{_asset_text(REQUIRE_JS)}</script>")
    head.append("<script>" + "\n".join(
        f"define('{a.module}', [], function () {{ return window.{a.global_name}; }});" for a in AMD_ASSETS
    ) + "</script>")
    body = _REQUIRE_TAG.sub("", html, count=1)
    body = _REQUIRE_CONFIG.sub("", body, count=1)
    if merge_heads:
        fast = _fast_render_attention()
        body = _RENDER_ATTENTION.sub(lambda _: fast, body, count=1)
    body = _ARC_DATA.sub(r"\1__lmwbTrim)", body)
    return "\n".join([*head, _TRIM_JS, _LAYER_CSS]) + _drop_params_comment(body)


def _drop_params_comment(body: str) -> str:
    """bertviz fills its ``PYTHON_PARAMS`` marker twice: in the code and in the comment after
    it, which doubles the page with a second copy of every weight. Cut the comment."""
    start = body.find(_PARAMS_COMMENT)
    end = body.find("\n", start)
    return body if start < 0 or end < 0 else body[: start + 1] + body[end:]
