"""The Playground's Ask panel (AppTest) on a tiny trained qa run: a question over the run's own
validation contexts and over uploaded .txt files (a folder and loose files) gets the answer
``core.asking.ask_passages`` gives for the same passages, marked (escaped) in its passage, with
its document, probability, BM25 rank and the other candidates; a non-text upload is refused by
name; the passage index is built once per collection; no exception reaches the page."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app.components import ask_view
from core.asking import FoundAnswer, ask_passages, default_encoder, passage_search
from core.config import validate_config
from core.errors import DataError
from core.qa.retrieval import (
    ENCODERS,
    PASSAGE_OVERLAP,
    PASSAGE_WORDS,
    READ_PASSAGES,
    RETRIEVERS,
    split_passages,
)
from core.runs import load_trained
from core.store import Store
from core.train import load_dataset
from tests.trained_runs import tiny_reader

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60

PLANTED = ("The concert took place in Vienna . Noor Haddad played the concert on Friday . "
           "Observers called it a triumph . Note : <b>draft</b> & final .")
OTHER = "Tides follow the moon . Glaciers carve valleys over thousands of years ."


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One small reader on a small news_qa set, trained here (a few seconds on one thread)."""
    home = tmp_path_factory.mktemp("lmwb-ask-home")
    return home, tiny_reader(home, n_documents=200)


@pytest.fixture
def run_id(trained_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    home, rid = trained_home
    monkeypatch.setenv("LMWB_HOME", str(home))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    ask_view._search.clear()  # caches shared by every AppTest of this process
    ask_view._validation.clear()
    yield rid


def _page() -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / "playground.py"), default_timeout=TIMEOUT).run()


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _expected(run_id: str, question: str, documents: dict[str, str]) -> list[FoundAnswer]:
    trained = load_trained(Store(), run_id)
    passages = split_passages(documents, words=PASSAGE_WORDS, overlap=PASSAGE_OVERLAP)
    return ask_passages(trained, question, passages, k=READ_PASSAGES, top=READ_PASSAGES)


def _shows(at: AppTest, found: list[FoundAnswer], by_bm25: bool = True) -> None:
    """The page shows ``found``: the best answer, where it is from, marked in its passage, and the
    rest as candidates."""
    best = found[0]
    texts = [m.value for m in at.markdown]
    assert any(t.startswith("**Answer:**") and best.text in t for t in texts), texts
    meta = next(t for t in texts if t.startswith("From **"))
    assert ask_view._md(best.passage.doc_id) in meta, meta
    assert f"reader's probability within its passage **{best.score:.1%}**" in meta, meta
    if by_bm25:
        assert f"ranked **{best.rank}** by BM25 (score {best.retrieval_score:.2f})" in meta, meta
    else:
        assert f"ranked **{best.rank}** by the dense retriever (cosine {best.retrieval_score:.2f})" in meta, meta
    assert ask_view.EACH_ALONE in [c.value for c in at.caption]
    passage = next(h.value for h in at.html if "lmwb-ask-passage" in h.value)
    text = best.passage.text
    assert (f"{html.escape(text[:best.start])}<mark style=\"{ask_view.MARK_STYLE}\">"
            f"{html.escape(best.text)}</mark>{html.escape(text[best.end:])}") in passage
    assert len(at.get("plotly_chart")) == 1  # the start and end distributions
    if len(found) > 1:
        frame = next(f.value for f in at.dataframe if "answer" in f.value.columns)
        assert ("BM25 score" if by_bm25 else "cosine") in frame.columns
        assert list(frame["probability within its passage"]) == pytest.approx([f.score for f in found[1:]])
        assert list(frame["answer"]) == [f.text for f in found[1:]]
        assert list(frame["document"]) == [f.passage.doc_id for f in found[1:]]
        assert list(frame["passage rank"]) == [f.rank for f in found[1:]]


