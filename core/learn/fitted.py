"""Chapter knobs fitted to one run and input (a chapter's ``adapt``): the page's widgets then offer
only what the run has (the layers and heads of its model, the time steps of the text, its classes
by name), instead of refusing a value after it was picked. Each function returns
``{knob name: Knob}``; a knob it leaves out keeps its declaration."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.learn.chapters import Knob, chapter


def _knob(chapter_name: str, knob: str, **bounds: Any) -> Knob:
    declared = next(k for k in chapter(chapter_name).knobs if k.name == knob)
    help_text = declared.help
    if "high" in bounds and "choices" not in bounds:  # the tooltip says this run's range
        help_text = f"{help_text} This run: {int(declared.low or 0)} to {bounds['high']}."
    return Knob(replace(declared, help=help_text, **bounds))


def _tokens(trained: Any, text: str) -> int:
    """How many tokens the run reads ``text`` as (a classifier through its task's encoding)."""
    encode = getattr(trained.task, "encode", None)
    ids = encode([text])[0] if callable(encode) else trained.tokenizer.encode(text)
    return max(1, len(ids))


def attention(trained: Any, text: str) -> dict[str, Knob]:
    backbone = getattr(trained.model, "backbone", trained.model)
    blocks = getattr(backbone, "blocks", None)
    if not blocks or not hasattr(blocks[0], "attn"):
        return {}
    return {"layer": _knob("attention", "layer", high=len(blocks) - 1),
            "head": _knob("attention", "head", high=blocks[0].attn.n_heads - 1)}


def recurrent(trained: Any, text: str) -> dict[str, Knob]:
    rnn = getattr(getattr(trained.model, "backbone", trained.model), "rnn", None)
    if rnn is None:
        return {}
    return {"layer": _knob("recurrent", "layer", high=rnn.num_layers - 1),
            "step": _knob("recurrent", "step", high=_tokens(trained, text) - 1),
            "unit": _knob("recurrent", "unit", high=rnn.hidden_size - 1)}


def output(trained: Any, text: str) -> dict[str, Knob]:
    # Label smoothing starts at the run's own ε: a plain number, no "unset" box to understand.
    own = float((trained.config["task"] or {}).get("label_smoothing") or 0.0)
    fitted = {"smoothing": _knob("output", "smoothing", default=own, optional=False)}
    names = list(getattr(trained.task, "label_names", []) or [])
    if trained.run.task == "classification" and names:
        label = _knob("output", "label", high=len(names) - 1, choices=tuple(range(len(names))))
        fitted["label"] = Knob(label.param, {i: f"{i}: {name}" for i, name in enumerate(names)})
    if trained.run.task == "language_model":
        fitted["position"] = _knob("output", "position", high=max(0, _tokens(trained, text) - 2))
    return fitted
