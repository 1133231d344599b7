"""Mistakes in a question-answering file, each named by its place (data[i].paragraphs[j].qas[k] with
its id, or a line/row and column) with what the reader did: an answer_start off its text repaired
only when the text occurs once, everything else skipped, good questions kept."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.config import default_config, validate_config
from core.errors import DataError
from core.train import load_dataset

BRIDGE = "The Golden Gate Bridge opened in 1937 in San Francisco."
TWICE = "Rome was not built in a day; Rome is old."
OTHER = "The Nile flows north into the Mediterranean Sea."


def _load(path: Path, **extra: object):
    raw = default_config("qa")
    raw["data"] = {"name": "qa_file", "path": str(path), **extra}
    return load_dataset(validate_config(raw))


def _write(tmp_path: Path, name: str, paragraphs: list) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return path


def _qa(qid: str | None, question: str, text: str, start: int | None) -> dict:
    answer = {"text": text} if start is None else {"text": text, "answer_start": start}
    return ({"id": qid} if qid else {}) | {"question": question, "answers": [answer]}


def test_bad1_missing_context_id_and_answer_start_are_each_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad1.json", [
        {"qas": [_qa("x1", "Lost?", "a", 0)]},
        {"context": BRIDGE, "qas": [_qa("a1", "What opened?", "The Golden Gate Bridge", 0),
                                    _qa(None, "When?", "1937", 33),
                                    _qa("a3", "Where?", "San Francisco", None)]},
    ])
    with pytest.raises(DataError) as caught:
        _load(path)
    message = str(caught.value)
    assert caught.value.file.endswith("bad1.json")
    assert 'data[0].paragraphs[0]: no "context"; its 1 question skipped' in message
    assert 'data[0].paragraphs[1].qas[1]: no "id"; kept' in message
    assert ('data[0].paragraphs[1].qas[2] (id a3): no "answer_start" for \'San Francisco\' (it occurs once, at 41); '
            "repaired to 41") in message
    # The mistakes come before what they left behind: one context, nothing to hold out.
    assert message.index("no \"context\"") < message.index("share one context")
    assert "Traceback" not in message


def test_bad2_answer_start_off_its_text_is_named_exactly_and_repaired_when_the_text_occurs_once(
        tmp_path: Path) -> None:
    path = _write(tmp_path, "bad2.json", [
        {"context": BRIDGE, "qas": [_qa("a1", "What opened?", "The Golden Gate Bridge", 0),
                                    _qa("a2", "When?", "1937", 10)]},
        {"context": OTHER, "qas": [_qa("b1", "Which way?", "north", OTHER.index("north"))]},
    ])
    data = _load(path, val_fraction=0.5)
    note = "\n".join(n for n in data.notes if n.startswith("bad2.json"))
    assert ("data[0].paragraphs[0].qas[1] (id a2): answer_start 10 points at ' Gat', not '1937' (which is at 33); "
            "repaired to 33") in note
    every = dict(zip([*data.train.texts, *data.validation.texts], [*data.train.answers, *data.validation.answers],
                     strict=True))
    assert every["When?"] == [("1937", 33)]


def test_an_offset_that_cannot_be_repaired_skips_its_question_and_says_why(tmp_path: Path) -> None:
    path = _write(tmp_path, "ambiguous.json", [
        {"context": TWICE, "qas": [_qa("r1", "Which city?", "Rome", 3),  # twice in the context: which?
                                   _qa("r2", "What river?", "Tiber", 0)]},  # nowhere
    ])
    with pytest.raises(DataError) as caught:
        _load(path)
    message = str(caught.value)
    assert "no usable question" in message
    assert ("data[0].paragraphs[0].qas[0] (id r1): answer_start 3 points at 'e wa', not 'Rome' (which occurs 2 "
            "times, at 0, 29: cannot tell which); skipped") in message
    assert "qas[1] (id r2): answer_start 0 points at 'Rome ', not 'Tiber' (which does not occur" in message
    assert 'each answer a "text" found in the context at its "answer_start"' in message


def test_mixed_file_keeps_its_good_questions_and_lists_the_first_mistakes_then_counts_the_rest(
        tmp_path: Path) -> None:
    good = [{"context": f"Item {i} was sold in {1900 + i}.", "qas": [
        _qa(f"g{i}", f"When was item {i} sold?", str(1900 + i), len(f"Item {i} was sold in "))]} for i in range(10)]
    bad = [{"context": BRIDGE, "qas": [
        _qa("m1", "When?", "1937", 34),  # off by one: repaired
        {"id": "m2", "answers": [{"text": "1937", "answer_start": 33}]},  # no question
        _qa("m3", "Who?", "Tiber", 0),  # nowhere
        _qa("m4", "Where?", "San Francisco", 40),  # off by one: repaired
        {"id": "m5", "question": "", "answers": []},  # empty question
        _qa("m6", "What?", "Moscow", 5),  # nowhere
        _qa("m7", "Which?", "Paris", 1),  # nowhere
    ]}, {"context": "", "qas": [_qa("m8", "Q?", "x", 0)]}]
    path = _write(tmp_path, "mixed.json", good + bad)
    data = _load(path, val_fraction=0.2)
    kept = [*data.train.texts, *data.validation.texts]
    assert all(f"When was item {i} sold?" in kept for i in range(10))
    assert "When?" in kept and "Where?" in kept and "Who?" not in kept
    lines = [n for n in data.notes if n.startswith("mixed.json")]
    assert lines[0] == "mixed.json: 8 mistakes found (6 questions skipped, 2 answer_starts repaired)"
    assert lines[1].startswith("mixed.json, data[0].paragraphs[10].qas[0] (id m1): answer_start 34")
    assert lines[1].endswith("repaired to 33")
    assert lines[2] == 'mixed.json, data[0].paragraphs[10].qas[1] (id m2): no "question"; skipped'
    assert lines[3].startswith("mixed.json, data[0].paragraphs[10].qas[2] (id m3): ") and lines[3].endswith("; skipped")
    assert len(lines) == 1 + 5 + 1 and lines[-1] == "mixed.json, and 3 more (3 skipped)"


def test_jsonl_and_parquet_rows_named_by_line_or_row_and_column(tmp_path: Path) -> None:
    rows = [
        {"context": BRIDGE, "question": "When?", "answers": {"text": ["1937"], "answer_start": [10]}},  # repaired
        {"context": "", "question": "Empty?", "answers": ["x"]},
        {"context": OTHER, "question": "", "answers": ["Nile"]},
        {"context": OTHER, "question": "Which sea?", "answers": ["Mediterranean Sea"]},
        {"context": TWICE, "question": "Which city?", "answers": {"text": ["Rome"], "answer_start": [3]}},
        {"context": OTHER, "question": "Bad answers?", "answers": {"text": ["a", "b"], "answer_start": [1]}},
    ]
    jsonl = tmp_path / "qa.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    data = _load(jsonl, val_fraction=0.5)
    note = "\n".join(n for n in data.notes if n.startswith("qa.jsonl"))
    assert ("line 1, column 'answers': answer_start 10 points at ' Gat', not '1937' (which is at 33); "
            "repaired to 33") in note
    assert "line 2: column 'context' is empty; skipped" in note
    assert "line 3: column 'question' is empty; skipped" in note
    assert "line 5, column 'answers': answer_start 3 points at 'e wa', not 'Rome' (which occurs 2 times" in note
    assert "line 6: column 'answers' cannot be read (2 answer texts but 1 answer starts); skipped" in note
    assert sorted([*data.train.texts, *data.validation.texts]) == ["When?", "Which sea?"]

    parquet = tmp_path / "qa.parquet"
    pd.DataFrame([{**r, "answers": json.dumps(r["answers"])} for r in rows[1:3]]).to_parquet(parquet)
    with pytest.raises(DataError) as caught:
        _load(parquet)
    message = str(caught.value)
    assert caught.value.file.endswith("qa.parquet") and "no usable row" in message
    assert "row 1: column 'context' is empty; skipped" in message
    assert "row 2: column 'question' is empty; skipped" in message


def test_a_run_that_fails_on_its_file_shows_the_mistakes_on_the_run_page(
        tmp_path: Path, store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the path users take: the run fails on its data, the Run page's banner lists the mistakes."""
    from streamlit.testing.v1 import AppTest

    from app.navigation import page_path
    from core.runs import create_run, execute_run

    path = _write(tmp_path, "bad1.json", [
        {"qas": [_qa("x1", "Lost?", "a", 0)]},
        {"context": BRIDGE, "qas": [_qa("a1", "What opened?", "The Golden Gate Bridge", 0),
                                    _qa("a2", "When?", "1937", 10)]},
    ])
    raw = default_config("qa")
    raw["data"] = {"name": "qa_file", "path": str(path)}
    run = create_run(store, validate_config(raw))
    with pytest.raises(DataError):
        execute_run(store, run.id)
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    main = Path(__file__).resolve().parents[2] / "app" / "main.py"
    at = AppTest.from_file(str(main), default_timeout=30).run()
    at.query_params.update(run=run.id)
    at.switch_page(str(page_path("run"))).run()
    assert not at.exception, [e.value for e in at.exception]
    [banner] = [e.value for e in at.error if "bad1.json" in e.value]
    assert '- data[0].paragraphs[0]: no "context"; its 1 question skipped' in banner
    assert "- data[0].paragraphs[1].qas[1] (id a2): answer_start 10 points at ' Gat', not '1937'" in banner
    assert "share one context" in banner
