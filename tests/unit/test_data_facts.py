"""The Run page's data line (app.components.data_facts) says what the data summary holds."""

from __future__ import annotations

from app.components.data_facts import data_facts


def test_rows_copies_and_vectors_are_told_apart() -> None:
    summary = {"train_examples": 12_607, "train_rows": 3_600, "augmented_copies": 9_007,
               "augmented_copies_left_out": 1_793, "val_examples": 900, "heldout_examples": 1_000,
               "pretrained_embeddings": "201 of 1,983 tokens found in run r1 (trainable)"}
    assert data_facts(summary) == (
        "Data: 3,600 training rows + 9,007 augmented copies (1,793 left out: equal to their row or an earlier copy)"
        " · 900 validation · 1,000 held-out · pretrained vectors: 201 of 1,983 tokens found in run r1 (trainable)")


def test_a_plain_run_and_an_empty_summary() -> None:
    assert data_facts({"train_examples": 500, "val_examples": 100, "classes": 2}) == \
        "Data: 500 training rows · 100 validation"
    assert data_facts({"augmented_copies": 0, "augmented_copies_left_out": 0, "train_examples": 50}) == \
        "Data: 50 training rows + 0 augmented copies"
    assert data_facts(None) == data_facts({}) == data_facts({"tokens": 5}) == ""
