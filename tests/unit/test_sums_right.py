"""sums_right against a hand count: given what greedy decoding writes after each question, the
share of answers written whole (the first number of the continuation, nothing more or less)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import core.tasks.language_model as lm
from core.registry import TOKENIZERS


def test_sums_right_counts_whole_answers_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = [("23+58=", "81"), ("1+1=", "2"), ("9+9=", "18"), ("40+2=", "42"), ("5+5=", "10")]
    # What the model "writes" after each question, and whether a person would call it right.
    written = {"23+58=": ("81\n5+", True), "1+1=": ("2\n", True), "9+9=": ("1\n", False),  # a digit short
               "40+2=": ("420\n", False), "5+5=": ("x10\n", False)}  # a digit too many; no number first
    tokenizer = TOKENIZERS.get("char").factory({}, ["0123456789+=x\n"])
    task: Any = object.__new__(lm.LanguageModelTask)
    task.tokenizer, task.device = tokenizer, torch.device("cpu")
    monkeypatch.setattr(lm.LanguageModelTask, "context", 64)

    def fake_generate(model: Any, prompt: torch.Tensor, new_tokens: int, **_: Any) -> torch.Tensor:
        rows = []
        for ids in prompt.tolist():
            question = tokenizer.decode(ids).lstrip("\n")
            out = tokenizer.encode(written[question][0])[:new_tokens]
            out += tokenizer.encode("\n") * (new_tokens - len(out))
            rows.append(ids + out)
        return torch.tensor(rows)

    monkeypatch.setattr(lm, "generate", fake_generate)
    expected = sum(ok for _, ok in written.values()) / len(problems)  # 2 of 5, counted by hand
    assert expected == pytest.approx(0.4)
    for batch_size in (1, 2, 8):  # batching (by prompt length) changes nothing
        assert task._sums_right(None, problems, batch_size) == pytest.approx(expected)
