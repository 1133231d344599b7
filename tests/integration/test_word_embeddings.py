"""Word embeddings end to end: Word2Vec recovers planted relations, GloVe learns, vectors
exported from a run initialise (frozen or trainable) a classifier's embedding, and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.cli import main
from core.config import default_config, validate_config
from core.embeddings import analogy, load_word2vec_text, neighbour_hits, run_vectors
from core.errors import ConfigError
from core.runs import create_run, execute_run, load_trained
from core.train import Trainer


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Word vectors train with many tiny ops: on a busy 2-core box, intra-op threads waiting on
    # each other made a 200-step run take 21 s instead of 0.9 s.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Recorder:
    def __init__(self) -> None:
        self.losses: list[float] = []
        self.evals: list[dict[str, float]] = []

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        self.losses.append(metrics["loss"])

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        self.evals.append(metrics)


def _planted(model: dict[str, Any], steps: int) -> dict[str, Any]:
    raw = default_config("word_embeddings")
    raw["data"] = {"name": "planted_relations", "n_sentences": 10_000}
    raw["model"] = model
    raw["optimizer"] = {"name": "adamw", "lr": 0.01, "weight_decay": 0.0}
    raw["training"] = {"max_steps": steps, "batch_size": 512, "eval_every": steps // 2, "log_every": 20,
                       "checkpoint": False, "grad_clip": 0.0}
    return raw


def _train(raw: dict[str, Any], folder: Path) -> tuple[Trainer, Recorder]:
    rec = Recorder()
    trainer = Trainer(validate_config(raw), folder, callbacks=[rec])
    trainer.setup()
    trainer.fit()
    return trainer, rec


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_word2vec_recovers_planted_relations(mode: str, tmp_path: Path) -> None:
    trainer, rec = _train(_planted({"name": "word2vec", "mode": mode, "dim": 32}, 200), tmp_path / mode)
    task, vectors = trainer.task, trainer.model.vectors()
    final = rec.evals[-1]
    # Every planted partner (king/queen, france/paris...) among the 5 nearest neighbours...
    assert final["neighbour_accuracy"] == 1.0, final
    # ...and mostly the very nearest; the role direction solves analogies (king:queen :: man:woman).
    found, checked = neighbour_hits(vectors, task.vocab, task.checks_pairs, k=1)
    assert checked == 40 and found >= 32, (found, checked)
    assert final["analogy_accuracy"] >= 0.8, final
    assert analogy(vectors, task.vocab, "man", "woman", "king")[0][0] == "queen"
    assert rec.losses[-1] < rec.losses[0] * 0.8 and final["loss"] < rec.evals[0]["loss"]
    shown = trainer.last_eval.details
    assert set(shown["neighbours"]) == {"king", "woman", "france", "tokyo"} and shown["analogies"]


def test_glove_trains_and_its_loss_falls(tmp_path: Path) -> None:
    trainer, rec = _train(_planted({"name": "glove", "dim": 32}, 300), tmp_path / "glove")
    assert rec.losses[-1] < rec.losses[0] * 0.1, rec.losses
    assert rec.evals[-1]["loss"] < rec.evals[0]["loss"]  # held-out co-occurrences too
    assert rec.evals[-1]["neighbour_accuracy"] >= 0.5, rec.evals[-1]
    summary = trainer.task.data_summary()
    assert summary["train_examples"] > 1000 and summary["vocab_size"] > 100


def _topics(task: str, **section: Any) -> dict[str, Any]:
    raw = default_config(task)
    raw["data"] = {"name": "topics", "n_examples": 600}
    # The same data, split and tokenizer settings as the vector run: every token has a vector.
    raw["tokenizer"] = {"name": "word", "min_freq": 1}
    raw["task"] = {"name": task, **section}
    return raw


def test_export_then_load_into_lstm_classifier(store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = _topics("word_embeddings")
    raw["model"] = {"name": "word2vec", "dim": 16}
    raw["training"] = {"max_steps": 30, "batch_size": 256, "eval_every": 30, "log_every": 10}
    run = create_run(store, validate_config(raw))
    execute_run(store, run.id)
    path = tmp_path / "vectors.txt"
    assert main(["embeddings", run.id, "export", str(path)]) == 0
    assert main(["embeddings", run.id, "neighbours", "Striker", "-k", "3"]) == 0
    assert main(["embeddings", run.id, "analogy", "coach", "striker", "painter", "-k", "2"]) == 0
    assert main(["embeddings", run.id, "similarity", "goal", "stadium"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("wrote ") and "dimension 16" in out[0]
    assert len(out) == 1 + 3 + 3 + 1 and out[4] == "coach : striker :: painter : ?"
    assert -1.0 <= float(out[-1]) <= 1.0
    assert main(["embeddings", run.id, "neighbours", "zzzz"]) == 2
    assert main(["embeddings", run.id, "analogy", "a", "b"]) == 2
    assert "not in the vocabulary" in capsys.readouterr().err

    words, matrix = load_word2vec_text(path)
    row_of = {w: i for i, w in enumerate(words)}
    for freeze in (True, False):
        clf = _topics("classification", max_length=32, pretrained_embeddings=str(path),
                      freeze="embeddings" if freeze else "none")
        clf["model"] = {"name": "lstm", "embed_dim": 16, "hidden_size": 16}
        clf["training"] = {"max_steps": 10, "batch_size": 32, "eval_every": 10, "checkpoint": False}
        trainer = Trainer(validate_config(clf), tmp_path / f"clf-{freeze}")
        trainer.setup()
        weight = trainer.model.backbone.token_embedding.weight
        tok = trainer.tokenizer
        tokens = [tok.id_to_token(i) for i in range(4, tok.vocab_size)]
        assert all(t in row_of for t in tokens)  # full coverage...
        assert trainer.task.data_summary()["pretrained_embeddings"].startswith(f"{len(tokens):,} of {len(tokens):,} tokens")
        np.testing.assert_array_equal(weight[4:].detach().numpy(), matrix[[row_of[t] for t in tokens]])  # ...copied in
        before = weight.detach().clone()
        trainer.fit()
        after = trainer.model.backbone.token_embedding.weight.detach()
        if freeze:
            assert torch.equal(after, before) and not weight.requires_grad
        else:
            assert not torch.equal(after, before) and weight.requires_grad

    # A run trained from the file reloads for prediction without it (its checkpoint has the weights).
    clf["training"]["checkpoint"] = True
    clf_run = create_run(store, validate_config(clf))
    execute_run(store, clf_run.id)
    path.unlink()
    assert load_trained(store, clf_run.id).model is not None


def test_pretrained_vectors_in_a_language_model_and_size_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("2 16\n" + "".join(f"{w} " + " ".join(["0.5"] * 16) + "\n" for w in ("king", "queen")))
    raw = default_config("language_model")
    raw["data"] = {"name": "planted_relations", "n_sentences": 1000}
    raw["tokenizer"] = {"name": "word"}
    raw["task"] = {"name": "language_model", "context_length": 16, "pretrained_embeddings": str(path)}
    raw["model"] = {"name": "gru", "embed_dim": 16, "hidden_size": 16}
    trainer = Trainer(validate_config(raw), tmp_path / "lm")
    trainer.setup()
    assert trainer.task.data_summary()["pretrained_embeddings"].startswith("2 of ")
    king = trainer.tokenizer.stoi["king"]
    assert torch.equal(trainer.model.backbone.token_embedding.weight[king], torch.full((16,), 0.5))

    raw["model"] = {"name": "transformer_decoder", "d_model": 32, "n_heads": 2, "n_layers": 1}
    with pytest.raises(ConfigError, match=r"model\.d_model = 32.*16 dimensions"):
        Trainer(validate_config(raw), tmp_path / "lm2").setup()


def test_embeddings_from_a_stored_run(store, tmp_path: Path) -> None:
    """task.embeddings_run: the token embedding starts as the named run's vectors, token by token."""
    raw = _topics("word_embeddings")
    raw["model"] = {"name": "word2vec", "dim": 16}
    raw["training"] = {"max_steps": 20, "batch_size": 256, "eval_every": 20}
    source = create_run(store, validate_config(raw), name="w2v")
    execute_run(store, source.id)
    vocab, vectors = run_vectors(load_trained(store, source.id))
    row_of = {w: i for i, w in enumerate(vocab)}

    clf = _topics("classification", max_length=32, embeddings_run="w2v")
    clf["model"] = {"name": "lstm", "embed_dim": 16, "hidden_size": 16}
    clf["training"] = {"max_steps": 5, "batch_size": 32, "eval_every": 5, "checkpoint": False}
    trainer = Trainer(validate_config(clf), tmp_path / "clf")
    trainer.setup()
    tok = trainer.tokenizer
    tokens = [tok.id_to_token(i) for i in range(4, tok.vocab_size)]
    weight = trainer.model.backbone.token_embedding.weight.detach().numpy()
    np.testing.assert_array_equal(weight[4:], vectors[[row_of[t] for t in tokens]])
    assert trainer.task.data_summary()["pretrained_embeddings"] == \
        f"{len(tokens):,} of {len(tokens):,} tokens found in run {source.id} (trainable)"

    clf["model"]["embed_dim"] = 24
    with pytest.raises(ConfigError, match=r"model\.embed_dim = 24.*16 to match task\.embeddings_run \(w2v\)"):
        Trainer(validate_config(clf), tmp_path / "clf2").setup()
    clf["task"]["embeddings_run"] = "no_such_run"
    with pytest.raises(ConfigError, match=r"task\.embeddings_run.*no such run"):
        Trainer(validate_config(clf), tmp_path / "clf3").setup()
    clf["task"]["pretrained_embeddings"] = str(tmp_path / "v.txt")
    with pytest.raises(ConfigError, match="name two sources of vectors"):
        validate_config(clf)
