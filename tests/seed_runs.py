"""Finished runs written straight into a store, shaped like the trainer's (metric series, summary,
progress), without training: the page tests and the 1400 px browser test draw them in no time.

Each task's validation metrics are the ones the metric catalogue declares for it
(core.metrics.task_metrics), so a page showing them sees what a real run of that task reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.config import default_config, validate_config
from core.metrics import direction, task_metrics
from core.runs import create_run
from core.store import Run, Store

TASKS = ("classification", "language_model", "translation", "summarisation")
STEPS = tuple(range(10, 210, 10))
ONE_DATASET = ("negation_accuracy", "sums_right")  # the sentiment set's negations, the arithmetic set's sums
# A summarised document is long: the Run page's sample table must wrap it, not push the
# model's output off the page.
DOCUMENT = ("The city council met on Tuesday evening to discuss the new budget for the coming year. After a "
            "long debate about the cost of repairing the old bridge over the river, the members agreed to "
            "raise the parking fees in the centre and to spend the money on the bridge, the library and two "
            "new playgrounds in the northern districts, where families had asked for them for many years. ")
SAMPLES = {
    "summarisation": [
        {"source": DOCUMENT * 2, "reference": "The council raised parking fees to pay for the bridge, the library "
                                              "and two playgrounds.",
         "hypothesis": "The council agreed to raise parking fees and to repair the old bridge over the river."},
        {"source": DOCUMENT, "reference": "Parking fees pay for the bridge.",
         "hypothesis": "The council met to discuss the budget for the bridge and the library in the centre."},
    ],
    "translation": [
        {"source": "a b c d", "reference": "d c b a", "hypothesis": "d c b b"},
        {"source": "e f", "reference": "f e", "hypothesis": "f e"},
    ],
}


def _value(name: str, rng: np.random.Generator) -> float:
    """A plausible value of a declared metric (0-100 for BLEU-like scores, >1 for perplexity)."""
    if name == "loss":
        return 0.4 + rng.random()
    if name == "perplexity":
        return 2.0 + 3 * rng.random()
    if name.startswith(("bleu", "chrf")):
        return 100 * rng.random()
    if name.startswith("bits_per"):
        return 1.0 + rng.random()
    return float(rng.random())


def seed_run(store: Store, task: str, name: str, seed: int = 0, tags: tuple[str, ...] = ()) -> Run:
    """A completed ``task`` run called ``name``: train loss and lr at every step of :data:`STEPS`,
    every declared validation metric of the task at every fifth, a summary with them (and sample
    outputs for translation and summarisation)."""
    config = validate_config(default_config(task))
    run = create_run(store, config, name=name, status="completed", tags=tags)
    rng = np.random.default_rng(seed)
    # Not the metrics only one built-in dataset reports (the default data does not).
    val = {m.name: _value(m.name, rng) for m in task_metrics(task, objective=True) if m.name not in ONE_DATASET}
    rows: list[tuple[int, str, str, float, float]] = []
    for step in STEPS:
        rows.append((step, "train", "loss", 2.0 / step**0.5 + 0.05 * rng.random(), step * 0.05))
        rows.append((step, "train", "lr", 1e-3, step * 0.05))
    # Each metric improves towards its final value: scores rise, losses fall.
    rows += [(s, "val", k, v * (1 + (0.1 if direction(k) == "min" else -0.1) * (1 - s / STEPS[-1])), s * 0.05)
             for s in STEPS[4::5] for k, v in val.items()]
    store.log_metrics(run.id, rows)
    watched = {"classification": "accuracy", "translation": "bleu", "summarisation": "rougeL"}.get(task, "loss")
    summary: dict[str, Any] = {
        "val": val, "metric": watched, "best": {"value": val[watched], "step": STEPS[-1]},
        "step": STEPS[-1], "duration_s": 12.0, "params": 123_456, "details": {},
        "data": {"train_examples": 3600, "val_examples": 400},
    }
    if task in SAMPLES:
        summary["details"] = {"decoding": "greedy", "translations": SAMPLES[task]}
    if task == "language_model":
        summary["sample"] = "def hello():\n    return 'world'"
    store.set_summary(run.id, summary)
    store.set_progress(run.id, {"step": STEPS[-1], "max_steps": STEPS[-1], "fraction": 1.0, "elapsed_s": 12.0,
                                "train_loss": rows[-2][3]})
    store.update_run(run.id, started_at=run.created_at, finished_at=run.created_at + 12.0)
    return store.get_run(run.id)
