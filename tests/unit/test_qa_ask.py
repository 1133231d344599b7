"""What `lmwb ask` and the Playground's Ask panel say beside an answer, and how they read documents:
the reader's unknown tokens counted against its tokenizer (worked out by hand), one shared reading
function that leaves a bad file out with its reason (the command line goes on and answers), a
single .txt file as --docs, the dense retriever's default encoder, and the exact reasons for no
answer and for no other candidate."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

import core.asking as asking
from app.components import ask_view
from core.asking import (
    Asked,
    default_encoder,
    document_text,
    unknown_pieces,
    unknown_tokens,
    vocabulary_note,
)
from core.cli import main
from core.cli import qa as cli_qa
from core.config import default_config, validate_config
from core.models.hf_catalog import default_model
from core.runs import TrainedRun, load_trained
from core.store import Store
from core.tokenize import SPECIALS, WordTokenizer
from tests.trained_runs import tiny_reader

PLANTED = "The concert took place in Vienna . Noor Haddad played the concert on Friday ."
TINY = WordTokenizer({}, [*SPECIALS, "the", "concert", "."])


def test_unknown_tokens_are_counted_against_the_tokenizer() -> None:
    # the, concert, in, vienna, . : "in" and "vienna" are not in the 7-token vocabulary.
    assert unknown_tokens(TINY, "The concert in Vienna .") == (2, 5)
    assert unknown_pieces(TINY, ["Vienna", "the", "in the", ""]) == [True, False, False, False]
    trained = cast(TrainedRun, SimpleNamespace(tokenizer=TINY, config=validate_config(default_config("qa"))))
    note, high = vocabulary_note(trained, "The concert in Vienna .", "the concert ?")
    # the question: the, concert, ? -> 1 of 3 unknown; (2 + 1) / 8 is over the 30% line.
    assert note.startswith("2 of 5 tokens of this passage and 1 of 3 of the question are unknown to this reader "
                           "(<unk>; its vocabulary: 7 tokens, learnt from news_qa).")
    assert high and "--set model.name=hf_pretrained" in note and 'Model "Pretrained (Hugging Face)"' in note
    note, high = vocabulary_note(trained, "the concert .", "the .")
    assert note == ("0 of 3 tokens of this passage and 0 of 2 of the question are unknown to this reader "
                    "(<unk>; its vocabulary: 7 tokens, learnt from news_qa).") and not high


    class Pretrained(WordTokenizer):
        kind = "pretrained"

    trained = cast(TrainedRun, SimpleNamespace(tokenizer=Pretrained({}, TINY.itos), config=trained.config))
    note, high = vocabulary_note(trained, "The concert in Vienna .", "the concert ?")
    assert high and "its vocabulary: 7 tokens, the pretrained model's)." in note and "hf_pretrained" not in note


@pytest.mark.skipif(not default_model(), reason="the minilm extra is not installed")
def test_a_pretrained_tokenizer_s_unknown_id_is_counted() -> None:
    from core.models.hf import pretrained_tokenizer

    tok = pretrained_tokenizer({"model": default_model()}, [])
    # WordPiece knows "hello" and "world" and marks a hieroglyph [UNK]; [CLS] and [SEP] are not counted.
    assert unknown_tokens(tok, "hello \U00013000 world") == (1, 3)
    assert unknown_pieces(tok, ["\U00013000", "hello"]) == [True, False]


def test_one_reading_function_for_the_command_line_and_the_panel(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "good.txt").write_text("Tides follow the moon .\n")
    (tmp_path / "nul.txt").write_bytes(b"\x00\x01 binary")
    (tmp_path / "latin.txt").write_bytes("caf\u00e9".encode("latin-1"))
    (tmp_path / "empty.txt").write_bytes(b" \n")
    assert document_text(tmp_path / "good.txt") == ("Tides follow the moon .\n", "")
    assert document_text(tmp_path / "nul.txt")[0] is None and "NUL bytes" in document_text(tmp_path / "nul.txt")[1]
    assert document_text(tmp_path / "empty.txt") == (None, "file is empty")
    assert document_text(tmp_path / "good.txt", name="good.md") == (None, "not a .txt file")
    assert str(tmp_path) not in document_text(tmp_path / "latin.txt")[1]  # no server path in a reason

    calls: list[str] = []

    def spy(path: str | Path, name: str | None = None, max_bytes: int | None = None) -> tuple[str | None, str]:
        calls.append(name or Path(path).name)
        return document_text(path, name, max_bytes)

    monkeypatch.setattr(asking, "document_text", spy)  # what the command line imports when it reads
    monkeypatch.setattr(ask_view, "document_text", spy)  # the panel's name for the same function
    assert ask_view.document_text is spy and asking.document_text is spy
    docs = cli_qa.read_documents(tmp_path)
    assert docs == {"good.txt": "Tides follow the moon .\n"}
    assert sorted(calls) == ["empty.txt", "good.txt", "latin.txt", "nul.txt"]
    calls.clear()
    ask_view.uploaded_documents([("a/good.txt", b"Tides ."), ("nul.txt", b"\x00")], max_mb=1)
    assert calls == ["a/good.txt", "nul.txt"]


def test_no_answer_and_no_other_candidate_reasons() -> None:
    assert Asked([], 0, "bm25").no_answer() == "no passage shares a word with the question"
    assert Asked([], 3, "bm25").no_answer() == "the reader found no answer in the 3 passages BM25 ranked first"
    assert Asked([], 1, "dense").no_answer() == "the reader found no answer in the 1 passage the dense retriever " \
                                                "ranked first"
    one = [cast(Any, object())]
    assert Asked(one, 1, "bm25").no_others() == "only 1 passage shares a word with the question"
    assert Asked(one, 4, "bm25").no_others() == "the reader found no answer in the other 3 passages read"
    assert Asked(one * 2, 4, "bm25").no_others() == ""


def test_dense_retriever_default_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_encoder()[0] == ("minilm" if default_model() else "run")
    monkeypatch.setattr(asking, "default_model", lambda: "")
    encoder, why = default_encoder()
    assert encoder == "run" and "pip install 'lm-workbench[minilm]'" in why


@pytest.fixture(scope="module")
def reader_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One small reader on a small news_qa set, trained here (a few seconds on one thread)."""
    home = tmp_path_factory.mktemp("lmwb-ask-cli")
    return home, tiny_reader(home, n_documents=200)


