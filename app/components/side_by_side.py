"""Two or more runs, one input: the Playground's side-by-side view of classifiers or language
models (prediction and probabilities, salience, attention), one column per run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from app.components.attention_view import (
    PNG_CONFIG,
    attention_heatmap,
    capture_for,
    one_torch_thread,
    trained_run,
)
from app.components.charts import probabilities_bar_figure
from app.components.quantize_view import cached_variant, is_variant
from app.components.run_picker import run_label
from app.components.salience_view import salience_panel, salience_settings
from core.errors import WorkbenchError
from core.inspect.lens import next_tokens
from core.registry import arch_label
from core.runs import TrainedRun, predict_texts
from core.store import Run, Store

TASKS = ("classification", "language_model")
MAX_RUNS = 4  # columns side by side
SEP = "@"  # an option "RUN_ID@int8": that run's int8 variant, a column of its own


def compare_with(run: Run, runs: Sequence[Run], key: str,
                 variants: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Other finished runs of ``run``'s task to show beside it (none for other tasks), and the
    ``variants`` (run id -> names) of the task's runs, ``run``'s own included, as ``RUN (int8)``."""
    if run.task not in TASKS:
        return []
    by_id = {r.id: r for r in runs if r.task == run.task}
    options = [i for i in by_id if i != run.id]
    options += [f"{i}{SEP}{name}" for i in by_id for name in (variants or {}).get(i, ())]
    if not options:
        return []

    def label(option: str) -> str:
        run_id, _, name = option.partition(SEP)
        return run_label(by_id[run_id]) + (f" ({name})" if name else "")

    return st.multiselect("Compare side by side with", options, format_func=label, key=key,
                          max_selections=MAX_RUNS - 1,
                          help="Same input, every run's prediction, salience and attention in columns; a run's "
                               "int8 variant beside its own weights.")


def side_by_side(store: Store, run_ids: Sequence[str], task: str, key: str,
                 loaded: Mapping[str, TrainedRun] | None = None) -> None:
    """The shared input, then one column per run (``loaded``: runs the page has loaded already)."""
    label = "Text to classify" if task == "classification" else "Prompt (each run predicts the next token)"
    text = st.text_area(label, key=f"{key}.text", placeholder="Type, then press Ctrl+Enter")
    settings = salience_settings(f"{key}.salience")
    if not text.strip():
        return
    for option, col in zip(run_ids, st.columns(len(run_ids)), strict=True):
        run_id, _, variant = option.partition(SEP)
        with col:
            try:
                trained = (cached_variant(store, run_id, variant) if variant
                           else (loaded or {}).get(run_id) or trained_run(store, run_id))
            except Exception as exc:  # a run without checkpoint, a damaged folder
                st.error(f"{run_id}: {exc}")
                continue
            st.markdown(f"**{trained.run.name}**{f' ({variant})' if variant else ''} · {arch_label(trained.run.arch)}")
            column(trained, text, f"{key}.{option}", settings)


def column(trained: TrainedRun, text: str, key: str, settings: dict[str, Any]) -> None:
    """One run's prediction, salience and attention for ``text``."""
    try:
        with one_torch_thread():
            if trained.config.task == "classification":
                probs = predict_texts(trained, [text])[0]
                best = max(probs, key=probs.get)
                st.metric("Predicted class", best, f"{probs[best]:.1%}", delta_color="off")
                st.plotly_chart(probabilities_bar_figure(probs, by_class=True), key=f"{key}.probs")
            else:
                top = next_tokens(trained, text)
                st.metric("Next token", top[0][0], f"{top[0][1]:.1%}", delta_color="off")
                st.dataframe([{"token": t, "probability": p} for t, p in top], hide_index=True, key=f"{key}.next")
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    if is_variant(trained):  # an ONNX graph: no gradients for salience, no attention to draw
        st.caption("No salience or attention for a variant: they need the run's own weights.")
        return
    salience_panel(trained, text, f"{key}.salience", compact=True, **settings)
    try:
        capture = capture_for(trained, text)
    except WorkbenchError as exc:  # NoAttentionError included: RNNs, TextCNN
        st.caption(f"No attention view: {exc}.")
        return
    maps = capture.maps[next(iter(capture.maps))]
    st.plotly_chart(attention_heatmap(maps, maps.n_layers - 1, None), key=f"{key}.attention", config=PNG_CONFIG)


def salience_expander(trained: TrainedRun, text: str, key: str) -> None:
    """The Playground's single-run salience, behind an expander (it costs a few backward passes)."""
    if not text.strip() or trained.config.task not in TASKS:
        return
    with st.expander("Salience: why this prediction", icon=":material/insights:"):
        settings = salience_settings(key)
        salience_panel(trained, text, key, **settings)

