"""The arithmetic sample's right/wrong marks follow the sums_right metric's rule: the rule is one
function (core.metrics.answer_right), the metric's count agrees with it problem by problem, and
the Run page's table of a sample marks each whole line by it."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import core.tasks.language_model as lm
from app.components.sums_view import sample_sums
from core.metrics import answer_right
from core.registry import TOKENIZERS

# What a model "writes" after each question, and whether a person calls it right.
WRITTEN = {"23+58=": ("81\n5+", True), "1+1=": ("2\n", True), "9+9=": ("1\n", False),  # a digit short
           "40+2=": ("420\n", False), "5+5=": ("x10\n", False),  # a digit too many; no number first
           "3-50=": ("-47\n", True), "6*7=": (" 42 ", True)}  # a negative answer; a word model's spaces
ANSWERS = {"23+58=": "81", "1+1=": "2", "9+9=": "18", "40+2=": "42", "5+5=": "10", "3-50=": "-47", "6*7=": "42"}


def test_the_rule_marks_whole_answers_written_first() -> None:
    assert {q: answer_right(written, ANSWERS[q]) for q, (written, _) in WRITTEN.items()} == \
        {q: ok for q, (_, ok) in WRITTEN.items()}


def test_the_metric_counts_each_problem_as_the_rule_marks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """sums_right over one problem at a time is 1 exactly where answer_right says right."""
    tokenizer = TOKENIZERS.get("char").factory({}, ["0123456789+-*=x \n"])
    task: Any = object.__new__(lm.LanguageModelTask)
    task.tokenizer, task.device = tokenizer, torch.device("cpu")
    monkeypatch.setattr(lm.LanguageModelTask, "context", 64)

    def fake_generate(model: Any, prompt: torch.Tensor, new_tokens: int, **_: Any) -> torch.Tensor:
        rows = []
        for ids in prompt.tolist():
            out = tokenizer.encode(WRITTEN[tokenizer.decode(ids).lstrip("\n")][0])[:new_tokens]
            rows.append(ids + out + tokenizer.encode("\n") * (new_tokens - len(out)))
        return torch.tensor(rows)

    monkeypatch.setattr(lm, "generate", fake_generate)
    for question, (written, _) in WRITTEN.items():
        metric = task._sums_right(None, [(question, ANSWERS[question])], 1)
        assert metric == float(answer_right(written, ANSWERS[question])), question


def test_a_samples_sums_are_marked_line_by_line() -> None:
    sample = "23+58=81\n1+1=3\n9+9=18\n40+2=420\nhello\n3-50=-47\n6*7=4"  # the last line cut by the length
    table = sample_sums(sample)
    assert list(table["Sum"]) == ["23+58=", "1+1=", "9+9=", "40+2=", "3-50="]
    assert list(table["Model wrote"]) == ["81", "3", "18", "420", "-47"]
    assert list(table["Right answer"]) == ["81", "2", "18", "42", "-47"]
    assert list(table["right"]) == [True, False, True, False, True]
    assert sample_sums("no sums here\n").empty
