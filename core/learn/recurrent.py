"""Recurrent cells (RNN, LSTM, GRU), recomputed by hand from a trained run's layer weights on the
learner's tokens.

The recurrence's input is read at the backbone's ``hook_embed`` point (the embeddings after
dropout: what ``nn.RNN``/``nn.LSTM``/``nn.GRU`` consumes). From there every layer and direction
is numpy on PyTorch's own parameters (``weight_ih_l{k}``, ``weight_hh_l{k}``, the two biases; the
gate blocks stacked in PyTorch's order: i, f, g, o for the LSTM, r, z, n for the GRU). Checks hold
the hand states to the module's output: the top layer's outputs at every step, the chosen
layer's final hidden (and cell) state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import ConfigError, WorkbenchError
from core.inspect.activations import caching, hook_points
from core.inspect.capture import input_limit
from core.inspect.maps import display_token
from core.learn.walkthrough import MARK, Step, Symbol, Walkthrough, check
from core.models.base import evaluating

_PRE = r"W_{i\star}x_t+b_{i\star}+W_{h\star}h_{t-1}+b_{h\star}"
# Each cell's quantities in the order computed: (key, title, LaTeX, what to look at).
CELLS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "rnn": (("h", "Hidden state h_t", r"h_t=\tanh(W_{ih}x_t+b_{ih}+W_{hh}h_{t-1}+b_{hh})",
             "Each token's state mixes its input with the state before it; tanh keeps it in (-1, 1)."),),
    "lstm": (
        ("i", "Input gate i_t", r"i_t=\sigma(" + _PRE.replace(r"\star", "i") + ")",
         "How much of the candidate each unit writes into its cell (0: nothing, 1: all)."),
        ("f", "Forget gate f_t", r"f_t=\sigma(" + _PRE.replace(r"\star", "f") + ")",
         "How much of the old cell each unit keeps (1: all of it)."),
        ("g", "Candidate g_t", r"g_t=\tanh(" + _PRE.replace(r"\star", "g") + ")",
         "The new content proposed for the cell, between -1 and 1."),
        ("o", "Output gate o_t", r"o_t=\sigma(" + _PRE.replace(r"\star", "o") + ")",
         "How much of its cell each unit shows as its hidden state."),
        ("c", "Cell state c_t", r"c_t=f_t\odot c_{t-1}+i_t\odot g_t",
         "The memory: what the forget gate kept plus what the input gate wrote."),
        ("h", "Hidden state h_t", r"h_t=o_t\odot\tanh(c_t)",
         "What the layer outputs at each token, and feeds back at the next."),
    ),
    "gru": (
        ("r", "Reset gate r_t", r"r_t=\sigma(" + _PRE.replace(r"\star", "r") + ")",
         "How much of the previous state the candidate may read."),
        ("z", "Update gate z_t", r"z_t=\sigma(" + _PRE.replace(r"\star", "z") + ")",
         "How much of the previous state each unit keeps (1: keep it all, ignore this token)."),
        ("n", "Candidate n_t", r"n_t=\tanh(W_{in}x_t+b_{in}+r_t\odot(W_{hn}h_{t-1}+b_{hn}))",
         "The new state proposed from this token and the reset part of the past."),
        ("h", "Hidden state h_t", r"h_t=(1-z_t)\odot n_t+z_t\odot h_{t-1}",
         "A blend, unit by unit, of the candidate and the previous state."),
    ),
}
NAMES = {"rnn": "Simple RNN", "lstm": "LSTM", "gru": "GRU"}
DIRECTIONS = ("forward", "backward")  # a bidirectional layer's two readings (PyTorch's …_reverse weights)


def walkthrough(trained: Any, text: str, *, step: int = 0, layer: int = 0, unit: int = 0,
                direction: str = "forward") -> Walkthrough:
    """Cell ``trained``'s recurrent layer ``layer`` on ``text``, reading in ``direction``: time step
    ``step`` in detail, hidden unit ``unit``'s equations with their numbers."""
    model: nn.Module = trained.model
    backbone: Any = getattr(model, "backbone", model)
    rnn = getattr(backbone, "rnn", None)
    kind = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}.get(type(rnn), "")
    if rnn is None or not kind or (kind == "rnn" and rnn.nonlinearity != "tanh"):
        raise WorkbenchError(f"run {trained.run.id} is not one of the workbench's recurrent models")
    if not 0 <= layer < rnn.num_layers:
        raise ConfigError("layer", layer, f"0 to {rnn.num_layers - 1}", reason="this model has no such layer")
    if not 0 <= unit < rnn.hidden_size:
        raise ConfigError("unit", unit, f"0 to {rnn.hidden_size - 1}",
                          reason=f"the layer has {rnn.hidden_size} hidden units")
    if direction not in DIRECTIONS:
        raise ConfigError("direction", direction, " or ".join(DIRECTIONS), reason="no such direction")
    notes: list[str] = []
    encode = getattr(trained.task, "encode", None)  # a classifier reads text as it was trained on
    ids = (encode([text])[0] if callable(encode) else trained.tokenizer.encode(text)) or [trained.tokenizer.unk_id]
    limit = input_limit(trained.task) or len(ids)
    if len(ids) > limit:
        notes.append(f"Input cut to the model's first {limit} of {len(ids)} tokens.")
        ids = ids[:limit]
    tokens = tuple(display_token(trained.tokenizer.id_to_token(i)) for i in ids)
    if not 0 <= step < len(ids):
        raise ConfigError("step", step, f"0 to {len(ids) - 1}", reason=f"the input has {len(ids)} tokens")
    backward = rnn.bidirectional and direction == "backward"
    if not rnn.bidirectional:
        notes.append("This layer reads left to right only (it is not bidirectional): Direction does not apply"
                     + ("; shown: the forward direction." if direction == "backward" else "."))
    elif backward:
        notes.append("Shown: the backward direction, which reads the tokens right to left with its own weights "
                     f"(weight_ih_l{layer}_reverse, …): its state before token t is the one after token t+1, "
                     "h_{t+1}, where the formula says h_{t-1}. Rows stay in reading order. The checks cover "
                     "both directions.")
    else:
        notes.append("This layer also reads right to left with its own weights (…_reverse): pick Direction "
                     "backward to see it. Shown: the forward direction; the checks cover both.")

    x, out, state = _engine(model, rnn, ids)
    layers = _stack(rnn, kind, x)
    seen, shown = layers[layer][int(backward)], ([x] + [np.concatenate([d["h"] for d in dirs], 1) for dirs in layers])[layer]
    hidden, width = rnn.hidden_size, shown.shape[1]
    units = tuple(str(j) for j in range(hidden))
    at = f" {MARK.strip()} marks t = {step}, the step worked through below."
    steps = [Step("x_t: the token embeddings the recurrence reads" if layer == 0
                  else f"x_t: layer {layer - 1}'s hidden states, read by layer {layer}", shown, tokens,
                  tuple(str(j) for j in range(width)), tex=r"x_t \in \mathbb{R}^{" + str(width) + "}",
                  heatmap=True, mark=step,
                  note="One row per token, in reading order; the layer reads them one at a time" + (
                      ", here from the last." if backward else ".") + at)]
    steps += [Step(f"{title} (every token × unit)", seen[key], tokens, units, tex=tex, heatmap=True, note=note + at,
                   mark=step)
              for key, title, tex, note in CELLS[kind]]
    steps += _detail(rnn, kind, layer, step, unit, backward, tokens, shown, seen)

    n_dirs = 2 if rnn.bidirectional else 1
    # The engine runs the recurrence in float32 in one fused CPU kernel (an unpadded batch skips
    # packing); rounding differs from this step-by-step recompute by ~1e-5 after a few dozen steps.
    close = 1e-4
    top = np.concatenate([d["h"] for d in layers[-1]], axis=1)
    h_n = state[0] if kind == "lstm" else state
    checks = [check("the vectors the recurrence read against the embedding table's rows E[token]",
                    x, _numpy(backbone.token_embedding.weight)[ids])] if layer == 0 else []
    checks += [
        check(f"h_t of the top layer recomputed at every step against PyTorch's {type(rnn).__name__} output", top, out,
              tolerance=close),
    ]
    # Each direction's final state: the forward one after the last token, the backward one after
    # the first (it reads right to left).
    for d, (name, last) in enumerate((("", -1), (" backward", 0))[:n_dirs]):
        checks.append(check(f"layer {layer}'s{name} last h_t against PyTorch's {type(rnn).__name__} final state h_n",
                            layers[layer][d]["h"][last], h_n[layer * n_dirs + d], tolerance=close))
        if kind == "lstm":
            checks.append(check(f"layer {layer}'s{name} last c_t against PyTorch's LSTM final cell state c_n",
                                layers[layer][d]["c"][last], state[1][layer * n_dirs + d], tolerance=close))
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    blocks = {"rnn": "", "lstm": " (i, f, g, o)", "gru": " (r, z, n)"}[kind]
    star = r"\star" if gates > 1 else "h"
    suffix = "_reverse" if backward else ""
    symbols = [
        Symbol("x_t", f"the input at time t: {width} numbers" + (" (the token's embedding)" if layer == 0 else "")),
        Symbol("h_t", f"the hidden state after token t: {hidden} units (0 before the first token)"),
        *([Symbol("c_t", f"the cell state, the LSTM's memory: {hidden} units (0 before the first token)")] if kind == "lstm" else []),
        Symbol(rf"W_{{i{star}}}", "input weights (first subscript i: they act on the input x_t"
               + ("; second, ⋆: which gate" if gates > 1 else "") + f"), {hidden} × {width}" + (
            f" for each gate ⋆; PyTorch stacks them{blocks} in weight_ih_l{layer}{suffix}" if gates > 1
            else f": weight_ih_l{layer}{suffix}")),
        Symbol(rf"W_{{h{star}}}", f"recurrent weights (first subscript h: they act on the last hidden state "
               f"h_{{t-1}}), {hidden} × {hidden}" + (
            " for each gate ⋆" if gates > 1 else "") + f": weight_hh_l{layer}{suffix}"),
        Symbol(rf"b_{{i{star}}}, b_{{h{star}}}", "the two biases PyTorch keeps (bias_ih, bias_hh); only their sum "
               "matters" + (", except in the candidate, where r_t scales the second" if kind == "gru" else "")),
        *([Symbol(r"\sigma", "the logistic sigmoid 1/(1+e^{-a}): a gate's opening, between 0 and 1")] if gates > 1 else []),
        Symbol(r"\tanh", "squashes to (-1, 1)"),
        *([Symbol(r"\odot", "element-wise product, unit by unit")] if gates > 1 else []),
    ]
    formula = r"\begin{aligned}" + r"\\".join(tex.replace("=", "&=", 1) for _, _, tex, _ in CELLS[kind]) + r"\end{aligned}"
    return Walkthrough("recurrent", formula, tuple(symbols), steps, checks, notes)


