"""Trainer features that had no test: gradient accumulation, the gradient-norm metric,
torch.compile, resuming a mixed-precision run (loss scaler and RNG states in the checkpoint),
and a component module that fails to import."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from core import checkpoint as ckpt
from core import registry
from core.cli import main
from core.config import default_config, validate_config
from core.registry import ComponentImportError, load_components
from core.seeding import restore_rng_states, rng_states
from core.strategies import precision as precision_module
from core.train import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Losses:
    """Records each logged training loss, and can stop the run once ``stop_at`` is logged."""

    def __init__(self, stop_at: int | None = None, stop_event: threading.Event | None = None) -> None:
        self.losses: list[tuple[int, float]] = []
        self.stop_at, self.stop_event = stop_at, stop_event

    def on_log(self, step: int, metrics: dict[str, float]) -> None:
        self.losses.append((step, metrics["loss"]))
        if self.stop_at is not None and step >= self.stop_at and self.stop_event is not None:
            self.stop_event.set()


def _tiny_lm(**training: Any) -> dict[str, Any]:
    """A one-layer character GPT on a slice of the built-in Python docs: a step takes ms."""
    raw = default_config("language_model")
    raw["data"] = {"name": "python_docs", "max_chars": 50_000}
    raw["task"] = {"name": "language_model", "context_length": 16, "sample_length": 0}
    raw["model"] = {"name": "transformer_decoder", "d_model": 32, "n_heads": 2, "d_ff": 64,
                    "n_layers": 1, "dropout": 0.0}
    raw["optimizer"] = {"name": "adamw", "lr": 1e-2}
    raw["training"] = {"max_steps": 10, "batch_size": 16, "eval_every": 10, "log_every": 1,
                       "eval_max_batches": 2, "device": "cpu", "attention_snapshots": False,
                       **training}
    return raw


def _train(raw: dict[str, Any], folder: Path, **kwargs: Any) -> tuple[Trainer, Losses]:
    rec = Losses()
    trainer = Trainer(validate_config(raw), folder, callbacks=[rec], **kwargs)
    trainer.setup()
    trainer.fit()
    return trainer, rec


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst <= atol, f"weights differ by up to {worst:.3g}"


# -- gradient accumulation -----------------------------------------------------------------------
def test_k_micro_batches_make_the_same_update_as_one_batch_k_times_larger(tmp_path: Path) -> None:
    """Compared through the Trainer itself: the language-model task draws a batch's windows with
    one ``torch.randint`` on the trainer's generator, and k draws of b indices are the same
    numbers as one draw of k*b, so both runs see the same examples in the same steps. Every
    window has the same number of tokens, so the mean of k micro-batch means is the big
    batch's mean. No dropout and no clipping: a missing 1/k (or a clip hiding it) would show."""
    k, b = 4, 8

    def config(**training: Any) -> dict[str, Any]:
        # SGD: the update is the gradient times the learning rate, so equal updates mean equal
        # gradients (Adam divides by the gradient's size and magnifies float rounding).
        raw = _tiny_lm(max_steps=3, grad_clip=0.0, checkpoint=False, **training)
        raw["optimizer"] = {"name": "sgd", "lr": 1.0, "momentum": 0.9}
        return raw

    init = Trainer(validate_config(config()), tmp_path / "init")
    init.setup()
    before = _weights(init)
    accumulated, rec_acc = _train(config(batch_size=b, grad_accum=k), tmp_path / "acc")
    one_batch, rec_one = _train(config(batch_size=k * b, grad_accum=1), tmp_path / "one")
    _assert_same_weights(_weights(accumulated), _weights(one_batch), atol=1e-6)
    moved = max((_weights(one_batch)[n] - before[n]).abs().max().item() for n in before)
    assert moved > 1e-3  # the steps did change the weights: the comparison is not vacuous
    assert [s for s, _ in rec_acc.losses] == [1, 2, 3]
    # The logged loss is the mean over all k micro-batches, i.e. the big batch's loss.
    assert [v for _, v in rec_acc.losses] == pytest.approx([v for _, v in rec_one.losses], rel=1e-6)
    assert accumulated.tokens_seen == one_batch.tokens_seen == 3 * k * b * 16


