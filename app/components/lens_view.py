"""The logit lens and activation patching of GPT-style runs, drawn as layer x position heatmaps.

The figure builders are pure (result in, ``go.Figure`` out); the panels draw them. Every number
comes from ``core.inspect.lens`` / ``core.inspect.patching``.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.components.attention_view import PNG_CONFIG, one_torch_thread
from app.state import get_store, launch, open_run_page
from core.config import apply_overrides, default_config, validate_config
from core.errors import WorkbenchError
from core.inspect.lens import LogitLens, logit_lens
from core.inspect.patching import DEMO, PatchingResult, patch_residual
from core.runs import TrainedRun


def _ticks(tokens: list[str]) -> dict[str, object]:
    return {"tickmode": "array", "tickvals": list(range(len(tokens))),
            "ticktext": [html.escape(t, quote=False) for t in tokens], "showgrid": False}


def logit_lens_figure(lens: LogitLens) -> go.Figure:
    """Rows: the residual stream after each layer (embeddings at the bottom); columns: input
    positions; each cell names the top next token there, coloured by its probability."""
    text = [[html.escape(t, quote=False) for t in row] for row in lens.top_tokens]
    fig = go.Figure(go.Heatmap(
        z=lens.top_probs, x=list(range(len(lens.tokens))), y=list(range(len(lens.layers))), text=text,
        texttemplate="%{text}", colorscale="Blues", zmin=0.0, zmax=1.0, colorbar={"title": "p(top)"},
        customdata=[[f"{lens.layers[i]} · after “{html.escape(lens.tokens[j], quote=False)}” (position {j})<br>"
                     f"p(model's final prediction) {lens.final_probs[i, j]:.3f}" for j in range(len(lens.tokens))]
                    for i in range(len(lens.layers))],
        hovertemplate="%{customdata}<br>top: %{text} (%{z:.3f})<extra></extra>",
    ))
    fig.update_xaxes(**_ticks(lens.tokens), title="input token (the prediction is for the next one)")
    fig.update_yaxes(**_ticks(lens.layers), title="residual stream")
    fig.update_layout(title="Logit lens: top next token after each layer", height=140 + 48 * len(lens.layers),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def patching_figure(result: PatchingResult) -> go.Figure:
    """Share of the clean logit difference restored, per (residual site, position)."""
    labels = [c if c == k else f"{c} / {k}" for c, k in zip(result.clean_tokens, result.corrupt_tokens, strict=True)]
    fig = go.Figure(go.Heatmap(
        z=result.restored, x=list(range(len(labels))), y=list(range(len(result.layers))), colorscale="RdBu",
        zmid=0.0, zmin=-1.0, zmax=1.0, texttemplate="%{z:.2f}", colorbar={"title": "restored"},
        hovertemplate="%{z:.3f} of the clean logit difference<extra></extra>",
    ))
    fig.update_xaxes(**_ticks(labels), title="position (clean / corrupted token)")
    fig.update_yaxes(**_ticks(result.layers), title="residual stream patched")
    fig.update_layout(title=f"Activation patching: logit({html.escape(result.answer)}) − logit({html.escape(result.wrong)})",
                      height=140 + 48 * len(result.layers), margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return fig


def lens_panel(source: TrainedRun, key: str, default: str) -> None:
    with st.form(f"{key}.form", border=False):
        prompt = st.text_input("Prompt", value=default, key=f"{key}.prompt")
        st.form_submit_button("Read out every layer", type="primary")
    if not prompt.strip():
        return
    try:
        with one_torch_thread():
            lens = logit_lens(source, prompt)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    for note in lens.notes:
        st.warning(note, icon=":material/content_cut:")
    st.plotly_chart(logit_lens_figure(lens), key=f"{key}.figure", config=PNG_CONFIG)
    table = pd.DataFrame(lens.top_tokens, index=lens.layers, columns=[f"{i} {t}" for i, t in enumerate(lens.tokens)])
    st.dataframe(table, key=f"{key}.table")
    st.caption("Each row sends the residual stream through the final LayerNorm and the unembedding: what the "
               "model would predict if it stopped there. The last row is the model's own prediction.")


def patching_panel(source: TrainedRun, key: str) -> None:
    demo = DEMO.tag in (source.run.tags or [])
    with st.form(f"{key}.form", border=False):
        cols = st.columns(2)
        clean = cols[0].text_input("Clean prompt", value=DEMO.clean if demo else "", key=f"{key}.clean")
        corrupt = cols[1].text_input("Corrupted prompt (same length in tokens)", value=DEMO.corrupt if demo else "",
                                     key=f"{key}.corrupt")
        answer = cols[0].text_input("Clean answer (empty: the model's prediction)", value=DEMO.answer if demo else "",
                                    key=f"{key}.answer")
        wrong = cols[1].text_input("Corrupted answer (empty: the model's prediction)", value=DEMO.wrong if demo else "",
                                   key=f"{key}.wrong")
        st.form_submit_button("Patch every layer and position", type="primary")
    if not (clean.strip() and corrupt.strip()):
        st.caption("Two prompts of the same length that lead to different next tokens, e.g. "
                   f"“{DEMO.clean}” / “{DEMO.corrupt}” on the demo run below.")
        return
    try:
        with one_torch_thread(), st.spinner("Patching…"):
            result = patch_residual(source, clean, corrupt, answer=answer.strip() or None, wrong=wrong.strip() or None)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    for note in result.notes:
        st.warning(note, icon=":material/content_cut:")
    st.text(f"Logit difference {result.answer!r} − {result.wrong!r} at the last position: "
            f"clean {result.clean_diff:+.3f}, corrupted {result.corrupt_diff:+.3f}.")
    st.plotly_chart(patching_figure(result), key=f"{key}.figure", config=PNG_CONFIG)
    st.caption("Each cell reruns the corrupted prompt with one residual vector taken from the clean run: 1 means "
               "that vector alone brings the clean answer back, 0 that it carries none of the difference.")


def demo_button(key: str) -> None:
    """Queue the built-in patching demo run and open it on the Run page."""
    st.markdown(f"**{DEMO.title}** — a 2-layer GPT on the planted relations (about 5 s of training on two CPU cores). "
                f"Then patch “{DEMO.clean}” against “{DEMO.corrupt}”.")
    if st.button("Train the demo run", key=key, icon=":material/play_circle:"):
        config = validate_config(apply_overrides(default_config("language_model"), DEMO.overrides))
        try:
            runs = launch(get_store(), [config], names=["patching-demo"], tags=[DEMO.tag])
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        open_run_page([runs[0].id])
