"""The Playground's Ask panel for qa runs: a question over a collection of documents, answered as
``lmwb ask`` answers it (:func:`core.asking.ask_question`: BM25 or the dense retriever, the same
declared choices, ranks the passages, the run's reader reads the first k), with the best answer
marked in its passage, how much of it the reader's vocabulary lacks, the other candidates (or why
there are none), and the reader's start and end distributions over the best passage's tokens as a
picture.

The collection is the run's own validation contexts (there at once, so a newcomer can ask
straight away) or ``.txt`` documents the person uploads: a folder, several files, or both. It is
cut into passages as the command line cuts them (``core.qa.retrieval``'s defaults) and indexed
once per collection, passage size and retriever (``st.cache_resource``), so the next question searches the
same index.
"""

from __future__ import annotations

import hashlib
import html
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app.components.charts import PALETTE
from app.components.uploads import upload_limit_mb
from core.asking import (
    Asked,
    FoundAnswer,
    ask_question,
    default_encoder,
    document_text,
    passage_search,
    unknown_pieces,
    vocabulary_note,
)
from core.errors import DataError, WorkbenchError
from core.qa.retrieval import (
    ENCODERS,
    PASSAGE_OVERLAP,
    PASSAGE_WORDS,
    READ_PASSAGES,
    RETRIEVERS,
    PassageSearch,
    split_passages,
)
from core.runs import TrainedRun, evaluation_data

if TYPE_CHECKING:  # the task module is the engine's to load (with the run)
    from core.tasks.qa import Distributions, QATask

OWN, UPLOADED = "own", "uploaded"  # where the collection comes from
SHOWN_TOKENS = 48  # tokens the distributions chart shows at first (a slider below pans it)
NAMED_REFUSALS = 5  # refused uploads named one by one; the rest counted
PROBABILITY = "probability within its passage"  # the candidates' column: not comparable across passages
EACH_ALONE = ("Each passage is read on its own, so a probability compares answers within one passage, not "
              "across passages: a confident answer in an unrelated passage can beat a weaker one in the "
              "best-ranked passage.")
RETRIEVER_LABELS = {"bm25": "BM25 (shared words)", "dense": "Dense (sentence vectors)"}
ENCODER_LABELS = {"minilm": "MiniLM (all-MiniLM-L6-v2)", "run": "This run's own encoder (weak)"}
KNOWN_COLOUR, UNKNOWN_COLOUR = "#31333f", "#b4bac4"  # axis labels: a token the reader knows, one it reads as <unk>
BAND_COLOUR = "#ffe066"
MARK_STYLE = "background-color: #ffe066; padding: 0 2px; border-radius: 3px"
PASSAGE_STYLE = "white-space: pre-wrap; line-height: 1.6"  # the document's own line breaks


def ask_panel(trained: TrainedRun) -> None:
    """The collection, the question, and the answer with its passage, candidates and picture."""
    source = st.radio("Search in", (OWN, UPLOADED), key="playground_ask_source", horizontal=True,
                      format_func=lambda s: ("This run's validation contexts" if s == OWN
                                             else "Documents you upload (.txt)"))
    examples: list[str] = []
    if source == OWN:
        try:
            documents, examples = validation_documents(trained)
        except Exception as exc:  # a moved data file, a dataset gone from the cache: said, never a traceback
            # Another library's message may name the server's folders: only its kind is shown.
            why = _without_path(exc) if isinstance(exc, WorkbenchError) else type(exc).__name__
            st.error(f"This run's validation contexts cannot be read ({why}); upload documents instead.")
            return
        st.caption(f"{len(documents):,} contexts of the run's validation split, each a document.")
    else:
        documents = _upload_widgets()
    if not documents:
        return
    with st.expander("Passages and retrieval"):
        retriever, encoder = _retriever_widgets()
        cols = st.columns(3)
        words = cols[0].number_input("Words per passage", min_value=1, value=PASSAGE_WORDS, step=10,
                                     key="playground_ask_words",
                                     help="Documents are cut into passages of about this many words.")
        overlap = cols[1].number_input("Words shared by neighbours", min_value=0, value=PASSAGE_OVERLAP, step=5,
                                       key="playground_ask_overlap",
                                       help="An answer cut by one passage's edge lies whole in the next.")
        k = cols[2].number_input("Passages read", min_value=1, value=READ_PASSAGES, key="playground_ask_k",
                                 help="The retriever ranks the passages; the reader reads this many of the "
                                      "first, at most one answer from each.")
    if overlap >= words:
        st.error(f"Words shared by neighbours ({overlap}) must be fewer than words per passage ({words}).")
        return
    question = st.text_input("Question", key="playground_ask_question", value=examples[0] if examples else "",
                             placeholder="Ask a question the documents answer, then press Enter")
    try:
        search = collection_search(trained, documents, int(words), int(overlap), retriever, encoder)
    except Exception as exc:  # e.g. the MiniLM encoder not installed: said, never a traceback
        st.error(f"Indexing failed: {_reason(exc)}")
        return
    st.caption(f"{len(documents):,} document{'s' * (len(documents) != 1)} in "
               f"{len(search.passages):,} passage{'s' * (len(search.passages) != 1)}.")
    if not question.strip():
        return
    try:
        asked = ask_question(trained, question, search, k=int(k), top=int(k))
    except Exception as exc:  # never a traceback: the reason in one line
        st.error(f"Asking failed: {_reason(exc)}")
        return
    if not asked.answers:
        st.info(f"No answer: {asked.no_answer()}.")
        return
    _show_answer(trained, question, asked)


