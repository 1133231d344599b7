"""A run's low-precision variants: made once (``lmwb quantize``, the Run page), kept beside the run,
used by ``predict``, ``eval`` and the Playground like the run itself, and timed with it
(``lmwb eval RUN --speed``).

Layout inside a run folder (no pickle anywhere: an ONNX graph and JSON)::

    variants/int8/model.onnx      the run's classifier, int8 weights (core.export.int8)
    variants/int8/manifest.json   what it is, made from which checkpoint, its size and its
                                  agreement with the run on the validation rows, and both scored there

The tokenizer, label names and task state stay the run's own. This module reads manifests without
torch (the Run page lists variants without loading a model); making, loading and timing one
import the engine when called.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from core.device import cpu_name
from core.errors import WorkbenchError
from core.export import TAKES
from core.export.models import _quiet_transformers

if TYPE_CHECKING:
    from core.runs import TrainedRun
    from core.store import Store
    from core.tasks.classification import ClassificationTask

# The variants a run can have: name -> what it is, in a few words (the CLI's help and the pages).
VARIANTS: dict[str, str] = {
    "int8": "int8 weights (a scale per output channel), activations quantised batch by batch (ONNX Runtime "
            "dynamic quantisation)",
}
PARENT = "fp32"  # how the run's own weights are named beside its variants
FOLDER, MANIFEST, GRAPH = "variants", "manifest.json", "model.onnx"
AGREEMENT_ROWS = 256  # validation rows a new variant's predictions are checked on against the run's
SUMMARY_KEY = "speed"  # the run summary's key for `lmwb eval --speed` (read by Compare)
BATCHES = (1, 32)
# The classifiers whose ONNX graph ONNX Runtime quantises: those `lmwb export --format onnx` takes,
# and pretrained Hugging Face encoders (their graph exports and is checked the same way; the
# export command leaves them out only because it also writes a tokenizer for other runtimes).
INT8_ARCHS = (*TAKES["onnx"][1], "hf_pretrained")


def quantizable(task: str, arch: str) -> str | None:
    """Why a run of ``task`` and ``arch`` cannot have an int8 variant, or None when it can."""
    if task == "classification" and arch in INT8_ARCHS:
        return None
    return (f"int8 variants are made from the run's ONNX graph, which classification runs of "
            f"{', '.join(INT8_ARCHS)} have; this is a {task} run of {arch}")


def stored_variants(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's variants here: name -> manifest (none when its folder is not on this machine)."""
    root = store.run_folder(run_id) / FOLDER
    found = {}
    for name in VARIANTS:
        manifest = root / name / MANIFEST
        if manifest.is_file() and (root / name / GRAPH).is_file():
            try:
                found[name] = json.loads(manifest.read_text())
            except (OSError, ValueError):  # a damaged manifest: the variant is not usable
                continue
    return found


def _unknown(run_id: str, name: str, have: Sequence[str]) -> WorkbenchError:
    has = f"it has {', '.join(have)}" if have else "it has none yet"
    return WorkbenchError(f"run {run_id} has no variant {name!r} ({has}; make one with "
                          f"`lmwb quantize {run_id}` or the Run page's Low precision panel)")


def check_name(name: str) -> None:
    if name not in VARIANTS and name != PARENT:
        raise WorkbenchError(f"unknown variant {name!r}; variants: {', '.join([PARENT, *VARIANTS])} "
                             f"({PARENT}: the run's own weights)")