@pytest.mark.usefixtures("one_torch_thread")
def test_ask_leaves_bad_files_out_and_answers(reader_home: tuple[Path, str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home, rid = reader_home
    monkeypatch.setenv("LMWB_HOME", str(home))
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "concert.txt").write_text(PLANTED + " Zebras graze in Kenya .\n")
    (docs / "sub" / "nul.txt").write_bytes(b"who\x00played")
    (docs / "latin.txt").write_bytes("caf\u00e9 concert".encode("latin-1"))
    (docs / "empty.txt").write_text("")
    question = "who played the concert in vienna ?"
    assert main(["ask", rid, "--docs", str(docs), question]) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if line.startswith("note: left out ")]
    assert [n.split(":")[1].removeprefix(" left out ") for n in notes] == ["empty.txt", "latin.txt", "sub/nul.txt"]
    assert "NUL bytes" in notes[2] and "UTF-8" in notes[1] and notes[0].endswith("file is empty")
    assert re.search(r"^answer:\s+\S", out, re.MULTILINE), out
    assert "(the reader's probability of this span within its passage)" in out
    assert "each passage is read on its own" in out
    # By hand: the words of the passage and the question missing from the reader's vocabulary.
    tok = load_trained(Store(home=home), rid).tokenizer
    passage = PLANTED + " Zebras graze in Kenya ."
    counts = [(sum(t not in tok.stoi for t in tok.split(s)), len(tok.split(s))) for s in (passage, question)]
    assert counts[0][0] >= 4  # zebras, graze, kenya and the names at least
    (pu, pn), (qu, qn) = counts
    assert (f"words:    {pu} of {pn} tokens of this passage and {qu} of {qn} of the question are unknown to this "
            f"reader (<unk>; its vocabulary: {tok.vocab_size:,} tokens, learnt from news_qa).") in out, out
    assert "other candidates: none (only 1 passage shares a word with the question)" in out, out

    # One .txt file as --docs; a question sharing no word; nothing usable at all.
    assert main(["ask", rid, "--docs", str(docs / "concert.txt"), "zebra quantum ?"]) == 0
    out = capsys.readouterr().out
    assert "no answer: no passage shares a word with the question (of 1 passage)" in out, out
    assert main(["ask", rid, "--docs", str(docs / "sub"), question]) == 2
    err = capsys.readouterr().err
    assert "note: left out nul.txt:" in err and "no usable .txt document" in err

    # --retriever dense without --encoder: the run's own encoder only when MiniLM is not installed, said.
    monkeypatch.setattr(asking, "default_model", lambda: "")
    assert main(["ask", rid, "--docs", str(docs), "--retriever", "dense", "-k", "1", question]) == 0
    out, err = capsys.readouterr()
    assert "note: --encoder run: the qa run's own encoder ranks passages poorly" in err
    assert "by the dense retriever (run encoder)" in out