def _retriever_widgets() -> tuple[str, str | None]:
    """The retriever and, for a dense one, its encoder: the choices ``lmwb ask`` declares."""
    cols = st.columns(2)
    retriever = cols[0].radio("Retriever", RETRIEVERS, key="playground_ask_retriever", horizontal=True,
                              format_func=lambda r: RETRIEVER_LABELS.get(r, r),
                              help="BM25 ranks passages by the question's words they share; a dense retriever "
                                   "by the cosine between sentence vectors (lmwb ask --retriever).")
    if retriever != "dense":
        return retriever, None
    default, why = default_encoder()
    encoder = cols[1].radio("Encoder", ENCODERS, index=ENCODERS.index(default), key="playground_ask_encoder",
                            horizontal=True, format_func=lambda e: ENCODER_LABELS.get(e, e),
                            help="Whose sentence vectors rank the passages (lmwb ask --encoder).")
    if encoder == "run":
        st.caption("This run's own encoder: " + (why or "a reader is trained to point at answers, not to match "
                                                       "texts, so it ranks passages poorly") + ".")
    return retriever, encoder


def _show_answer(trained: TrainedRun, question: str, asked: Asked) -> None:
    found = asked.answers
    best = found[0]
    by = "BM25" if asked.retriever == "bm25" else "the dense retriever"
    kind = "score" if asked.retriever == "bm25" else "cosine"
    st.markdown(f"**Answer:** {_md(best.text)}")
    st.markdown(f"From **{_md(best.passage.doc_id)}** · reader's probability within its passage "
                f"**{best.score:.1%}** · passage ranked **{best.rank}** by {by} ({kind} {best.retrieval_score:.2f})")
    st.caption(EACH_ALONE)
    note, high = vocabulary_note(trained, best.passage.text, question)
    (st.warning if high else st.caption)(note)
    with st.container(border=True):
        # st.html, not Markdown: a document's own *, $ or blank lines must not become formatting.
        st.html(f'<div class="lmwb-ask-passage" style="{PASSAGE_STYLE}">'
                f"{marked_html(best.passage.text, best.start, best.end)}</div>")
    task = cast("QATask", trained.task)
    shown = task.distributions(trained.model, question, best.passage.text)
    unknown = unknown_pieces(trained.tokenizer, shown.tokens[1:])
    st.plotly_chart(distributions_figure(shown, unknown=[False, *unknown]), key="playground_ask_distributions")
    where = f" (window {shown.window + 1} of {shown.windows} of the passage)" if shown.windows > 1 else ""
    slider = (" Drag the slider under the chart to move along the passage."
              if len(shown.tokens) > SHOWN_TOKENS else "")
    st.caption("Each bar is the reader's probability that the answer starts (top) or ends (bottom) at that "
               f"token{where}: a softmax over [CLS] (\"no answer here\") and the passage's tokens. The answer's "
               f"probability is its start's times its end's. Grey labels are tokens the reader does not "
               f"know (<unk>).{slider}")
    if len(found) > 1:
        st.markdown("**Other candidates**")
        st.dataframe(candidates_rows(found[1:], asked.retriever), hide_index=True, width="stretch",
                     key="playground_ask_candidates",
                     column_config={PROBABILITY: st.column_config.ProgressColumn(
                         PROBABILITY, format="percent", min_value=0.0, max_value=1.0)})
    else:
        st.markdown(f"**Other candidates:** none ({asked.no_others()})")


def candidates_rows(found: Sequence[FoundAnswer], retriever: str = "bm25") -> list[dict[str, object]]:
    """One table row per candidate answer: its text, the reader's probability within its passage,
    its document and its passage's rank and retrieval score (BM25's, or the dense cosine)."""
    score = "BM25 score" if retriever == "bm25" else "cosine"
    return [{"answer": f.text, PROBABILITY: f.score, "document": f.passage.doc_id, "passage rank": f.rank,
             score: round(f.retrieval_score, 3)} for f in found]


