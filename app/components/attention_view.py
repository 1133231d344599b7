"""Attention views shared by the Attention page, the Run view and the Playground.

The figure builders at the top are pure (capture in, ``go.Figure`` out) so tests and the bench
can build them without Streamlit; the rest draws them. Every number comes from
``core.inspect``; bertviz's HTML from ``app.components.bertviz``; nothing here touches a model
beyond asking for a capture.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from streamlit.errors import StreamlitAPIException

from app.components import bertviz
from app.state import page_path
from core import inspect as attn
from core.errors import WorkbenchError
from core.inspect import AttentionCapture, AttentionMaps, HeadSummary
from core.inspect.heads import PATTERNS
from core.paths import safe_join
from core.store import Store

if TYPE_CHECKING:  # the Run view draws saved snapshots without loading torch or a model
    from core.runs import TrainedRun

COLORSCALE = "Blues"
MEAN = "mean"  # the head choice that averages over heads
# bertviz's own layer dropdown needs every layer's weights in the page; past this many values
# (e.g. 6 layers x 8 heads x 64^2 = 196k) only the chosen layer goes in, which keeps the page
# small and the render fast; the page's layer picker switches layers instead.
BERTVIZ_ALL_LAYERS_MAX = 65_536
PNG_CONFIG = {"toImageButtonOptions": {"format": "png", "scale": 2}, "displaylogo": False}


# -- figures (pure) ------------------------------------------------------------------------------
def _label(token: str) -> str:
    """Plotly treats ``<...>`` as markup (``<unk>`` would vanish) and ``%{`` as a placeholder."""
    return html.escape(token, quote=False).replace("%{", "% {")


def _head_name(head: int | None) -> str:
    return "mean of heads" if head is None else f"head {head}"


def _axis(tokens: Sequence[str]) -> dict[str, Any]:
    # Positions as coordinates, tokens as tick text: repeated tokens ("the", "e") stay apart.
    # ticklabeloverflow "allow": plotly's default on a linear axis ("hide past div") measures
    # every tick label's box on each redraw, ~400 ms of browser time for 2 x 64 labels; the
    # automargin already keeps the labels inside the chart.
    return {"tickmode": "array", "tickvals": list(range(len(tokens))),
            "ticktext": [_label(t) for t in tokens], "showgrid": False, "ticklabeloverflow": "allow"}


def _hover_text(rows: Sequence[str], cols: Sequence[str]) -> list[list[str]]:
    r = [f"{i} {_label(t)}" for i, t in enumerate(rows)]
    c = [f"{j} {_label(t)}" for j, t in enumerate(cols)]
    return [[f"{a} → {b}" for b in c] for a in r]


def attention_heatmap(
    maps: AttentionMaps, layer: int, head: int | None = None, *, rows: Sequence[str] | None = None,
    title: str | None = None, zmax: float | None = None,
) -> go.Figure:
    """One head (or the mean over heads): queries down, keys across, hover shows the weight."""
    z = maps.matrix(layer, head)
    rows = list(rows or maps.query_tokens)
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(z.shape[1])), y=list(range(z.shape[0])), colorscale=COLORSCALE, zmin=0.0,
        zmax=zmax, text=_hover_text(rows, maps.key_tokens),
        hovertemplate="%{text}<br>weight %{z:.3f}<extra></extra>", colorbar={"title": "weight"},
    ))
    size = max(len(rows), len(maps.key_tokens))
    fig.update_layout(
        title=title or f"{attn.KIND_TITLES.get(maps.kind, maps.kind)} · layer {layer} · {_head_name(head)}",
        height=int(min(900, max(320, 160 + 13 * size))), margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    x_axis, y_axis = _axis(maps.key_tokens), _axis(rows)
    if size > 24:
        # Long inputs: upright key labels and margins from the longest label (~7 px a character),
        # so plotly need not measure every tick label at each angle it tries and again for its
        # automatic margins (~250 ms of browser time at 64 tokens).
        def width(tokens: Sequence[str]) -> int:
            return 7 * max((len(t) for t in tokens), default=1)

        fig.update_layout(margin={"l": 50 + width(rows), "r": 10, "t": 50, "b": 50 + width(maps.key_tokens)})
        x_axis.update(tickangle=90, automargin=False)
        y_axis.update(automargin=False)
    else:
        x_axis.update(autotickangles=[0, 90])
    fig.update_xaxes(**x_axis, title="key (attended to)")
    fig.update_yaxes(**y_axis, title="query", autorange="reversed")
    return fig


GRID_LABELS_UP_TO = 32  # tokens per axis that still fit as labels under a small multiple


def heads_grid(maps: AttentionMaps, layer: int, columns: int | None = None) -> go.Figure:
    """Every head of one layer as small multiples sharing one colour scale. Query tokens label
    the first column's rows and key tokens every head's columns (every k-th past
    :data:`GRID_LABELS_UP_TO`), so a pattern can be read without hovering; past 12 tokens two
    heads a row (default), so each has room for its labels."""
    n = maps.n_heads
    size = max(len(maps.query_tokens), len(maps.key_tokens))
    cols = min(columns or (4 if size <= 12 else 2), n)
    grid_rows = math.ceil(n / cols)
    longest = max((len(t) for t in [*maps.query_tokens, *maps.key_tokens]), default=1)
    label_px = 6 * min(longest, 12) + 10
    cell = 230 if cols > 2 else 280
    fig = make_subplots(rows=grid_rows, cols=cols, subplot_titles=[f"head {h}" for h in range(n)],
                        horizontal_spacing=0.03, vertical_spacing=(label_px + 30) / (cell * grid_rows + 60))
    text = _hover_text(maps.query_tokens, maps.key_tokens)
    top = float(maps.weights[layer].max()) or 1.0
    for h in range(n):
        fig.add_trace(go.Heatmap(
            z=maps.weights[layer, h], coloraxis="coloraxis", text=text,
            hovertemplate=f"head {h}<br>%{{text}}<br>weight %{{z:.3f}}<extra></extra>",
        ), row=h // cols + 1, col=h % cols + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, autorange="reversed")
    for r in range(grid_rows):  # rows: query tokens, on the first column only
        fig.update_yaxes(_grid_ticks(maps.query_tokens), row=r + 1, col=1)
    for h in range(n):  # columns: key tokens, under every head
        fig.update_xaxes(_grid_ticks(maps.key_tokens, upright=True), row=h // cols + 1, col=h % cols + 1)
    fig.update_layout(
        title=f"{attn.KIND_TITLES.get(maps.kind, maps.kind)} · layer {layer} · all heads",
        coloraxis={"colorscale": COLORSCALE, "cmin": 0.0, "cmax": top},
        height=60 + cell * grid_rows + label_px * grid_rows, margin={"l": label_px, "r": 10, "t": 60, "b": label_px},
    )
    return fig


def _grid_ticks(tokens: Sequence[str], upright: bool = False) -> dict[str, Any]:
    every = max(1, math.ceil(len(tokens) / GRID_LABELS_UP_TO))
    shown = list(range(0, len(tokens), every))
    return {"showticklabels": True, "tickmode": "array", "tickvals": shown,
            "ticktext": [_label(tokens[i][:12]) for i in shown], "tickfont": {"size": 9},
            "tickangle": 90 if upright else 0, "automargin": False, "ticklabeloverflow": "allow"}


# The short name a cell shows for each label of core.inspect.heads.PATTERNS.
_PATTERN_MARKS = {"previous token": "prev", "next token": "next", "self": "self", "reversed": "rev",
                  "in order": "order", "first token": "first", "broad": "broad", "mixed": ""}


def head_summary_figure(summary: HeadSummary, metric: str = "entropy") -> go.Figure:
    """Layer x head heatmap of one summary metric; cells name the head's pattern."""
    values = getattr(summary, metric)
    layers, heads = values.shape
    lines = []
    for layer in range(layers):
        row = []
        for head in range(heads):
            parts = [f"layer {layer} · head {head}: <b>{summary.pattern[layer][head]}</b>"]
            parts += [f"{name}: {_fmt(getattr(summary, key)[layer, head])}" for key, name in HeadSummary.METRICS.items()]
            row.append("<br>".join(parts))
        lines.append(row)
    marks = [[_PATTERN_MARKS.get(p, p) for p in row] for row in summary.pattern]
    fig = go.Figure(go.Heatmap(
        z=np.where(np.isnan(values), None, values).tolist(), x=list(range(heads)), y=list(range(layers)),
        colorscale="Viridis", text=marks, texttemplate="%{text}", customdata=lines,
        hovertemplate="%{customdata}<extra></extra>", colorbar={"title": HeadSummary.METRICS[metric]},
    ))
    fig.update_layout(title=f"{HeadSummary.METRICS[metric]} per head", height=max(260, 90 + 42 * layers),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    fig.update_xaxes(title="head", tickmode="array", tickvals=list(range(heads)), showgrid=False)
    fig.update_yaxes(title="layer", tickmode="array", tickvals=list(range(layers)), autorange="reversed", showgrid=False)
    return fig


def _fmt(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.3f}"


def alignment_figure(capture: AttentionCapture, layer: int | None = None) -> go.Figure:
    """Cross-attention as a source x target alignment: rows are the target tokens produced,
    columns the source tokens; ``layer`` None averages every layer and head."""
    cross = capture.maps["cross"]
    if layer is None:
        collapsed = AttentionMaps("cross", cross.weights.mean(axis=(0, 1))[None, None], cross.query_tokens, cross.key_tokens)
        layer_used, where = 0, "mean of layers and heads"
    else:
        collapsed, layer_used, where = cross, layer, f"layer {layer} · mean of heads"
    fig = attention_heatmap(collapsed, layer_used, None, rows=capture.output_tokens or cross.query_tokens,
                            title=f"Alignment · {where}")
    fig.update_xaxes(title="source")
    fig.update_yaxes(title="target (token produced)")
    return fig


# -- loading ---------------------------------------------------------------------------------------
def checkpoint_mtime(store: Store, run_id: str) -> float:
    folder = safe_join(store.runs_root, run_id, "checkpoints")
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return max(times, default=0.0)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load(_store: Store, store_key: str, run_id: str, mtime: float) -> TrainedRun:
    from core.runs import load_trained  # torch: loaded when a page first runs a model

    return load_trained(_store, run_id)  # cached per checkpoint time: new weights, new load


def trained_run(store: Store, run_id: str) -> TrainedRun:
    return _load(store, f"{store.url}|{store.home}", run_id, checkpoint_mtime(store, run_id))


def _source_key(source: TrainedRun) -> str:
    return f"{source.run.id}|{source.checkpoint}|{id(source.model)}"


@st.cache_resource(max_entries=16, show_spinner=False)
def _capture(_source: TrainedRun, key: str, text: str, target: str | None, max_tokens: int) -> AttentionCapture:
    return attn.capture_attention(_source, text, target, max_tokens=max_tokens)


def capture_for(source: TrainedRun, text: str, target: str | None = None,
                max_tokens: int = attn.DEFAULT_MAX_TOKENS) -> AttentionCapture:
    """A capture, cached per (model, input): reruns that only change a view cost nothing."""
    with one_torch_thread():
        return _capture(source, _source_key(source), text, target or None, int(max_tokens))


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """One sentence through a small model gains nothing from more threads, and the app shares
    the cores with training workers: a second thread would mostly spin-wait (10x slower)."""
    import torch  # a model has been loaded by now: torch is imported already

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def capture_digest(capture: AttentionCapture) -> str:
    """A content key for a capture (its weights and tokens), for caching what is drawn from it."""
    h = hashlib.blake2b(digest_size=16)
    for kind, m in capture.maps.items():
        h.update(kind.encode())
        h.update("\x00".join(m.query_tokens + m.key_tokens).encode())
        h.update(m.weights.tobytes())
    return h.hexdigest()


@st.cache_resource(max_entries=8, show_spinner=False)
def _bertviz(_capture: AttentionCapture, digest: str, view: str, layer: int | None, one_layer: bool,
             kind: str | None) -> str:
    if one_layer:
        return bertviz.bertviz_html(_capture, "head", layer=layer, include_layers=[layer or 0], kind=kind)
    return bertviz.bertviz_html(_capture, view, layer=layer, kind=kind)


def bertviz_document(capture: AttentionCapture, view: str, layer: int, kind: str | None = None) -> str:
    """bertviz HTML for the view; a long single-stack input's head view carries one layer, and
    an encoder-decoder's opens on ``kind`` (the attention picked beside it)."""
    if view != "head":
        return _bertviz(capture, capture_digest(capture), view, None, False, kind)
    first = next(iter(capture.maps.values()))
    layer = min(layer, first.n_layers - 1)  # encoder and decoder may differ in depth
    size = sum(m.weights.size for m in capture.maps.values())
    one_layer = capture.self_kind is not None and size > BERTVIZ_ALL_LAYERS_MAX
    return _bertviz(capture, capture_digest(capture), "head", layer, one_layer, kind)


# -- drawing ---------------------------------------------------------------------------------------
def show_notes(capture: AttentionCapture) -> None:
    for note in capture.notes:
        st.warning(note, icon=":material/content_cut:")


def show_prediction(capture: AttentionCapture) -> None:
    if capture.prediction is None:
        return
    if capture.prediction_kind == "translation":
        st.markdown("**Translation**")
        st.code(capture.prediction, language=None, wrap_lines=True)
    else:
        st.metric(f"Predicted {capture.prediction_kind or 'output'}", capture.prediction)


def bertviz_view(capture: AttentionCapture, view: str, layer: int, kind: str | None = None) -> str:
    """bertviz's head or model view in an iframe; returns the HTML (for the download)."""
    doc = bertviz_document(capture, view, layer, kind)
    st.iframe(doc, height=bertviz.bertviz_height(capture, view))
    return doc


def pick_view_settings(capture: AttentionCapture, key: str) -> tuple[str, AttentionMaps, int, int | None]:
    """bertviz view, kind (when the model has several), layer and head (or the mean)."""
    kinds = [k for k in attn.KINDS if k in capture.maps]
    cols = st.columns([2, 2, 1, 1.6] if len(kinds) > 1 else [2, 1, 1.6])  # room for "mean over heads"
    view = cols[0].segmented_control(
        "bertviz view", ["head", "model"], default="head", key=f"{key}.bertviz",
        format_func=lambda v: f"{v.title()} view",
        help="Head view: one layer, a colour per head; hover a token to see what it attends to. "
             "Model view: every layer and head at once (slow for long inputs).") or "head"
    kind = kinds[0]
    if len(kinds) > 1:
        kind = cols[1].selectbox("Attention", kinds, format_func=lambda k: attn.KIND_TITLES[k],
                                 key=f"{key}.kind", index=kinds.index("cross") if "cross" in kinds else 0)
    maps = capture.maps[kind]
    layer = cols[-2].selectbox("Layer", list(range(maps.n_layers)), index=maps.n_layers - 1, key=f"{key}.layer.{kind}")
    head = cols[-1].selectbox("Head", [MEAN, *range(maps.n_heads)], key=f"{key}.head.{kind}",
                              format_func=lambda h: "mean over heads" if h == MEAN else f"head {h}")
    return view, maps, int(layer), None if head == MEAN else int(head)


def attention_explorer(capture: AttentionCapture, key: str, run_dir: Path | None = None) -> tuple[int, int | None]:
    """Every view of one capture: bertviz, heatmaps, head summaries, alignment, evolution, export.
    Returns the layer and head (None: the mean over heads) the pickers show.

    The head view is narrow, so it sits beside the plotly views; the model view takes the width.
    """
    show_notes(capture)
    show_prediction(capture)
    view, maps, layer, head = pick_view_settings(capture, key)
    if view == "head":
        left, right = st.columns([2, 3])
    else:
        left = right = st.container()
    with left:
        doc = bertviz_view(capture, view, layer, maps.kind)
    names = ["Heatmap", "All heads", "Head summary"]
    if "cross" in capture.maps:
        names.insert(0, "Alignment")
    if run_dir is not None:
        names.append("Evolution")
    names.append("Export")
    heat = attention_heatmap(maps, layer, head)
    panels = {
        "Alignment": lambda: alignment_panel(capture, key),
        "Heatmap": lambda: st.plotly_chart(heat, key=f"{key}.heatmap", config=PNG_CONFIG),
        "All heads": lambda: st.plotly_chart(heads_grid(maps, layer), key=f"{key}.grid", config=PNG_CONFIG),
        "Head summary": lambda: summary_panel(maps, key),
        "Evolution": lambda: evolution_view(run_dir, f"{key}.evolution", layer=layer, head=head,
                                            kind=maps.kind) if run_dir else None,
        "Export": lambda: export_buttons(capture, doc, heat, key, view),
    }
    with right:
        # Only the open tab is built and drawn (a tab switch reruns): the grid of every head and
        # the summaries cost nothing until asked for.
        for name, tab in zip(names, st.tabs(names, key=f"{key}.tabs", on_change="rerun"), strict=True):
            if tab.open is not False:
                with tab:
                    panels[name]()
    return layer, head


def summary_panel(maps: AttentionMaps, key: str) -> None:
    summary = attn.head_summary(maps)
    st.plotly_chart(head_summary_figure(summary, "entropy"), key=f"{key}.entropy", config=PNG_CONFIG)
    metric = "distance" if not np.isnan(summary.distance).all() else "first"
    st.plotly_chart(head_summary_figure(summary, metric), key=f"{key}.{metric}", config=PNG_CONFIG)
    marks = "; ".join(f"**{_PATTERN_MARKS[name] or 'blank'}**: {what}" for name, what in PATTERNS.items())
    st.caption(f"Cells name what each head does, the first that fits: {marks}. Low entropy = focused; "
               "mean distance = how far back (or ahead) it looks.")


def alignment_panel(capture: AttentionCapture, key: str) -> None:
    left, right = st.columns([3, 2])
    left.plotly_chart(alignment_figure(capture), key=f"{key}.alignment", config=PNG_CONFIG)
    right.markdown("**Source**")
    right.code(capture.text, language=None, wrap_lines=True)
    right.markdown("**Reference target**" if capture.target else "**Translation**")
    right.code(capture.target if capture.target else (capture.prediction or ""), language=None, wrap_lines=True)
    if capture.target and capture.prediction:
        right.markdown("**Model's translation**")
        right.code(capture.prediction, language=None, wrap_lines=True)


def evolution_view(run_dir: Path, key: str, compact: bool = False, *, layer: int | None = None,
                   head: int | None = None, kind: str | None = None) -> None:
    """The run's probe-input snapshots: a slider over training steps replays the pattern forming.

    On the Attention page the layer, head and attention come from the page's own pickers
    (``layer``/``head``/``kind``: one set of pickers, not two); the Run view shows the last
    layer's mean (``compact``); anywhere else it draws its own pickers."""
    steps = attn.snapshot_steps(run_dir)
    if not steps:
        st.caption("No attention snapshots for this run (training.attention_snapshots, on by default "
                   "for small models with attention, saves one at each evaluation).")
        return
    step = steps[-1] if len(steps) == 1 else st.select_slider("Training step", steps, value=steps[-1], key=f"{key}.step")
    try:
        snap = attn.load_snapshot(run_dir, step)
    except (OSError, ValueError, KeyError) as exc:
        st.caption(f"Snapshot of step {step} is unreadable: {exc}")
        return
    kinds = [k for k in attn.KINDS if k in snap.maps]
    kind = kind if kind in kinds else ("cross" if "cross" in kinds else kinds[0])
    maps = snap.maps[kind]
    if compact:
        layer, head = maps.n_layers - 1, None
    elif layer is not None:
        layer = min(layer, maps.n_layers - 1)
        head = head if head is None or head < maps.n_heads else None
    else:
        cols = st.columns(2)
        layer = cols[0].selectbox("Layer", list(range(maps.n_layers)), index=maps.n_layers - 1, key=f"{key}.layer")
        choice = cols[1].selectbox("Head", [MEAN, *range(maps.n_heads)], key=f"{key}.head",
                                   format_func=lambda h: "mean over heads" if h == MEAN else f"head {h}")
        head = None if choice == MEAN else int(choice)
    st.caption(f"Probe: “{snap.text[:120]}” · step {step:,} of {steps[-1]:,} · {len(steps)} snapshots")
    rows = snap.output_tokens if kind == "cross" else None
    fig = attention_heatmap(maps, int(layer), head, rows=rows, zmax=1.0,
                            title=f"Step {step:,} · {attn.KIND_TITLES[kind]} · layer {layer} · {_head_name(head)}")
    st.plotly_chart(fig, key=f"{key}.figure", config=PNG_CONFIG)


def export_buttons(capture: AttentionCapture, doc: str, heat: go.Figure, key: str, view: str) -> None:
    """Downloads, built only when clicked: the bertviz page, the heatmap page, the tensors."""
    cols = st.columns(3)
    cols[0].download_button(f"bertviz {view} view (HTML)", data=doc, file_name=f"attention-{view}-view.html",
                            mime="text/html", key=f"{key}.dl.bertviz", on_click="ignore")
    cols[1].download_button("Heatmap (HTML)", data=lambda: heat.to_html(include_plotlyjs=True, full_html=True),
                            file_name="attention-heatmap.html", mime="text/html", key=f"{key}.dl.heatmap",
                            on_click="ignore")
    cols[2].download_button("Weights (JSON)", data=lambda: attn.capture_to_json(capture),
                            file_name="attention.json", mime="application/json", key=f"{key}.dl.json",
                            on_click="ignore")
    st.caption("PNG: the camera icon on any chart's toolbar saves it as an image. The HTML pages "
               "work offline (scripts inlined).")


# -- embeds ----------------------------------------------------------------------------------------
def attention_link(run_id: str, label: str = "Open in the Attention page") -> None:
    # A page run on its own (no st.navigation, e.g. in a page test) has nowhere to link to.
    with contextlib.suppress(StreamlitAPIException):
        st.page_link(page_path("attention"), label=label, icon=":material/visibility:", query_params={"run": run_id})


def attention_embed(source: TrainedRun, text: str, key: str, target: str | None = None) -> None:
    """A compact look (last layer, mean over heads) for the Playground, with a link to the rest;
    nothing for a model without attention (an LSTM), which the Attention page explains."""
    if not text.strip() or not attn.may_have_attention(source.model):
        return
    with st.expander("Attention", icon=":material/visibility:"):
        try:
            capture = capture_for(source, text, target)
        except attn.NoAttentionError as exc:
            st.caption(f"{exc}.")
            return
        except WorkbenchError as exc:
            st.caption(f"No attention view: {exc}")
            return
        show_notes(capture)
        kind = "cross" if "cross" in capture.maps else next(iter(capture.maps))
        maps = capture.maps[kind]
        rows = capture.output_tokens if kind == "cross" else None
        st.plotly_chart(attention_heatmap(maps, maps.n_layers - 1, None, rows=rows), key=f"{key}.heatmap",
                        config=PNG_CONFIG)
        attention_link(source.run.id)


def snapshot_embed(store: Store, run_id: str, key: str) -> None:
    """The Run view's look at attention forming over training (reads snapshot files only)."""
    run_dir = store.run_folder(run_id)
    if not attn.snapshot_steps(run_dir):
        return
    with st.expander("Attention over training", icon=":material/visibility:"):
        evolution_view(run_dir, key, compact=True)
        attention_link(run_id)
