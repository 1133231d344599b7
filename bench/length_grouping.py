"""Length-grouped batches (task.group_by_length) against plain random batches, same run otherwise.

A classifier trains the same number of steps both ways, alternating in one process so machine
noise hits both; prints steps/s, the padded token positions each step computes, and the
validation accuracy at the end (on large data grouping should change the speed, not what is
learned; on small data and short runs it can slow learning, which is why it is off by default).

    python bench/length_grouping.py [--steps 600] [--repeats 2] [--model lstm|hf_pretrained]

Data: SST-2's train.tsv / val.tsv from ../shared/data when present (phrases of 1 to 50 words,
the case grouping helps most), else the built-in sentiment set.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from core.config import validate_config
from core.runs import create_run, execute_run
from core.store import Store

REPO = Path(__file__).resolve().parents[1]
SST2 = REPO.parent / "shared" / "data" / "sst2"


def make_config(model: str, steps: int, grouped: bool) -> dict:
    data = ({"name": "file", "path": str(SST2 / "train.tsv"), "validation_path": str(SST2 / "val.tsv")}
            if SST2.exists() else {"name": "sentiment"})
    lstm = model == "lstm"
    return {
        "task": {"name": "classification", "max_length": 64, "group_by_length": grouped,
                 **({} if lstm else {"freeze": "embeddings"})},
        "data": data,
        "tokenizer": {"name": "word", "lowercase": True, "max_vocab": 20000, "min_freq": 2} if lstm
        else {"name": "pretrained"},
        "model": {"name": "lstm", "embed_dim": 128, "hidden_size": 64, "bidirectional": True,
                  "pooling": "max", "dropout": 0.5} if lstm else {"name": "hf_pretrained"},
        "optimizer": {"name": "adamw", "lr": 3e-3 if lstm else 1e-4},
        "schedule": {"name": "cosine", "warmup_steps": 50},
        "training": {"max_steps": steps, "batch_size": 64 if lstm else 32, "eval_every": steps,
                     "eval_max_batches": None, "early_stopping_patience": 0, "max_epochs": None,
                     "checkpoint": False, "seed": 0},
    }


def train(raw: dict) -> tuple[float, float, float]:
    """(steps/s over the run's training time, wall seconds, final validation accuracy)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(url=f"sqlite:///{tmp}/store.db", home=Path(tmp))
        run = create_run(store, validate_config(raw))
        start = time.perf_counter()
        result = execute_run(store, run.id)
        wall = time.perf_counter() - start
    steps = raw["training"]["max_steps"]
    train_s = result.summary["duration_s"]
    return steps / train_s, wall, float(result.summary["val"]["accuracy"])


def padded_positions(raw: dict, batches: int = 200) -> float:
    """Mean batch x width a step computes, from the task's own batches (no training)."""
    from core.train import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(validate_config(raw), Path(tmp))
        trainer.setup()
    generator = torch.Generator().manual_seed(0)
    sizes = [trainer.task.train_batch(raw["training"]["batch_size"], generator).inputs["ids"].numel()
             for _ in range(batches)]
    return statistics.mean(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", choices=["lstm", "hf_pretrained"], default="lstm")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, "
          f"data {'SST-2' if SST2.exists() else 'built-in sentiment'}, {args.steps} steps")
    results: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for r in range(args.repeats):
        for grouped in (False, True):
            results[grouped].append(train(make_config(args.model, args.steps, grouped)))
            rate, wall, acc = results[grouped][-1]
            print(f"repeat {r + 1}, {'grouped' if grouped else 'random '}: {rate:.2f} steps/s, "
                  f"{wall:.1f} s wall, val accuracy {acc:.4f}")
    for grouped in (False, True):
        cells = padded_positions(make_config(args.model, args.steps, grouped))
        rate = statistics.median(x[0] for x in results[grouped])
        acc = statistics.median(x[2] for x in results[grouped])
        print(f"{'grouped by length' if grouped else 'random batches   '}: {rate:6.2f} steps/s, "
              f"{cells:7.0f} padded positions a step, val accuracy {acc:.4f}")
    ratio = statistics.median(x[0] for x in results[True]) / statistics.median(x[0] for x in results[False])
    print(f"speed-up of grouping: {ratio:.2f}x steps/s")


if __name__ == "__main__":
    main()
