"""Self-attention, recomputed by hand on a trained Transformer's layer and the learner's tokens.

The block's input is read at its ``hook_resid_pre`` point; from there every step is numpy on the
layer's own weights: LayerNorm (pre-LN blocks), Q, K and V, the scaled scores, the causal mask,
the softmax, the weighted sum of V, the heads joined and projected, the residual sum. Three
checks hold the hand computation to the model's: the weights against ``attn.hook_pattern``, the
projected output against ``hook_attn_out``, the residual sum against ``hook_resid_mid``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import ConfigError, WorkbenchError
from core.inspect.activations import caching, hook_points
from core.inspect.capture import input_limit
from core.inspect.maps import CLS_TOKEN, display_token
from core.learn.walkthrough import Step, Symbol, Walkthrough, check

FORMULA = (r"\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}+M\right)V,"
           r"\quad Q=HW_Q,\;K=HW_K,\;V=HW_V")


def walkthrough(trained: Any, text: str, *, layer: int = 0, head: int = 0) -> Walkthrough:
    """Self-attention of block ``layer``, head ``head`` of ``trained``'s model on ``text``."""
    model: nn.Module = trained.model
    backbone = getattr(model, "backbone", model)
    blocks = getattr(backbone, "blocks", None)
    if blocks is None or not hasattr(blocks[0], "attn"):
        raise WorkbenchError(f"run {trained.run.id} is not one of the workbench's own Transformers")
    if not 0 <= layer < len(blocks):
        raise ConfigError("layer", layer, f"0 to {len(blocks) - 1}", reason="this model has no such layer")
    block = blocks[layer]
    attn = block.attn
    if not 0 <= head < attn.n_heads:
        raise ConfigError("head", head, f"0 to {attn.n_heads - 1}", reason="this layer has no such head")

    notes: list[str] = []
    ids = trained.tokenizer.encode(text) or [trained.tokenizer.unk_id]
    limit = input_limit(trained.task) or len(ids)
    if len(ids) > limit:
        notes.append(f"Input cut to the model's first {limit} of {len(ids)} tokens.")
        ids = ids[:limit]
    tokens = [display_token(trained.tokenizer.id_to_token(i)) for i in ids]
    if getattr(backbone, "has_cls", False):
        tokens = [CLS_TOKEN, *tokens]
        notes.append("The encoder prepends a learned [CLS] vector: it is position 0 below.")
    causal = bool(getattr(backbone, "causal", False))
    engine = _run(model, ids, layer)

    x = engine["resid_pre"]  # (T, D): the stream entering the block
    d_model, n_heads, d_k = attn.d_model, attn.n_heads, attn.head_dim
    steps = [Step("X: the residual stream entering the layer", x, tuple(tokens), _dims(d_model),
                  tex=r"X \in \mathbb{R}^{T\times d}", heatmap=True,
                  note="One row per token: its embedding plus position, and what earlier layers added.")]
    checks = []
    if block.norm_first:
        h, ln_step = _layer_norm(x, block.ln1, tokens)
        steps.append(ln_step)
        with torch.no_grad():
            own = _numpy(block.ln1(_tensor(x)))
        checks.append(check("LayerNorm by hand against the model's LayerNorm", h, own))
    else:
        h = x  # post-LN: attention reads the stream itself, the norm comes after the sum
    w, b = _numpy(attn.qkv.weight), _bias(attn.qkv.bias, 3 * d_model)
    q_all, k_all, v_all = (h @ w[i * d_model:(i + 1) * d_model].T + b[i * d_model:(i + 1) * d_model] for i in range(3))
    cols = slice(head * d_k, (head + 1) * d_k)
    q, k, v = q_all[:, cols], k_all[:, cols], v_all[:, cols]
    head_dims = tuple(f"{j}" for j in range(d_k))
    steps += [
        Step(f"Q = H W_Q (head {head})", q, tuple(tokens), head_dims, tex=r"Q = HW_Q", heatmap=True,
             note="What each token is looking for."),
        Step(f"K = H W_K (head {head})", k, tuple(tokens), head_dims, tex=r"K = HW_K", heatmap=True,
             note="What each token offers to be found by."),
        Step(f"V = H W_V (head {head})", v, tuple(tokens), head_dims, tex=r"V = HW_V", heatmap=True,
             note="What each token passes on when attended to."),
    ]
    scores = q @ k.T / math.sqrt(d_k)
    steps.append(Step("Scores QKᵀ/√d_k", scores, tuple(tokens), tuple(tokens),
                      tex=r"S = \frac{QK^\top}{\sqrt{d_k}}", note=f"Row: the query token; column: the key. "
                      f"Dividing by √{d_k} = {math.sqrt(d_k):.2f} keeps the softmax from saturating."))
    if causal:
        scores = np.where(np.tril(np.ones_like(scores, dtype=bool)), scores, -np.inf)
        steps.append(Step("The causal mask M applied", scores, tuple(tokens), tuple(tokens), tex=r"S + M",
                          note="A token may not look ahead: every key after the query gets -inf, "
                          "so its weight after the softmax is 0."))
    weights = _softmax(scores)
    steps.append(Step("Attention weights softmax(S + M)" if causal else "Attention weights softmax(S)", weights,
                      tuple(tokens), tuple(tokens),
                      tex=r"A = \mathrm{softmax}(S + M)" if causal else r"A = \mathrm{softmax}(S)", heatmap=True,
                      note="Each row sums to 1: how much the query token takes from each key token."))
    checks.append(check("softmax(QKᵀ/√d_k) against the weights the model attended with", weights,
                        engine["pattern"][head]))
    out_head = weights @ v
    steps.append(Step(f"Head {head}'s output A V", out_head, tuple(tokens), head_dims, tex=r"Z_h = AV",
                      heatmap=True, note="Each row: a mix of the value vectors, by the weights above."))
    joined = np.concatenate([_softmax(_masked(q_all[:, s] @ k_all[:, s].T / math.sqrt(d_k), causal)) @ v_all[:, s]
                             for s in (slice(i * d_k, (i + 1) * d_k) for i in range(n_heads))], axis=1)
    projected = joined @ _numpy(attn.proj.weight).T + _bias(attn.proj.bias, d_model)
    steps.append(Step(f"All {n_heads} heads joined, then projected", projected, tuple(tokens), _dims(d_model),
                      tex=r"\mathrm{MultiHead}(H) = [Z_1;\dots;Z_{n_h}]\,W_O", heatmap=True,
                      note="The heads' outputs side by side, mixed back to the model's width by W_O."))
    checks.append(check("the projected heads against the layer's attention output", projected, engine["attn_out"]))
    summed = x + projected
    if block.norm_first:
        steps.append(Step("Residual: X + MultiHead(H)", summed, tuple(tokens), _dims(d_model),
                          tex=r"X' = X + \mathrm{MultiHead}(H)", heatmap=True,
                          note="Attention adds to the stream; it never replaces it."))
    else:
        summed, ln_step = _layer_norm(summed, block.ln1, tokens, title="LayerNorm(X + MultiHead(H))")
        steps.append(ln_step)
    checks.append(check("the residual sum against the stream leaving attention", summed, engine["resid_mid"]))
    positions: Any = getattr(backbone, "positions", None)
    if getattr(positions, "kind", "") == "learned":
        learned = _numpy(positions.embedding.weight[: len(tokens)])
        steps.insert(0, Step("Learned positional embeddings P[pos]", learned, tuple(tokens), _dims(d_model),
                             tex=r"x_{pos} = E[\text{token}_{pos}] + P[pos]", heatmap=True,
                             note="One learned vector per position, added to each token's embedding: how this "
                             "model knows word order (GPT-2 learns them; the 2017 Transformer used fixed sin/cos)."))
    if getattr(positions, "kind", "") == "sinusoidal":
        table = _numpy(positions.table[: len(tokens)])
        steps.insert(0, Step("Positional encodings PE(pos, i)", table, tuple(tokens), _dims(d_model),
                             tex=r"PE_{(pos,2i)}=\sin\!\left(pos/10000^{2i/d}\right),\;"
                                 r"PE_{(pos,2i+1)}=\cos\!\left(pos/10000^{2i/d}\right)",
                             heatmap=True, note="Added to each token's embedding: the only way the model "
                             "knows word order. pos is the token's place (row), 2i and 2i+1 a pair of columns, d the "
                             "width; low dimensions change fast along positions, high ones slowly."))
    symbols = (
        Symbol("X", f"the tokens' vectors entering layer {layer}: T = {len(tokens)} tokens (rows) × d = {d_model} "
               "numbers (columns)"),
        Symbol("H", "what attention reads: LN(X), X normalised first (this pre-LN layer)" if block.norm_first
               else "what attention reads: X itself (this post-LN layer normalises after the sum)"),
        Symbol("W_Q, W_K, W_V", f"the layer's learned projections of H ({d_model} × {d_k} for each of {n_heads} heads)"),
        Symbol("d_k", f"the size of one head's queries and keys: d / n_h = {d_model} / {n_heads} = {d_k}"),
        Symbol("n_h", f"the number of heads ({n_heads}), whose outputs are Z_1 … Z_{n_heads} (head 0 is Z_1)"),
        Symbol("M", "the mask: -inf where a query may not look (later tokens)" if causal
               else "the mask: 0 everywhere here (an encoder sees both sides)"),
        Symbol(r"\mathrm{softmax}", "exp of each score over the sum of exp of its row: weights that sum to 1"),
        Symbol("W_O", f"the output projection that mixes the joined heads back to {d_model} numbers"),
    )
    if any(t in ("␣", "↵") or "␣" in t for t in tokens):
        notes.append("␣ is a space and ↵ a line break: a character model's tokens, made visible.")
    return Walkthrough("attention", FORMULA, symbols, steps, checks, notes)