def marked_html(text: str, start: int, end: int) -> str:
    """``text`` as HTML with characters ``[start, end)`` in a <mark>; every character escaped."""
    return (f"{html.escape(text[:start])}<mark style=\"{MARK_STYLE}\">{html.escape(text[start:end])}</mark>"
            f"{html.escape(text[end:])}")


# -- the collection ---------------------------------------------------------------------------


def validation_documents(trained: TrainedRun) -> tuple[dict[str, str], list[str]]:
    """The run's validation contexts (each once, in order) named ``validation context N``, and its
    validation questions (examples to ask)."""
    return _validation(trained, trained.run.id, _digest([repr(sorted(trained.config.to_dict()["data"].items()))]))


@st.cache_resource(max_entries=4, show_spinner="Reading the run's validation contexts…")
def _validation(_trained: TrainedRun, run_id: str, data_key: str) -> tuple[dict[str, str], list[str]]:
    # Cached by run and data section; the split is read as `lmwb eval RUN` reads it.
    _, data = evaluation_data(_trained)
    split = data.validation
    contexts = list(dict.fromkeys(cast(list[str], getattr(split, "contexts", []))))
    return {f"validation context {i}": c for i, c in enumerate(contexts, 1)}, list(split.texts)


def collection_search(trained: TrainedRun, documents: dict[str, str], words: int, overlap: int,
                      retriever: str = "bm25", encoder: str | None = None) -> PassageSearch:
    """The search over ``documents`` cut into passages, built once per collection, passage size
    and retriever (a second question, or a second page run, finds it cached)."""
    key = _digest([f"{words}:{overlap}:{retriever}:{encoder}:{trained.run.id}:{trained.checkpoint}",
                   *(f"{name}\0{text}" for name, text in documents.items())])
    return _search(trained, documents, words, overlap, key, retriever, encoder)


@st.cache_resource(max_entries=4, show_spinner="Indexing the passages…")
def _search(_trained: TrainedRun, _documents: dict[str, str], words: int, overlap: int, key: str,
            retriever: str = "bm25", encoder: str | None = None) -> PassageSearch:
    # Keyed by the collection's digest (``key``): hashing the documents themselves at every run is slow.
    passages = split_passages(_documents, words=words, overlap=overlap)
    if retriever == "bm25":
        return passage_search(_trained, passages)
    return passage_search(_trained, passages, retriever, encoder)


def uploaded_documents(files: Sequence[tuple[str, bytes]], max_mb: float) -> tuple[dict[str, str], list[str]]:
    """The ``.txt`` files among ``(name, bytes)`` uploads as {name: text}, and the refused ones,
    each named with its reason (over ``max_mb``, or what :func:`core.asking.document_text`, which
    ``lmwb ask --docs`` asks too, says: not .txt, not UTF-8 text, binary, empty)."""
    documents: dict[str, str] = {}
    refused: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lmwb-ask-") as folder:
        staged = Path(folder) / "upload.txt"
        for name, data in files:
            if len(data) > max_mb * 1_000_000:
                refused.append(f"{name}: {len(data) / 1e6:.1f} MB, over the {max_mb:g} MB upload limit")
                continue
            staged.write_bytes(data)
            text, why = document_text(staged, name=name, max_bytes=int(max_mb * 1_000_000))
            if text is None:
                refused.append(f"{name}: {why}")
            else:
                documents[name] = text
    return documents, refused


def _upload_widgets() -> dict[str, str]:
    limit = upload_limit_mb()
    cols = st.columns(2)
    common = {"max_upload_size": max(1, math.floor(limit)),
              "help": "Plain text (UTF-8) .txt files; other files are left out and named. Kept only "
                      "for this session, never stored."}
    folder = cols[0].file_uploader(f"A folder of .txt files (each up to {limit:g} MB)",
                                   accept_multiple_files="directory", key="playground_ask_folder", **common)
    loose = cols[1].file_uploader(f"Or .txt files (each up to {limit:g} MB)", accept_multiple_files=True,
                                  key="playground_ask_files", **common)
    files = [*(folder or []), *(loose or [])]
    if not files:
        st.info("Upload a folder or a few .txt files to ask questions about them.")
        return {}
    ids = tuple(f.file_id for f in files)
    memo = st.session_state.get("playground_ask_read")
    if not memo or memo[0] != ids:  # decode each upload once, not at every page run
        memo = (ids, *uploaded_documents([(f.name, f.getvalue()) for f in files], limit))
        st.session_state["playground_ask_read"] = memo
    _, documents, refused = memo
    if refused:
        named = "; ".join(refused[:NAMED_REFUSALS])
        more = f"; and {len(refused) - NAMED_REFUSALS} more" if len(refused) > NAMED_REFUSALS else ""
        st.warning(f"Left out {len(refused)} upload{'s' * (len(refused) != 1)}: {named}{more}.")
    if not documents:
        st.info("None of the uploads is a .txt text file: nothing to search.")
    return documents


