"""A qa run's per-question readings (QATask.readings, core.runs.qa_readings): the answers and
scores evaluation averages, each answer the context's own characters at the tokens it came from,
and a hand-built question whose prediction only overlaps its gold answer."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import default_config, validate_config
from core.data.qa import QASplit
from core.qa.squad import score
from core.runs import create_run, evaluate_file, execute_run, load_trained, qa_readings
from core.store import Store
from tests.unit.test_qa_task import Pointer, _context, _task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_qa_config() -> dict:
    """A small reader on a small news_qa set: about 2 s of training on one thread, right on some
    questions and wrong on others."""
    raw = default_config("qa")
    raw["data"].update(n_documents=60, val_fraction=0.25)
    raw["model"].update(d_model=16, n_heads=2, d_ff=32, n_layers=1)
    raw["training"].update(max_steps=60, eval_every=60, batch_size=16, device="cpu", attention_snapshots=False)
    return raw


def test_readings_score_as_evaluation_does_and_answers_are_the_context_s_characters(store: Store) -> None:
    run = create_run(store, validate_config(tiny_qa_config()))
    execute_run(store, run.id)
    trained = load_trained(store, run.id)
    readings = qa_readings(trained)
    evaluated = evaluate_file(trained)  # every validation question, as `lmwb eval` scores them
    assert len(readings) == evaluated.details["questions"] > 20
    assert 100 * np.mean([r.exact_match for r in readings]) == pytest.approx(evaluated.metrics["qa_exact_match"])
    assert 100 * np.mean([r.f1 for r in readings]) == pytest.approx(evaluated.metrics["qa_f1"])
    assert len({r.f1 for r in readings}) > 1  # some right, some wrong: the comparison means something
    samples = evaluated.details["answers"]  # the worst answers evaluation keeps, by question index
    assert len(samples) == 5
    assert [readings[s["index"]].text or "(no answer)" for s in samples] == [s["prediction"] for s in samples]
    assert [readings[s["index"]].f1 for s in samples] == sorted(r.f1 for r in readings)[:5]
    task = trained.task
    for r in readings:
        assert (r.exact_match, r.f1) == score(r.text, [g for g, _, _ in r.golds])
        assert all(r.context[a:b] == g for g, a, b in r.golds)
        assert r.span is not None  # news_qa without unanswerable questions: the reader always answers
        assert r.context[r.span[0] : r.span[1]] == r.text and 0 < r.probability <= 1
        window = task.encode([r.question], [r.context])[0][r.window]
        assert window.char_span(*r.positions) == r.span  # the tokens salience explains are the answer's
    assert [r.index for r in qa_readings(trained, limit=7)] == list(range(7))


def test_a_prediction_that_only_overlaps_its_gold_answer() -> None:
    context = _context("Johannes", 12)
    start = context.index("Johannes")
    gold = ("Kepler", context.index("Kepler"))
    val = QASplit(["who wrote it ?"], contexts=[context], answers=[[gold]])
    task = _task(QASplit(["who wrote it ?"], contexts=[context], answers=[[("Johannes Kepler", start)]]), val)
    ids = task.tokenizer.encode("johannes kepler")
    [reading] = task.readings(Pointer(ids[0], ids[1], cls=-5.0))
    assert reading.text == "Johannes Kepler" and reading.span == (start, start + len("Johannes Kepler"))
    assert reading.golds == [("Kepler", gold[1], gold[1] + len("Kepler"))]
    assert reading.exact_match == 0.0 and reading.f1 == pytest.approx(2 / 3)  # precision 1/2, recall 1
    window = task.encode([reading.question], [context])[0][reading.window]
    assert window.ids[reading.positions[0]] == ids[0] and window.ids[reading.positions[1]] == ids[1]
    assert reading.windows == len(task.encode([reading.question], [context])[0]) > 1


def test_an_abstaining_reader_reads_as_no_answer_at_cls() -> None:
    answerable = _context("Johannes", 10)
    train = QASplit(["who wrote it ?", "who sang it ?"], contexts=[answerable, " ".join(answerable.split()[:5])],
                    answers=[[("Johannes Kepler", answerable.index("Johannes"))], []])
    task = _task(train, train)
    ids = task.tokenizer.encode("johannes kepler")
    right_to_abstain, wrong_to_abstain = sorted(task.readings(Pointer(ids[0], ids[1], cls=50.0)), key=lambda r: -r.f1)
    for r in (right_to_abstain, wrong_to_abstain):
        assert r.span is None and r.text == "" and r.positions == (0, 0) and 0 < r.probability <= 1
    assert right_to_abstain.golds == [] and right_to_abstain.exact_match == 1.0
    assert wrong_to_abstain.f1 == 0.0
