"""Tiny runs trained in the test process, shared by the tests that inspect finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from core.config import default_config, validate_config
from core.runs import create_run, execute_run
from core.store import Store


def train_run(store: Store, name: str, raw: dict[str, Any], tags: tuple[str, ...] = (),
              **training: Any) -> str:
    """Create and train a run on the CPU in this process; its id."""
    raw["training"].update(device="cpu", **training)
    run = create_run(store, validate_config(raw), name=name, tags=tags)
    execute_run(store, run.id)
    return run.id


def execute_on_one_thread(store: Store, run_id: str) -> None:
    """Train a stored run here on one torch thread: a tiny model gains nothing from a second one,
    which only spins on a busy machine (a test's server and browser share its cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        execute_run(store, run_id)
    finally:
        torch.set_num_threads(threads)


def tiny_reader(home: Path, n_documents: int = 200) -> str:
    """A small qa reader on a small news_qa set, trained here on one thread (a few seconds): the
    run id, named ``tiny-reader``, in a store at ``home``."""
    store = Store(home=home)
    raw = default_config("qa")
    raw["data"] = {"name": "news_qa", "n_documents": n_documents}
    raw["model"].update(d_model=32, d_ff=64)
    raw["training"].update(max_steps=60, eval_every=60, eval_max_batches=1, device="cpu")
    run = create_run(store, validate_config(raw), name="tiny-reader", status="running")
    execute_on_one_thread(store, run.id)
    return run.id


def topics_classifier(model: dict[str, Any], n_examples: int, steps: int) -> dict[str, Any]:
    """A classification config on the built-in topics set, evaluated once at the end."""
    raw = default_config("classification")
    raw["data"] = {"name": "topics", "n_examples": n_examples}
    raw["model"] = model
    raw["training"].update(max_steps=steps, eval_every=steps, batch_size=32)
    return raw
