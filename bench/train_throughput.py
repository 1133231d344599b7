"""Training throughput: the engine's loop vs a minimal hand-written PyTorch loop.

Same model (built by the engine's registry), same batch size, context, optimizer, clipping and
device, in one process, alternating so machine noise hits both. Prints tokens/s and the ratio.

    python bench/train_throughput.py [--steps 300] [--repeats 3] [--data PATH]

The engine run includes everything a real run does: lr schedule, periodic store writes
(metrics, progress, heartbeat), the stop-flag watcher, and, in the "end to end" line,
evaluation and safetensors checkpoints as well.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from core.config import validate_config
from core.optim import build_optimizer
from core.runs import create_run, execute_run
from core.store import Store
from core.train import Trainer

REPO = Path(__file__).resolve().parents[1]
SHAKESPEARE = REPO.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def make_config(data_path: Path | None, steps: int, eval_every: int) -> dict:
    data = {"name": "file", "path": str(data_path)} if data_path else {"name": "python_docs"}
    return {
        "task": {"name": "language_model", "context_length": 64, "sample_length": 0},
        "data": data,
        "tokenizer": {"name": "char"},
        "model": {"name": "transformer_decoder", "n_layers": 4, "n_heads": 4, "d_model": 128,
                  "d_ff": 512, "dropout": 0.0, "bias": False, "tie_weights": True},
        "optimizer": {"name": "adamw", "lr": 1e-3, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.1},
        "schedule": {"name": "cosine", "warmup_steps": 100},
        "training": {"max_steps": steps, "batch_size": 12, "grad_clip": 1.0, "log_every": 10,
                     "eval_every": eval_every, "eval_max_batches": 4, "seed": 0},
    }


def bare_loop(raw: dict, steps: int) -> float:
    """nanoGPT-style: get_batch, forward, loss, backward, clip, step. Returns tokens/s."""
    config = validate_config(raw)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp))
        trainer.setup()  # reuse data/tokenizer/model building; the loop below is hand-written
    task, model = trainer.task, trainer.model
    optimizer = build_optimizer(model, config["optimizer"])
    generator = torch.Generator().manual_seed(1)
    data = task.train
    ctx, bs = 64, 12
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        ix = torch.randint(len(data) - ctx - 1, (bs,), generator=generator)
        x = torch.stack([data[i : i + ctx] for i in ix])
        y = torch.stack([data[i + 1 : i + 1 + ctx] for i in ix])
        logits = model(ids=x)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    loss.item()
    return steps * bs * ctx / (time.perf_counter() - start)


def engine_loop(raw: dict, steps: int) -> tuple[float, float]:
    """Returns (step tokens/s as the engine reports it, end-to-end tokens/s of fit())."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(url=f"sqlite:///{tmp}/store.db", home=Path(tmp))
        run = create_run(store, validate_config(raw))
        start = time.perf_counter()
        result = execute_run(store, run.id)
        total = time.perf_counter() - start
        df = store.metrics(run.id, names=["tokens_per_s"])
        step_rate = float(df["value"].mean())
        fit_rate = result.summary["tokens_seen"] / result.summary["duration_s"]
        del total
        return step_rate, fit_rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=SHAKESPEARE if SHAKESPEARE.exists() else None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, data {args.data or 'python_docs'}")
    steps = args.steps
    bare, engine_steps, engine_e2e, engine_noeval = [], [], [], []
    for r in range(args.repeats):
        bare.append(bare_loop(make_config(args.data, steps, steps), steps))
        s, e = engine_loop(make_config(args.data, steps, steps // 3), steps)
        engine_steps.append(s)
        engine_e2e.append(e)
        _, e_noeval = engine_loop(make_config(args.data, steps, steps), steps)
        engine_noeval.append(e_noeval)
        print(f"repeat {r + 1}: bare {bare[-1]:,.0f} tok/s | engine steps {s:,.0f} | "
              f"engine end-to-end (3 evals+checkpoints) {e:,.0f} | engine end-to-end (1 eval) {e_noeval:,.0f}")
    b = statistics.median(bare)
    print(f"\nbare loop                         {b:>10,.0f} tokens/s")
    for label, values in (
        ("engine, training steps", engine_steps),
        ("engine, whole fit (1 final eval)", engine_noeval),
        ("engine, whole fit (3 evals+ckpts)", engine_e2e),
    ):
        m = statistics.median(values)
        print(f"{label:33} {m:>10,.0f} tokens/s   ratio {m / b:.3f}x")


if __name__ == "__main__":
    main()
