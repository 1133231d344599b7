"""Translation decoding speed on CPU: sentences per second, greedy vs beam search.

Trains the task's default Transformer and an attention GRU on the built-in reversal set (or
loads a trained run), then translates the validation sources in batches with greedy decoding
and with beam search, alternating repeats so machine noise hits both. Prints sentences/s, the
beam / greedy ratio and the BLEU of each.

    python bench/translation_decoding.py [--sentences 500] [--beam 5] [--threads 2] [--run RUN]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from core.config import default_config, validate_config
from core.metrics import translation_metrics
from core.train import Trainer, load_dataset

GRU_ATTENTION = {"name": "seq2seq_rnn", "cell": "gru", "attention": "bahdanau", "embed_dim": 64,
                 "hidden_size": 64, "bidirectional": True, "dropout": 0.0}


def trained_on_reversal(model: dict[str, Any] | None, steps: int | None) -> tuple[str, Any, Any]:
    raw = default_config("translation")
    if model:
        raw["model"] = model
    raw["training"].update(max_steps=steps or raw["training"]["max_steps"], checkpoint=False)
    raw["training"]["eval_every"] = raw["training"]["max_steps"]
    config = validate_config(raw)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp))
        trainer.setup()
        start = time.perf_counter()
        trainer.fit()
        print(f"trained {config.arch} ({trainer.n_params:,} parameters) on reverse for "
              f"{config['training']['max_steps']} steps in {time.perf_counter() - start:.1f} s")
    return config.arch, trainer.task, trainer.model


def from_run(ref: str) -> tuple[str, Any, Any]:
    from core.runs import load_trained
    from core.store import Store

    trained = load_trained(Store(), ref)
    trained.task.set_data(load_dataset(trained.config))  # its validation pairs
    return f"{trained.config.arch} (run {trained.run.id})", trained.task, trained.model


def measure(task: Any, model: Any, sources: list[str], references: list[str], beam: int, repeats: int, batch_size: int) -> dict[str, float]:
    rates: dict[int, list[float]] = {1: [], beam: []}
    bleu: dict[int, float] = {}
    task.translate(model, sources[:batch_size], beam_size=beam, batch_size=batch_size)  # warm-up
    for _ in range(repeats):
        for size in (1, beam):
            start = time.perf_counter()
            hyps = task.translate(model, sources, beam_size=size, batch_size=batch_size)
            rates[size].append(len(sources) / (time.perf_counter() - start))
            bleu[size] = translation_metrics(hyps, references)["bleu"]
    return {
        "greedy": statistics.median(rates[1]), "beam": statistics.median(rates[beam]),
        "bleu_greedy": bleu[1], "bleu_beam": bleu[beam],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=500, help="validation sentences translated per repeat")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--run", action="append", help="a trained translation run to measure instead (repeatable)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = [from_run(ref) for ref in args.run] if args.run else [
        trained_on_reversal(None, None), trained_on_reversal(GRU_ATTENTION, 300),
    ]
    print(f"\nCPU, {torch.get_num_threads()} threads, batches of {args.batch_size}, beam {args.beam}, "
          f"median of {args.repeats}")
    print(f"{'model':34} {'greedy sent/s':>14} {f'beam {args.beam} sent/s':>15} {'ratio':>7} {'BLEU greedy':>12} {'BLEU beam':>10}")
    for name, task, model in models:
        n = min(args.sentences, len(task.val_sources))
        r = measure(task, model.cpu().eval(), task.val_sources[:n], task.val_references[:n], args.beam, args.repeats, args.batch_size)
        print(f"{name:34} {r['greedy']:14.0f} {r['beam']:15.0f} {r['beam'] / r['greedy']:7.2f} "
              f"{r['bleu_greedy']:12.1f} {r['bleu_beam']:10.1f}")


if __name__ == "__main__":
    main()
