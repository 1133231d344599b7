"""One optimizer step by hand, on a trained run's saved optimizer state and one parameter tensor.

The run's last checkpoint is loaded as a resume loads it (weights and optimizer state, safetensors
and JSON: core.checkpoint); the gradient is the task's own loss on the typed text (a classifier:
with the chosen true class; a language model: every next token), dropout off, clipped by the
run's training.grad_clip as its training clipped it. The step's learning rate is the run's peak
rate times its schedule (core.optim) at the next step. Then the chosen rule (core.learn.
optimizer_rules) in numpy, checked against ``torch.optim``'s own ``step()`` on the same state.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from core import checkpoint as ckpt
from core.errors import ConfigError, WorkbenchError
from core.learn.optimizer_rules import FORMULAS, STATE_KEYS, apply
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.optim import build_optimizer, build_schedule
from core.registry import OPTIMIZERS
from core.tasks.base import Batch
from core.tasks.classification import EncodedSplit

SHOWN = 6  # entries of the tensor shown; the check covers all of them
CURVE_POINTS = 30


def walkthrough(trained: Any, text: str, *, parameter: str = "", optimizer: str | None = None, label: int = 0,
                weight_decay: float | None = None) -> Walkthrough:
    """One step of ``optimizer`` (None: the run's own) on ``parameter`` (empty: the last weight
    matrix, the output layer's) of ``trained``'s last checkpoint, the gradient from ``text``."""
    raw = trained.config.to_dict()
    own_name = raw["optimizer"]["name"]
    name = optimizer or own_name
    if name not in FORMULAS:
        raise ConfigError("optimizer", name, "one of " + ", ".join(FORMULAS), reason="no such optimizer")
    if trained.folder is None:
        raise WorkbenchError(f"run {trained.run.id} was loaded without its folder: its optimizer state is there")
    folder = trained.folder / "checkpoints" / "last"
    if not (ckpt.has_checkpoint(folder) and (folder / "optimizer.safetensors").exists()):
        raise WorkbenchError(f"run {trained.run.id} has no last checkpoint with its optimizer's state "
                             "(training.checkpoint off, or not one evaluation yet)")
    model = copy.deepcopy(trained.model)  # the page's cached model keeps its weights and no gradients
    own = build_optimizer(model, raw["optimizer"])
    state, _ = ckpt.load_checkpoint(folder, model, own, next(model.parameters()).device)
    t_done = int(state["step"])
    params = dict(model.named_parameters())
    chosen = parameter or [n for n, p in params.items() if p.dim() >= 2][-1]  # the output layer: never idle
    if chosen not in params:
        some = ", ".join(list(params)[:6])
        raise ConfigError("parameter", chosen, f"a parameter of this model ({len(params)}: {some}, ...)",
                          reason="the model has no such parameter")
    param = params[chosen]
    saved_lr = float(own.param_groups[0]["lr"])
    declared = {p.name: p.default for p in OPTIMIZERS.get(name).params}
    hyper = {**declared, **{k: v for k, v in raw["optimizer"].items() if k in declared}}
    if weight_decay is not None:
        hyper["weight_decay"] = weight_decay
    notes = [f"The run's last checkpoint: step {t_done}; this is the step after it (t = {t_done + 1})."]
    if name == own_name and weight_decay is None:
        opt = own
    else:
        opt = build_optimizer(model, {"name": name, **hyper})
        carried = set(STATE_KEYS[name]) <= set(STATE_KEYS[own_name])
        if carried:
            for p in model.parameters():
                if own.state.get(p):
                    opt.state[p] = {k: v for k, v in own.state[p].items() if k in STATE_KEYS[name]}
        notes.append(f"The run trained with {OPTIMIZERS.label(own_name)}; {OPTIMIZERS.label(name)} "
                     + ("takes over its saved state." if carried else "keeps other state: it starts fresh, as at "
                        "its first step."))
    max_steps = int(trained.run.progress.get("max_steps") or raw["training"]["max_steps"])
    schedule = build_schedule(raw["schedule"], max_steps)
    factor = schedule(t_done)
    for group in opt.param_groups:  # as the trainer sets it before every step
        group["lr"] = hyper["lr"] * factor
    notes.append(_gradient(trained, model, text, label, raw["training"]["grad_clip"]))
    group = next(g for g in opt.param_groups if any(p is param for p in g["params"]))
    theta = param.detach().double().cpu().numpy().copy()
    assert param.grad is not None  # _gradient's backward reached every parameter the loss uses
    g = param.grad.double().cpu().numpy().copy()
    update = apply(name, theta, g, {k: v.clone() if isinstance(v, torch.Tensor) else v
                                    for k, v in opt.state.get(param, {}).items()}, group)
    opt.step()
    after = param.detach().double().cpu().numpy()
    torch_class = type(opt).__name__
    checks: list[Check] = [check(f"θ_t by hand against torch.optim.{torch_class}'s step() on the same state",
                                 update.new, after, 1e-6)]
    for key, mine in update.state.items():
        checks.append(check(f"{key} by hand against {torch_class}'s state after the step", mine,
                            opt.state[param][key].double().cpu().numpy(), 1e-6))
    if t_done > 0:
        checks.append(check("the learning rate saved in the checkpoint against the peak rate × schedule(step) "
                            "(core.optim)", np.array(saved_lr),
                            np.array(raw["optimizer"]["lr"] * schedule(t_done - 1)), 1e-12))
    flat = np.unravel_index(np.arange(min(SHOWN, theta.size)), theta.shape)
    cols = tuple("[" + ",".join(str(int(i[j])) for i in flat) + "]" for j in range(len(flat[0])))
    steps = [Step(title, np.stack([v for _, v in shown]), tuple(r for r, _ in shown), cols, tex=tex, decimals=6)
             for title, tex, rows in update.tables
             for shown in [[_readable(r, v.ravel()[: len(cols)]) for r, v in rows]]]
    steps.insert(0, _schedule_step(schedule, max_steps, t_done, hyper["lr"], raw["schedule"]["name"]))
    steps[1] = Step(f"{chosen} {tuple(theta.shape)}: {steps[1].title.lower()}", steps[1].values, steps[1].rows,
                    cols, tex=steps[1].tex, decimals=6,
                    note=f"The first {len(cols)} of its {theta.size} entries; the check covers them all.")
    symbols = (
        Symbol(r"\theta", f"the parameter {chosen}: θ_(t-1) before the step, θ_t after"),
        Symbol("g_t", "its gradient: ∂L/∂θ of the task's loss on your text (clipped as training clips it)"),
        Symbol("t", f"the step's number: {t_done + 1}, one after the checkpoint"),
        Symbol(r"\eta", f"the learning rate at this step: {hyper['lr']:g} × schedule = {hyper['lr'] * factor:.4g}"),
        Symbol(r"\lambda", f"weight decay ({group['weight_decay']:g} for this tensor; biases and norms get 0)"),
        *_rule_symbols(name, group),
    )
    return Walkthrough("optimizer", FORMULAS[name], symbols, steps, checks, notes)


def _gradient(trained: Any, model: torch.nn.Module, text: str, label: int, clip: float) -> str:
    """The task's loss on ``text``, backpropagated into ``model``, clipped as training does; a note."""
    task, tok = trained.task, trained.tokenizer
    device = next(model.parameters()).device
    if trained.run.task == "classification":
        names = list(task.label_names)
        if not 0 <= label < len(names):
            raise ConfigError("label", label, f"0 to {len(names) - 1} ({', '.join(names)})",
                              reason="this run has no such class")
        x, pad, y = EncodedSplit([task.encode([text])[0]], [label], tok.pad_id, task.params["max_length"]).rows(
            torch.tensor([0]))
        batch = Batch({"ids": x.to(device), "pad_mask": pad.to(device)}, y.to(device), int(x.shape[1]))
        said = f"your text with the true class '{names[label]}'"
    else:
        ids = tok.encode(text)[: task.context + 1]
        if len(ids) < 2:
            raise WorkbenchError("a language model needs at least two tokens of text: one to read, one to predict")
        batch = Batch({"ids": torch.tensor([ids[:-1]], device=device)}, torch.tensor([ids[1:]], device=device),
                      len(ids) - 1)
        said = f"your text's {len(ids) - 1} next-token predictions"
    model.eval()  # dropout off: the same gradient every time the page redraws
    model.zero_grad(set_to_none=True)
    loss = task.loss(model, batch)
    loss.backward()
    note = f"The gradient: the task's loss {loss.item():.4f} on {said}, dropout off"
    if clip > 0:
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip))
        return note + (f"; the gradient norm {norm:.3g} is above training.grad_clip = {clip:g}, so every gradient is "
                       f"scaled by {clip / (norm + 1e-6):.3g}." if norm > clip else
                       f"; its norm {norm:.3g} is within training.grad_clip = {clip:g}.")
    return note + "."