# -- the gradient norm (training.log_grad_norm) -------------------------------------------------
class Rows:
    """A MetricSink in memory: the metric rows the trainer writes, nothing else kept."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, float, float]] = []

    def log_metrics(self, run_id: str, rows: list[tuple[int, str, str, float, float]]) -> None:
        self.rows += rows

    def set_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        pass

    def set_summary(self, run_id: str, summary: dict[str, Any]) -> None:
        pass

    def stop_requested(self, run_id: str) -> bool:
        return False

    def truncate_metrics(self, run_id: str, after_step: int) -> None:
        pass

    def check_writable(self, run_id: str) -> None:
        pass

    def train(self, name: str) -> list[tuple[int, float]]:
        return [(row[0], row[3]) for row in self.rows if row[1:3] == ("train", name)]


@pytest.mark.parametrize("clip", [0.0, 0.05], ids=["no-clip", "clipped"])
def test_grad_norm_is_logged_at_each_logged_step_before_clipping(
    clip: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With training.log_grad_norm, each logged step's train rows (and on_log) hold grad_norm:
    the gradients' L2 norm that a hand computation over p.grad gives right after the backward
    and the precision's unscale_, i.e. before clipping. Clipped to 0.05, every logged norm is
    above the clip while the gradients the optimizer steps with are cut to it, so a norm taken
    after clipping (or at another step) would fail."""
    raw = _tiny_lm(max_steps=7, log_every=3, eval_every=7, grad_clip=clip, checkpoint=False,
                   log_grad_norm=True)
    sink = Rows()
    on_log: list[tuple[int, float]] = []

    class GradNorms:
        def on_log(self, step: int, metrics: dict[str, float]) -> None:
            on_log.append((step, metrics["grad_norm"]))

    config = validate_config(raw)
    trainer = Trainer(config, tmp_path, sink=sink, run_id="run", callbacks=[GradNorms()])
    trainer.setup()
    params = [p for p in trainer.model.parameters() if p.requires_grad]

    def by_hand() -> float:
        squares = (float(p.grad.double().pow(2).sum()) for p in params if p.grad is not None)
        return math.sqrt(sum(squares))

    unclipped: dict[int, float] = {}  # step -> norm after unscale_, before clipping
    stepped: dict[int, float] = {}  # step -> norm the optimizer steps with
    unscale, step = trainer.precision.unscale_, trainer.optimizer.step

    def unscale_then_measure(optimizer: torch.optim.Optimizer) -> None:
        unscale(optimizer)
        unclipped[trainer.step + 1] = by_hand()

    def measure_then_step(*args: Any, **kwargs: Any) -> Any:
        stepped[trainer.step + 1] = by_hand()
        return step(*args, **kwargs)

    monkeypatch.setattr(trainer.precision, "unscale_", unscale_then_measure)
    monkeypatch.setattr(trainer.optimizer, "step", measure_then_step)
    trainer.fit()

    logged = sink.train("grad_norm")
    assert [s for s, _ in logged] == [s for s, _ in sink.train("loss")] == [1, 3, 6, 7]
    assert [v for _, v in logged] == pytest.approx([unclipped[s] for s, _ in logged], rel=1e-5)
    assert on_log == logged
    if clip:
        assert all(v > clip for _, v in logged)  # the clip did cut these gradients
        assert list(stepped.values()) == pytest.approx([clip] * 7, rel=1e-4)
    else:
        assert stepped == pytest.approx(unclipped, rel=1e-12)


def test_grad_norm_is_off_by_default(tmp_path: Path) -> None:
    raw = _tiny_lm(max_steps=2, eval_every=2, checkpoint=False)
    config = validate_config(raw)
    assert config["training"]["log_grad_norm"] is False
    sink = Rows()
    trainer = Trainer(config, tmp_path, sink=sink, run_id="run")
    trainer.setup()
    trainer.fit()
    assert trainer.grad_norm is None
    assert [s for s, _ in sink.train("loss")] == [1, 2] and sink.train("grad_norm") == []


