"""Backpropagation by hand through a tiny two-layer network, on three numbers read from the text.

The network is fixed (seeded weights, rounded to two decimals so a learner can follow them):
3 inputs, 4 tanh hidden units, dropout, 2 output classes, softmax and cross entropy. The input is
the typed text as x = (words / 10, mean word length / 10, vowels / letters). Forward pass, then
every gradient by the chain rule in numpy (float64); checks hold them to ``torch.autograd`` on the
same network and dropout mask, the mask and its 1/(1-p) scaling to ``F.dropout`` with the same
seed, and gradient clipping by the global norm to ``torch.nn.utils.clip_grad_norm_``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import ConfigError
from core.learn.walkthrough import Step, Symbol, Walkthrough, check

FORMULA = (r"h=\tanh(W_1x+b_1),\quad u=\frac{m\odot h}{1-p},\quad \hat y=\mathrm{softmax}(W_2u+b_2),\quad"
           r" L=-\log\hat y_c,\quad \delta_2=\hat y-y,\quad \frac{\partial L}{\partial W_2}=\delta_2u^\top,\quad"
           r" \delta_1=\Big(W_2^\top\delta_2\odot\frac{m}{1-p}\Big)\odot(1-h^2),\quad"
           r" \frac{\partial L}{\partial W_1}=\delta_1x^\top")
INPUTS = ("x1", "x2", "x3")  # words / 10, mean word length / 10, vowel share
HIDDEN = ("h1", "h2", "h3", "h4")
CLASSES = ("class 0", "class 1")
WEIGHT_SEED = 7  # the network's weights: the same for everyone, so a class can compare numbers
VOWELS = set("aeiouAEIOU")


def features(text: str) -> np.ndarray:
    """The text as three numbers of similar size: its words / 10, their mean length / 10, and the
    share of its letters that are vowels (a, e, i, o, u)."""
    words = re.findall(r"\w+", text)
    letters = [c for c in text if c.isalpha()]
    mean_len = sum(len(w) for w in words) / len(words) if words else 0.0
    vowels = sum(c in VOWELS for c in letters) / len(letters) if letters else 0.0
    return np.array([len(words) / 10, mean_len / 10, vowels])


def network() -> dict[str, np.ndarray]:
    """W1 (4 × 3), b1, W2 (2 × 4), b2: seeded, rounded to two decimals."""
    rng = np.random.default_rng(WEIGHT_SEED)
    shapes = {"W1": (4, 3), "b1": (4,), "W2": (2, 4), "b2": (2,)}
    return {k: np.round(rng.normal(0.0, 0.8, s), 2) for k, s in shapes.items()}


def dropout_mask(p: float, seed: int) -> np.ndarray:
    """Which hidden units dropout keeps (1) or drops (0): PyTorch's own draw with ``seed``."""
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(seed)
        return (F.dropout(torch.ones(len(HIDDEN), dtype=torch.float64), p, training=True) != 0).double().numpy()


