"""The Explain page of a question-answering run (its Answers view), through AppTest on the whole
app: the table is core.runs.qa_readings worst first, the filter keeps what it names, and a
chosen question shows its context with the gold and the predicted answer marked and the
salience of the answer over the question and the context. One tiny reader, trained once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.components.qa_explain_view import answers_table
from core.config import validate_config
from core.runs import create_run, execute_run, load_trained, qa_readings
from core.store import Store
from tests.app.test_explain_page import ok, open_page
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)
from tests.unit.test_qa_errors import tiny_qa_config


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


@pytest.fixture(scope="module")
def qa_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("lmwb-explain-qa")
    store = Store(home=home)
    run = create_run(store, validate_config(tiny_qa_config()), name="x-reader")
    execute_run(store, run.id)
    return home, run.id


@pytest.fixture
def reader(qa_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LMWB_HOME", str(qa_home[0]))
    yield qa_home[1]


def test_answers_worst_first_filtered_and_a_chosen_question_drawn(reader: str) -> None:
    at = open_page("explain", run=reader)
    key = f"explain.{reader}.answers"
    assert at.segmented_control(key=f"explain.{reader}.view").value == "answers"
    expected = answers_table(qa_readings(load_trained(Store(), reader)))
    table = next(d for d in at.dataframe if d.key and ".table." in d.key)
    shown = table.value
    assert list(shown.index) == list(expected.index)  # the same questions, in the same (worst-first) order
    for column in ("question", "gold", "prediction", "f1", "exact"):
        assert list(shown[column]) == list(expected[column]), column
    assert list(shown["f1"]) == sorted(shown["f1"]) and 0 < (shown["f1"] == 0).sum() < len(shown)
    assert f"{len(expected):,} validation questions" in at.caption[1].value

    # Nothing chosen yet: the worst question is drawn.
    assert f"**Question {expected.index[0]}:**" in "".join(m.value for m in at.markdown)

    at.segmented_control(key=f"{key}.outcome").set_value("wrong").run()
    ok(at)
    table = next(d for d in at.dataframe if d.key and ".table." in d.key)
    wrong = table.value
    assert len(wrong) == int((expected["f1"] == 0).sum()) and (wrong["f1"] == 0).all()

    # Choose a wrong answer that is not the first row: its context shows both answers, apart.
    row = next(i for i in range(1, len(wrong)) if wrong["gold"].iloc[i] != "(no answer)")
    at.session_state[table.key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    ok(at)
    question = int(wrong.index[row])
    assert f"**Question {question}:** {wrong['question'].iloc[row]}" in "".join(m.value for m in at.markdown)
    bodies = [h.proto.body for h in at.get("html")]
    [context] = [b for b in bodies if "lmwb-qa-context" in b]
    assert '<span class="lmwb-gold"' in context and '<span class="lmwb-predicted"' in context
    assert f">{wrong['gold'].iloc[row]}</span>" in context and f">{wrong['prediction'].iloc[row]}</span>" in context
    [salience] = [b for b in bodies if "lmwb-qa-salience" in b]
    assert ">Question</span>" in salience and ">Context</span>" in salience
    words = len(wrong["question"].iloc[row].split())  # news_qa's words: one token each
    assert salience.split(">Context</span>")[0].count('class="lmwb-tok') == words
    assert "lmwb-marked" in salience.split(">Context</span>")[1]  # the answer's tokens, framed
    assert any("Completeness" in c.value for c in [*at.caption, *at.warning])