# -- torch.compile ------------------------------------------------------------------------------
@pytest.mark.slow
def test_compile_trains_on_cpu_like_the_uncompiled_model(tmp_path: Path) -> None:
    compiled, rec_compiled = _train(_tiny_lm(max_steps=8, compile=True), tmp_path / "compiled")
    plain, rec_plain = _train(_tiny_lm(max_steps=8, compile=False), tmp_path / "plain")
    assert isinstance(compiled.train_model, torch._dynamo.eval_frame.OptimizedModule)
    losses = [v for _, v in rec_compiled.losses]
    assert len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    # Fused kernels round differently; the same run within a small tolerance.
    assert losses == pytest.approx([v for _, v in rec_plain.losses], rel=1e-4)
    _assert_same_weights(_weights(compiled), _weights(plain), atol=1e-4)
    # The checkpoint holds the module's own names, not the compiled wrapper's (_orig_mod.).
    fresh = Trainer(validate_config(_tiny_lm(max_steps=8)), tmp_path / "reload")
    fresh.setup()
    ckpt.load_weights(tmp_path / "compiled" / "checkpoints" / "last", fresh.model)
    _assert_same_weights(_weights(fresh), _weights(compiled), atol=0.0)


# -- resuming a mixed-precision run -------------------------------------------------------------
def _mixed_precision(monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype) -> None:
    """core.device gives CPU runs plain fp32 whatever training.precision says (autocast only on
    CUDA); force the autocast dtype so the mixed-precision code path runs on CPU too."""
    monkeypatch.setattr(precision_module, "resolve_precision", lambda device, precision: dtype)


