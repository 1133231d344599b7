"""Named hook points: identity modules a model's forward passes its activations through.

In the spirit of TransformerLens, a Transformer block calls ``self.hook_resid_pre(x)``,
``self.hook_attn_out(a)`` and so on; each is an :class:`HookPoint` (an ``nn.Identity``), so
reading or replacing an activation is a plain ``register_forward_hook`` on a named module
(``backbone.blocks.1.hook_resid_post``): no flag threads through ``forward``, and with no
hook registered a point costs one module call.

:func:`thread_hook` wraps a hook so it acts only for calls made by the thread that registered
it: a model cached by the app serves several sessions at once, and one session's capture or
patch must never reach another's prediction.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

# hook(tensor) -> None (read only) or a tensor that replaces the activation
TensorHook = Callable[[torch.Tensor], torch.Tensor | None]


class HookPoint(nn.Identity):
    """A named place in a forward pass where a forward hook may read or replace a tensor."""

    @property
    def hooked(self) -> bool:
        """Is a hook registered? (Attention then computes its pattern explicitly.)"""
        return bool(self._forward_hooks)


def thread_hook(fn: TensorHook) -> Callable[[nn.Module, Any, torch.Tensor], torch.Tensor | None]:
    """A forward hook calling ``fn(output)`` only in the registering thread."""
    owner = threading.get_ident()

    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None
        return fn(output)

    return hook


@contextlib.contextmanager
def recording(points: Sequence[HookPoint]) -> Iterator[list[list[torch.Tensor]]]:
    """Every tensor that passes each point during the block (a list per point, in call order:
    a step-by-step decoder passes its attention point once per step), this thread only."""
    found: list[list[torch.Tensor]] = [[] for _ in points]
    handles = [
        point.register_forward_hook(thread_hook(lambda t, seen=seen: seen.append(t)))
        for point, seen in zip(points, found, strict=True)
    ]
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()