# -- the picture ------------------------------------------------------------------------------


def distributions_figure(shown: Distributions, visible: int = SHOWN_TOKENS,
                         unknown: Sequence[bool] = ()) -> go.Figure:
    """Two rows of bars over the passage's tokens ([CLS] first): the reader's probability that
    the answer starts at each token (top) and that it ends there (bottom), the best span a
    full-height band behind its bars, its start and end bars coloured, and the labels of the
    ``unknown`` tokens (the reader's <unk>) grey. A long passage opens on the ``visible`` tokens
    around the span; the range slider under the chart moves along the rest."""
    n = len(shown.tokens)
    x = np.arange(n)
    a, b = shown.span if shown.span is not None else (-1, -1)
    labels = [_plotly_text(t if len(t) <= 14 else t[:13] + "…") for t in shown.tokens]
    labels = [f"<b>{label}</b>" if a <= i <= b else label for i, label in enumerate(labels)]  # the answer's
    labels = [f'<span style="color:{UNKNOWN_COLOUR}">{label}</span>' if i < len(unknown) and unknown[i] else label
              for i, label in enumerate(labels)]
    # The span's bars narrower than the rest, so the band behind them shows on both sides.
    widths = [0.5 if a <= i <= b else 0.85 for i in range(n)]
    hover = [_plotly_text(t) for t in shown.tokens]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.14,
                        subplot_titles=("Start of the answer", "End of the answer"))
    for row, (probs, chosen, colour) in enumerate(((shown.start, a, PALETTE[0]), (shown.end, b, PALETTE[1])), 1):
        fig.add_trace(go.Bar(
            x=x, y=probs, customdata=hover, showlegend=False, name="start" if row == 1 else "end", width=widths,
            marker={"color": [colour if i == chosen else "#b8c2d1" for i in range(n)]},
            hovertemplate="%{customdata}: %{y:.1%}<extra></extra>",
        ), row=row, col=1)
        fig.update_yaxes(tickformat=".0%", range=[0, float(np.max(probs, initial=0)) * 1.15 or 1],
                         title_text="probability", row=row, col=1)
    if shown.span is not None:
        # One band from the top of the start row to the bottom of the end row, behind the bars.
        bottom, top = fig.layout.yaxis2.domain[0], fig.layout.yaxis.domain[1]
        fig.add_shape(type="rect", xref="x", yref="paper", x0=a - 0.5, x1=b + 0.5, y0=bottom, y1=top,
                      fillcolor=BAND_COLOUR, opacity=0.55, line_width=0, layer="below")
    centre = (a + b) / 2 if shown.span is not None else 0
    low = int(min(max(0, centre - visible / 2), max(0, n - visible)))
    shown_range = [low - 0.5, min(n, low + visible) - 0.5]
    fig.update_xaxes(tickmode="array", tickvals=list(x), ticktext=labels, tickangle=-55, range=shown_range,
                     tickfont={"size": 11, "color": KNOWN_COLOUR})
    if n > visible:
        fig.update_xaxes(rangeslider={"visible": True, "thickness": 0.06}, row=2, col=1)
    fig.update_layout(height=470 if n > visible else 420, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      dragmode="pan")
    return fig


# -- helpers ----------------------------------------------------------------------------------


def _digest(parts: Sequence[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\1")
    return h.hexdigest()


def _plotly_text(text: str) -> str:
    """Plain text for a plotly label or hover: its markup characters as entities."""
    return html.escape(text, quote=False)


def _md(text: str) -> str:
    """``text`` shown literally inside Markdown (no emphasis, links or HTML from a document)."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in " ".join(text.split()))


def _reason_only(exc: DataError) -> str:
    """A data error's message without the (staging) file it names: the caller names the upload."""
    where = f"{exc.file}, line {exc.line}: " if exc.line is not None else f"{exc.file}: "
    message = str(exc).removeprefix(where)
    return f"line {exc.line}: {message}" if exc.line is not None else message


def _without_path(exc: WorkbenchError) -> str:
    """The message with a data file named by its name only (no server folders in the page)."""
    if isinstance(exc, DataError):
        return f"{Path(exc.file).name}: {_reason_only(exc)}"
    return str(exc)


def _reason(exc: Exception) -> str:
    return _without_path(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
