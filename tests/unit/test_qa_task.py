"""The qa task's own logic without training: windows labelled with the answer's tokens, the best
span found across a long context's windows and mapped back to its characters, no-answer when the
reader's [CLS] wins, the mean of the start and end cross entropies."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.assemble import build_task, fit_tokenizer
from core.config import default_config, validate_config
from core.data.qa import QASplit
from core.data.types import DatasetSplits, Split
from core.errors import DataError
from core.tasks.qa import QATask, span_loss

FILLER = " ".join(f"w{i}" for i in range(40))  # 40 distinct words: a context of many windows


def _context(answer: str, at: int) -> str:
    words = FILLER.split()
    return " ".join([*words[:at], answer, "Kepler.", *words[at:]])


class Pointer(nn.Module):
    """A stand-in reader that points at the context tokens ``start_id`` .. ``end_id`` (never at the
    question's), with ``cls`` as its [CLS] score."""

    def __init__(self, start_id: int, end_id: int, cls: float) -> None:
        super().__init__()
        self.start_id, self.end_id, self.cls = start_id, end_id, cls
        self.weight = nn.Parameter(torch.zeros(1))  # a device to find

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor, type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        context = type_ids.bool() & ~pad_mask
        start = ((ids == self.start_id) & context).float() * 10
        end = ((ids == self.end_id) & context).float() * 10
        start[:, 0] = end[:, 0] = self.cls
        return start.masked_fill(pad_mask, -1e4), end.masked_fill(pad_mask, -1e4)


def _task(train: QASplit, val: QASplit) -> QATask:
    raw = default_config("qa")
    raw["task"].update(max_length=24, stride=4, max_question=8)
    config = validate_config(raw)
    data = DatasetSplits(task="qa", train=train, validation=val)
    task = build_task(config, fit_tokenizer(config, data), None, torch.device("cpu"))
    assert isinstance(task, QATask)
    task.set_data(data)
    return task


def test_labels_point_at_the_answer_tokens_in_the_windows_that_hold_it_whole() -> None:
    context = _context("Johannes", 30)
    start = context.index("Johannes")
    train = QASplit(["who wrote it ?"], contexts=[context], answers=[[("Johannes Kepler", start)]])
    task = _task(train, train)
    assert len(task.train) == 3  # a long context in several windows (17 context tokens each, 4 shared)
    held = 0
    for window, s, e in zip(task.train.windows, task.train_starts.tolist(), task.train_ends.tolist(), strict=True):
        if window.holds((start, start + len("Johannes Kepler"))):
            held += 1
            assert window.char_span(s, e) == (start, start + len("Johannes Kepler"))
        else:
            assert (s, e) == (0, 0)  # [CLS]: not (wholly) here
    assert held >= 1


def test_the_best_span_over_windows_comes_back_as_the_context_s_characters() -> None:
    val = QASplit(["who wrote it ?", "who wrote that ?"],
                  contexts=[_context("Johannes", 33), _context("Johannes", 2)],
                  answers=[[("Johannes Kepler", _context("Johannes", 33).index("Johannes"))],
                           [("Johannes Kepler.", _context("Johannes", 2).index("Johannes"))]])
    task = _task(val, val)
    ids = task.tokenizer.encode("johannes kepler")
    result = task.evaluate(Pointer(ids[0], ids[1], cls=-5.0), None, 8)
    # The second gold keeps its full stop: SQuAD's normalisation drops punctuation, so both match.
    assert result.metrics["qa_exact_match"] == 100.0 and result.metrics["qa_f1"] == 100.0
    assert [row["prediction"] for row in result.details["answers"]] == ["Johannes Kepler", "Johannes Kepler"]
    found = task.answer(Pointer(ids[0], ids[1], cls=-5.0), "who wrote it ?", [FILLER, _context("Johannes", 20)])
    assert [(c.context, c.text) for c in found][0] == (1, "Johannes Kepler")
    task.params["max_answer"] = 1  # task.max_answer: spans of one token only
    result = task.evaluate(Pointer(ids[0], ids[1], cls=-5.0), None, 8)
    assert {row["prediction"] for row in result.details["answers"]} <= {"Johannes", "Kepler"}


def test_a_reader_trained_on_unanswerable_questions_abstains_when_cls_wins() -> None:
    answerable = _context("Johannes", 10)
    start = answerable.index("Johannes")
    train = QASplit(["who wrote it ?", "who sang it ?"], contexts=[answerable, FILLER],
                    answers=[[("Johannes Kepler", start)], []])
    task = _task(train, train)
    assert task.no_answer and task.state["no_answer"]
    ids = task.tokenizer.encode("johannes kepler")
    # [CLS] above every span: "no answer" for both, right for the unanswerable one only.
    result = task.evaluate(Pointer(ids[0], ids[1], cls=50.0), None, 8)
    assert result.metrics["qa_exact_match"] == 50.0 and result.details["squad"]["no_answer_exact_match"] == 100.0
    # [CLS] below the span: the answer where there is one.
    assert task.evaluate(Pointer(ids[0], ids[1], cls=-50.0), None, 8).details["squad"]["has_answer_f1"] == 100.0


def test_span_loss_is_the_mean_of_start_and_end_cross_entropy() -> None:
    start, end = torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([[3.0, 0.0, 0.0]])
    targets = torch.tensor([[2, 0]])
    expected = (-math.log(math.exp(2) / (1 + math.e + math.exp(2))) - math.log(math.exp(3) / (math.exp(3) + 2))) / 2
    assert float(span_loss(start, end, targets)) == pytest.approx(expected)


def test_data_without_contexts_is_refused_by_name() -> None:
    config = validate_config(default_config("qa"))
    data = DatasetSplits(task="qa", train=Split(["a question ?"]), validation=Split(["b ?"]))
    task = build_task(config, fit_tokenizer(config, data), None, torch.device("cpu"))
    with pytest.raises(DataError, match="no contexts and answers"):
        task.set_data(data)
