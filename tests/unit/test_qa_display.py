"""QA's scores read one way everywhere (the catalogue's Metric.shown: percentages, one decimal) in the
training log and `lmwb eval`; the samples an evaluation keeps are its worst answers; `lmwb eval
RUN --examples` writes the Explain page's Answers table for a qa run; the Explain page steps the
Integrated Gradients steps up until the completeness gap is small. One tiny reader, trained here."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from app.components.qa_explain_view import STEPS_CAP, answer_salience, stepped_salience
from core.cli import main
from core.metrics import METRICS, task_metrics
from core.progress import ProgressPrinter
from core.qa.answers import answers_table
from core.runs import evaluate_file, load_trained, qa_readings
from core.store import Store
from core.tasks.qa import SAMPLES
from tests.trained_runs import tiny_reader

QA_METRICS = [m for m in task_metrics("qa") if m.name != "loss"]


@pytest.fixture(scope="module")
def reader_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One small reader on a small news_qa set (a few seconds on one thread)."""
    home = tmp_path_factory.mktemp("lmwb-qa-display")
    return home, tiny_reader(home, n_documents=120)


@pytest.fixture
def reader(reader_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    home, rid = reader_home
    monkeypatch.setenv("LMWB_HOME", str(home))
    return load_trained(Store(home=home), rid)


def test_the_catalogue_declares_qa_scores_as_percentages() -> None:
    assert METRICS["qa_f1"].shown(76.75) == "76.8%"  # SQuAD's 0-100 scale, one decimal
    assert METRICS["qa_recall_at_1"].shown(0.1) == "10.0%"  # a 0-1 share, shown on the same scale
    assert all(m.unit == "%" and m.fmt == "%.1f" for m in QA_METRICS)
    # Passage retrieval is BM25's over the validation set: fixed for a run, the reader's F1 is not.
    assert {m.name for m in QA_METRICS if m.fixed} == {"qa_recall_at_1", "qa_recall_at_5", "qa_mrr"}


def test_the_training_log_shows_each_score_as_declared() -> None:
    metrics = {"loss": 0.52671, "qa_exact_match": 73.0, "qa_f1": 76.75, "qa_recall_at_1": 0.1,
               "qa_recall_at_5": 0.4875, "qa_mrr": 0.25}
    out = io.StringIO()
    ProgressPrinter(out).on_eval(500, metrics, {})
    shown = " | ".join(f"{k} {METRICS[k].shown(v)}" for k, v in metrics.items() if METRICS[k].headline)
    assert out.getvalue().splitlines()[0] == f"eval step 500: {shown}"
    assert "qa_f1 76.8%" in shown and "qa_recall_at_5 48.8%" in shown


@pytest.mark.usefixtures("one_torch_thread")
def test_eval_prints_declared_scores_and_the_worst_answers(reader: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = evaluate_file(reader)
    assert main(["eval", reader.run.id]) == 0
    out = capsys.readouterr().out
    for name, value in result.metrics.items():  # the same rows, so the same scores
        assert f"{name:20} {METRICS[name].shown(value)}\n" in out, (name, out)
    # The samples are the worst answers of all the questions evaluated, not the first ones.
    table = answers_table(qa_readings(reader))
    samples = result.details["answers"]
    assert len(samples) == SAMPLES
    assert sorted(100 * s["f1"] for s in samples) == pytest.approx(sorted(table["f1"])[:SAMPLES])
    assert f"the {SAMPLES} answered worst" in out
    for s in samples:
        assert f"question   {s['question']}\n" in out


@pytest.mark.usefixtures("one_torch_thread")
def test_eval_examples_writes_the_explain_page_s_answers_table(reader: Any, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "answers.csv"
    assert main(["eval", reader.run.id, "--examples", str(out_file)]) == 0
    printed = capsys.readouterr().out
    written = pd.read_csv(out_file, index_col=0, keep_default_na=False)
    expected = answers_table(qa_readings(reader))
    assert written.index.name == expected.index.name and list(written.index) == list(expected.index)
    assert list(written.columns) == list(expected.columns)
    for column in ("question", "gold", "prediction"):
        assert list(written[column]) == list(expected[column])
    assert list(written["exact"]) == list(expected["exact"])
    for column in ("f1", "probability"):
        assert list(written[column]) == pytest.approx(list(expected[column]), rel=1e-5, abs=1e-9)
    f1 = METRICS["qa_f1"]
    assert f"{len(expected):,} questions of the validation split written to" in printed
    assert f"{f1.label} {f1.shown(expected['f1'].mean())}" in printed
    # Another file's rows are not the Explain page's table: refused in a line.
    assert main(["eval", reader.run.id, "--examples", str(out_file), "--data", str(out_file)]) == 2
    assert "leave out" in capsys.readouterr().err


def _fake(ok_from: int | None, calls: list[int]) -> Any:
    def attribute(steps: int) -> Any:
        calls.append(steps)
        complete = None if ok_from is None else SimpleNamespace(ok=steps >= ok_from)
        return SimpleNamespace(completeness=complete, steps=steps)
    return attribute


def test_ig_steps_double_until_the_gap_is_small_or_the_cap() -> None:
    calls: list[int] = []
    result, used = stepped_salience(_fake(100, calls), 50)
    assert calls == [50, 100] and used == 100 and result.steps == 100
    calls.clear()
    _, used = stepped_salience(_fake(10_000, calls), 50)
    assert calls == [50, 100, 200] and used == STEPS_CAP == 200  # never complete: stops at the cap
    calls.clear()
    _, used = stepped_salience(_fake(None, calls), 50)  # gradient x input: no gap, one pass
    assert calls == [50] and used == 50
    calls.clear()
    _, used = stepped_salience(_fake(0, calls), 300, cap=300)  # complete at once: the steps asked
    assert calls == [300] and used == 300


@pytest.mark.usefixtures("one_torch_thread")
def test_ig_stepping_on_a_reader_ends_complete_or_at_the_cap(reader: Any) -> None:
    reading = qa_readings(reader, 1)[0]
    result, used = stepped_salience(
        lambda steps: answer_salience(reader, reading.question, reading.context, "ig", steps), 4)
    assert used in (4, 8, 16, 32, 64, 128, 200)
    assert result.completeness is not None and (result.completeness.ok or used == STEPS_CAP)
    if used > 4:  # fewer steps left the gap over the tolerance
        fewer = answer_salience(reader, reading.question, reading.context, "ig", 128 if used == 200 else used // 2)
        assert fewer.completeness is not None and not fewer.completeness.ok
