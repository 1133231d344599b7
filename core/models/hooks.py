"""Named hook points: identity modules a model's forward passes its activations through.

In the spirit of TransformerLens, a Transformer block calls ``self.hook_resid_pre(x)``,
``self.hook_attn_out(a)`` and so on; each is an :class:`HookPoint` (an ``nn.Identity``), so
reading or replacing an activation is a plain ``register_forward_hook`` on a named module
(``backbone.blocks.1.hook_resid_post``): no flag threads through ``forward``, and with no
hook registered a point costs one module call. Hook points are the only way to look inside a
model; :mod:`core.inspect.activations` reads them (``run_with_cache``, ``caching``,
``patching``).

:func:`thread_hook` wraps a hook so it acts only for calls made by the thread that registered
it: a model cached by the app serves several sessions at once, and one session's capture or
patch must never reach another's prediction (nor slow it down: :attr:`HookPoint.hooked` counts
only the hooks that act in the calling thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from core.errors import WorkbenchError

# hook(tensor) -> None (read only) or a tensor that replaces the activation
TensorHook = Callable[[torch.Tensor], torch.Tensor | None]

_OWNER = "_lmwb_thread"  # the attribute thread_hook leaves on its hooks


class HookPoint(nn.Identity):
    """A named place in a forward pass where a forward hook may read or replace a tensor."""

    @property
    def hooked(self) -> bool:
        """Does a hook act on this call? (Attention then computes its pattern explicitly.) A hook
        made by :func:`thread_hook` acts only in its own thread; any other hook always does."""
        if not self._forward_hooks:
            return False
        me = threading.get_ident()
        return any(getattr(hook, _OWNER, me) == me for hook in self._forward_hooks.values())


def thread_hook(fn: TensorHook) -> Callable[[nn.Module, Any, torch.Tensor], torch.Tensor | None]:
    """A forward hook calling ``fn(output)`` only in the registering thread."""
    owner = threading.get_ident()

    def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None
        return fn(output)

    setattr(hook, _OWNER, owner)
    return hook


class _Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_pattern = HookPoint()


class AttentionPoints(nn.Module):
    """``hook_pattern`` points for a model that computes its attention weights itself (a Hugging
    Face model returns them with ``output_attentions=True``): ``{kind}.{i}.hook_pattern``, one
    per layer of each kind (``layers``, or ``encoder`` / ``decoder`` / ``cross``), so its weights
    are read like the workbench's own. The wrapper asks the model for them only when
    :attr:`hooked` and passes them on with :meth:`show`; there they are read-only (the output
    is computed already, so a replacement changes nothing)."""

    def __init__(self, **layers: int) -> None:
        super().__init__()
        for kind, n in layers.items():
            self.add_module(kind, nn.ModuleList(_Layer() for _ in range(n)))

    @property
    def hooked(self) -> bool:
        return any(m.hooked for m in self.modules() if isinstance(m, HookPoint))

    def show(self, **found: Sequence[torch.Tensor | None] | None) -> None:
        """Each kind's weights, one tensor per layer, through that layer's point."""
        for kind, weights in found.items():
            layers, weights = getattr(self, kind), list(weights or [])
            if len(weights) != len(layers):
                raise WorkbenchError(f"the model returned {len(weights)} {kind} attention layers; "
                                     f"its config names {len(layers)}")
            for layer, w in zip(layers, weights, strict=True):
                if w is not None:  # attention that cannot return weights (SDPA) gives None
                    layer.hook_pattern(w)
