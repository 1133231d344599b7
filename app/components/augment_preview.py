"""The Data page's augmentation preview: a method and a share of words, and N training rows
shown original | augmented with the changed words marked (struck in the original, bold in the
augmented text), as a run with ``task.augment`` would read them (core.augment)."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from app.components.run_picker import pick_runs, run_label
from app.state import get_store
from core.augment.augmenter import Augmenter, row_seed, word_changes
from core.augment.settings import METHODS
from core.data.types import DatasetSplits
from core.errors import WorkbenchError
from core.registry import TASKS

ROWS = 8  # rows shown at first
# Synonyms come from word vectors: a word_embeddings run, or a classifier's learnt embedding.
VECTOR_TASKS = ("word_embeddings", "classification")
FINISHED = ("completed", "stopped")


@st.cache_resource(show_spinner="Loading the word vectors...", max_entries=4)
def _synonyms(run_id: str, _store: object) -> object:
    from core.augment.sources import synonyms_from_run

    return synonyms_from_run(run_id, _store)  # type: ignore[arg-type]


@st.cache_resource(show_spinner="Loading the translation run...", max_entries=4)
def _translator(run_id: str, _store: object) -> object:
    from core.augment.sources import translator_from_run

    return translator_from_run(run_id, _store)  # type: ignore[arg-type]


def augment_preview(task: str, splits: DatasetSplits) -> None:
    """The preview, for a classification data set (augmentation changes classification rows only)."""
    if task != "classification" or splits.train.labels is None or not splits.train.texts:
        return
    st.subheader("Augmentation")
    declared = TASKS.get("classification")
    method_param, share, chance = declared.param("augment"), declared.param("augment_p"), declared.param("augment_prob")
    st.caption("How training rows read under `task.augment`, which changes a row as it is drawn into a "
               "batch (validation and held-out rows never; labels never).")
    left, mid, right, last = st.columns([2, 2, 1, 1])
    method = left.selectbox(method_param.title, [m for m in METHODS if m != "none"], key="data_aug_method",
                            help=method_param.help)
    p = mid.slider(share.title, float(share.low or 0.0), float(share.high or 1.0), float(share.default), 0.05,
                   key="data_aug_p", help=share.help)
    n = int(right.number_input("Rows", 1, 100, ROWS, key="data_aug_rows"))
    seed = int(last.number_input("Seed", 0, 2**31 - 1, 0, key="data_aug_seed",
                                 help="The run's seed: the same seed changes the same rows the same way."))
    augmenter = _augmenter(method, p)
    if augmenter is None:
        return
    texts = list(splits.train.texts[:n])
    names = splits.label_names or []
    labels = [names[i] if i < len(names) else str(i) for i in (splits.train.labels or [])[:n]]
    try:
        changed = augmenter.augment(texts, [row_seed(seed, 0, j) for j in range(len(texts))])
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.markdown(preview_table(texts, [c if c is not None else t for c, t in zip(changed, texts, strict=True)], labels),
                unsafe_allow_html=True)
    st.caption("Struck: words removed or replaced; bold: words inserted or new. Every row is shown augmented "
               f"here; a run augments a row it draws with chance `task.augment_prob` ({chance.title}, default "
               f"{chance.default:g}).")


def _augmenter(method: str, p: float) -> Augmenter | None:
    """The augmenter for the preview (every row augmented), loading the runs it needs when picked."""
    store = get_store()
    synonyms = translate = None
    if method in ("eda", "synonyms"):
        runs = [r for t in VECTOR_TASKS for r in store.list_runs(task=t, status=FINISHED)]
        if method == "eda":  # optional here: without synonyms EDA still swaps and deletes
            labels = {r.id: run_label(r) for r in runs}
            run_id = st.selectbox("Synonyms from run", ["", *labels], key="data_aug_vectors_eda",
                                  format_func=lambda i: labels.get(i, "none: swap and delete words only"))
        else:
            run_id = pick_runs(store, "data_aug_vectors", multi=False, label="Synonyms from run", runs=runs,
                               empty="(no word-vector run yet)")
        if run_id:
            synonyms = _load(_synonyms, str(run_id), store)
            if synonyms is None:
                return None
        elif method == "synonyms":
            st.info("Synonyms come from a word-vector run: train a Word embeddings run first.")
            return None
        else:
            st.caption("No word-vector run chosen: EDA swaps and deletes words only.")
    if method == "back_translation":
        runs = store.list_runs(task="translation", status=FINISHED)
        left, right = st.columns(2)
        with left:
            there = pick_runs(store, "data_aug_there", multi=False, label="To the pivot language", runs=runs,
                              empty="(no translation run yet)")
        with right:
            back = pick_runs(store, "data_aug_back", multi=False, label="Back again", runs=runs,
                             empty="(no translation run yet)")
        if not there or not back:
            st.info("Back-translation needs two translation runs: one into a pivot language and one back.")
            return None
        forward, backward = _load(_translator, str(there), store), _load(_translator, str(back), store)
        if forward is None or backward is None:
            return None
        translate = (forward, backward)
    return Augmenter(method, p, 1.0, synonyms=synonyms, translate=translate)  # type: ignore[arg-type]


def _load(loader: object, run_id: str, store: object) -> object | None:
    try:
        return loader(run_id, store)  # type: ignore[operator]
    except WorkbenchError as exc:  # a run deleted or without a checkpoint since it was listed
        st.error(str(exc))
        return None


def _marked(words: list[tuple[str, bool]], tag: str) -> str:
    return " ".join(f"<{tag}>{html.escape(w)}</{tag}>" if changed else html.escape(w) for w, changed in words)


def preview_table(originals: list[str], augmented: list[str], labels: list[str]) -> str:
    """An HTML table: label | original | augmented, changed words struck (``<s>``) in the
    original and bold (``<b>``) in the augmented text."""
    rows = []
    for label, before, after in zip(labels, originals, augmented, strict=True):
        left, right = word_changes(before, after)
        rows.append({"label": html.escape(label), "original": _marked(left, "s"), "augmented": _marked(right, "b")})
    return pd.DataFrame(rows, columns=["label", "original", "augmented"]).to_html(
        escape=False, index=False, classes="augment-preview", border=0, justify="left")
