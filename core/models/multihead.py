"""Multi-head attention that can show its work.

One module serves training and inspection. When nothing listens it calls PyTorch's fused
``scaled_dot_product_attention`` (flash / memory-efficient kernels, no (T, S) matrix kept); when a
hook is registered on its ``hook_pattern`` point (in the calling thread), it computes
``softmax(Q K^T / sqrt(d)) V`` explicitly with the same masks and passes the weights through
``hook_pattern``, which may read or replace them. A test checks that both paths give the same
output.

Masks follow one convention: ``key_padding_mask`` is True where a key is padding; ``causal``
lets query ``i`` see keys ``j <= i`` (top-left aligned, as SDPA's ``is_causal``). A query row
that may see no key at all (an all-padding sequence) gets zero weights and a zero output rather
than NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.models.hooks import HookPoint


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention, self or cross.

    Self-attention (``kv=None``) uses one fused QKV projection. Cross-attention (``kv`` given, e.g.
    decoder queries over encoder states) projects queries from ``x`` and keys/values from ``kv``
    with the two slices of that same weight, so a module never holds parameters it does not use
    (which distributed training would reject).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.proj = nn.Linear(d_model, d_model, bias=bias)  # residual output projection
        self.attn_dropout = nn.Dropout(dropout)  # explicit path; SDPA takes dropout_p instead
        self.resid_dropout = nn.Dropout(dropout)
        self.hook_pattern = HookPoint()  # (B, heads, T, S) weights, on the explicit path only

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """Attend from ``x`` (B, T, D) over ``kv`` (B, S, D; default ``x``) -> (B, T, D).

        The weights (B, heads, T, S) pass ``hook_pattern`` when a hook listens there.
        """
        B, T, D = x.shape
        if kv is None:
            q, k, v = self.qkv(x).split(D, dim=2)
        else:
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x, w[:D], None if b is None else b[:D])
            k, v = F.linear(kv, w[D:], None if b is None else b[D:]).split(D, dim=2)
        S = k.shape[1]
        # (B, L, D) -> (B, heads, L, head_dim)
        q = q.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.view(B, S, self.n_heads, self.head_dim).transpose(1, 2)
        v = v.view(B, S, self.n_heads, self.head_dim).transpose(1, 2)

        if self.hook_pattern.hooked:
            y = self._explicit(q, k, v, key_padding_mask, causal)
        elif key_padding_mask is None:
            # Fast path (every language-model step): no mask tensor is built at all.
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
            )
        else:
            allowed, dead = _allowed_mask(T, S, key_padding_mask, causal, x.device)
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
            )
            y = y.masked_fill(dead, 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, D)
        return self.resid_dropout(self.proj(y))

    def _explicit(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        key_padding_mask: torch.Tensor | None,
        causal: bool,
    ) -> torch.Tensor:
        T, S = q.shape[2], k.shape[2]
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        dead = None
        if causal or key_padding_mask is not None:
            allowed, dead = _allowed_mask(T, S, key_padding_mask, causal, q.device)
            scores = scores.masked_fill(~allowed, float("-inf"))
        weights = scores.softmax(dim=-1)
        if dead is not None:
            weights = weights.masked_fill(dead, 0.0)
        weights = self.hook_pattern(weights)
        return self.attn_dropout(weights) @ v


def _allowed_mask(
    T: int, S: int, key_padding_mask: torch.Tensor | None, causal: bool, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean mask, True where a query may attend a key, broadcastable to (B, heads, T, S).

    Also returns ``dead`` (True for query rows that may attend nothing). Those rows are opened to
    every key so softmax stays finite (no NaN, in values or gradients), and the caller zeroes
    their output afterwards. Computed without a host sync, so it is cheap on GPU too.
    """
    allowed = torch.ones(T, S, dtype=torch.bool, device=device)
    if causal:
        allowed = allowed.tril()
    if key_padding_mask is not None:
        allowed = allowed & ~key_padding_mask[:, None, None, :]  # (B, 1, T, S)
    dead = ~allowed.any(dim=-1, keepdim=True)
    return allowed | dead, dead
