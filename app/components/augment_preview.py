"""The Data page's augmentation preview: a method (its label and description from
core.augment's method table) and a share of words, and N training rows shown with the operation
done, original | augmented with the changed words marked (struck in the original, bold in the
augmented text) and each synonym's cosine, as a run with ``task.augment`` would read them
(core.augment); rows left as they were are named with the reason."""

from __future__ import annotations

import html
from collections.abc import Callable

import pandas as pd
import streamlit as st

from app.components.data_preview import in_words
from app.components.run_knobs import run_candidates
from app.components.run_picker import pick_runs, run_label
from app.state import get_store
from core.augment.augmenter import Augmenter, Change, row_seed, word_changes
from core.augment.settings import BACK_TRANSLATION_RUNS, METHODS, SYNONYMS_RUN, method_label
from core.augment.settings import method as declared_method
from core.data.types import DatasetSplits
from core.errors import WorkbenchError
from core.registry import TASKS

ROWS = 8  # rows shown at first


@st.cache_resource(show_spinner="Loading the word vectors...", max_entries=4)
def _synonyms(run_id: str, _store: object) -> object:
    from core.augment.sources import synonyms_from_run

    return synonyms_from_run(run_id, _store)  # type: ignore[arg-type]


@st.cache_resource(show_spinner="Loading the translation run...", max_entries=4)
def _translator(run_id: str, _store: object) -> object:
    from core.augment.sources import translator_from_run

    return translator_from_run(run_id, _store)  # type: ignore[arg-type]


def augment_preview(task: str, splits: DatasetSplits, dataset: str | None = None) -> None:
    """The preview, for a classification data set (augmentation changes classification rows only);
    ``dataset``: the built-in set's name, so its notes name settings as the page does."""
    if task != "classification" or splits.train.labels is None or not splits.train.texts:
        return
    st.subheader("Augmentation")
    declared = TASKS.get("classification")
    method_param, share, chance = declared.param("augment"), declared.param("augment_p"), declared.param("augment_prob")
    st.caption("How training rows read under `task.augment`, which changes a row as it is drawn into a "
               "batch (validation and held-out rows never; labels never).")
    left, mid, right, last = st.columns([2, 2, 1, 1])
    method = left.selectbox(method_param.title, [m for m in METHODS if m != "none"], key="data_aug_method",
                            help=method_param.help, format_func=method_label)
    p = mid.slider(share.title, float(share.low or 0.0), float(share.high or 1.0), float(share.default), 0.05,
                   key="data_aug_p", help=share.help)
    n = int(right.number_input("Rows", 1, 100, ROWS, key="data_aug_rows"))
    seed = int(last.number_input("Seed", 0, 2**31 - 1, 0, key="data_aug_seed",
                                 help="The run's seed: the same seed changes the same rows the same way."))
    left.caption(declared_method(method).description)
    augmenter = _augmenter(method, p)
    if augmenter is None:
        return
    texts = list(splits.train.texts[:n])
    names = splits.label_names or []
    labels = [names[i] if i < len(names) else str(i) for i in (splits.train.labels or [])[:n]]
    try:
        changes = augmenter.explain_all(texts, [row_seed(seed, 0, j) for j in range(len(texts))])
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    similarity = getattr(augmenter.synonyms, "similarity", None)
    st.markdown(preview_table(texts, changes, labels, similarity), unsafe_allow_html=True)
    st.caption("Struck: words removed or replaced; bold: words inserted or new (a swap moves two words). "
               f"Every row here is drawn for augmentation; a run draws a row with chance `task.augment_prob` "
               f"({chance.title}, default {chance.default:g}).")
    why: dict[str, list[str]] = {}
    for j, c in enumerate(changes):
        if c.unchanged:
            why.setdefault(c.unchanged, []).append(str(j + 1))
    if why:
        st.caption("Left as they were: " + "; ".join(
            f"{'rows' if len(rows) > 1 else 'row'} {', '.join(rows)}: {reason}" for reason, rows in why.items()) + ".")
    flipped = [note for note in splits.notes if "on purpose" in note]
    if flipped:  # the built-in sets' label noise: which rows is not recorded, so the note is general
        noted = "; ".join(in_words(note, dataset) for note in flipped)  # settings by their titles
        st.caption(f"Labels noisy on purpose: {noted}. A row whose label disagrees with its text "
                   "may be one of them; augmentation keeps every label as it is.")


def _augmenter(method: str, p: float) -> Augmenter | None:
    """The augmenter for the preview (every row augmented), loading the runs it needs when picked."""
    store = get_store()
    synonyms = translate = None
    if method in ("eda", "synonyms"):
        assert SYNONYMS_RUN.runs is not None
        runs = run_candidates(store, SYNONYMS_RUN.runs, "classification")
        if method == "eda":  # optional here: without synonyms EDA still swaps and deletes
            labels = {r.id: run_label(r) for r in runs}
            run_id = st.selectbox(SYNONYMS_RUN.title, ["", *labels], key="data_aug_vectors_eda",
                                  format_func=lambda i: labels.get(i, "none: swap and delete words only"),
                                  help=SYNONYMS_RUN.help)
        else:
            run_id = pick_runs(store, "data_aug_vectors", multi=False, label=SYNONYMS_RUN.title, runs=runs,
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
        choice = BACK_TRANSLATION_RUNS.runs
        assert choice is not None
        runs = run_candidates(store, choice, "classification")
        picked = []
        for column, role, key in zip(st.columns(2), choice.roles, ("data_aug_there", "data_aug_back"), strict=True):
            with column:
                picked.append(pick_runs(store, key, multi=False, label=role, runs=runs,
                                        empty="(no translation run yet)"))
        there, back = picked
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


def preview_table(originals: list[str], changes: list[Change], labels: list[str],
                  similarity: Callable[[str, str], float | None] | None = None) -> str:
    """An HTML table: row | label | operation | original | augmented, changed words struck
    (``<s>``) in the original and bold (``<b>``) in the augmented text; with ``similarity``, the
    synonyms used and their cosine to the word they came from."""
    rows = []
    for j, (label, before, change) in enumerate(zip(labels, originals, changes, strict=True)):
        left, right = word_changes(before, change.text)
        row = {"row": str(j + 1), "label": html.escape(label),
               "operation": html.escape(" + ".join(change.ops) if not change.unchanged else "unchanged"),
               "original": _marked(left, "s"), "augmented": _marked(right, "b")}
        if similarity is not None:
            row["synonyms (cosine)"] = ", ".join(
                html.escape(f"{a} → {b}" + (f" {cos:.2f}" if (cos := similarity(a, b)) is not None else ""))
                for a, b in change.synonyms)
        rows.append(row)
    columns = ["row", "label", "operation", "original", "augmented"] + (["synonyms (cosine)"] if similarity else [])
    return pd.DataFrame(rows, columns=columns).to_html(
        escape=False, index=False, classes="augment-preview", border=0, justify="left")