def walkthrough(trained: Any, text: str, *, label: int = 0, dropout: float = 0.25, seed: int = 3,
                max_norm: float = 1.0) -> Walkthrough:
    """The forward pass and every gradient of the tiny network on ``text`` (``trained`` unused:
    the network is the chapter's own)."""
    if not 0 <= label < len(CLASSES):
        raise ConfigError("label", label, f"0 to {len(CLASSES) - 1}", reason="the network has two classes")
    if not 0 <= dropout < 1:
        raise ConfigError("dropout", dropout, "0 to less than 1", reason="a dropout rate must leave something")
    if max_norm <= 0:
        raise ConfigError("max_norm", max_norm, "a number above 0", reason="clipping needs a positive norm")
    w, x, p = network(), features(text), float(dropout)
    mask = dropout_mask(p, seed)
    # Forward
    z1 = w["W1"] @ x + w["b1"]
    h = np.tanh(z1)
    u = mask * h / (1 - p)
    z2 = w["W2"] @ u + w["b2"]
    y_hat = np.exp(z2 - z2.max()) / np.exp(z2 - z2.max()).sum()
    y = np.eye(len(CLASSES))[label]
    loss = float(-np.log(y_hat[label]))
    # Backward: the chain rule, one factor at a time
    d_z2 = y_hat - y
    d_w2, d_b2 = np.outer(d_z2, u), d_z2
    d_u = w["W2"].T @ d_z2
    d_h = d_u * mask / (1 - p)
    d_z1 = d_h * (1 - h ** 2)
    d_w1, d_b1 = np.outer(d_z1, x), d_z1
    d_x = w["W1"].T @ d_z1
    hand = {"W1": d_w1, "b1": d_b1, "W2": d_w2, "b2": d_b2}
    # Clipping by the global norm: one scale for every gradient, as training.grad_clip does
    norms = np.array([np.linalg.norm(g) for g in hand.values()])
    total = float(np.sqrt((norms ** 2).sum()))
    scale = min(1.0, max_norm / (total + 1e-6))
    clipped = {k: g * scale for k, g in hand.items()}

    engine = _autograd(w, x, mask, p, label)
    checks = [check(f"∂L/∂{k} by the chain rule against torch.autograd", hand[k], engine["grads"][k], 1e-6)
              for k in hand]
    checks.append(check("L by hand against F.cross_entropy", np.array(loss), engine["loss"], 1e-6))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch_dropped = F.dropout(torch.from_numpy(h), p, training=True).numpy()
    checks.append(check(f"m ⊙ h / (1-p) against F.dropout(h, p={p:g}) with seed {seed}", u, torch_dropped, 1e-12))
    tensors = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in w.items()}
    for k, t in tensors.items():
        t.grad = torch.from_numpy(hand[k].copy())
    torch_norm = torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm)
    checks.append(check("‖g‖ by hand against clip_grad_norm_'s", np.array(total), torch_norm.numpy(), 1e-6))
    checks.append(check(f"clipped gradients against clip_grad_norm_(max_norm={max_norm:g})",
                        np.concatenate([g.ravel() for g in clipped.values()]),
                        np.concatenate([_grad(t).ravel() for t in tensors.values()]), 1e-6))

    kept = int(mask.sum())
    steps = [
        Step("The input x: three numbers from your text", x, ("x",), INPUTS, tex=r"x\in\mathbb{R}^3",
             note="x1 = words / 10, x2 = mean word length / 10, x3 = vowels / letters: kept near 0 to 1, where "
                  "tanh is not flat."),
        Step("Layer 1 weights W1 and bias b1 (fixed, seeded)", np.column_stack([w["W1"], w["b1"]]), HIDDEN,
             (*INPUTS, "b1"), decimals=2, note="Row j: the weights hidden unit h_j gives x1, x2, x3, then its bias."),
        Step("Hidden layer: z1 = W1 x + b1, h = tanh(z1)", np.stack([z1, h]), ("z1", "h"), HIDDEN,
             tex=r"h=\tanh(W_1x+b_1)", decimals=4, note="tanh squashes each unit's sum into (-1, 1)."),
        Step(f"Dropout p = {p:g}: mask m and u = m ⊙ h / (1-p)", np.stack([mask, u]), ("m", "u"), HIDDEN,
             tex=r"u=\frac{m\odot h}{1-p}", decimals=4,
             note=f"Seed {seed} keeps {kept} of {len(HIDDEN)} units; each kept one is multiplied by 1/(1-p) = "
                  f"{1 / (1 - p):.3f}, so u's expected value is h. At prediction time dropout is off: u = h."),
        Step("Layer 2 weights W2 and bias b2 (fixed, seeded)", np.column_stack([w["W2"], w["b2"]]), CLASSES,
             (*HIDDEN, "b2"), decimals=2),
        Step("Output: z2 = W2 u + b2, ŷ = softmax(z2), y one-hot", np.stack([z2, y_hat, y]), ("z2", "ŷ", "y"),
             CLASSES, tex=r"\hat y=\mathrm{softmax}(W_2u+b_2)", decimals=4,
             note=f"The true class is {CLASSES[label]} (the True class knob)."),
        Step("The loss L = -log ŷ_c", np.array([loss]), ("L",), ("cross entropy",), tex=rf"L={loss:.4f}",
             decimals=5, note="Backpropagation asks how L changes with every weight, from the loss backwards."),
        Step("δ2 = ∂L/∂z2 = ŷ - y", d_z2, ("δ2",), CLASSES,
             tex=r"\delta_2=\frac{\partial L}{\partial z_2}=\hat y-y", decimals=5,
             note="Softmax and cross entropy together have this simple derivative: predicted minus true."),
        Step("∂L/∂W2 = δ2 uᵀ and ∂L/∂b2 = δ2", np.column_stack([d_w2, d_b2]), CLASSES, (*HIDDEN, "b2"),
             tex=r"\frac{\partial L}{\partial W_2}=\delta_2u^\top", decimals=5,
             note="Each weight's gradient: the error at its output times the value at its input (a dropped "
                  "unit's column is 0: it took no part)."),
        Step("Back through W2 and dropout: ∂L/∂u = W2ᵀ δ2, ∂L/∂h = ∂L/∂u ⊙ m/(1-p)", np.stack([d_u, d_h]),
             ("∂L/∂u", "∂L/∂h"), HIDDEN,
             tex=r"\frac{\partial L}{\partial h}=W_2^\top\delta_2\odot\frac{m}{1-p}", decimals=5,
             note="The error sent back along the same weights; dropout passes it on only where it kept the unit."),
        Step("Back through tanh: δ1 = ∂L/∂h ⊙ (1 - h²)", np.stack([1 - h ** 2, d_z1]), ("1 - h²", "δ1"),
             HIDDEN,
             tex=r"\delta_1=\frac{\partial L}{\partial h}\odot(1-h^2)", decimals=5,
             note="tanh′(z) = 1 - tanh(z)²: a unit near ±1 is saturated and passes little gradient back."),
        Step("∂L/∂W1 = δ1 xᵀ and ∂L/∂b1 = δ1", np.column_stack([d_w1, d_b1]), HIDDEN, (*INPUTS, "b1"),
             tex=r"\frac{\partial L}{\partial W_1}=\delta_1x^\top", decimals=5),
        Step("∂L/∂x = W1ᵀ δ1 (what an earlier layer would receive)", d_x, ("∂L/∂x",), INPUTS,
             tex=r"\frac{\partial L}{\partial x}=W_1^\top\delta_1", decimals=5),
        Step(f"Clipping by the global norm (max_norm c = {max_norm:g})", np.append(norms, [total, scale]),
             ("",), ("‖∂W1‖", "‖∂b1‖", "‖∂W2‖", "‖∂b2‖", "‖g‖ all", "scale"),
             tex=r"\lVert{g}\rVert=\sqrt{\textstyle\sum_i g_i^2},\quad"
                 r" s=\min\Big(1,\frac{c}{\lVert{g}\rVert+10^{-6}}\Big)",
             decimals=5, note=("The gradients are shrunk together, keeping their direction." if scale < 1 else
                               "‖g‖ is within c: nothing changes.") + " A training step then uses the clipped ones."),
        Step("Clipped ∂L/∂W2 and ∂L/∂b2", np.column_stack([clipped["W2"], clipped["b2"]]), CLASSES,
             (*HIDDEN, "b2"), tex=r"g'=g\cdot s", decimals=5),
        Step("Clipped ∂L/∂W1 and ∂L/∂b1", np.column_stack([clipped["W1"], clipped["b1"]]), HIDDEN,
             (*INPUTS, "b1"), tex=r"g'=g\cdot s", decimals=5),
    ]
    steps = [replace(s, values=np.asarray(s.values) + 0.0) for s in steps]  # -0.0 (a dropped unit) shown as 0
    symbols = (
        Symbol("x", "the input: three numbers from your text (words/10, mean word length/10, vowel share)"),
        Symbol("W_1, b_1", "layer 1's weights (4 × 3) and bias (4): fixed, seeded"),
        Symbol("h", "the 4 hidden units after tanh"),
        Symbol("m", f"the dropout mask: 1 keeps a unit, 0 drops it (seed {seed})"),
        Symbol("p", f"the dropout rate: each unit is dropped with probability p ({p:g})"),
        Symbol("u", "the hidden units after dropout, scaled by 1/(1-p)"),
        Symbol("W_2, b_2", "layer 2's weights (2 × 4) and bias (2)"),
        Symbol(r"\hat y", "the predicted probability of each of the 2 classes"),
        Symbol("y", f"the truth as one-hot: 1 for the true class (class {label}), 0 for the other"),
        Symbol("z_1, z_2", "the sums before each activation: z_1 = W_1x + b_1 (into tanh), z_2 = W_2u + b_2 (into softmax)"),
        Symbol("g", "all the gradients together (every ∂L/∂W and ∂L/∂b), as one long vector for clipping"),
        Symbol("L", "the cross-entropy loss"),
        Symbol(r"\delta_2, \delta_1", "the error at the output's and the hidden layer's sums: ∂L/∂z2, ∂L/∂z1"),
        Symbol(r"\odot", "element by element product"),
        Symbol("c", f"max_norm: the largest gradient norm clipping allows ({max_norm:g})"),
        Symbol("s", "the scale every gradient is multiplied by: 1 when ‖g‖ is within c"),
    )
    return Walkthrough("backprop", FORMULA, symbols, steps, checks,
                       ["The network is this chapter's own (not a trained run): small enough to follow every number."])


def _autograd(w: dict[str, np.ndarray], x: np.ndarray, mask: np.ndarray, p: float, label: int) -> dict[str, Any]:
    """The same network and mask in PyTorch (float64): its loss and autograd's gradients."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in w.items()}
    h = torch.tanh(t["W1"] @ torch.from_numpy(x) + t["b1"])
    z2 = t["W2"] @ (h * torch.from_numpy(mask) / (1 - p)) + t["b2"]
    loss = F.cross_entropy(z2[None], torch.tensor([label]))
    loss.backward()
    return {"loss": loss.detach().numpy(), "grads": {k: _grad(v) for k, v in t.items()}}


def _grad(t: torch.Tensor) -> np.ndarray:
    assert t.grad is not None  # backward() or the caller gave it one
    return t.grad.numpy()
