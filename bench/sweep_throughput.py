"""Sweep trial throughput: the same random sweep of a small model with 1 and with 2 local
worker processes (each a separate Optuna worker on the same SQLite study).

    python bench/sweep_throughput.py [--trials 8] [--steps 150] [--repeats 1]

Wall time runs from `run_local` (start + worker processes) to the sweep's completion, so it
includes each worker's start-up (Python, torch, Optuna imports). With 2 workers each gets
cores / 2 threads (OMP_NUM_THREADS), with 1 worker all cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from core import sweep as sw
from core.config import default_config, validate_config
from core.store import Store


def base(steps: int) -> dict:
    raw = default_config("classification")
    raw["task"] = {"name": "classification", "max_length": 32}
    raw["data"] = {"name": "sentiment", "n_examples": 2000}
    raw["model"] = {"name": "gru", "embed_dim": 32, "hidden_size": 64, "bidirectional": True, "pooling": "max"}
    raw["training"] = {"max_steps": steps, "batch_size": 32, "eval_every": max(1, steps // 3),
                       "eval_max_batches": 4, "log_every": 25, "checkpoint": False}
    return validate_config(raw).to_dict()


def one(store: Store, workers: int, trials: int, steps: int, seed: int) -> tuple[float, float]:
    spec = sw.build_spec(base(steps), {"optimizer.lr": {"low": 1e-3, "high": 1e-2, "log": True},
                                       "model.dropout": {"low": 0.0, "high": 0.5}},
                         method="random", n_trials=trials, seed=seed, workers=workers)
    sweep = sw.create_sweep(store, spec, name=f"throughput-{workers}w-{seed}")
    started = time.perf_counter()
    final = sw.run_local(store, sweep.id, workers, poll_s=0.2)
    wall = time.perf_counter() - started
    assert final.status == "completed", final
    frame = sw.trials_frame(store, final)
    assert len(frame) == trials and set(frame["status"]) == {"complete"}
    return wall, float(frame["duration_s"].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; {args.trials} trials "
          f"of {args.steps} steps (bidirectional GRU, 2,000 sentences)", flush=True)
    results: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(home=Path(tmp) / "home")
        for r in range(args.repeats):
            for workers in (1, 2):  # alternate, so machine noise hits both
                wall, trial_s = one(store, workers, args.trials, args.steps, seed=r)
                results[workers].append((wall, trial_s))
                print(f"  {workers} worker(s): {wall:6.1f} s wall, {args.trials / wall * 60:5.1f} trials/min, "
                      f"{trial_s:.1f} s per trial", flush=True)
    rate = {w: statistics.median(args.trials / wall * 60 for wall, _ in runs) for w, runs in results.items()}
    print(f"median: 1 worker {rate[1]:.1f} trials/min, 2 workers {rate[2]:.1f} trials/min "
          f"-> {rate[2] / rate[1]:.2f}x")


if __name__ == "__main__":
    main()
