"""Reading and replacing activations at a model's named hook points (``core.models.hooks``).

``hook_points(model)`` lists them by module name (``backbone.blocks.0.hook_resid_pre``,
``backbone.blocks.0.attn.hook_pattern``, ...). :func:`caching` records what passes the chosen
points during a forward pass; :func:`patching` replaces it. Both hooks act only in the calling
thread (the app's cached models serve several sessions) and are removed on exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from core.errors import WorkbenchError
from core.models.hooks import HookPoint, TensorHook, thread_hook

PATTERN = "hook_pattern"


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Every hook point of ``model``, by module name, in the order the modules were built."""
    return {name: m for name, m in model.named_modules() if isinstance(m, HookPoint)}


def _resolve(model: nn.Module, names: Iterable[str]) -> dict[str, HookPoint]:
    points = hook_points(model)
    unknown = [n for n in names if n not in points]
    if unknown:
        raise WorkbenchError(f"no hook point {unknown[0]!r} in {type(model).__name__} "
                             f"(it has {len(points)}: {', '.join(list(points)[:4])}...)")
    return {n: points[n] for n in names}


@contextlib.contextmanager
def patching(model: nn.Module, hooks: Mapping[str, TensorHook]) -> Iterator[None]:
    """Call ``hooks[name](tensor)`` at each named point: ``None`` keeps the activation, a
    tensor replaces it."""
    handles = [point.register_forward_hook(thread_hook(hooks[name]))
               for name, point in _resolve(model, hooks).items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def caching(model: nn.Module, names: Iterable[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """``{name: [tensor, ...]}``: what passed each point, one entry per call (a step-by-step
    decoder calls its attention once per step)."""
    names = list(names)
    found: dict[str, list[torch.Tensor]] = {n: [] for n in names}

    def keep(name: str) -> Callable[[torch.Tensor], None]:
        return lambda t: found[name].append(t)

    with patching(model, {n: keep(n) for n in names}):
        yield found


def block_point(prefix: str, layer: int, point: str) -> str:
    """``backbone.blocks.2.hook_resid_pre`` from (``backbone.blocks``, 2, ``hook_resid_pre``)."""
    return f"{prefix}.{layer}.{point}"
