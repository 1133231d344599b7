"""The update rules of the optimizers core.optim declares, by hand in numpy (float64), as PyTorch
applies them: Adam (L2 decay folded into the gradient), AdamW (decoupled decay), SGD with
(Nesterov) momentum and RMSprop. Each takes the parameter, its gradient, its saved state and its
group's hyperparameters, and returns the rows to show, the new value and the new state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

_L2 = r"g_t=\frac{\partial L}{\partial\theta}+\lambda\theta_{t-1},\quad "  # L2 decay: into the gradient
_ADAM_STEP = r"\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon}"
FORMULAS = {
    "adam": (_L2 + r"m_t=\beta_1m_{t-1}+(1-\beta_1)g_t,\quad"
             r" v_t=\beta_2v_{t-1}+(1-\beta_2)g_t^2,\quad \hat m_t=\frac{m_t}{1-\beta_1^t},\quad"
             r" \hat v_t=\frac{v_t}{1-\beta_2^t},\quad \theta_t=\theta_{t-1}-\eta\," + _ADAM_STEP),
    "adamw": (r"m_t=\beta_1m_{t-1}+(1-\beta_1)g_t,\quad v_t=\beta_2v_{t-1}+(1-\beta_2)g_t^2,\quad"
              r" \hat m_t=\frac{m_t}{1-\beta_1^t},\quad \hat v_t=\frac{v_t}{1-\beta_2^t},\quad"
              r" \theta_t=\theta_{t-1}-\eta\lambda\theta_{t-1}-\eta\," + _ADAM_STEP),
    "sgd": (_L2 + r"b_t=\mu b_{t-1}+g_t,\quad"
            r" \theta_t=\theta_{t-1}-\eta\,b_t\;\;(\text{Nesterov: }\theta_t=\theta_{t-1}-\eta(g_t+\mu b_t))"),
    "rmsprop": (_L2 + r"s_t=\alpha s_{t-1}+(1-\alpha)g_t^2,\quad"
                r" b_t=\mu b_{t-1}+\frac{g_t}{\sqrt{s_t}+\epsilon},\quad \theta_t=\theta_{t-1}-\eta\,b_t"),
}
# What each rule keeps between steps, under PyTorch's names: only these carry over from a run that
# trained with another optimizer of the same family.
STATE_KEYS = {"adam": ("step", "exp_avg", "exp_avg_sq"), "adamw": ("step", "exp_avg", "exp_avg_sq"),
              "sgd": ("momentum_buffer",), "rmsprop": ("step", "square_avg", "momentum_buffer")}


@dataclass
class Update:
    """One step of a rule: rows (label, tex, values) in groups of one table each, the new value
    and the new state (PyTorch's names)."""

    tables: list[tuple[str, str, list[tuple[str, np.ndarray]]]] = field(default_factory=list)
    new: np.ndarray = field(default_factory=lambda: np.zeros(0))
    state: dict[str, np.ndarray] = field(default_factory=dict)


def apply(name: str, theta: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> Update:
    """One step of optimizer ``name`` on ``theta`` with gradient ``g``."""
    rules = {"adam": _adam, "adamw": _adam, "sgd": _sgd, "rmsprop": _rmsprop}
    return rules[name](name, theta, g, {k: _array(v) for k, v in state.items() if v is not None}, group)


def _adam(name: str, theta: np.ndarray, g: np.ndarray, st: dict[str, np.ndarray], grp: dict[str, Any]) -> Update:
    lr, (b1, b2), eps, wd = grp["lr"], grp["betas"], grp["eps"], grp["weight_decay"]
    t = int(st.get("step", np.zeros(())).item()) + 1
    m0, v0 = st.get("exp_avg", np.zeros_like(theta)), st.get("exp_avg_sq", np.zeros_like(theta))
    decoupled = name == "adamw"
    g_used = g if decoupled else g + wd * theta
    m = b1 * m0 + (1 - b1) * g_used
    v = b2 * v0 + (1 - b2) * g_used ** 2
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    step = lr * m_hat / (np.sqrt(v_hat) + eps)
    decay = lr * wd * theta if decoupled else np.zeros_like(theta)
    out = Update(new=theta - decay - step, state={"exp_avg": m, "exp_avg_sq": v})
    grad_rows = [("θ_(t-1)", theta), ("g_t", g)] + ([] if decoupled else [("g_t + λθ (L2)", g_used)])
    out.tables = [
        ("The parameter and its gradient", r"g_t=\frac{\partial L}{\partial\theta}", grad_rows),
        (f"First moment m (β1 = {b1:g}), bias-corrected at t = {t}",
         r"m_t=\beta_1m_{t-1}+(1-\beta_1)g_t,\quad \hat m_t=\frac{m_t}{1-\beta_1^t}",
         [("m_(t-1)", m0), ("m_t", m), ("m̂_t", m_hat)]),
        (f"Second moment v (β2 = {b2:g}), bias-corrected at t = {t}",
         r"v_t=\beta_2v_{t-1}+(1-\beta_2)g_t^2,\quad \hat v_t=\frac{v_t}{1-\beta_2^t}",
         [("v_(t-1)", v0), ("v_t", v), ("v̂_t", v_hat), ("√v̂_t", np.sqrt(v_hat))]),
        (f"The update (η = {lr:.3g}, λ = {wd:g}, ε = {eps:g})",
         r"\theta_t=\theta_{t-1}-\eta\lambda\theta_{t-1}-\eta\,\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon}" if decoupled
         else r"\theta_t=\theta_{t-1}-\eta\,\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon}",
         [("η m̂/(√v̂+ε)", step), ("ηλθ (decay)", decay), ("θ_t", out.new)]),
    ]
    return out


def _sgd(name: str, theta: np.ndarray, g: np.ndarray, st: dict[str, np.ndarray], grp: dict[str, Any]) -> Update:
    lr, mu, wd, nesterov = grp["lr"], grp["momentum"], grp["weight_decay"], grp["nesterov"]
    g_used = g + wd * theta
    rows = [("θ_(t-1)", theta), ("g_t", g), ("g_t + λθ (L2)", g_used)]
    out = Update()
    if mu:
        b0 = st.get("momentum_buffer")
        b = g_used.copy() if b0 is None else mu * b0 + g_used  # PyTorch starts the buffer at g itself
        direction = g_used + mu * b if nesterov else b
        rows += [("b_(t-1)", np.zeros_like(theta) if b0 is None else b0), ("b_t", b)]
        out.state = {"momentum_buffer": b}
    else:
        direction = g_used
    out.new = theta - lr * direction
    out.tables = [
        (f"Gradient with L2 decay (λ = {wd:g}) and momentum (μ = {mu:g})", r"b_t=\mu b_{t-1}+g_t", rows),
        (f"The update (η = {lr:.3g}{', Nesterov' if nesterov else ''})",
         r"\theta_t=\theta_{t-1}-\eta(g_t+\mu b_t)" if nesterov else r"\theta_t=\theta_{t-1}-\eta\,b_t",
         [("η · direction", lr * direction), ("ηλθ (decay)", lr * wd * theta), ("θ_t", out.new)]),
    ]
    return out


def _rmsprop(name: str, theta: np.ndarray, g: np.ndarray, st: dict[str, np.ndarray], grp: dict[str, Any]) -> Update:
    lr, alpha, eps, mu, wd = grp["lr"], grp["alpha"], grp["eps"], grp["momentum"], grp["weight_decay"]
    g_used = g + wd * theta
    s0 = st.get("square_avg", np.zeros_like(theta))
    s = alpha * s0 + (1 - alpha) * g_used ** 2
    scaled = g_used / (np.sqrt(s) + eps)
    out = Update(state={"square_avg": s})
    rows = [("θ_(t-1)", theta), ("g_t", g), ("g_t + λθ (L2)", g_used), ("s_(t-1)", s0), ("s_t", s),
            ("g/(√s+ε)", scaled)]
    if mu > 0:
        b = mu * st.get("momentum_buffer", np.zeros_like(theta)) + scaled
        out.state["momentum_buffer"] = b
        rows.append(("b_t", b))
    else:
        b = scaled
    out.new = theta - lr * b
    out.tables = [
        (f"Squared-gradient average s (α = {alpha:g})", r"s_t=\alpha s_{t-1}+(1-\alpha)g_t^2", rows),
        (f"The update (η = {lr:.3g}, μ = {mu:g})", r"\theta_t=\theta_{t-1}-\eta\,b_t",
         [("η b_t", lr * b), ("ηλθ (decay)", lr * wd * theta), ("θ_t", out.new)]),
    ]
    return out


def _array(value: Any) -> np.ndarray:
    """A saved state entry (a tensor, or a number such as an older checkpoint's step) in float64."""
    to_numpy = getattr(value, "detach", None)
    return to_numpy().double().cpu().numpy() if to_numpy is not None else np.asarray(value, dtype=np.float64)
