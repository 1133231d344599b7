"""A recipe with augmentation against the same recipe without it, over several seeds.

    python bench/augment_compare.py                                   # examples/sst2_augment_500.yaml
    python bench/augment_compare.py examples/sst2_augment_500.yaml --seeds 0,1,2 --set task.augment=mask

Each seed trains the recipe as written (plus any --set) and again with task.augment=none, with
`lmwb train` in a fresh workbench home (a temporary folder unless --home), one after the other,
OMP_NUM_THREADS=--threads. A seed's two runs read the same rows (data.max_examples picks them
with the seed) and differ only in augmentation. Printed: each run's held-out accuracy at its
best validation step (the checkpoint a user keeps), then the mean of each side with its spread
(sample standard deviation and range) and the mean of the paired differences. The machine is
shared: the 1-minute load average before and after each run is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "examples" / "sst2_augment_500.yaml"


def train(recipe: Path, home: Path, name: str, sets: list[str], threads: int) -> dict:
    """One run of ``recipe`` with ``sets``: held-out and validation figures, wall time, load."""
    env = {**os.environ, "LMWB_HOME": str(home), "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "core.cli", "train", "--config", str(recipe), "--name", name]
    for item in sets:
        argv += ["--set", item]
    load_before, start = os.getloadavg()[0], time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    out = {"wall": time.perf_counter() - start, "load": (load_before, os.getloadavg()[0])}
    if done.returncode != 0:
        return {**out, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    sys.path.insert(0, str(REPO))
    from core.store import Store

    summary = next(r for r in Store(home=home).list_runs() if r.name == name).summary or {}
    best = summary.get("best") or {}
    return {**out, "heldout": (best.get("heldout") or {}).get("accuracy"), "val": best.get("value"),
            "step": best.get("step")}


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} (sd {sd:.4f}, range {min(values):.3f}-{max(values):.3f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", nargs="?", type=Path, default=DEFAULT, help="a recipe with task.augment set")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (default 0,1,2)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="key=value for the augmented side")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per run (default 1)")
    parser.add_argument("--home", type=Path, help="workbench home for the runs (default: a temporary folder)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    sides = {"with": args.sets, "without": ["task.augment=none"]}
    figures: dict[str, list[float]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp)
        for seed in seeds:
            for side, sets in sides.items():
                out = train(args.recipe, home, f"seed{seed}-{side}", [*sets, f"training.seed={seed}"], args.threads)
                load = f"load {out['load'][0]:.1f} -> {out['load'][1]:.1f}"
                if "error" in out:
                    print(f"seed {seed} {side}: FAILED after {out['wall']:.0f} s: {out['error']} ({load})")
                    continue
                print(f"seed {seed} {side:7}: held-out accuracy {out['heldout']:.4f}, val {out['val']:.4f} "
                      f"(best step {out['step']}), {out['wall']:.0f} s wall, {load}", flush=True)
                figures[side].append(out["heldout"])
    for side, values in figures.items():
        if values:
            print(f"{side:7} augmentation: held-out accuracy {spread(values)}")
    if len(figures["with"]) == len(figures["without"]) == len(seeds):
        gains = [a - b for a, b in zip(figures["with"], figures["without"], strict=True)]
        print(f"gain (paired by seed): {spread(gains)}")


if __name__ == "__main__":
    main()
