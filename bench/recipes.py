"""Run the recipes in examples/ that state a goal, and print each figure against its goal.

    python bench/recipes.py                      # every examples/*.yaml with a "# goal:" line
    python bench/recipes.py sst2_bilstm_sentences [--threads 2] [--home DIR]

A recipe states its goal in header comments the script reads:

    # goal: heldout accuracy >= 0.85
    # budget: 10 min, 2 CPU cores
    # device: cuda                 (optional: skipped, and said so, where there is no CUDA GPU)
    # teacher: minilm_sst2_sentences (optional: a distilled recipe's teacher, another recipe)

`heldout` is the held-out set (data.heldout_path / data.heldout_sentences) at the step of the best
validation score (the checkpoint a user keeps); `val` is the validation split. Each recipe
trains with `lmwb train` in a fresh workbench home (a temporary folder unless --home), with
training.max_minutes set to its budget and OMP_NUM_THREADS to --threads. The machine is shared,
so the load average (1 min) before and after each run is printed with its figure, and "quiet"
when the load at the end is no more than the run's own threads: a figure measured with other
processes on the cores is a lower bound of what the recipe does alone.

A recipe with a teacher (task.teacher names the teacher recipe's run) trains in its teacher's
home: the teacher recipe first, unless a completed run of that name is there already (``--home``
keeps it between calls), then the student; its wall time includes computing the teacher's
logits, which its training time does not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
GOAL = re.compile(r"^#\s*goal:\s*(val|heldout)\s+(\w+)\s*(>=|<=)\s*([\d.]+)", re.MULTILINE)
BUDGET = re.compile(r"^#\s*budget:\s*([\d.]+)\s*min", re.MULTILINE)
DEVICE = re.compile(r"^#\s*device:\s*(\w+)", re.MULTILINE)
TEACHER = re.compile(r"^#\s*teacher:\s*(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Recipe:
    path: Path
    split: str
    metric: str
    op: str
    goal: float
    minutes: float | None
    device: str = "any"
    teacher: str | None = None  # the recipe whose run teaches this one (trained first, same home)

    @property
    def name(self) -> str:
        return self.path.stem


def read_recipe(path: Path) -> Recipe | None:
    """The recipe's goal from its header, or None when it states none."""
    text = path.read_text()
    goal = GOAL.search(text)
    if goal is None:
        return None
    budget, device, teacher = BUDGET.search(text), DEVICE.search(text), TEACHER.search(text)
    return Recipe(path, goal[1], goal[2], goal[3], float(goal[4]), float(budget[1]) if budget else None,
                  device[1] if device else "any", teacher[1] if teacher else None)


def figure(summary: dict, recipe: Recipe) -> float | None:
    """The recipe's figure: the held-out set at the best step (else at the end), or validation's best."""
    if recipe.split == "heldout":
        held = (summary.get("best") or {}).get("heldout") or summary.get("heldout") or {}
        return held.get(recipe.metric)
    best = summary.get("best") or {}
    if summary.get("metric") == recipe.metric and best.get("value") is not None:
        return best["value"]
    return (summary.get("val") or {}).get(recipe.metric)


def run(recipe: Recipe, home: Path, threads: int) -> dict:
    env = {**os.environ, "LMWB_HOME": str(home), "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "core.cli", "train", "--config", str(recipe.path), "--name", recipe.name]
    if recipe.minutes is not None:
        argv += ["--set", f"training.max_minutes={recipe.minutes}"]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1], "wall": wall}
    sys.path.insert(0, str(REPO))
    from core.store import Store

    summary = next(r for r in Store(home=home).list_runs() if r.name == recipe.name).summary or {}
    return {"figure": figure(summary, recipe), "val": summary.get("val", {}).get(recipe.metric),
            "step": summary.get("step"), "train_s": summary.get("duration_s"), "wall": wall,
            "load": (load_before, load_after)}


def has_completed(home: Path, name: str) -> bool:
    """Whether ``home`` holds a completed run named ``name`` (a teacher trained by an earlier call)."""
    if not (home / "store.db").exists():
        return False
    sys.path.insert(0, str(REPO))
    from core.store import Store

    return any(r.name == name for r in Store(home=home).list_runs(status="completed"))


def report(recipe: Recipe, out: dict, threads: int, cores: int | None) -> None:
    if "error" in out:
        print(f"{recipe.name}: FAILED after {out['wall']:.0f} s: {out['error']}")
        return
    value = out["figure"]
    met = value is not None and (value >= recipe.goal if recipe.op == ">=" else value <= recipe.goal)
    # The 1-minute load average at the end counts the run's own threads (and, just
    # after another recipe, load before counts that one): more than those is other work.
    quiet = "quiet" if out["load"][1] <= threads + 0.5 else "other work on the cores"
    shown = f"{value:.4f}" if value is not None else "none"
    val = f"{out['val']:.4f}" if out["val"] is not None else "none"
    print(f"{recipe.name}: {recipe.split} {recipe.metric} {shown} (goal {recipe.op} {recipe.goal:g}: "
          f"{'met' if met else 'NOT met'}); val {val}; "
          f"{out['step']} steps, {out['train_s']:.0f} s training, {out['wall']:.0f} s wall; "
          f"load {out['load'][0]:.1f} -> {out['load'][1]:.1f} on {cores} cores ({quiet})")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    recipes_there = ", ".join(sorted(p.stem for p in EXAMPLES.glob("*.yaml") if GOAL.search(p.read_text())))
    parser.add_argument("names", nargs="*", help=f"recipe names (examples/NAME.yaml): {recipes_there}; default: "
                        "every one, which takes hours (each trains for its whole budget)")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS for training (default 2)")
    parser.add_argument("--home", type=Path, help="workbench home for the runs (default: a temporary folder)")
    args = parser.parse_args()
    known = {r.name: r for r in map(read_recipe, sorted(EXAMPLES.glob("*.yaml"))) if r is not None}
    names = [n.removesuffix(".yaml").removeprefix("examples/") for n in args.names]
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"not a recipe: {', '.join(unknown)}. Recipes (examples/*.yaml with a '# goal:' line): "
                 + ", ".join(known))
    recipes = [known[n] for n in names] or list(known.values())
    cores = os.cpu_count()
    print(f"{len(recipes)} recipe(s) on {cores} cores, {args.threads} torch threads each")
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or Path(tmp)
        for recipe in recipes:
            if recipe.device == "cuda" and not cuda_available():
                print(f"{recipe.name}: skipped: it needs a CUDA GPU and this machine has none")
                continue
            where = home / (recipe.teacher or recipe.name)  # a student trains beside its teacher
            if recipe.teacher and not has_completed(where, recipe.teacher):
                if recipe.teacher not in known:
                    print(f"{recipe.name}: skipped: its teacher {recipe.teacher} is not a recipe")
                    continue
                print(f"{recipe.name}: training its teacher first ({recipe.teacher})")
                taught = run(known[recipe.teacher], where, args.threads)
                report(known[recipe.teacher], taught, args.threads, cores)
                if "error" in taught:
                    continue
            report(recipe, run(recipe, where, args.threads), args.threads, cores)


if __name__ == "__main__":
    main()
