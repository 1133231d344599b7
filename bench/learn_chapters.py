"""Each Learn chapter, warm: the walkthrough's computation and the whole page's script run.

For every chapter declared in core/learn/chapters.py it trains (once, tiny, on one thread) a run
of the first kind the chapter reads, then measures on that run and the chapter's default input:

* compute: ``chapter.function()(trained, text, **defaults)``, median of 5 after a first call;
* page: the Learn page opened on the chapter through AppTest (the script run that computes and
  draws it; the browser's drawing is not counted), median of 3 reruns after the first.

Goal: the page under 1 s warm on 2 cores. Prints figures and ratios; never asserts. Run it on a
quiet machine: ``OMP_NUM_THREADS=1 .venv/bin/python bench/learn_chapters.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from app.navigation import page_path  # noqa: E402
from core.config import apply_overrides, default_config  # noqa: E402
from core.learn.chapters import CHAPTERS, Chapter  # noqa: E402
from core.runs import load_trained  # noqa: E402
from core.store import Store  # noqa: E402
from tests.trained_runs import train_run  # noqa: E402

GOAL_S = 1.0
SMALL = {"d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64}
# The tiny run trained for each (task, architecture) a chapter may read.
RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("classification", "transformer_encoder"): {"data.name": "topics", "data.n_examples": 300,
                                                **{f"model.{k}": v for k, v in SMALL.items()},
                                                "model.name": "transformer_encoder"},
    ("classification", "lstm"): {"data.name": "topics", "data.n_examples": 300, "model.embed_dim": 16,
                                 "model.hidden_size": 16},
    ("language_model", "transformer_decoder"): {"data.name": "arithmetic", "data.n_examples": 300,
                                                "task.sample_length": 0, "task.context_length": 16,
                                                **{f"model.{k}": v for k, v in SMALL.items()}},
    ("masked_lm", "transformer_encoder"): {"data.n_examples": 300, **{f"model.{k}": v for k, v in SMALL.items()}},
    ("word_embeddings", "word2vec"): {"model.dim": 16},
    ("translation", "transformer_seq2seq"): {"data.n_examples": 300, "task.eval_max_sentences": 8},
}


def trained_for(store: Store, chapter: Chapter, cache: dict[tuple[str, str], str]) -> str | None:
    for kind in RECIPES:
        if chapter.accepts(*kind):
            if kind not in cache:
                task, arch = kind
                raw = apply_overrides(default_config(task), {**RECIPES[kind], "training.max_steps": 30,
                                                             "training.eval_every": 30})
                raw["model"]["name"] = arch
                cache[kind] = train_run(store, f"{task}-{arch}", raw, attention_snapshots=False)
            return cache[kind]
    return None


def tiny_sweep(store: Store) -> None:
    """A finished random sweep of 5 tiny GRU trials, for the chapters that read a sweep (tuning)."""
    from core import sweep as sw

    raw = apply_overrides(default_config("classification"), {
        "data.n_examples": 200, "model.name": "gru", "model.embed_dim": 8, "model.hidden_size": 8,
        "training.max_steps": 6, "training.eval_every": 3, "training.eval_max_batches": 1, "training.checkpoint": False})
    space = {"optimizer.lr": {"low": 1e-3, "high": 1e-1, "log": True}, "model.dropout": {"low": 0.0, "high": 0.5}}
    spec = sw.build_spec(raw, space, method="random", n_trials=5, seed=0, pruner="none")
    record = sw.create_sweep(store, spec, name="bench-sweep")
    sw.start_sweep(store, record.id)
    sw.run_trials(store, record.id)


def median_time(action: Any, repeats: int) -> float:
    action()  # the first call pays imports and caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    from streamlit.testing.v1 import AppTest

    torch.set_num_threads(1)
    home = Path(tempfile.mkdtemp(prefix="lmwb-learn-bench-"))
    os.environ.update({"LMWB_HOME": str(home), "LMWB_NO_WORKERS": "1"})
    store = Store(home=home)
    cache: dict[tuple[str, str], str] = {}
    tiny_sweep(store)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    rows = []
    for chapter in CHAPTERS:
        run_id = trained_for(store, chapter, cache) if chapter.runs else None
        if chapter.runs and run_id is None:
            print(f"{chapter.name}: no recipe for the runs it reads ({chapter.runs}); skipped")
            continue
        trained = load_trained(store, run_id) if run_id else None
        knobs = chapter.knob_values({})
        compute = median_time(lambda c=chapter, t=trained, k=knobs: c.function()(t, c.default_text, **k), 5)
        at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120).run()
        at.query_params.update({"chapter": chapter.name, **({"run": run_id} if run_id else {})})
        at.switch_page(str(page_path("learn")))
        page = median_time(lambda a=at: a.run(), 3)
        errors = [e.value for e in at.exception] + [e.value for e in at.error]
        if not at.success:  # every check shows as a success line: none means nothing was drawn
            errors.append("no check drawn")
        rows.append((chapter.name, compute, page, errors))
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    print(f"{'chapter':<24}{'compute (s)':>12}{'page (s)':>10}{'goal':>7}{'ratio':>7}")
    for name, compute, page, errors in rows:
        flag = "ok" if page <= GOAL_S else "OVER"
        print(f"{name:<24}{compute:>12.3f}{page:>10.3f}{GOAL_S:>7.1f}{page / GOAL_S:>7.2f}  {flag}"
              + (f"  errors: {errors}" if errors else ""))


if __name__ == "__main__":
    main()