def _full_and_resumed(raw: dict[str, Any], tmp_path: Path, half: int) -> tuple[Trainer, Losses, Trainer, Losses]:
    """(the uninterrupted run, its losses, the resumed run, the losses of both halves)."""
    full, rec_full = _train(raw, tmp_path / "full")
    stop = threading.Event()
    rec_first = Losses(stop_at=half, stop_event=stop)
    first = Trainer(validate_config(raw), tmp_path / "part", callbacks=[rec_first], stop_event=stop)
    first.setup()
    stopped = first.fit()
    assert (stopped.status, stopped.step) == ("stopped", half)
    rec_resumed = Losses()
    resumed = Trainer(validate_config(raw), tmp_path / "part", callbacks=[rec_resumed])
    resumed.setup(resume=True)
    assert resumed.step == half
    assert resumed.fit().step == raw["training"]["max_steps"]
    both = Losses()
    both.losses = rec_first.losses + rec_resumed.losses
    return full, rec_full, resumed, both


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16-scaler"])
def test_resumed_mixed_precision_run_matches_the_uninterrupted_one(
    dtype: torch.dtype, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N steps in one go vs N/2, stop, resume N/2 from the checkpoint: the same loss series and
    the same final weights. Dropout on, so the restored CPU RNG matters; with fp16 the
    trainer runs a GradScaler, whose state must come back too."""
    _mixed_precision(monkeypatch, dtype)
    raw = _tiny_lm(max_steps=12, eval_every=6)
    raw["model"]["dropout"] = 0.1
    full, rec_full, resumed, rec_joined = _full_and_resumed(raw, tmp_path, half=6)
    assert full.precision.dtype == dtype
    assert (full.precision.scaler is not None) == (dtype == torch.float16)
    assert [s for s, _ in rec_joined.losses] == list(range(1, 13))
    assert [v for _, v in rec_joined.losses] == pytest.approx([v for _, v in rec_full.losses], rel=1e-6)
    _assert_same_weights(_weights(resumed), _weights(full), atol=1e-6)
    if full.precision.scaler is not None:
        assert resumed.precision.scaler is not None
        assert resumed.precision.scaler.state_dict() == full.precision.scaler.state_dict()


def test_checkpoint_restores_the_loss_scaler_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scale and growth tracker a fresh scaler would not have (as after overflow backoffs)
    come back from the checkpoint, not the defaults."""
    _mixed_precision(monkeypatch, torch.float16)
    raw = _tiny_lm(max_steps=4, eval_every=4)
    trainer = Trainer(validate_config(raw), tmp_path)
    trainer.setup()
    assert trainer.precision.scaler is not None and trainer.precision.scaler.is_enabled()
    trainer.precision.scaler.load_state_dict({"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                    "growth_interval": 2000, "_growth_tracker": 7})
    trainer.checkpointing.save(best=False)
    resumed = Trainer(validate_config(raw), tmp_path)
    resumed.setup(resume=True)
    assert resumed.precision.scaler is not None
    assert resumed.precision.scaler.state_dict() == {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                           "growth_interval": 2000, "_growth_tracker": 7}


def test_rng_states_round_trip_through_a_checkpoint_including_cuda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a GPU: a stand-in for torch.cuda's RNG functions, to check the CUDA state is
    saved with a CUDA run's checkpoint and handed back on resume (and never applied on CPU)."""
    cuda_state = torch.arange(16, dtype=torch.uint8)
    restored: list[torch.Tensor] = []
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": cuda_state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device="cuda": restored.append(state))
    cuda = torch.device("cuda")
    torch.manual_seed(3)
    states = rng_states(cuda)
    assert set(states) == {"cpu_rng", "cuda_rng"}
    expected = torch.rand(4)
    ckpt.save_checkpoint(tmp_path / "last", torch.nn.Linear(2, 2), None, {"step": 1}, states)
    _, extra = ckpt.load_checkpoint(tmp_path / "last", torch.nn.Linear(2, 2))
    restore_rng_states(extra, torch.device("cpu"))
    assert restored == []  # a CUDA state is not applied to a CPU run
    assert torch.equal(torch.rand(4), expected)
    restore_rng_states(extra, cuda)
    assert len(restored) == 1 and torch.equal(restored[0], cuda_state)
    assert set(rng_states(torch.device("cpu"))) == {"cpu_rng"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_resume_on_cuda_matches_the_uninterrupted_run(tmp_path: Path) -> None:
    """The real thing: fp16 autocast with a GradScaler on CUDA, dropout drawing from the CUDA
    RNG. Without the CUDA RNG state in the checkpoint the resumed half draws other dropout
    masks. Tolerances allow for GPU kernels that accumulate in a varying order (atomics)."""
    raw = _tiny_lm(max_steps=12, eval_every=6, device="cuda", precision="fp16")
    raw["model"]["dropout"] = 0.3
    full, rec_full, resumed, rec_joined = _full_and_resumed(raw, tmp_path, half=6)
    assert full.device.type == "cuda" and full.precision.dtype == torch.float16 and full.precision.scaler is not None
    meta = json.loads((tmp_path / "part" / "checkpoints" / "last" / "state.json").read_text())
    assert meta["state"]["scaler"] == resumed.precision.scaler.state_dict()
    with safe_open(str(tmp_path / "part" / "checkpoints" / "last" / "optimizer.safetensors"), "pt") as f:
        assert {"extra.cuda_rng", "extra.cpu_rng", "extra.generator"} <= set(f.keys())
    assert [v for _, v in rec_joined.losses] == pytest.approx([v for _, v in rec_full.losses], rel=1e-3)
    _assert_same_weights(_weights(resumed), _weights(full), atol=1e-3)
    assert resumed.precision.scaler.state_dict() == full.precision.scaler.state_dict()


# -- a component module that fails to import ---------------------------------------------------
@pytest.fixture
def broken_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A component module whose import raises, in the registry's list; all restored after."""
    (tmp_path / "lmwb_broken_component.py").write_text('raise RuntimeError("boom: no such library")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_COMPONENT_MODULES", (*registry._COMPONENT_MODULES, "lmwb_broken_component"))
    monkeypatch.setattr(registry, "_loaded", False)
    return "lmwb_broken_component"


def test_a_failing_component_module_is_named_and_never_counts_as_loaded(broken_component: str) -> None:
    for _ in range(2):  # raised again on the next call, not swallowed after the first
        with pytest.raises(ComponentImportError) as info:
            load_components()
        message = str(info.value)
        assert f"component module {broken_component} failed to import" in message
        assert "RuntimeError: boom: no such library" in message
        assert registry._loaded is False
    with pytest.raises(ComponentImportError, match=broken_component):
        registry.MODELS.get("gru")  # lookups say which module broke, not "unknown architecture"


def test_the_cli_reports_a_failing_component_module_in_one_line(
    broken_component: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["params", "model"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: component module {broken_component} failed to import (RuntimeError: ")
