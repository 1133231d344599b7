"""DDP throughput: several processes against one, on the CPU and (when there is one) on GPUs.

CPU: a small GPT (4 layers x 4 heads x 128, context 64) trained by ``lmwb train`` itself, the
same global batch of 24 windows either way: 2 processes x 1 thread (Gloo, 12 windows each)
against 1 process x 2 threads. Both go through the real launch path (torchrun's agent, the
store, the trainer); tokens/s are the trainer's logged figures after warm-up, summed over
processes. Prints both and the ratio. The machine should otherwise be idle: with other work
on the cores, the process that waits in an all-reduce for a descheduled peer loses most.

GPU (skipped with a clear line when CUDA is absent):
  * the GPT-2 small shape (124M parameters: 12 x 12 x 768, vocabulary 50,304, context 1024),
    built by the workbench's registry, bf16 autocast, ``torch.compile``, fused AdamW, random
    tokens: tokens/s and MFU (nanoGPT's 6N + 12 L d T FLOPs per token against the GPU's dense
    bf16 peak) on one GPU and, with several GPUs, on all of them (DDP over NCCL);
  * nanoGPT's Shakespeare character model (6 layers x 6 heads x 384, context 256, batch 64)
    trained end to end by ``lmwb train`` on every visible GPU.

    python bench/ddp_throughput.py [--steps 120] [--repeats 2] [--gpu-steps 50]
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

import torch

REPO = Path(__file__).resolve().parents[1]
SHAKESPEARE = REPO.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
# Dense bf16 peak FLOP/s by GPU name (datasheet figures, without sparsity).
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12, "L4": 121e12,
             "RTX 4090": 165e12, "RTX 3090": 71e12}


def data_args() -> list[str]:
    if SHAKESPEARE.exists():
        return ["--set", "data.name=file", "--set", f"data.path={SHAKESPEARE}"]
    return ["--set", "data.name=python_docs"]


def lmwb_tokens_per_s(args: list[str], env: dict[str, str], warmup_logs: int = 2) -> float:
    """Train with ``lmwb train ARGS`` in a fresh home; the median logged tokens/s after warm-up."""
    from core.store import Store

    with tempfile.TemporaryDirectory() as home:
        run_env = {**os.environ, **env, "LMWB_HOME": home, "PYTHONPATH": str(REPO)}
        run_env.pop("LMWB_STORE", None)
        done = subprocess.run([sys.executable, "-m", "core.cli", "train", *args], env=run_env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"lmwb train failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        store = Store(home=Path(home))
        run = store.list_runs()[0]
        rates = store.metrics(run.id, names=["tokens_per_s"])["value"].tolist()
        return statistics.median(rates[warmup_logs:] or rates)


def cpu_bench(steps: int, repeats: int) -> None:
    common = [
        "--task", "language_model", *data_args(), "--set", "tokenizer.name=char",
        "--set", "task.context_length=64", "--set", "task.sample_length=0",
        "--set", "model.name=transformer_decoder", "--set", "model.n_layers=4", "--set", "model.n_heads=4",
        "--set", "model.d_model=128", "--set", "model.d_ff=512", "--set", "model.dropout=0.0",
        "--set", f"training.max_steps={steps}", "--set", f"training.eval_every={steps}",
        "--set", "training.eval_max_batches=1", "--set", "training.log_every=10",
        "--set", "training.checkpoint=false", "--set", "training.attention_snapshots=false",
    ]
    one = [*common, "--set", "training.batch_size=24"]
    two = [*common, "--set", "training.batch_size=12", "--set", "training.nproc_per_node=2"]
    print(f"CPU: small GPT (4x4x128, context 64), global batch 24, {steps} steps, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    singles, ddps = [], []
    for r in range(repeats):  # alternating, so machine noise hits both
        singles.append(lmwb_tokens_per_s(one, {"OMP_NUM_THREADS": "2"}))
        ddps.append(lmwb_tokens_per_s(two, {"OMP_NUM_THREADS": "1"}))
        print(f"  repeat {r + 1}: 1 process x 2 threads {singles[-1]:,.0f} tok/s | "
              f"2 processes x 1 thread {ddps[-1]:,.0f} tok/s")
    s, d = statistics.median(singles), statistics.median(ddps)
    print(f"  1 process x 2 threads   {s:>10,.0f} tokens/s")
    print(f"  2 processes x 1 thread  {d:>10,.0f} tokens/s   ratio {d / s:.2f}x")


# -- GPU ---------------------------------------------------------------------------------------------
def gpt2_small(vocab: int = 50304, context: int = 1024) -> torch.nn.Module:
    from core.config import validate_config
    from core.models.heads import LanguageModel
    from core.registry import MODELS

    config = validate_config({"task": {"name": "language_model", "context_length": context},
                              "model": {"name": "transformer_decoder", "n_layers": 12, "n_heads": 12,
                                        "d_model": 768, "d_ff": 3072, "dropout": 0.0, "bias": False,
                                        "tie_weights": True}})
    backbone = MODELS.get("transformer_decoder").factory(config.params("model"), vocab_size=vocab, pad_id=0,
                                                         max_len=context)
    return LanguageModel(backbone, vocab_size=vocab, tie_weights=True)


def flops_per_token(model: torch.nn.Module, layers: int = 12, width: int = 768, context: int = 1024) -> float:
    params = sum(p.numel() for p in model.parameters())
    return 6 * params + 12 * layers * width * context


def peak_flops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def gpt2_run(rank: int, world: int, steps: int, batch: int, port: int, out: str) -> None:
    """One process of the GPT-2-size bench (world 1: no process group)."""
    import torch.distributed as dist

    torch.cuda.set_device(rank)
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("nccl", rank=rank, world_size=world, device_id=torch.device("cuda", rank))
    torch.backends.cuda.matmul.allow_tf32 = True
    model = gpt2_small().cuda()
    fpt = flops_per_token(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    stepped: torch.nn.Module = model
    if world > 1:
        stepped = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank])
    stepped = torch.compile(stepped)
    x = torch.randint(0, 50304, (batch, 1025), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = stepped(ids=x[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.float().view(-1, logits.size(-1)), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(10):  # compile and warm up
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    rate = steps * batch * 1024 / (time.perf_counter() - start)
    if rank == 0:
        Path(out).write_text(f"{rate * world} {fpt}")
    if world > 1:
        dist.destroy_process_group()


def gpt2_bench(steps: int, batch: int) -> None:
    name = torch.cuda.get_device_name(0)
    gpus = torch.cuda.device_count()
    peak = peak_flops(name)
    for world in sorted({1, gpus}):
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "rate")
            if world == 1:
                gpt2_run(0, 1, steps, batch, 0, out)
            else:
                torch.multiprocessing.spawn(gpt2_run, args=(world, steps, batch, _free_port(), out), nprocs=world)
            rate, fpt = (float(v) for v in Path(out).read_text().split())
        mfu = f"{rate * fpt / (peak * world):.1%}" if peak else "n/a (unknown peak)"
        print(f"  GPT-2 small (124M), bf16, compiled, batch {batch} x 1024 per GPU, {world} x {name}: "
              f"{rate:,.0f} tokens/s, MFU {mfu}")


def shakespeare_char_bench(steps: int) -> None:
    gpus = torch.cuda.device_count()
    args = ["--task", "language_model", *data_args(), "--set", "tokenizer.name=char",
            "--set", "task.context_length=256", "--set", "task.sample_length=0",
            "--set", "model.name=transformer_decoder", "--set", "model.n_layers=6", "--set", "model.n_heads=6",
            "--set", "model.d_model=384", "--set", "model.d_ff=1536", "--set", "model.dropout=0.2",
            "--set", "training.batch_size=64", "--set", f"training.max_steps={steps}",
            "--set", f"training.eval_every={steps}", "--set", "training.eval_max_batches=1",
            "--set", "training.log_every=10", "--set", "training.compile=true", "--set", "training.precision=bf16",
            "--set", "training.checkpoint=false", "--set", "training.attention_snapshots=false",
            "--set", f"training.nproc_per_node={gpus}"]
    rate = lmwb_tokens_per_s(args, {})
    print(f"  Shakespeare char (6x6x384, context 256, batch 64 per GPU), lmwb train on {gpus} GPU(s): "
          f"{rate:,.0f} tokens/s")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=120, help="CPU steps per run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--gpu-steps", type=int, default=50)
    parser.add_argument("--gpu-batch", type=int, default=16, help="GPT-2 windows per GPU")
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}")
    if not args.skip_cpu:
        cpu_bench(args.steps, args.repeats)
    if not torch.cuda.is_available():
        print("GPU: skipped: no CUDA device")
        return
    print(f"GPU: {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}")
    gpt2_bench(args.gpu_steps, args.gpu_batch)
    shakespeare_char_bench(max(args.gpu_steps * 4, 100))


if __name__ == "__main__":
    main()
