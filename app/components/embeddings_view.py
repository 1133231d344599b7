"""Word-vector explorer for the Playground: neighbours, analogies, similarity, a 2-D map and the
word2vec text export of a run's vectors (a word_embeddings run's, or any run's token embedding).

Every number comes from ``core.embeddings``; this module only lays the answers out. Words the
vocabulary lacks are reported by name (``st.error`` / ``st.warning``), never as a traceback.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from app.components.charts import embedding_scatter_figure
from app.components.forms import param_widget
from app.components.learn_view import learn_link
from core import embeddings as emb
from core.decoding.settings import WORDS_LISTED
from core.errors import WorkbenchError
from core.runs import TrainedRun
from core.tokenize import SPECIALS

PROJECTION_METHODS = {"PCA": "pca", "t-SNE": "tsne"}
FREQUENT, TYPED = "Most frequent words", "Words I type"
MAX_PROJECTED = 1000  # t-SNE on more points takes minutes on a CPU; the labels become a blur anyway
_SPECIALS = frozenset(SPECIALS)  # never shown, as core.embeddings never returns them
T = TypeVar("T")


def embeddings_panel(trained: TrainedRun, key: str = "playground_emb") -> None:
    """The whole explorer for one run; ``key`` prefixes every widget key."""
    try:
        vocab, vectors = emb.run_vectors(trained)
    except WorkbenchError as exc:
        st.warning(str(exc))
        return
    st.caption(f"{len(vocab):,} tokens · {vectors.shape[1]} dimensions · similarity is the cosine of two vectors")
    tabs = st.tabs(["Neighbours", "Analogy", "Similarity", "Map", "Export"])
    with tabs[0]:
        _neighbours(vocab, vectors, _example_word(trained, vocab), key)
        if trained.config.arch in ("word2vec", "glove"):  # the Learn chapter reads these runs
            learn_link("word_vectors", run=trained.run.id, word=st.session_state.get(f"{key}_word", "").strip())
    with tabs[1]:
        _analogy(vocab, vectors, key)
    with tabs[2]:
        _similarity(vocab, vectors, key)
    with tabs[3]:
        _projection(vocab, vectors, key)
    with tabs[4]:
        _export(trained, vocab, vectors, key)


def _example_word(trained: TrainedRun, vocab: Sequence[str]) -> str:
    """A word worth starting from: one the run itself watched during training, else the most
    frequent real word (the word tokenizer orders its vocabulary by frequency)."""
    watched = trained.task.state.get("eval_words") or []
    known = set(vocab)
    return next((w for w in [*watched, *vocab] if w in known and re.fullmatch(r"[^\W\d_]{3,}", w)), "")


def _answer(action: Callable[[], T]) -> T | None:
    """Run one lookup; an unknown word becomes an error naming it (the engine's message)."""
    try:
        return action()
    except WorkbenchError as exc:
        st.error(str(exc))
        return None


def _scores_table(rows: list[tuple[str, float]], key: str) -> None:
    st.dataframe(pd.DataFrame(rows, columns=["word", "cosine"]), hide_index=True, key=key,
                 column_config={"cosine": st.column_config.NumberColumn(format="%.3f")})


def _neighbours(vocab: list[str], vectors: np.ndarray, default: str, key: str) -> None:
    cols = st.columns([3, 2])
    word = cols[0].text_input("Word", value=default, key=f"{key}_word").strip()
    with cols[1]:
        k = param_widget(WORDS_LISTED, WORDS_LISTED.default, f"{key}_k", label="Neighbours")
    if word:
        rows = _answer(lambda: emb.nearest_neighbours(vectors, vocab, word, k))
        if rows is not None:
            _scores_table(rows, f"{key}_neighbours")


def _analogy(vocab: list[str], vectors: np.ndarray, key: str) -> None:
    st.markdown("**a** is to **b** as **c** is to **?** (the words closest to b − a + c)")
    cols = st.columns(4)
    words = [cols[i].text_input(name, key=f"{key}_analogy_{name}", placeholder=hint).strip()
             for i, (name, hint) in enumerate((("a", "man"), ("b", "woman"), ("c", "king")))]
    with cols[3]:
        k = param_widget(WORDS_LISTED, WORDS_LISTED.default, f"{key}_analogy_k", label="Answers")
    if all(words):
        rows = _answer(lambda: emb.analogy(vectors, vocab, *words, k=int(k)))
        if rows:
            st.markdown(f"{words[0]} : {words[1]} :: {words[2]} : **{rows[0][0]}**")
            _scores_table(rows, f"{key}_analogies")


def _similarity(vocab: list[str], vectors: np.ndarray, key: str) -> None:
    cols = st.columns(2)
    first = cols[0].text_input("First word", key=f"{key}_sim_a").strip()
    second = cols[1].text_input("Second word", key=f"{key}_sim_b").strip()
    if first and second:
        value = _answer(lambda: emb.similarity(vectors, vocab, first, second))
        if value is not None:
            st.metric(f"Cosine similarity of {first} and {second}", f"{value:.3f}",
                      help="1: same direction, 0: unrelated, -1: opposite.")


def _projection(vocab: list[str], vectors: np.ndarray, key: str) -> None:
    cols = st.columns(2)
    method = cols[0].radio("Method", list(PROJECTION_METHODS), horizontal=True, key=f"{key}_method",
                           help="PCA: fast, keeps the large-scale layout. t-SNE: slower, keeps neighbours together.")
    source = cols[1].radio("Words", [FREQUENT, TYPED], horizontal=True, key=f"{key}_source")
    words: list[str] | None = None
    available = min(MAX_PROJECTED, sum(w not in _SPECIALS for w in vocab))
    if source == FREQUENT:
        # A slider needs a range; with 3 words or fewer there is nothing to choose.
        n = st.slider("How many", 3, available, min(200, available), key=f"{key}_n") if available > 3 else available
    else:
        typed = st.text_area("Words, separated by spaces or commas", key=f"{key}_words",
                             placeholder="king queen man woman paris france")
        words, missing = _in_vocabulary(re.split(r"[\s,]+", typed.strip()) if typed.strip() else [], vocab)
        if missing:
            st.warning(f"Not in the vocabulary, left out: {', '.join(missing)}")
        n = len(words)
    points = _answer(lambda: _project(vectors, vocab, PROJECTION_METHODS[method], words, n))
    if points is not None:
        st.plotly_chart(embedding_scatter_figure(points, f"{method} of {len(points)} words"), key=f"{key}_map")


@st.cache_data(max_entries=8, show_spinner="Projecting…")
def _project(vectors: np.ndarray, vocab: list[str], method: str, words: list[str] | None, n: int) -> pd.DataFrame:
    # Cached: t-SNE takes seconds, and every widget change elsewhere on the page reruns this.
    return emb.project_2d(vectors, vocab, method=method, words=words, max_words=n)


def _in_vocabulary(words: Sequence[str], vocab: Sequence[str]) -> tuple[list[str], list[str]]:
    """(found, missing): typed words as the vocabulary spells them ("King" -> "king", as the
    neighbour lookup does), and the ones it lacks."""
    known = set(vocab) - _SPECIALS
    found, missing = [], []
    for word in dict.fromkeys(w for w in words if w):
        if word in known or word.lower() in known:
            found.append(word if word in known else word.lower())
        else:
            missing.append(word)
    return found, missing


def _export(trained: TrainedRun, vocab: list[str], vectors: np.ndarray, key: str) -> None:
    st.markdown("The vectors as a word2vec text file: `N DIM`, then one `word v1 … vDIM` line per word. "
                "A classifier or language model can start from it (task.pretrained_embeddings).")

    def text() -> bytes:
        # Called only when the button is clicked (deferred): a large vocabulary takes seconds.
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "vectors.txt"
            emb.export_word2vec_text(path, vocab, vectors)
            return path.read_bytes()

    st.download_button("Download vectors (word2vec text)", data=text, file_name=f"{trained.run.id}-vectors.txt",
                       mime="text/plain", on_click="ignore", key=f"{key}_export", icon=":material/download:")
