"""The Learn page's pieces: the chapter picker, the knobs (from the chapter's declarations) and
the drawing of a :class:`~core.learn.walkthrough.Walkthrough`: the formula typeset, its symbols,
each step's real values as a heatmap or a table, and the checks against the engine."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.components.forms import param_widget
from app.state import page_path
from core.learn.chapters import CHAPTERS, PARTS, Chapter, Knob
from core.learn.walkthrough import Step, Walkthrough

HEATMAP_PX_PER_ROW = 26  # a heatmap grows with its rows so each token's label stays readable
NUMBERED_COLUMNS, NUMBERED_ROWS = 16, 24  # heatmaps up to this size show their numbers
FORMULA_CHARS = 110  # of LaTeX: longer formulas are drawn one equation a line


def learn_link(chapter: str, *, run: str | None = None, text: str | None = None,
               label: str = "How is this computed?", **knobs: Any) -> None:
    """"How is this computed?": the Learn chapter on the same run and input (where a concept is
    used in practice: the Attention page, the Train form, Compare's metrics, the Playground)."""
    query = {"chapter": chapter, **({"run": run} if run else {}), **({"text": text} if text else {}),
             **{k: str(v) for k, v in knobs.items()}}
    # A page run on its own (no st.navigation, e.g. in a page test) has nowhere to link to.
    with contextlib.suppress(StreamlitAPIException):
        st.page_link(page_path("learn"), label=label, icon=":material/school:",
                     query_params=query)


def chapter_label(chapter: Chapter) -> str:
    return f"{chapter.part} · {chapter.title}"


def pick_chapter(key: str, wanted: str | None) -> Chapter:
    """A picker of every chapter, in the course's order (text to evaluation)."""
    ordered = sorted(CHAPTERS, key=lambda c: PARTS.index(c.part))
    names = [c.name for c in ordered]
    index = names.index(wanted) if wanted in names else 0
    name = st.selectbox("Chapter", names, index=index, key=key,
                        format_func=lambda n: chapter_label(next(c for c in ordered if c.name == n)))
    return next(c for c in ordered if c.name == name)


def knob_values(chapter: Chapter, key: str, query: dict[str, str], task: str | None = None,
                adapted: dict[str, Knob] | None = None) -> dict[str, Any]:
    """One widget per knob the chapter declares for a run of ``task``, side by side, starting
    from the URL's values (a knob for another kind of run is not shown: its default stands).
    ``adapted``: knobs fitted to the run (their bounds, a class by its name) replace the
    declared ones, so a widget offers only what the run has."""
    values: dict[str, Any] = {}
    adapted = adapted or {}
    knobs = [adapted[k.name].param if k.name in adapted else k for k in chapter.knobs_for(task)]
    if not knobs:
        return values
    for column, knob in zip(st.columns(len(knobs)), knobs, strict=True):
        with column:
            start = query.get(knob.name)
            try:
                value = knob.coerce(start) if start is not None else knob.default
            except Exception:  # a hand-edited URL: the declared default, and the widget shows it
                value = knob.default
            names = adapted[knob.name].names if knob.name in adapted else {}
            widget_key = f"{key}.{knob.name}"
            held = st.session_state.get(widget_key)
            if held is not None and not _allowed(knob, held):  # another run's layer 3 on a 2-layer model
                del st.session_state[widget_key]
                value = knob.default
            values[knob.name] = param_widget(knob, value, f"{key}.{knob.name}",
                                             format_func=(lambda v, n=names: n.get(v, str(v))) if names else None)
    return values


def _allowed(knob: Any, value: Any) -> bool:
    try:
        knob.coerce(value)
    except Exception:  # out of this run's range: the widget starts again from the default
        return False
    return True


def draw(walk: Walkthrough) -> None:
    """The formula, its symbols, every step and the checks, top to bottom."""
    for part in formula_lines(walk.formula):
        st.latex(part)
    st.markdown("\n".join(f"- ${s.tex}$: {s.meaning}" for s in walk.symbols))
    for note in walk.notes:
        st.caption(note)
    for i, step in enumerate(walk.steps, 1):
        st.markdown(f"**{i}. {step.title}**")
        if step.tex:
            st.latex(step.tex)
        if step.note:
            st.caption(step.note)
        if step.text and step.tree:
            st.plotly_chart(tree(step), key=f"learn.tree.{i}", config={"displaylogo": False})
        if step.text:
            st.dataframe(pd.DataFrame([list(r) for r in step.text], index=step.marked(_unique(step.row_labels())),
                                      columns=_unique(step.col_labels())), width="stretch",
                         column_config=_index_width(step))
        elif step.heatmap or step.curve:
            st.plotly_chart(curve(step) if step.curve else heatmap(step), key=f"learn.step.{i}",
                            config={"displaylogo": False})
        else:
            st.dataframe(frame(step), width="stretch", column_config=_index_width(step))
    for c in walk.checks:
        (st.success if c.ok else st.error)(c.sentence(), icon=":material/check:" if c.ok else ":material/error:")


TREE_COLOURS = {"kept": "#1f77b4", "finished": "#2ca02c", "pruned": "#bbbbbb"}


def tree(step: Step) -> go.Figure:
    """A tree step (beam search) drawn as a tree: depth left to right, rank top to bottom, a line
    from each node to the one it grew from; kept, finished and pruned nodes in their colours."""
    place: dict[str, tuple[float, float]] = {}
    depth_rows: dict[int, int] = {}
    for label in step.row_labels():
        depth = int(label.split(".")[0]) if label.split(".")[0].isdigit() else 0
        depth_rows[depth] = depth_rows.get(depth, 0) + 1
        place[label] = (depth, -depth_rows[depth])
    fig = go.Figure()
    roots = {row[0] for row in step.text if row[0] not in place}
    for root in roots:  # the start of every hypothesis (<bos>)
        place[root] = (0, -(max(depth_rows.values(), default=1) + 1) / 2)
    for label, row in zip(step.row_labels(), step.text, strict=True):
        (x0, y0), (x1, y1) = place[row[0]], place[label]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", line=dict(color="#cccccc", width=1),
                                 hoverinfo="skip", showlegend=False))
    def fate(status: str) -> str:
        return "finished" if "finished" in status else "kept" if "kept" in status else "pruned"

    for kind, colour in TREE_COLOURS.items():
        rows = [(label, row) for label, row in zip(step.row_labels(), step.text, strict=True) if fate(row[-1]) == kind]
        fig.add_trace(go.Scatter(
            x=[place[label][0] for label, _ in rows], y=[place[label][1] for label, _ in rows], mode="markers+text",
            marker=dict(color=colour, size=10), name=kind, textposition="middle right",
            text=[f"{row[1].split()[-1] if row[1].split() else ''} {row[3]}" for _, row in rows],
            hovertext=[f"{label}: {row[1]} (Σ log p {row[3]}; {row[-1]})" for label, row in rows], hoverinfo="text"))
    for root in roots:
        fig.add_trace(go.Scatter(x=[place[root][0]], y=[place[root][1]], mode="markers+text", text=[root],
                                 textposition="middle left", marker=dict(color="black", size=8), showlegend=False))
    fig.update_layout(height=140 + 30 * max(depth_rows.values(), default=1), margin=dict(l=10, r=10, t=10, b=10),
                      # room on the right for the deepest nodes' labels, on the left for <bos>
                      xaxis=dict(title="depth (tokens)", dtick=1, range=[-0.6, max(depth_rows, default=1) + 0.8]),
                      yaxis=dict(visible=False),
                      legend=dict(orientation="h"))
    return fig


