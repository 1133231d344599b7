"""A real sweep: TPE over learning rate, hidden size and dropout of a BiLSTM on SST-2, with
median pruning, on CPU; against the untuned default config trained the same way.

    python bench/sweep_sst2.py [--trials 12] [--steps 600] [--workers 2] [--home DIR]

SST-2's validation file (2,000 sentences) is split in two halves, written to a temporary
folder: trials are scored (and pruned) on the first half, and the winner and the default are
then both scored on the second half, which no choice was made on. Both halves are reported,
and the full file too. Prints the numbers and the wall times.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path
from typing import Any

# Before torch starts: the default run below trains in this process, on the same footing as
# the sweep's worker processes (sleeping OpenMP waiters, the same thread count).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from core import sweep as sw  # noqa: E402
from core.config import default_config, validate_config  # noqa: E402
from core.runs import create_run, evaluate_file, execute_run, load_trained  # noqa: E402
from core.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SST2 = REPO.parent / "shared" / "data" / "sst2"

SPACE = {
    "optimizer.lr": {"low": 3e-4, "high": 1e-2, "log": True},
    "model.hidden_size": {"low": 32, "high": 256, "log": True},
    "model.dropout": {"low": 0.0, "high": 0.6},
}


def split_validation(folder: Path) -> tuple[Path, Path]:
    with (SST2 / "val.tsv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, body = rows[0], rows[1:]
    halves = (body[: len(body) // 2], body[len(body) // 2 :])
    paths = (folder / "val_tune.tsv", folder / "val_holdout.tsv")
    for path, part in zip(paths, halves, strict=True):
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
            writer.writerows([header, *part])
    return paths


def base_config(tune_path: Path, steps: int) -> dict[str, Any]:
    """The classification task's defaults (BiLSTM, max pooling, AdamW lr 3e-3, hidden 128,
    dropout 0.2) on SST-2: this is also the untuned default the sweep must beat."""
    raw = default_config("classification")
    raw["task"] = {"name": "classification", "max_length": 48}
    raw["data"] = {"name": "file", "path": str(SST2 / "train.tsv"), "validation_path": str(tune_path)}
    raw["tokenizer"] = {"name": "word", "lowercase": True, "max_vocab": 20000, "min_freq": 2}
    raw["training"] = {"max_steps": steps, "batch_size": 64, "eval_every": max(1, steps // 6),
                       "eval_max_batches": None, "log_every": 50, "seed": 0}
    return validate_config(raw).to_dict()


def holdout_accuracy(store: Store, run_id: str, path: Path) -> float:
    trained = load_trained(store, run_id, which="best")
    return evaluate_file(trained, path).metrics["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", help="workbench home (default: a temporary folder)")
    args = parser.parse_args()
    if not SST2.exists():
        raise SystemExit(f"{SST2} not found")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(args.home) if args.home else Path(tmp) / "home"
        tune, holdout = split_validation(Path(tmp))
        store = Store(home=home)
        base = base_config(tune, args.steps)
        spec = sw.build_spec(base, SPACE, method="tpe", metric="accuracy", n_trials=args.trials,
                             pruner={"name": "median", "startup_trials": 3, "warmup_steps": 0},
                             seed=args.seed, workers=args.workers)
        sweep = sw.create_sweep(store, spec, name="sst2-tpe")
        print(f"sweep {sweep.id}: TPE, {args.trials} trials, {args.steps} steps each, median pruning, "
              f"{args.workers} local worker(s), home {home}", flush=True)

        def on_trial(trial: Any) -> None:
            value = "" if trial.value is None else f" val acc {trial.value:.4f}"
            step = trial.user_attrs.get("pruned_at_step")
            params = ", ".join(f"{k.split('.')[-1]}={v:.3g}" for k, v in trial.params.items())
            print(f"  trial {trial.number:2d} {sw.trial_status(trial):8}{value}"
                  f"{f' (pruned at step {step})' if step else ''}  {params}", flush=True)

        started = time.perf_counter()
        final = sw.run_local(store, sweep.id, args.workers, on_trial=on_trial)
        sweep_wall = time.perf_counter() - started
        info = sw.sweep_status(store, sweep.id)
        best = info["best"]
        assert best is not None, "no trial completed"
        print(f"sweep {final.status} in {sweep_wall:.0f} s: {info['counts']}", flush=True)

        print("training the untuned default config (same steps, same seed)...", flush=True)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.workers))
        default_run = create_run(store, validate_config(base), name="sst2-default", status="running")
        started = time.perf_counter()
        default_result = execute_run(store, default_run.id)
        default_wall = time.perf_counter() - started
        default_tune = default_result.summary["best"]["value"]

        best_hold = holdout_accuracy(store, best["run_id"], holdout)
        default_hold = holdout_accuracy(store, default_run.id, holdout)
        best_full = holdout_accuracy(store, best["run_id"], SST2 / "val.tsv")
        default_full = holdout_accuracy(store, default_run.id, SST2 / "val.tsv")
        params = ", ".join(f"{k}={v:.4g}" for k, v in best["params"].items())
        print()
        print(f"best trial {best['trial']}: {params}")
        print(f"{'':28}{'tuning half':>12}{'held-out half':>15}{'full val.tsv':>14}")
        print(f"{'best of the sweep':28}{best['value']:12.4f}{best_hold:15.4f}{best_full:14.4f}")
        print(f"{'untuned default':28}{default_tune:12.4f}{default_hold:15.4f}{default_full:14.4f}")
        print(f"sweep wall time {sweep_wall:.0f} s ({args.trials} trials, {args.workers} workers); "
              f"one default run {default_wall:.0f} s")


if __name__ == "__main__":
    main()
