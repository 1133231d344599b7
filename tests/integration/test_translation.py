"""Translation end to end: models learn the built-in reversal, Multi30k BLEU rises, the CLI translates."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.config import default_config, validate_config
from core.runs import load_trained, translate_texts
from core.train import Trainer
from tests.conftest import SHARED_DATA

MULTI30K = SHARED_DATA / "multi30k"
GRU_ATTENTION = {"name": "seq2seq_rnn", "cell": "gru", "attention": "bahdanau", "embed_dim": 64,
                 "hidden_size": 64, "bidirectional": True, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: see conftest

class Evals:
    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.details: list[dict[str, Any]] = []

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        self.metrics.append((step, metrics))
        self.details.append(details)


def _train(raw: dict, run_dir: Path) -> tuple[Evals, float]:
    evals = Evals()
    start = time.perf_counter()
    trainer = Trainer(validate_config(raw), run_dir, callbacks=[evals])
    trainer.setup()
    result = trainer.fit()
    assert result.status == "completed"
    return evals, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "steps"),
    [({}, None), (GRU_ATTENTION, 300)],
    ids=["transformer_defaults", "gru_bahdanau"],
)
def test_learns_reversal(model: dict, steps: int | None, tmp_path: Path) -> None:
    raw = default_config("translation")  # reverse, word tokens, small Transformer, < 1 min on CPU
    if model:
        raw["model"] = model
    steps = steps or raw["training"]["max_steps"]
    raw["training"].update(max_steps=steps, eval_every=steps, checkpoint=False)
    raw["task"].update(eval_max_sentences=300)
    evals, seconds = _train(raw, tmp_path / "run")
    (step, metrics), details = evals.metrics[-1], evals.details[-1]
    print(f"{model.get('name', 'transformer_seq2seq')}: BLEU {metrics['bleu']:.1f} after {step} steps in {seconds:.1f} s")
    assert metrics["bleu"] >= 90 and metrics["chrf"] >= 90 and metrics["exact_match"] >= 0.7
    sample = details["translations"][0]
    assert set(sample) == {"source", "reference", "hypothesis"} and len(details["translations"]) == 5
    assert sample["reference"].split() == sample["source"].split()[::-1]


@pytest.mark.slow
@pytest.mark.skipif(not MULTI30K.exists(), reason="../shared/data/multi30k is not present")
def test_multi30k_smoke_bleu_rises(tmp_path: Path) -> None:
    # An attention GRU starts using the source sooner than a small Transformer at this budget.
    raw = {
        "task": {"name": "translation", "max_source_length": 24, "max_target_length": 24,
                 "shared_vocab": False, "eval_max_sentences": 100, "samples_shown": 3},
        "data": {"name": "parallel", "source_path": str(MULTI30K / "train.de.gz"),
                 "target_path": str(MULTI30K / "train.en.gz"),
                 "validation_source_path": str(MULTI30K / "val.de.gz"),
                 "validation_target_path": str(MULTI30K / "val.en.gz"),
                 "max_pairs": 10_000, "max_length": 16},
        "tokenizer": {"name": "word", "max_vocab": 2000, "min_freq": 2},
        "model": {"name": "seq2seq_rnn", "cell": "gru", "attention": "bahdanau", "embed_dim": 128,
                  "hidden_size": 128, "bidirectional": True, "dropout": 0.1},
        "optimizer": {"name": "adamw", "lr": 0.005},
        "schedule": {"name": "cosine", "warmup_steps": 50},
        "training": {"max_steps": 300, "batch_size": 64, "eval_every": 100, "checkpoint": False},
    }
    evals, seconds = _train(raw, tmp_path / "run")
    bleus = [m["bleu"] for _, m in evals.metrics]
    chrfs = [m["chrf"] for _, m in evals.metrics]
    print(f"multi30k smoke: BLEU {' -> '.join(f'{b:.1f}' for b in bleus)}, chrF "
          f"{' -> '.join(f'{c:.1f}' for c in chrfs)} in {seconds:.1f} s")
    # Measured: BLEU 2.5 -> 8 -> 12 and chrF 7 -> 21 -> 27 (steps 100, 200, 300 of a 400-step run);
    # on 100 validation sentences (a third less decoding): BLEU 3.0 -> 5.3 -> 10.4, chrF 7.3 -> 18.5 -> 23.7.
    assert len(bleus) == 3 and bleus[-1] > bleus[0] + 3.0 and chrfs[-1] > chrfs[0] + 8.0
    assert (tmp_path / "run" / "tokenizer_target" / "tokenizer.json").exists()


def test_cli_trains_and_translates(capsys, store) -> None:
    code = main([
        "train", "--task", "translation", "--name", "mt",
        "--set", "data.name=dates", "--set", "data.n_examples=400", "--set", "tokenizer.name=char",
        "--set", "task.shared_vocab=false", "--set", "task.beam_size=2", "--set", "task.max_target_length=12",
        "--set", "model.d_model=32", "--set", "model.d_ff=64", "--set", "model.encoder_layers=1",
        "--set", "model.decoder_layers=1", "--set", "training.max_steps=10", "--set", "training.eval_every=10",
        "--set", "training.batch_size=16",
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert "eval step 10: loss" in out and "bleu" in out and "chrf" in out and "  ref: " in out
    assert main(["translate", "mt", "March 5, 1998", "5-Mar-98", "--beam", "3", "--max-len", "11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # A char tokenizer shows an unknown character as "<unk>": one token, five characters.
    assert len(lines) == 2 and all(len(line.replace("<unk>", "?")) <= 11 for line in lines)
    # Reloaded with its own target vocabulary (run_dir/tokenizer_target).
    trained = load_trained(store, "mt")
    assert trained.task.target_tokenizer is not trained.tokenizer
    assert translate_texts(trained, ["March 5, 1998", "5-Mar-98"], beam=3, max_len=11) == lines
    # Resuming restores the saved target vocabulary rather than fitting a new one.
    trainer = Trainer(validate_config(trained.run.config), store.run_dir(trained.run.id))
    trainer.setup(resume=True)
    assert trainer.step == 10 and trainer.task.target_tokenizer.state() == trained.task.target_tokenizer.state()
    assert main(["predict", "mt", "x"]) == 2
    assert "needs classification" in capsys.readouterr().err


def test_cli_scores_translation_files(capsys, store, tmp_path: Path) -> None:
    """`lmwb eval` on pairs: one TSV or two aligned files give the same scores over every pair."""
    code = main([
        "train", "--task", "translation", "--name", "rev", "--set", "data.n_examples=300",
        "--set", "model.d_model=32", "--set", "model.d_ff=64", "--set", "model.encoder_layers=1",
        "--set", "model.decoder_layers=1", "--set", "training.max_steps=10", "--set", "training.eval_every=10",
    ])
    assert code == 0
    capsys.readouterr()
    sources = [f"{a} {b} {c}" for a, b, c in zip("abcdefghijkl", "mnopqrstuvwx", "ghijklabcdef", strict=True)]
    targets = [" ".join(reversed(s.split())) for s in sources]
    (tmp_path / "test.src").write_text("\n".join(sources) + "\n")
    (tmp_path / "test.tgt").write_text("\n".join(targets) + "\n")
    (tmp_path / "test.tsv").write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in zip(sources, targets, strict=True)))

    assert main(["eval", "rev", "--source", str(tmp_path / "test.src"), "--target", str(tmp_path / "test.tgt")]) == 0
    from_pairs = capsys.readouterr().out
    assert main(["eval", "rev", "--data", str(tmp_path / "test.tsv"), "--beam", "1"]) == 0
    from_table = capsys.readouterr().out
    assert "12 sentences, greedy" in from_pairs and "hypothesis " in from_pairs
    scores = [line for line in from_pairs.splitlines() if line.split()[:1] in (["bleu"], ["chrf"], ["exact_match"])]
    assert len(scores) == 3 and all(line in from_table for line in scores)

    assert main(["eval", "rev", "--source", str(tmp_path / "test.src")]) == 2
    assert "--source and --target go together" in capsys.readouterr().err
    assert main(["eval", "rev", "--data", str(tmp_path / "test.tsv"), "--beam", "0"]) == 2
    assert "argument --beam-size/--beam: expected an integer in [1, 64], got 0" in capsys.readouterr().err