def test_ask_over_the_run_s_validation_contexts(run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = ask_view.passage_search
    monkeypatch.setattr(ask_view, "passage_search", lambda trained, passages: built.append(1) or real(trained, passages))
    at = _page()
    _no_exception(at)
    trained = load_trained(Store(), run_id)
    val = load_dataset(validate_config(trained.config.to_dict())).validation
    documents = {f"validation context {i}": c for i, c in enumerate(dict.fromkeys(val.contexts), 1)}
    # A newcomer gets the first validation question, answered at once.
    question = at.text_input(key="playground_ask_question").value
    assert question == val.texts[0]
    _shows(at, _expected(run_id, question, documents))

    at.text_input(key="playground_ask_question").input(val.texts[3]).run()
    _no_exception(at)
    _shows(at, _expected(run_id, val.texts[3], documents))
    assert len(built) == 1  # the second question searched the same index
    # The passage settings start where `lmwb ask` starts; another passage size is another index.
    assert [at.number_input(key=f"playground_ask_{w}").value for w in ("words", "overlap", "k")] == [
        PASSAGE_WORDS, PASSAGE_OVERLAP, READ_PASSAGES]
    at.number_input(key="playground_ask_words").set_value(30).run()
    _no_exception(at)
    assert len(built) == 2

    at.text_input(key="playground_ask_question").input("zebra quantum ?").run()
    _no_exception(at)
    assert "No answer: no passage shares a word with the question." in [i.value for i in at.info]


def test_ask_over_uploaded_files_refuses_non_text_by_name(run_id: str) -> None:
    at = _page()
    at.radio(key="playground_ask_source").set_value("uploaded").run()
    _no_exception(at)
    assert any("Upload a folder" in i.value for i in at.info)
    folder: list[tuple[str, bytes, str]] = [
        ("notes/concert.txt", PLANTED.encode(), "text/plain"), ("notes/sea.txt", OTHER.encode(), "text/plain"),
        ("notes/photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "image/png")]
    at.file_uploader(key="playground_ask_folder").set_value(folder).run()
    at.file_uploader(key="playground_ask_files").set_value([
        ("extra.txt", b"Volcanoes erupt when pressure builds .", "text/plain"),
        ("binary.txt", b"\x00\x01\x02\x03 not text", "text/plain")]).run()
    _no_exception(at)
    warning = " ".join(w.value for w in at.warning)
    assert "Left out 2 uploads" in warning and "notes/photo.png: not a .txt file" in warning, warning
    assert "binary.txt: holds NUL bytes" in warning, warning
    question = "who played the concert in vienna ?"
    at.text_input(key="playground_ask_question").input(question).run()
    _no_exception(at)
    documents = {"notes/concert.txt": PLANTED, "notes/sea.txt": OTHER,
                 "extra.txt": "Volcanoes erupt when pressure builds ."}
    found = _expected(run_id, question, documents)
    assert found and found[0].passage.doc_id == "notes/concert.txt"  # the only passage sharing a word
    _shows(at, found)
    passage = next(h.value for h in at.html if "lmwb-ask-passage" in h.value)
    assert "&lt;b&gt;draft&lt;/b&gt; &amp; final" in passage and "<b>draft" not in passage
    assert len(found) == 1 and not at.dataframe
    assert "**Other candidates:** none (only 1 passage shares a word with the question)" in [
        m.value for m in at.markdown]
    # The reader's unknown tokens, counted by hand: the words its vocabulary (news_qa's) lacks.
    tok = load_trained(Store(), run_id).tokenizer
    (pu, pn), (qu, qn) = [(sum(t not in tok.stoi for t in tok.split(s)), len(tok.split(s)))
                          for s in (found[0].passage.text, question)]
    assert pu >= 6  # noor, haddad, vienna, observers, triumph, draft at least
    said = [c.value for c in [*at.caption, *at.warning] if "unknown to this reader" in c.value]
    assert said and said[0].startswith(
        f"{pu} of {pn} tokens of this passage and {qu} of {qn} of the question are unknown to this reader "
        f"(<unk>; its vocabulary: {tok.vocab_size:,} tokens, learnt from news_qa)."), said
    # ... and greyed on the chart's axis, token by token (the tokenizer's own verdict on each).
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    ticks = chart["layout"]["xaxis2"]["ticktext"]
    vienna = next(t for t in ticks if "Vienna" in t)
    assert vienna == f'<span style="color:{ask_view.UNKNOWN_COLOUR}">Vienna</span>', ticks
    assert "concert" in ticks  # a word news_qa taught it: not greyed


def test_ask_with_the_dense_retriever_from_the_declared_choices(run_id: str) -> None:
    at = _page()
    radio = at.radio(key="playground_ask_retriever")
    assert tuple(radio.options) == tuple(ask_view.RETRIEVER_LABELS[r] for r in RETRIEVERS)
    radio.set_value("dense").run()
    _no_exception(at)
    encoder = at.radio(key="playground_ask_encoder")
    assert tuple(encoder.options) == tuple(ask_view.ENCODER_LABELS[e] for e in ENCODERS)
    assert encoder.value == default_encoder()[0]  # MiniLM when installed, as lmwb ask
    encoder.set_value("run").run()  # the run's own encoder: no second model to load here
    _no_exception(at)
    trained = load_trained(Store(), run_id)
    val = load_dataset(validate_config(trained.config.to_dict())).validation
    documents = {f"validation context {i}": c for i, c in enumerate(dict.fromkeys(val.contexts), 1)}
    question = at.text_input(key="playground_ask_question").value
    search = passage_search(trained, split_passages(documents, words=PASSAGE_WORDS, overlap=PASSAGE_OVERLAP),
                            "dense", "run")
    _shows(at, ask_passages(trained, question, search, k=READ_PASSAGES, top=READ_PASSAGES), by_bm25=False)


def test_unreadable_validation_contexts_are_said_without_the_server_s_folders(
        run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(trained: object) -> None:
        raise DataError("/srv/private/data/dev.json", "file not found")

    monkeypatch.setattr(ask_view, "evaluation_data", gone)
    at = _page()
    _no_exception(at)
    errors = [e.value for e in at.error]
    assert errors == ["This run's validation contexts cannot be read (dev.json: file not found); "
                      "upload documents instead."], errors
    assert not at.text_input  # nothing to ask until documents are uploaded


def test_uploaded_documents_names_each_refusal() -> None:
    docs, refused = ask_view.uploaded_documents(
        [("a.txt", "caf\u00e9\r\nline".encode()), ("b.TXT", b"\xff\xfeh\x00i\x00"), ("c.pdf", b"%PDF"),
         ("d.txt", b"   \n"), ("e.txt", b"\xc3\x28 broken"), ("f.txt", b"x" * 2_000)], max_mb=0.001)
    assert docs == {"a.txt": "caf\u00e9\nline", "b.TXT": "hi"}  # CRLF made \n; UTF-16 with its mark read
    assert refused == ["c.pdf: not a .txt file", "d.txt: file is empty",
                       "e.txt: line 1: not valid UTF-8 text (byte 0xc3 cannot be decoded); save the file as UTF-8",
                       "f.txt: 0.0 MB, over the 0.001 MB upload limit"]


def test_distributions_figure_marks_the_span_and_opens_around_it() -> None:
    import numpy as np

    from core.tasks.qa import Distributions

    n = 120
    probs = np.full(n, 1 / n)
    shown = Distributions(["[CLS]", *(f"t{i}" for i in range(1, n - 1)), "<b>"], [(0, 0)] * n, probs, probs,
                          (90, 92), 0, 1)
    fig: Any = ask_view.distributions_figure(shown)
    assert [list(t.y) for t in fig.data] == [list(probs), list(probs)]
    colours = fig.data[0].marker.color
    assert colours[90] != colours[91] == colours[0]  # the start bar of the start row
    assert fig.data[1].marker.color[92] != fig.data[1].marker.color[90]  # the end bar of the end row
    low, high = fig.layout.xaxis2.range
    assert low <= 90 and high >= 92 and high - low == ask_view.SHOWN_TOKENS
    assert fig.layout.xaxis2.rangeslider.visible
    assert fig.layout.xaxis2.ticktext[-1] == "&lt;b&gt;" and fig.layout.xaxis2.ticktext[91] == "<b>t91</b>"
    # The span: one band behind the bars from the top of the start row to the bottom of the end row.
    (band,) = fig.layout.shapes
    assert (band.x0, band.x1, band.layer, band.yref) == (89.5, 92.5, "below", "paper")
    assert (band.y0, band.y1) == (fig.layout.yaxis2.domain[0], fig.layout.yaxis.domain[1])
    widths = fig.data[0].width
    assert widths[90] < widths[89] and widths[92] < widths[93]  # the band shows beside the span's bars
    unknown = [i in (5, 91) for i in range(n)]
    grey = ask_view.distributions_figure(shown, unknown=unknown).layout.xaxis2.ticktext
    assert grey[5] == f'<span style="color:{ask_view.UNKNOWN_COLOUR}">t5</span>'
    assert grey[91] == f'<span style="color:{ask_view.UNKNOWN_COLOUR}"><b>t91</b></span>' and grey[6] == "t6"
