"""Optimizers and learning-rate schedules, each declared once with its parameters.

Torch is imported by the optimizer factories, not with the module: the app server reads these
declarations (forms, labels, validation) without loading torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.params import Param
from core.registry import OPTIMIZERS, SCHEDULES

if TYPE_CHECKING:
    import torch
    from torch import nn

_LR = Param("lr", "float", 1e-3, "Peak learning rate.", low=1e-6, high=10.0, log=True, label="Learning rate", essential=True)
_WD = Param("weight_decay", "float", 0.0, "Decoupled (AdamW) or L2 weight decay on weight matrices.", low=0.0, high=1.0, label="Weight decay")


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay weight matrices and embeddings only; biases and norm gains stay free (nanoGPT)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


_ADAM_MOMENTS = (
    _LR,
    Param("beta1", "float", 0.9, "Adam's first-moment decay.", low=0.0, high=0.999, label="β1"),
    Param("beta2", "float", 0.999, "Adam's second-moment decay.", low=0.0, high=0.99999, label="β2"),
    Param("eps", "float", 1e-8, "Adam's denominator epsilon.", low=1e-12, high=1e-3, log=True, sweepable=False, label="ε (epsilon)"),
)


@OPTIMIZERS.register(
    "adamw", label="AdamW",
    params=(
        *_ADAM_MOMENTS,
        Param("weight_decay", "float", 0.01, "Decoupled weight decay on weight matrices.", low=0.0, high=1.0, label="Weight decay"),
    ),
    help="Adam with decoupled weight decay: the default for transformers.",
)
def adamw(model: nn.Module, p: dict[str, Any]) -> torch.optim.Optimizer:
    import torch  # deferred: see the module's docstring

    return _adam_family(torch.optim.AdamW, model, p)


@OPTIMIZERS.register(
    "adam", label="Adam",
    params=(*_ADAM_MOMENTS, _WD),
    help="Adam with L2 regularisation folded into the gradient.",
)
def adam(model: nn.Module, p: dict[str, Any]) -> torch.optim.Optimizer:
    import torch  # deferred: see the module's docstring

    return _adam_family(torch.optim.Adam, model, p)


def _adam_family(cls: type[torch.optim.Adam] | type[torch.optim.AdamW], model: nn.Module, p: dict[str, Any]) -> torch.optim.Optimizer:
    return cls(_param_groups(model, p["weight_decay"]), lr=p["lr"], betas=(p["beta1"], p["beta2"]), eps=p["eps"])


@OPTIMIZERS.register(
    "sgd", label="SGD",
    params=(
        Param("lr", "float", 0.1, "Learning rate.", low=1e-6, high=10.0, log=True, label="Learning rate", essential=True),
        Param("momentum", "float", 0.9, "Momentum (0 for plain SGD).", low=0.0, high=0.999, label="Momentum", essential=True),
        Param("nesterov", "bool", False, "Nesterov momentum (needs a momentum above 0).", label="Nesterov"),
        _WD,
    ),
    help="Stochastic gradient descent with optional (Nesterov) momentum.",
    check=lambda p: "optimizer.nesterov needs optimizer.momentum > 0" if p["nesterov"] and p["momentum"] <= 0 else None,
)
def sgd(model: nn.Module, p: dict[str, Any]) -> torch.optim.Optimizer:
    import torch  # deferred: see the module's docstring

    return torch.optim.SGD(
        _param_groups(model, p["weight_decay"]), lr=p["lr"], momentum=p["momentum"], nesterov=p["nesterov"]
    )


@OPTIMIZERS.register(
    "rmsprop", label="RMSprop",
    params=(
        Param("lr", "float", 1e-3, "Learning rate.", low=1e-6, high=10.0, log=True, label="Learning rate", essential=True),
        Param("alpha", "float", 0.99, "Smoothing constant of the squared-gradient average.", low=0.0, high=0.9999, label="Smoothing"),
        Param("momentum", "float", 0.0, "Momentum.", low=0.0, high=0.999, label="Momentum", essential=True),
        _WD,
    ),
    help="RMSprop: per-parameter step sizes from a running mean of squared gradients.",
)
def rmsprop(model: nn.Module, p: dict[str, Any]) -> torch.optim.Optimizer:
    import torch  # deferred: see the module's docstring

    return torch.optim.RMSprop(
        _param_groups(model, p["weight_decay"]), lr=p["lr"], alpha=p["alpha"], momentum=p["momentum"]
    )


# -- schedules: a multiplier of the peak lr as a function of the step --------------------------

_WARMUP = Param("warmup_steps", "int", 0, "Linear warm-up from 0 to the peak learning rate.", low=0, high=1_000_000, label="Warm-up steps", essential=True)
_FINAL = Param("final_lr_ratio", "float", 0.1, "Learning rate at the last step, as a fraction of the peak.", low=0.0, high=1.0, label="Final LR share", essential=True)


def _warm(step: int, warmup: int) -> float | None:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    return None


@SCHEDULES.register("constant", label="Constant", params=(_WARMUP,), help="Constant learning rate after warm-up.")
def constant(p: dict[str, Any], max_steps: int) -> Callable[[int], float]:
    return lambda step: _warm(step, p["warmup_steps"]) or 1.0


@SCHEDULES.register(
    "step", label="Step decay",
    params=(
        _WARMUP,
        Param("step_size", "int", 1000, "Steps between two drops of the rate (each multiplies it by the decay factor).", low=1, high=10_000_000, label="Step size (steps)", essential=True),
        Param("gamma", "float", 0.5, "What each drop multiplies the rate by.", low=0.0, high=1.0, label="Decay factor", essential=True),
    ),
    help="Step decay: the rate is multiplied by the decay factor at every step size.",
)
def step_decay(p: dict[str, Any], max_steps: int) -> Callable[[int], float]:
    return lambda step: _warm(step, p["warmup_steps"]) or p["gamma"] ** (step // p["step_size"])


def _progress(step: int, warmup: int, max_steps: int) -> float:
    return min(1.0, max(0.0, (step - warmup) / max(1, max_steps - warmup)))


@SCHEDULES.register("linear", label="Linear decay", params=(_WARMUP, _FINAL), help="Linear decay to the final LR share after warm-up.")
def linear(p: dict[str, Any], max_steps: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        w = _warm(step, p["warmup_steps"])
        if w is not None:
            return w
        return 1.0 - (1.0 - p["final_lr_ratio"]) * _progress(step, p["warmup_steps"], max_steps)

    return f


@SCHEDULES.register("cosine", label="Cosine decay", params=(_WARMUP, _FINAL), help="Cosine decay to the final LR share after warm-up.")
def cosine(p: dict[str, Any], max_steps: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        w = _warm(step, p["warmup_steps"])
        if w is not None:
            return w
        t = _progress(step, p["warmup_steps"], max_steps)
        return p["final_lr_ratio"] + (1.0 - p["final_lr_ratio"]) * 0.5 * (1.0 + math.cos(math.pi * t))

    return f


def build_optimizer(model: nn.Module, section: dict[str, Any]) -> torch.optim.Optimizer:
    comp = OPTIMIZERS.get(section["name"])
    return comp.factory(model, {k: v for k, v in section.items() if k != "name"})


def build_schedule(section: dict[str, Any], max_steps: int) -> Callable[[int], float]:
    comp = SCHEDULES.get(section["name"])
    return comp.factory({k: v for k, v in section.items() if k != "name"}, max_steps)
