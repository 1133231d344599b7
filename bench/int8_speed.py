"""A classification run against its int8 variant, in one process: examples per second at batch 1
and 32 and their ratio, size on disk, and accuracy on the same rows (validation, and the held-out
sentences when the run's data holds some out).

    python bench/int8_speed.py --run RUN [--threads 2] [--seconds 5]
    python bench/int8_speed.py --config examples/lstm_sst2.yaml --steps 300
    python bench/int8_speed.py --config examples/minilm_sst2_sentences.yaml --steps 80 \
        --set schedule.warmup_steps=8

With ``--config`` the run is trained first, in a temporary workbench home, for ``--steps``
steps. The int8 variant is made as ``lmwb quantize`` makes it (core/variants.py) and both are
timed by the function ``lmwb eval --speed`` uses, one after the other at each batch size; the
run's fp32 graph in ONNX Runtime is timed too, to tell the runtime's share of a speed-up from
int8's. Each figure is
measured once: the machine's load (``uptime``) is printed before and after, as a busy machine
moves them. Never asserts.

Measured 2026-12-07 on the 2-core Intel Xeon (AVX512-BF16, AMX) of this project, 2 threads, load
1.1-1.6 (five people shared the machine: figures at load 4-7 were up to 10x lower for PyTorch
with 2 threads, whose OpenMP threads wait on each other when a core is taken), on a MiniLM
(examples/minilm_sst2_sentences.yaml) fine-tuned for only 80 steps (``--steps 80 --set
schedule.warmup_steps=8``; the recipe's 30-minute run was not at hand):

    fp32      (PyTorch)       b1 111.6 ex/s  b32 212.1 ex/s  90.3 MB  val.tsv 0.8400  held-out 0.8310
    int8      (ONNX Runtime)  b1 353.0 ex/s  b32 388.1 ex/s  23.0 MB  val.tsv 0.8395  held-out 0.8260
    fp32-onnx (ONNX Runtime)  b1 188.8 ex/s  b32 184.5 ex/s  90.4 MB  val.tsv 0.8400  held-out 0.8310
    int8 / fp32: batch 1 3.16x, batch 32 1.83x; int8 / fp32-onnx: 1.87x, 2.10x

On the recipe's own run (30 minutes of examples/minilm_sst2_sentences.yaml, held-out 0.886), same
machine, 2 threads, load 0.7-1.3, ``--run RUN --seconds 4``:

    fp32      (PyTorch)       b1 141.3 ex/s  b32 245.6 ex/s  90.3 MB  val.tsv 0.9425  held-out 0.8860
    int8      (ONNX Runtime)  b1 401.9 ex/s  b32 455.4 ex/s  23.0 MB  val.tsv 0.9420  held-out 0.8840
    fp32-onnx (ONNX Runtime)  b1 233.8 ex/s  b32 208.0 ex/s  90.4 MB  val.tsv 0.9425  held-out 0.8860
    int8 / fp32: batch 1 2.84x, batch 32 1.85x; int8 / fp32-onnx: 1.72x, 2.19x

In the 80-step run the int8 variant predicted the run's class on 99.2% of 256 validation rows (100%
for the recipe's run); with one weight scale
per tensor instead of per channel it lost 1.5 points on the held-out sentences (0.816). On a
tiny BiLSTM (32 wide, 1 thread, load 0.8) int8 ran 4.0x and 2.3x the PyTorch run but 0.70x and
0.85x the fp32 graph in ONNX Runtime: there the runtime, not int8, makes the difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def train(config: str, steps: int, sets: list[str]) -> tuple[object, str]:
    from core.config import apply_overrides, load_config_file, validate_config
    from core.runs import create_run, execute_run
    from core.store import Store

    home = Path(tempfile.mkdtemp(prefix="lmwb-int8-bench-"))
    os.environ["LMWB_HOME"] = str(home)
    store = Store(home=home)
    overrides = [f"training.max_steps={steps}", f"training.eval_every={steps}", "training.max_minutes=null", *sets]
    raw = apply_overrides(load_config_file(config), overrides)
    run = create_run(store, validate_config(raw), name="int8-bench")
    started = time.monotonic()
    execute_run(store, run.id)
    print(f"trained {run.id} for {steps} steps in {time.monotonic() - started:.0f} s")
    return store, run.id


def heldout_accuracy(trained: object) -> float | None:
    """Accuracy on the run's held-out sentences (``data.heldout_sentences``), or None."""
    from core.assemble import build_task, load_dataset

    data = load_dataset(trained.config)  # type: ignore[attr-defined]
    if "heldout" not in data.extras:
        return None
    task = build_task(trained.config, trained.tokenizer, trained.task.state, trained.task.device)  # type: ignore[attr-defined]
    task.adopt_artifacts(trained.task)  # type: ignore[attr-defined]
    task.set_data(data)
    held = task.evaluate_heldout(trained.model, None, 64)  # type: ignore[attr-defined]
    return None if held is None else float(held.metrics["accuracy"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="a classification run in the store (LMWB_HOME / LMWB_STORE)")
    parser.add_argument("--config", help="train this config first (in a temporary home)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="with --config: override a setting (schedule.warmup_steps=10, say)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per figure (after warm-up)")
    args = parser.parse_args()
    if bool(args.run) == bool(args.config):
        parser.error("give --run RUN or --config FILE")

    import torch

    torch.set_num_threads(args.threads)
    from core.device import cpu_name
    from core.export.int8 import OnnxClassifier
    from core.export.onnx import write_graph
    from core.runs import evaluate_file
    from core.store import Store
    from core.variants import (
        BATCHES,
        examples_per_s,
        load_variant,
        make_variant,
        size_text,
        validation_texts,
        weights_bytes,
    )

    store, run_id = train(args.config, args.steps, args.set) if args.config else (Store(), args.run)
    print(f"{cpu_name()}, {args.threads} threads (torch and ONNX Runtime)")
    print("before:", uptime())
    print(make_variant(store, run_id, "int8"))  # type: ignore[arg-type]
    models = {name: load_variant(store, run_id, name) for name in ("fp32", "int8")}  # type: ignore[arg-type]
    # The run's fp32 graph in ONNX Runtime too: how much of the gain is the runtime, how much int8.
    graph = Path(tempfile.mkdtemp(prefix="lmwb-int8-bench-onnx-"))
    write_graph(models["fp32"], graph / "model.onnx")
    models["fp32-onnx"] = dataclasses.replace(models["fp32"], model=OnnxClassifier(graph / "model.onnx"))
    texts = validation_texts(models["fp32"], None)
    rates: dict[str, dict[int, float]] = {name: {} for name in models}
    for batch in BATCHES:
        for name, trained in models.items():
            rates[name][batch] = examples_per_s(trained, texts, batch, seconds=args.seconds)
    print("after timing:", uptime())
    for name, trained in models.items():
        val = evaluate_file(trained).metrics["accuracy"]
        held = heldout_accuracy(trained)
        size = (graph / "model.onnx").stat().st_size if name == "fp32-onnx" else weights_bytes(trained, name)
        shown = " ".join(f"b{b} {rates[name][b]:8,.1f} ex/s" for b in BATCHES)
        print(f"{name:9}: {shown}; {size_text(size)}; validation accuracy {val:.4f} ({len(texts)} rows)"
              + (f"; held-out sentences {held:.4f}" if held is not None else ""))
    for base in ("fp32", "fp32-onnx"):
        print(f"int8 / {base}: " + ", ".join(f"batch {b} {rates['int8'][b] / rates[base][b]:.2f}x" for b in BATCHES))
    print("after:", uptime())
    return 0


if __name__ == "__main__":
    sys.exit(main())