def make_variant(store: Store, run_ref: str, name: str = "int8", which: str = "best") -> str:
    """Make (or make again) the run's ``name`` variant from its ``which`` checkpoint; a line
    saying what was written, how much smaller it is and how often it agrees with the run."""
    # Deferred: core.runs and the exporter load torch; listing variants (the Run page) needs none.
    from core.export.int8 import OnnxClassifier, quantize_graph, runtime_version
    from core.export.onnx import write_graph
    from core.runs import evaluate_file, load_trained

    check_name(name)
    if name == PARENT:
        raise WorkbenchError(f"{PARENT} is the run itself; variants to make: {', '.join(VARIANTS)}")
    run = store.get_run(run_ref)
    if reason := quantizable(run.task, run.arch):
        raise WorkbenchError(f"run {run.id}: {reason}")
    trained = load_trained(store, run.id, which=which, device="cpu")
    root = store.run_files(run.id) / FOLDER
    root.mkdir(exist_ok=True)
    work = root / f".{name}.{os.getpid()}.partial"  # renamed into place once complete
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        _quiet_transformers()
        write_graph(trained, work / "fp32.onnx")  # checked against PyTorch there
        quantize_graph(work / "fp32.onnx", work / GRAPH)
        (work / "fp32.onnx").unlink()
        texts = validation_texts(trained, None)[:AGREEMENT_ROWS]
        variant = _as_variant(trained, OnnxClassifier(work / GRAPH))
        agree = agreement(trained, variant, texts)
        size, parent_size = (work / GRAPH).stat().st_size, weights_bytes(trained, PARENT)
        # Both scored on the validation split once, as `lmwb eval RUN --variant NAME --with-parent`
        # does, so the pages show the variant's own score beside the run's without loading either.
        scores = {PARENT: _numbers(evaluate_file(trained, None).metrics),
                  name: _numbers(evaluate_file(variant, None).metrics)}
        manifest = {
            "variant": name, "what": VARIANTS[name], "runtime": f"onnxruntime {runtime_version()}",
            "checkpoint": trained.checkpoint, "file": GRAPH, "bytes": size,
            "parent_bytes": parent_size, "agreement": agree, "agreement_rows": len(texts),
            "scores": scores, "scored_on": "validation split", "created_at": time.time(),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)  # never a half-made variant
        if isinstance(exc, Exception) and not isinstance(exc, WorkbenchError | OSError):
            # The exporter or the quantiser refusing a model this module did not foresee: a line.
            text = str(exc).strip().splitlines()
            raise WorkbenchError(f"run {run.id}: the {name} variant failed ({type(exc).__name__}: "
                                 f"{text[0] if text else ''}); nothing was kept") from None
        raise
    return (f"{name} variant of run {run.id} ({trained.checkpoint} checkpoint): "
            f"{size_text(size)} against {size_text(parent_size)}; "
            f"predicts the same class as the run on {agree:.1%} of {len(texts)} validation rows")


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """A result's metrics that are plain numbers (what a JSON manifest keeps)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def load_variant(store: Store, run_ref: str, name: str, which: str = "best") -> TrainedRun:
    """The run ready to predict with its ``name`` variant (``fp32``: the run itself)."""
    from core.export.int8 import OnnxClassifier  # deferred: loads torch and onnxruntime
    from core.runs import load_trained  # deferred: loads torch

    check_name(name)
    if name == PARENT:
        return load_trained(store, run_ref, which=which, device="cpu")
    run = store.get_run(run_ref)
    have = stored_variants(store, run.id)
    if name not in have:
        if reason := quantizable(run.task, run.arch):
            raise WorkbenchError(f"run {run.id} has no variant {name!r}: {reason}")
        raise _unknown(run.id, name, list(have))
    trained = load_trained(store, run.id, which=have[name].get("checkpoint", which), device="cpu")
    return _as_variant(trained, OnnxClassifier(store.run_files(run.id) / FOLDER / name / GRAPH))


def _as_variant(trained: TrainedRun, model: Any) -> TrainedRun:
    """The run with ``model`` in place of its own (tokenizer, task and labels stay)."""
    return dataclasses.replace(trained, model=model)


def weights_bytes(trained: TrainedRun, name: str) -> int:
    """Size on disk of what ``name`` predicts with: the run's checkpoint weights, or a
    variant's graph."""
    assert trained.folder is not None
    if name != PARENT:
        return (trained.folder / FOLDER / name / GRAPH).stat().st_size
    return sum(p.stat().st_size for p in (trained.folder / "checkpoints" / trained.checkpoint).glob("model*.safetensors"))


