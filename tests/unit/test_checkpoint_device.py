"""Checkpoints (safetensors + JSON, no pickle) and device/precision selection."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from core import checkpoint as ckpt
from core.device import device_label, pick_device, resolve_precision
from core.errors import ConfigError
from core.optim import build_optimizer, build_schedule


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 10, bias=False)
        self.out.weight = self.emb.weight  # tied, as in GPT

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.emb(x))


def test_checkpoint_round_trip_with_tied_weights_and_optimizer(tmp_path) -> None:
    torch.manual_seed(0)
    model = Tied()
    opt = build_optimizer(model, {"name": "adamw", "lr": 1e-2, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0.1})
    for _ in range(3):
        loss = model(torch.arange(10)).logsumexp(-1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
    gen = torch.Generator().manual_seed(5)
    ckpt.save_checkpoint(tmp_path / "last", model, opt, {"step": 3}, {"generator": gen.get_state()})
    files = sorted(p.name for p in (tmp_path / "last").iterdir())
    assert files == ["model.safetensors", "optimizer.safetensors", "state.json"]
    json.loads((tmp_path / "last" / "state.json").read_text())  # plain JSON, no pickle

    fresh = Tied()
    fresh_opt = build_optimizer(fresh, {"name": "adamw", "lr": 1e-2, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0.1})
    state, extra = ckpt.load_checkpoint(tmp_path / "last", fresh, fresh_opt)
    assert state == {"step": 3}
    assert fresh.out.weight is fresh.emb.weight
    assert torch.equal(fresh.emb.weight, model.emb.weight)
    for a, b in zip(opt.state_dict()["state"].values(), fresh_opt.state_dict()["state"].values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and float(a["step"]) == float(b["step"])
    restored = torch.Generator()
    restored.set_state(extra["generator"])
    assert torch.equal(torch.randint(100, (5,), generator=restored), torch.randint(100, (5,), generator=gen))


def test_checkpoint_mismatch_is_reported(tmp_path) -> None:
    ckpt.save_checkpoint(tmp_path / "c", nn.Linear(3, 2))
    with pytest.raises(ckpt.CheckpointError, match="does not match"):
        ckpt.load_weights(tmp_path / "c", nn.Linear(4, 2))


def test_save_replaces_previous_checkpoint_atomically(tmp_path) -> None:
    model = nn.Linear(2, 2)
    ckpt.save_checkpoint(tmp_path / "last", model, state={"step": 1})
    ckpt.save_checkpoint(tmp_path / "last", model, state={"step": 2})
    assert json.loads((tmp_path / "last" / "state.json").read_text())["state"]["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


@pytest.mark.parametrize(
    ("name", "at"),
    [("constant", {0: 0.1, 9: 1.0, 99: 1.0}), ("cosine", {9: 1.0, 100: 0.1}), ("linear", {9: 1.0, 55: 0.55, 100: 0.1})],
)
def test_schedules(name: str, at: dict[int, float]) -> None:
    f = build_schedule({"name": name, "warmup_steps": 10, **({"final_lr_ratio": 0.1} if name != "constant" else {})}, 100)
    for step, expected in at.items():
        assert f(step) == pytest.approx(expected, rel=0.05)


def test_step_schedule() -> None:
    f = build_schedule({"name": "step", "warmup_steps": 0, "step_size": 10, "gamma": 0.5}, 100)
    assert [f(0), f(10), f(25)] == [1.0, 0.5, 0.25]


def test_cpu_device_and_precision() -> None:
    cpu = torch.device("cpu")
    assert pick_device("cpu") == cpu
    assert resolve_precision(cpu, "auto") is None  # no autocast off CUDA
    assert device_label(cpu).startswith("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            pick_device("cuda")
        assert pick_device("auto").type in ("cpu", "mps")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_training_path_with_autocast(tmp_path) -> None:
    from core.config import default_config, validate_config
    from core.train import Trainer

    raw = default_config("language_model")
    raw["data"] = {"name": "python_docs", "max_chars": 100_000}
    raw["model"] = {"name": "transformer_decoder", "n_layers": 2, "d_model": 64, "n_heads": 4, "d_ff": 128}
    raw["training"] = {"max_steps": 50, "eval_every": 50, "device": "cuda", "precision": "auto", "compile": False}
    trainer = Trainer(validate_config(raw), tmp_path)
    trainer.setup()
    result = trainer.fit()
    assert trainer.device.type == "cuda" and trainer.precision.dtype in (torch.bfloat16, torch.float16)
    assert result.summary["val"]["loss"] < 4.0


@pytest.mark.faults
def test_a_save_killed_between_its_renames_is_finished_on_the_next_read(tmp_path) -> None:
    model = nn.Linear(2, 2)
    ckpt.save_checkpoint(tmp_path / "last", model, state={"step": 1})
    ckpt.save_checkpoint(tmp_path / "next", model, state={"step": 2})
    # The state a kill leaves: the old checkpoint moved aside, the new one not yet moved in.
    (tmp_path / "last").rename(tmp_path / "last.old")
    (tmp_path / "next").rename(tmp_path / "last.tmp")
    assert ckpt.has_checkpoint(tmp_path / "last")
    assert json.loads((tmp_path / "last" / "state.json").read_text())["state"]["step"] == 2  # the newer one
    # A new checkpoint cut short (no state.json yet) is dropped for the previous one.
    (tmp_path / "last").rename(tmp_path / "last.old")
    (tmp_path / "last.tmp").mkdir()
    (tmp_path / "last.tmp" / "model.safetensors").write_bytes(b"partial")
    assert ckpt.has_checkpoint(tmp_path / "last")
    assert json.loads((tmp_path / "last" / "state.json").read_text())["state"]["step"] == 2
