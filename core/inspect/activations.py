"""Reading and replacing activations at a model's named hook points (``core.models.hooks``): the
one way to look inside a model, for attention capture, the logit lens, patching and the views.

``hook_points(model)`` lists them by module name (``backbone.blocks.0.hook_resid_pre``,
``backbone.blocks.0.attn.hook_pattern``, ...). :func:`run_with_cache` runs one forward pass and
returns what passed the chosen points (TransformerLens's ``run_with_cache``); :func:`caching`
records them over a block of code; :func:`patching` replaces them. Every hook acts only in the
calling thread (the app's cached models serve several sessions) and is removed on exit.
Attention computes its pattern explicitly only when a hook is registered at its
``hook_pattern`` point, so listening there is what switches a forward off the fused kernel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from core.errors import WorkbenchError
from core.models.hooks import HookPoint, TensorHook, thread_hook

PATTERN = "hook_pattern"

# {name: [tensor, ...]}: what passed each point, one entry per call (a step-by-step decoder
# calls its attention once per step; most points are called once)
Cache = dict[str, list[torch.Tensor]]


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
def caching(model: nn.Module, names: Iterable[str]) -> Iterator[Cache]:
    """``{name: [tensor, ...]}``: what passed each point during the block, one entry per call."""
    names = list(names)
    found: dict[str, list[torch.Tensor]] = {n: [] for n in names}

    def keep(name: str) -> Callable[[torch.Tensor], None]:
        return lambda t: found[name].append(t)

    with patching(model, {n: keep(n) for n in names}):
        yield found


def run_with_cache(
    model: nn.Module, *args: Any, names: Iterable[str] | Callable[[str], bool] | None = None, **kwargs: Any,
) -> tuple[Any, Cache]:
    """``model(*args, **kwargs)`` and what passed its hook points during that call.

    ``names``: the points to read (names, or a filter on names); all of them by default. Read
    attention patterns (``name.endswith(PATTERN)``) only when wanted: listening there makes
    attention compute them explicitly instead of in the fused kernel.
    """
    if names is None or callable(names):
        chosen = [n for n in hook_points(model) if names is None or names(n)]
    else:
        chosen = list(names)
    with caching(model, chosen) as cache:
        out = model(*args, **kwargs)
    return out, cache


def pattern_points(model: nn.Module) -> list[str]:
    """The model's attention-pattern hook points, in the order they run (block by block)."""
    return [name for name in hook_points(model) if name.rsplit(".", 1)[-1] == PATTERN]


def block_point(prefix: str, layer: int, point: str) -> str:
    """``backbone.blocks.2.hook_resid_pre`` from (``backbone.blocks``, 2, ``hook_resid_pre``)."""
    return f"{prefix}.{layer}.{point}"
