"""Attention of real (tiny) runs: snapshots during training, captures from checkpoints, and the
reversal task's anti-diagonal alignment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core import inspect as attn
from core.config import default_config, validate_config
from core.runs import create_run, execute_run, load_trained
from core.store import Store
from core.train import Trainer
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

TINY_ENCODER = {"name": "transformer_encoder", "d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64}



def classification(model: dict[str, Any], **training: Any) -> dict[str, Any]:
    raw = default_config("classification")
    raw["model"] = model
    raw["data"] = {"name": "topics", "n_examples": 300}
    raw["task"] = {"name": "classification", "max_length": 24}
    raw["training"] = {"max_steps": 40, "batch_size": 16, "eval_every": 10, "eval_max_batches": 2,
                       "device": "cpu", **training}
    return raw


def test_snapshots_at_each_evaluation_and_captures_from_checkpoints(store: Store) -> None:
    run = create_run(store, validate_config(classification(TINY_ENCODER)))
    execute_run(store, run.id)
    run_dir = store.run_dir(run.id)
    steps = attn.snapshot_steps(run_dir)
    assert steps == [10, 20, 30, 40]
    snaps = [attn.load_snapshot(run_dir, s) for s in steps]
    first, last = snaps[0].maps["encoder"], snaps[-1].maps["encoder"]
    assert first.query_tokens == last.query_tokens and first.query_tokens[0] == "[CLS]"  # one fixed probe
    assert first.weights.shape == (2, 4, len(first.query_tokens), len(first.query_tokens))
    np.testing.assert_allclose(last.weights.sum(-1), 1.0, atol=1e-3)  # rounded to 4 decimals
    assert not np.allclose(first.weights, last.weights, atol=1e-3)  # the pattern moved
    for s in steps:  # compact: rounded, no whitespace, capped
        path = attn.snapshot_folder(run_dir) / f"step_{s}.json"
        doc = json.loads(path.read_text())
        assert doc["step"] == s and path.stat().st_size < 200_000
    # Any checkpoint of the run can be looked at, with the same modules that trained.
    for which in ("best", "last"):
        capture = attn.capture_attention(load_trained(store, run.id, which), snaps[0].text)
        assert capture.maps["encoder"].query_tokens == first.query_tokens
        assert capture.prediction in load_trained(store, run.id).task.state["label_names"]


@pytest.mark.parametrize("model", [TINY_ENCODER, {"name": "gru", "embed_dim": 8, "hidden_size": 8}])
def test_no_snapshots_when_off_or_without_attention(model: dict[str, Any], tmp_path: Path) -> None:
    off = model is TINY_ENCODER
    raw = classification(model, max_steps=4, eval_every=2, checkpoint=False, attention_snapshots=not off)
    trainer = Trainer(validate_config(raw), tmp_path / "run")
    trainer.setup()
    assert (trainer.snapshots is None) == off
    trainer.fit()
    assert attn.snapshot_steps(tmp_path / "run") == []


def test_snapshots_of_a_wide_model_are_capped(tmp_path: Path) -> None:
    raw = default_config("language_model")
    raw["model"] = {"name": "transformer_decoder", "d_model": 64, "n_heads": 8, "n_layers": 6, "d_ff": 64}
    raw["data"] = {"name": "python_docs", "max_chars": 20_000}
    raw["task"] = {"name": "language_model", "context_length": 64, "sample_length": 0}
    raw["training"] = {"device": "cpu"}
    trainer = Trainer(validate_config(raw), tmp_path / "run")
    trainer.setup()
    path = trainer.snapshots.snapshot(trainer, 0)
    capture = attn.load_snapshot(tmp_path / "run", 0)
    m = capture.maps["decoder"]
    assert m.weights.size <= attn.SNAPSHOT_MAX_VALUES and m.weights.shape[:2] == (6, 8)
    assert capture.notes and "truncated" in capture.notes[0]
    assert path is not None and path.stat().st_size < 250_000


def test_a_reversal_model_aligns_anti_diagonally(store: Store) -> None:
    """Reversing ``a b c d`` into ``d c b a``: producing target token j, the model must read
    source token n-1-j, so the argmax of each cross-attention row is the mirrored position."""
    raw = default_config("translation")
    raw["model"] = {"name": "seq2seq_rnn", "cell": "gru", "attention": "bahdanau", "embed_dim": 32,
                    "hidden_size": 32, "bidirectional": True, "dropout": 0.0}
    raw["data"] = {"name": "reverse", "n_examples": 2000, "min_length": 4, "max_length": 8}
    raw["task"] = {"name": "translation", "eval_max_sentences": 32}
    raw["training"] = {"max_steps": 300, "batch_size": 32, "eval_every": 150, "eval_max_batches": 1,
                       "device": "cpu"}
    run = create_run(store, validate_config(raw))
    execute_run(store, run.id)
    trained = load_trained(store, run.id)
    rng = np.random.default_rng(7)
    hits = rows = 0
    for _ in range(12):
        words = rng.choice(list("abcdefghijklmnopqrstuvwxyz"), int(rng.integers(4, 9))).tolist()
        n = len(words)
        for target in (" ".join(reversed(words)), None):  # the reference, and the model's own output
            capture = attn.capture_attention(trained, " ".join(words), target)
            argmax = attn.alignment_argmax(capture.maps["cross"])[:n]  # rows producing y_0 .. y_n-1
            hits += int((argmax == np.arange(n)[::-1]).sum())
            rows += n
    assert hits / rows >= 0.8, f"only {hits}/{rows} target rows attend to the mirrored source token"
    assert attn.snapshot_steps(store.run_dir(run.id)) == [150, 300]
    assert "cross" in attn.load_snapshot(store.run_dir(run.id), 300).maps