def _engine(model: nn.Module, rnn: nn.RNNBase, ids: list[int]) -> tuple[np.ndarray, np.ndarray, Any]:
    """The model on ``ids``: what its recurrence read (``hook_embed``), and the recurrent
    module's own output and final states on that input."""
    names = [n for n in hook_points(model) if n.endswith("hook_embed")]
    if not names:
        raise WorkbenchError("the model has no hook point hook_embed")
    with torch.no_grad(), evaluating(model), caching(model, names[:1]) as seen:
        model(ids=torch.tensor([ids], dtype=torch.long, device=next(model.parameters()).device))
        x = seen[names[0]][0]
        out, state = rnn(x)
    final = tuple(_numpy(s[:, 0]) for s in state) if isinstance(state, tuple) else _numpy(state[:, 0])
    return _numpy(x[0]), _numpy(out[0]), final


def _stack(rnn: nn.RNNBase, kind: str, x: np.ndarray) -> list[list[dict[str, np.ndarray]]]:
    """Every layer and direction by hand: ``[layer][direction] -> {quantity: (T, H)}``."""
    layers: list[list[dict[str, np.ndarray]]] = []
    for k in range(rnn.num_layers):
        dirs = []
        for suffix in ("", "_reverse")[: 2 if rnn.bidirectional else 1]:
            w_ih, w_hh, b_ih, b_hh = _weights(rnn, k, suffix)
            seen = _cell(kind, x[::-1] if suffix else x, w_ih, w_hh, b_ih, b_hh)
            dirs.append({key: v[::-1] for key, v in seen.items()} if suffix else seen)
        layers.append(dirs)
        x = np.concatenate([d["h"] for d in dirs], axis=1)  # what the next layer reads
    return layers