def agreement(parent: TrainedRun, variant: TrainedRun, texts: Sequence[str]) -> float:
    """Share of ``texts`` the two put in the same class."""
    from core.runs import predict_texts  # deferred: loads torch

    if not texts:
        return 1.0
    a, b = predict_texts(parent, list(texts)), predict_texts(variant, list(texts))
    same = [max(p, key=p.__getitem__) == max(q, key=q.__getitem__) for p, q in zip(a, b, strict=True)]
    return sum(same) / len(same)


def validation_texts(trained: TrainedRun, path: str | None) -> list[str]:
    """The texts of the run's validation split (or of the file at ``path``), as eval reads them."""
    from core.runs import evaluation_data  # deferred: loads torch

    _, data = evaluation_data(trained, path)
    return list(data.validation.texts)


# -- speed -------------------------------------------------------------------------------------------
def examples_per_s(trained: TrainedRun, texts: Sequence[str], batch: int, *, seconds: float = 2.0,
                   clock: Callable[[], float] = time.perf_counter) -> float:
    """Examples per second through the model at ``batch`` (texts tokenised beforehand: both a run
    and its variant read the same ids, so the figure is the model's). Two batches warm up, then
    batches are timed until ``seconds`` have passed and at least three were timed."""
    import torch  # deferred: the module reads manifests without torch

    from core.models.base import evaluating
    from core.tasks.classification import EncodedSplit

    task = cast("ClassificationTask", trained.task)
    rows = list(texts)
    if not rows:
        raise WorkbenchError("no rows to time the model on")
    while len(rows) < batch * 3:  # a small validation split: cycle it
        rows += rows
    enc = EncodedSplit(task.encode(rows), [0] * len(rows), trained.tokenizer.pad_id, task.params["max_length"])
    batches = [torch.arange(i, i + batch) for i in range(0, len(rows) - batch + 1, batch)]
    model = trained.model

    def run(index: torch.Tensor) -> None:
        ids, pad_mask, _ = enc.rows(index)
        model(ids=ids, pad_mask=pad_mask)

    with torch.inference_mode(), evaluating(model):
        for index in batches[:2]:
            run(index)
        done, start, i = 0, clock(), 2
        while True:
            run(batches[i % len(batches)])
            done, i = done + batch, i + 1
            elapsed = clock() - start
            if elapsed >= seconds and done >= 3 * batch:
                return done / elapsed


def speed_table(store: Store, run_ref: str, path: str | None = None, which: str = "best",
                seconds: float = 2.0) -> dict[str, Any]:
    """The run and each of its variants: the task's metric on the same rows (the run's validation
    split, or ``path``), examples per second at batch 1 and 32, size on disk and parameters.
    Stored in the run's summary under ``speed`` (Compare reads it) and returned."""
    import torch  # deferred: the module reads manifests without torch

    from core.runs import evaluate_file

    run = store.get_run(run_ref)
    if run.task != "classification":  # the timing feeds token ids to a classifier's call
        raise WorkbenchError(f"--speed times classification runs and their variants; run {run.id} is a {run.task} run")
    names = [PARENT, *stored_variants(store, run.id)]
    rows: list[dict[str, Any]] = []
    metric = (run.summary or {}).get("metric") or "accuracy"
    params = None
    for name in names:
        trained = load_variant(store, run.id, name, which)
        if params is None:  # quantisation changes the weights' format, not their number
            params = sum(p.numel() for p in trained.model.parameters())
        scores = evaluate_file(trained, path).metrics
        texts = validation_texts(trained, path)
        row = {"variant": name, "metric": metric, "value": scores.get(metric), "bytes": weights_bytes(trained, name),
               "params": params}
        for batch in BATCHES:
            row[f"examples_per_s_b{batch}"] = examples_per_s(trained, texts, batch, seconds=seconds)
        rows.append(row)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    table = {"processor": cpu_name(), "threads": torch.get_num_threads(), "load_1min": load,
             "data": Path(path).name if path else "validation split", "measured_at": time.time(), "rows": rows}
    store.set_summary(run.id, {SUMMARY_KEY: table})
    return table


def size_text(n: float) -> str:
    """Bytes for a person: ``172.5 kB``."""
    if n < 1000:
        return f"{int(n)} bytes"
    for unit in ("kB", "MB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.2f} GB"
