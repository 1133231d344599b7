"""Attention: look inside a trained run. Pick a run, type an input, see every attention it has.

bertviz's head and model views (served offline), plotly heatmaps per layer and head, per-head
summaries, the source x target alignment of a translation, and the attention snapshots saved
during training. ``?run=ID`` (and ``&text=...``) open a run and input directly.
"""

from __future__ import annotations

import streamlit as st

from app.components.attention_view import (
    attention_explorer,
    capture_for,
    checkpoint_mtime,
    evolution_view,
    trained_run,
)
from app.components.learn_view import learn_link
from app.components.run_input import default_input
from app.components.run_picker import pick_runs
from app.heap import freeze_module_objects
from app.state import get_store
from core import inspect as attn
from core.errors import WorkbenchError
from core.learn.chapters import chapter
from core.registry import MODELS, arch_label, task_label
from core.store import Run, Store

VIEWABLE = ("completed", "stopped", "running")  # anything that may have a checkpoint
KEY = "attention"


@st.cache_resource(show_spinner="Loading PyTorch…")  # the first model built in this server loads it
def arch_has_attention(arch: str) -> bool:
    """:func:`core.inspect.may_have_attention` of a tiny model of ``arch`` (its declared defaults,
    an 8-token vocabulary): whether a model has attention depends on its architecture, not on its
    sizes, so one build per architecture answers for every run. A pretrained (Hugging Face) model,
    or one that does not build so, counts as having some: the page says so when it has none."""
    if arch not in MODELS:
        return True
    comp = MODELS.get(arch)
    if comp.meta.get("builds_classifier"):
        return True  # a pretrained model is loaded, not built: BERT, GPT-2, T5 all attend
    params = {p.name: p.default for p in comp.params}
    sizes = (dict(src_vocab_size=8, tgt_vocab_size=8, src_pad_id=0, tgt_pad_id=0, max_len=16)
             if comp.meta.get("seq2seq") else dict(vocab_size=8, pad_id=0, max_len=16))
    try:
        return attn.may_have_attention(comp.factory(params, **sizes))
    except Exception:  # a factory that needs more than its defaults: let the page try the run
        return True


def why_not_shown(store: Store, run: Run) -> str | None:
    """Why this page cannot show ``run`` (the run picker puts such runs last, marked), or None."""
    if not arch_has_attention(run.arch):
        return "no attention"
    if checkpoint_mtime(store, run.id) == 0:
        return "no checkpoint yet"
    return None


# While a rerun is under way Streamlit fades the old elements ("stale"); fading the bertviz
# iframe repaints every one of its thousands of SVG lines, which cost more than drawing the new
# view. The spinner already says that work is in progress.
NO_STALE_FADE = (
    "<style>[data-testid='stElementContainer'][data-stale='true']:has(iframe)"
    " { opacity: 1 !important; transition: none !important; }</style>"
)


def main() -> None:
    st.title("Attention", anchor=False)
    st.html(NO_STALE_FADE)
    body()


# A fragment: submitting an input or switching a view reruns only this part of the app (not the
# navigation and sidebar), which keeps the click-to-drawn time down to the views themselves.
@st.fragment
def body() -> None:
    freeze_module_objects()  # the first view imports bertviz (and IPython) inside this fragment
    store = get_store()
    runs = store.list_runs(status=list(VIEWABLE))
    if not runs:
        st.info("No trained runs yet. Train a Transformer on the **Train** page; its attention shows here.")
        return
    wanted = st.query_params.get("run")
    run_id = pick_runs(store, f"{KEY}.run", multi=False, runs=runs, label="Run", default=wanted,
                       unshowable=lambda r: why_not_shown(store, r))
    run = next(r for r in runs if r.id == run_id)
    st.query_params["run"] = run.id
    run_dir = store.run_folder(run.id)
    try:
        trained = trained_run(store, run.id)
    except Exception as exc:  # no checkpoint yet, damaged folder: say so, never a traceback
        st.error(f"Cannot load {run.name} ({run.id}): {exc if isinstance(exc, WorkbenchError) else repr(exc)}")
        evolution_view(run_dir, f"{KEY}.{run.id}.evolution")
        return
    st.caption(f"{task_label(run.task)} · {arch_label(run.arch)} · checkpoint: {trained.checkpoint}")

    translation = run.task in ("translation", "summarisation")  # a source and the decoder's target
    text_key, target_key = f"{KEY}.{run.id}.text", f"{KEY}.{run.id}.target"
    if text_key not in st.session_state:
        st.session_state[text_key] = st.query_params.get("text") or default_input(run_dir, run, trained)
    with st.form(f"{KEY}.form", border=False):
        st.text_area("Source sentence" if translation else "Input", key=text_key, height=90)
        cols = st.columns([3, 1]) if translation else st.columns([1, 3])
        target = None
        if translation:
            target = cols[0].text_input(
                "Target (optional)", key=target_key,
                help="Leave empty to see the attention of the model's own translation.")
        max_tokens = cols[-1 if translation else 0].number_input(
            "Max tokens", 4, 512, attn.DEFAULT_MAX_TOKENS, key=f"{KEY}.max_tokens",
            help="Longer inputs are truncated (a note says so); bertviz slows down past ~100 tokens.")
        st.form_submit_button("Show attention", type="primary", key=f"{KEY}.show")
    text = st.session_state[text_key]
    if not text.strip():
        st.info("Type an input above.")
        return
    try:
        with st.spinner("Capturing attention…"):
            capture = capture_for(trained, text, target, int(max_tokens))
    except attn.NoAttentionError as exc:
        st.info(f"{exc}: recurrent and convolutional models have no attention weights. "
                "Train a Transformer (or a seq2seq model with attention) to look inside.")
        return
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    layer, head = attention_explorer(capture, f"{KEY}.{run.id}", run_dir=run_dir)
    if chapter("attention").accepts(run.task, run.arch):  # the formula behind these pictures, as shown
        learn_link("attention", run=run.id, text=text, layer=layer, head=head or 0,
                   label="How is this computed?" + (" (head by head: it opens on head 0)" if head is None else ""))


main()