def _readable(label: str, row: np.ndarray) -> tuple[str, np.ndarray]:
    """A row of tiny numbers (a second moment, a decay term) scaled by a power of ten that its
    label states, so six decimals show its digits."""
    top = float(np.abs(row).max())
    if top == 0 or top >= 1e-4:
        return label, row + 0.0  # + 0.0: no "-0" shown
    power = int(-np.floor(np.log10(top)))
    return f"{label} ×1e{power}", row * 10.0 ** power


def _schedule_step(schedule: Any, max_steps: int, t_done: int, peak: float, kind: str) -> Step:
    at = sorted({*np.linspace(0, max_steps, CURVE_POINTS).astype(int).tolist(), t_done})
    values = np.array([[s, peak * schedule(s)] for s in at])
    return Step(f"The learning-rate schedule ({kind}) over {max_steps} steps; the step shown here marked", values,
                tuple(f"step {s}" for s in at), ("step", "learning rate"), curve=True, mark=at.index(t_done),
                decimals=6, tex=r"\eta_t=\eta_{\max}\cdot\mathrm{schedule}(t)",
                note="The optimizer's rate at each step: the run's peak rate times the schedule's factor.")


def _rule_symbols(name: str, group: dict[str, Any]) -> tuple[Symbol, ...]:
    if name in ("adam", "adamw"):
        b1, b2 = group["betas"]
        return (Symbol("m_t", f"the first moment: a running mean of g (β1 = {b1:g})"),
                Symbol("v_t", f"the second moment: a running mean of g² (β2 = {b2:g})"),
                Symbol(r"\hat m_t, \hat v_t", "m and v bias-corrected: both start at 0, so early means are too small"),
                Symbol(r"\epsilon", f"keeps the division finite ({group['eps']:g})"))
    if name == "sgd":
        return (Symbol("b_t", "the momentum buffer: a decaying sum of past gradients"),
                Symbol(r"\mu", f"momentum: how much of the buffer is kept ({group['momentum']:g})"))
    return (Symbol("s_t", f"a running mean of g² (α = {group['alpha']:g})"),
            Symbol("b_t", f"the momentum buffer (μ = {group['momentum']:g}; 0: none)"),
            Symbol(r"\epsilon", f"keeps the division finite ({group['eps']:g})"))