def _run(model: nn.Module, ids: list[int], layer: int) -> dict[str, np.ndarray]:
    """The model on ``ids``, reading block ``layer``'s stream and attention at its hook points."""
    names = {key: _point(model, layer, suffix) for key, suffix in (
        ("resid_pre", "hook_resid_pre"), ("pattern", "attn.hook_pattern"), ("attn_out", "hook_attn_out"),
        ("resid_mid", "hook_resid_mid"))}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), caching(model, names.values()) as seen:
            model(torch.tensor([ids], dtype=torch.long, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
    return {key: _numpy(seen[name][0][0]) for key, name in names.items()}


def _point(model: nn.Module, layer: int, suffix: str) -> str:
    wanted = f"blocks.{layer}.{suffix}"
    found = [n for n in hook_points(model) if n.endswith(wanted) and ".decoder." not in f".{n}"]
    if not found:
        raise WorkbenchError(f"the model has no hook point {wanted}")
    return found[0]


def _layer_norm(x: np.ndarray, ln: nn.LayerNorm, tokens: list[str], title: str = "H = LayerNorm(X)") -> tuple[np.ndarray, Step]:
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    out = (x - mean) / np.sqrt(var + ln.eps) * _numpy(ln.weight) + _bias(ln.bias, x.shape[1])
    step = Step(title, out, tuple(tokens), _dims(x.shape[1]),
                tex=r"\mathrm{LN}(x)=\gamma\odot\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}}+\beta", heatmap=True,
                note="Each token's vector, centred on its mean μ and divided by its spread √(σ² + ε) (ε a tiny "
                "constant against division by 0), then stretched by the learned γ and shifted by β.")
    return out, step


def _masked(scores: np.ndarray, causal: bool) -> np.ndarray:
    return np.where(np.tril(np.ones_like(scores, dtype=bool)), scores, -np.inf) if causal else scores


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _dims(d: int) -> tuple[str, ...]:
    return tuple(str(j) for j in range(d))


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).float()


def _bias(b: torch.Tensor | None, n: int) -> np.ndarray:
    return np.zeros(n) if b is None else _numpy(b)
