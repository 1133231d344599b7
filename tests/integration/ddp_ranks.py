"""What the ranks of test_ddp's one-step test run: kept apart from the test module so a
spawned rank imports only torch and the trainer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from core.config import default_config, validate_config

CASES = {"transformer": ("transformer_decoder", 1), "lstm_accum2": ("lstm", 2)}  # name: (architecture, grad_accum)


def config(arch: str, accum: int, batch: int) -> dict[str, Any]:
    """A one-step language-model run; SGD so the update is the gradient itself (Adam's first step
    is about its sign, which rounding can flip for a gradient near zero)."""
    raw = default_config("language_model")
    model = {"name": arch, "dropout": 0.0}
    model.update({"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32} if arch == "transformer_decoder"
                 else {"embed_dim": 16, "hidden_size": 16})
    raw.update(data={"name": "arithmetic"}, model=model, optimizer={"name": "sgd", "lr": 0.5, "momentum": 0.0},
               task={"name": "language_model", "context_length": 16, "sample_length": 0})
    raw["training"] = {"max_steps": 1, "batch_size": batch, "grad_accum": accum, "eval_max_batches": 1,
                       "checkpoint": False, "attention_snapshots": False, "seed": 3}
    return raw


def one_step(rank: int, port: int, folder: str) -> None:
    """One rank: join a Gloo group of 2, train one step of each case, save rank 0's weights."""
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from core.strategies import DDP
    from core.strategies.group import join, leave
    from core.train import Trainer

    ranks = join("cpu", "gloo")
    for name, (arch, accum) in CASES.items():
        trainer = Trainer(validate_config(config(arch, accum, batch=4)), Path(folder) / name,
                          strategy=DDP(ranks))
        trainer.setup()
        trainer.fit()
        if rank == 0:
            torch.save(trainer.model.state_dict(), Path(folder) / f"{name}.pt")
    leave()