def formula_lines(tex: str, width: int = FORMULA_CHARS) -> list[str]:
    """A long formula (several equations joined by \\quad) as one line per equation, so none is
    cut at the page's edge; a short one as it is."""
    if len(tex) <= width:
        return [tex]
    parts = [p.strip().rstrip(",").strip() for p in re.split(r"\\q?quad", tex)]
    return [p for p in parts if p]


def _index_width(step: Step) -> dict[str, Any]:
    """The row labels' column wide enough for the longest label (a token, a word), never cut."""
    longest = max((len(r) for r in step.marked(_unique(step.row_labels()))), default=4)
    return {"_index": st.column_config.TextColumn(width=24 + 8 * longest)}


def frame(step: Step) -> pd.DataFrame:
    """A step's values as a labelled table, rounded as the step says (-inf shown as such)."""
    matrix = np.round(step.matrix(), step.decimals)
    return pd.DataFrame(matrix, index=step.marked(_unique(step.row_labels())), columns=_unique(step.col_labels()))


def heatmap(step: Step) -> go.Figure:
    matrix = step.matrix()
    rows, cols = step.marked(_unique(step.row_labels())), _unique(step.col_labels())
    shown = np.where(np.isfinite(matrix), matrix, np.nan)  # -inf (masked) draws as empty
    # A small matrix (attention weights, scores) carries its numbers in the cells, so a learner can
    # check a guess without hovering; a wide one (a 64-wide stream) stays a picture.
    numbers = len(cols) <= NUMBERED_COLUMNS and len(rows) <= NUMBERED_ROWS
    fig = go.Figure(go.Heatmap(
        z=shown, x=cols, y=rows, colorscale="RdBu" if np.nanmin(shown) < 0 else "Blues", zmid=0 if np.nanmin(shown) < 0 else None,
        texttemplate="%{z:.2f}" if numbers else None,
        hovertemplate="row %{y}<br>column %{x}<br>%{z:.4f}<extra></extra>"))
    fig.update_layout(height=120 + HEATMAP_PX_PER_ROW * len(rows), margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(autorange="reversed", type="category"), xaxis=dict(type="category"))
    if step.mark is not None:  # the marked row (the time step worked through) framed across the map
        fig.add_shape(type="rect", xref="paper", x0=0, x1=1, y0=step.mark - 0.5, y1=step.mark + 0.5,
                      line=dict(color="black", width=2))
    return fig


def curve(step: Step) -> go.Figure:
    """Column 1 against column 0, the area under it filled, the marked row pointed out."""
    matrix, rows, cols = step.matrix(), step.row_labels(), step.col_labels()
    fig = go.Figure(go.Scatter(x=matrix[:, 0], y=matrix[:, 1], mode="lines+markers", fill="tozeroy", text=rows,
                               hovertemplate="%{text}<br>" + cols[0] + " %{x:.3f}<br>" + cols[1] + " %{y:.3f}<extra></extra>",
                               showlegend=False))
    if step.mark is not None:
        fig.add_trace(go.Scatter(x=[matrix[step.mark, 0]], y=[matrix[step.mark, 1]], mode="markers+text",
                                 text=[rows[step.mark]], textposition="bottom right", showlegend=False,
                                 marker=dict(size=14, color="crimson")))
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=cols[0], yaxis_title=cols[1])
    return fig


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct (a token that occurs twice gets its position), so tables and axes
    keep one row per position."""
    if len(set(labels)) == len(labels):
        return list(labels)
    return [f"{label} ({i})" for i, label in enumerate(labels)]  # all numbered, one way, from 0
