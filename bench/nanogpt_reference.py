"""nanoGPT's small CPU recipe in a hand-written loop, as a reference for the engine's result.

nanoGPT quotes "val loss ~1.88" for this setting, measured with ``--eval_iters=20`` (20 random
batches of 12 windows: a noisy estimate). This script trains the same model with nanoGPT's own
loop (global seed 1337, ``get_batch``, its lr formula) and reports both that 20-batch estimate
and the loss over the whole validation split, which is what the engine reports.

    python bench/nanogpt_reference.py [--steps 2000] [--seed 1337]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.train_throughput import SHAKESPEARE, make_config
from core.config import validate_config
from core.optim import build_optimizer
from core.train import Trainer


def nanogpt_lr(it: int, lr: float = 1e-3, min_lr: float = 1e-4, warmup: int = 100, decay: int = 2000) -> float:
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay:
        return min_lr
    ratio = (it - warmup) / (decay - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    raw = make_config(SHAKESPEARE, args.steps, args.steps)
    raw["training"]["eval_max_batches"] = None
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(validate_config(raw), Path(tmp))
        trainer.setup()  # data, char tokenizer and the GPT, built exactly as the engine does
    task, model = trainer.task, trainer.model
    torch.manual_seed(args.seed)
    model.apply(lambda m: m.reset_parameters() if hasattr(m, "reset_parameters") else None)
    from core.models.transformer import init_gpt2

    init_gpt2(model.backbone, 4)
    optimizer = build_optimizer(model, validate_config(raw)["optimizer"])
    train, val, ctx, bs = task.train, task.val, 64, 12

    def get_batch(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data) - ctx, (bs,))
        return torch.stack([data[i : i + ctx] for i in ix]), torch.stack([data[i + 1 : i + 1 + ctx] for i in ix])

    start = time.perf_counter()
    model.train()
    for it in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = nanogpt_lr(it, decay=args.steps)
        x, y = get_batch(train)
        logits = model(ids=x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    wall = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        losses = []
        for _ in range(20):
            x, y = get_batch(val)
            logits = model(ids=x)
            losses.append(F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1)).item())
        estimate = sum(losses) / len(losses)
        full = task.evaluate(model, None, 64).metrics["loss"]
    print(f"nanoGPT loop: {args.steps} steps in {wall:.1f} s ({wall / args.steps * 1000:.1f} ms/step)")
    print(f"val loss, 20-batch estimate (nanoGPT's --eval_iters=20): {estimate:.4f}")
    print(f"val loss, whole validation split:                      {full:.4f}")


if __name__ == "__main__":
    main()
