"""A classification run with task.augment=eda trains through the whole path (config, trainer,
task, store) and learns (issue 27); tests/unit/test_augment.py checks the rows it reads."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from core.config import default_config
from core.store import Store
from tests.trained_runs import train_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FILLER = ["the", "a", "film", "plot", "story", "was", "is", "and", "of", "it", "this", "with", "acting", "music",
          "scenes", "cast"]


def reviews(path: Path, n: int = 300) -> Path:
    """Rows whose class is one of its words (good/great vs bad/awful) among filler words."""
    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(n):
        label = i % 2
        words = rng.sample(FILLER, 6) + [rng.choice(("good", "great") if label else ("bad", "awful"))]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{'pos' if label else 'neg'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_run_with_eda_learns(store: Store, tmp_path: Path) -> None:
    raw = default_config("classification")
    raw["task"].update(augment="eda", augment_p=0.2, augment_prob=0.5)
    raw["data"] = {"name": "file", "path": str(reviews(tmp_path / "reviews.csv")), "val_fraction": 0.2}
    raw["model"].update(embed_dim=16, hidden_size=16)
    run_id = train_run(store, "eda", raw, max_steps=80, eval_every=80, log_every=10)
    run = store.get_run(run_id)
    assert run.status == "completed" and run.config["task"]["augment"] == "eda"
    loss = store.metrics(run_id, split="train", names="loss")["value"]
    assert loss.iloc[-3:].mean() < loss.iloc[:3].mean() - 0.2
    assert run.summary["best"]["value"] >= 0.9  # two classes: 0.5 is a guess