def _cell(kind: str, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray,
          b_hh: np.ndarray) -> dict[str, np.ndarray]:
    hidden = w_hh.shape[1]
    h, c = np.zeros(hidden), np.zeros(hidden)
    seen: dict[str, list[np.ndarray]] = {key: [] for key, *_ in CELLS[kind]}
    for x_t in x:
        a, b = w_ih @ x_t + b_ih, w_hh @ h + b_hh  # the input part and the recurrent part
        if kind == "rnn":
            h = np.tanh(a + b)
            values = {"h": h}
        elif kind == "lstm":
            i, f, g, o = np.split(a + b, 4)
            i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
            c = f * c + i * g
            h = o * np.tanh(c)
            values = {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
        else:
            (a_r, a_z, a_n), (b_r, b_z, b_n) = np.split(a, 3), np.split(b, 3)
            r, z = _sigmoid(a_r + b_r), _sigmoid(a_z + b_z)
            n = np.tanh(a_n + r * b_n)
            h = (1 - z) * n + z * h
            values = {"r": r, "z": z, "n": n, "h": h}
        for key, value in values.items():
            seen[key].append(value)
    return {key: np.array(v) for key, v in seen.items()}


def _detail(rnn: nn.RNNBase, kind: str, layer: int, t: int, unit: int, backward: bool, tokens: tuple[str, ...],
            x: np.ndarray, seen: dict[str, np.ndarray]) -> list[Step]:
    """Time step ``t``: every unit's values (one row a unit), then unit ``unit``'s equations with
    the numbers in them. Reading ``backward``, the state before token t is the one after t+1."""
    hidden, before = rnn.hidden_size, t + 1 if backward else t - 1
    prev = {key: seen[key][before] if 0 <= before < len(tokens) else np.zeros(hidden)
            for key in ("h", "c") if key in seen}
    sub = "t+1" if backward else "t-1"
    cols = {f"h_({sub})": prev["h"], **({f"c_({sub})": prev["c"]} if "c" in prev else {}),
            **{f"{key}_t": seen[key][t] for key, *_ in CELLS[kind]}}
    w_ih, w_hh, b_ih, b_hh = _weights(rnn, layer, "_reverse" if backward else "")
    a, b = w_ih @ x[t] + b_ih, w_hh @ prev["h"] + b_hh
    gates = len(a) // hidden
    a0, b0 = a[unit::hidden][:gates], b[unit::hidden][:gates]  # this unit's row of each gate block
    v = {key: float(seen[key][t][unit]) for key, *_ in CELLS[kind]}
    h1 = float(prev["h"][unit])
    c1 = float(prev["c"][unit]) if "c" in prev else 0.0
    if kind == "rnn":
        lines = [rf"h_t=\tanh({_sum(a0[0], b0[0])})={v['h']:.3f}"]
    elif kind == "lstm":
        lines = [rf"{g}_t=\{f}({_sum(a0[j], b0[j])})={v[g]:.3f}"
                 for j, (g, f) in enumerate(zip("ifgo", ("sigma", "sigma", "tanh", "sigma"), strict=True))]
        lines += [rf"c_t={_p(v['f'])}\times{_p(c1)}+{_p(v['i'])}\times{_p(v['g'])}={v['c']:.3f}",
                  rf"h_t={_p(v['o'])}\times\tanh({v['c']:.3f})={v['h']:.3f}"]
    else:
        lines = [rf"r_t=\sigma({_sum(a0[0], b0[0])})={v['r']:.3f}", rf"z_t=\sigma({_sum(a0[1], b0[1])})={v['z']:.3f}",
                 rf"n_t=\tanh({a0[2]:.3f}+{_p(v['r'])}\times{_p(b0[2])})={v['n']:.3f}",
                 rf"h_t=(1-{_p(v['z'])})\times{_p(v['n'])}+{_p(v['z'])}\times{_p(h1)}={v['h']:.3f}"]
    worked = r"\begin{aligned}" + r"\\".join(line.replace("=", "&=", 1) for line in lines) + r"\end{aligned}"
    parts = np.stack([a0, b0])
    names = {"rnn": ("h",), "lstm": tuple("ifgo"), "gru": tuple("rzn")}[kind]
    past = f"from the past: W_h h_({sub}) + b_h"
    return [
        # Units as rows, the quantities as columns: a wide layer (64, 256 units) scrolls down
        # instead of running off the page's right edge.
        Step(f"Time step t = {t} ('{tokens[t]}'): every unit", np.stack(list(cols.values()), axis=1),
             tuple(f"unit {j}" for j in range(hidden)), tuple(cols), mark=unit,
             note=f"One row a unit: the previous state, then each quantity in the order the cell computes it. "
                  f"{MARK.strip()} marks unit {unit}, worked through below."),
        Step(f"Time step t = {t}, unit {unit}: the equations with its numbers", parts,
             ("from the token: W_i x_t + b_i", past), names, tex=worked,
             note="Each gate's input is a part from this token plus a part from the previous state."),
    ]


def _weights(rnn: nn.RNNBase, layer: int, suffix: str) -> tuple[np.ndarray, ...]:
    w_ih, w_hh = (_numpy(getattr(rnn, f"{n}_l{layer}{suffix}")) for n in ("weight_ih", "weight_hh"))
    biases = (getattr(rnn, f"{n}_l{layer}{suffix}", None) for n in ("bias_ih", "bias_hh"))
    return (w_ih, w_hh, *(np.zeros(len(w_ih)) if b is None else _numpy(b) for b in biases))


def _p(v: float) -> str:
    """A number in a product, negative ones in brackets."""
    return f"({v:.3f})" if v < 0 else f"{v:.3f}"


def _sum(a: float, b: float) -> str:
    return f"{a:.3f}{'-' if b < 0 else '+'}{abs(b):.3f}"


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()
