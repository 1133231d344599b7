"""The output layer on the learner's text: logits, softmax, cross entropy against the true class
(classification) or each true next token (language model), label smoothing's target
distribution, and a language model's perplexity as exp of the mean cross entropy.

The logits are the model's own; from there every step is numpy. The cross entropy is checked
against ``torch.nn.functional.cross_entropy`` with the same label smoothing, and against the task's
own ``loss`` (what the run trained on) when the smoothing is the run's; the perplexity against
exp of the task's loss on the same text with no smoothing (as evaluation computes it).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import ConfigError, WorkbenchError
from core.inspect.maps import display_token
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.metrics import language_model_metrics
from core.models.base import evaluating
from core.tasks.base import Batch
from core.tasks.classification import EncodedSplit

FORMULA = (r"p=\mathrm{softmax}(z),\quad q=(1-\varepsilon)\,y+\frac{\varepsilon}{K},\quad"
           r"\mathrm{CE}=-\sum_k q_k\log p_k,\quad \mathrm{PPL}=\exp\Big(\frac{1}{N}\sum_{t}\mathrm{CE}_t\Big)")
SHOWN = 10  # a language model's columns: the most likely tokens, and the true one


def walkthrough(trained: Any, text: str, *, label: int = 0, position: int = 0,
                smoothing: float | None = None) -> Walkthrough:
    """The output layer of ``trained`` on ``text``; ``smoothing`` None: the run's own."""
    own = float(trained.task.params.get("label_smoothing", 0.0))
    eps = own if smoothing is None else float(smoothing)
    notes = [f"Label smoothing ε = {eps:g}" + (" (the run's own)" if eps == own else
                                              f"; the run trained with {own:g}, so the task's loss is not compared")]
    if trained.run.task == "classification":
        return _classification(trained, text, label, eps, own, notes)
    if trained.run.task == "language_model":
        return _language_model(trained, text, position, eps, own, notes)
    raise WorkbenchError(f"run {trained.run.id} is a {trained.run.task} run; this chapter reads classifiers "
                         "and language models")


def _classification(trained: Any, text: str, label: int, eps: float, own: float, notes: list[str]) -> Walkthrough:
    task, names = trained.task, list(trained.task.label_names)
    if not 0 <= label < len(names):
        raise ConfigError("label", label, f"0 to {len(names) - 1} ({', '.join(names)})",
                          reason="this run has no such class")
    ids = task.encode([text])[0]
    if len(ids) > task.params["max_length"]:
        notes.append(f"Input cut to the model's first {task.params['max_length']} of {len(ids)} tokens.")
    x, pad_mask, y = EncodedSplit([ids], [label], trained.tokenizer.pad_id, task.params["max_length"]).rows(
        torch.tensor([0]))
    batch = Batch({"ids": x.to(task.device), "pad_mask": pad_mask.to(task.device)}, y.to(task.device), len(ids))
    logits, task_loss = _logits(trained, batch)
    z, k = logits[0], len(names)
    log_p = z - _logsumexp(z)
    p = np.exp(log_p)
    target = np.eye(k)[label]
    q = (1 - eps) * target + eps / k
    ce = float(-(q * log_p).sum())
    with torch.no_grad():
        engine = F.cross_entropy(torch.from_numpy(logits), torch.tensor([label]), label_smoothing=eps)
        engine_p = torch.softmax(torch.from_numpy(logits), dim=-1)[0]
    steps = [
        Step("Logits z: the output layer's score per class", z, ("z",), tuple(names), tex=r"z = W h + b",
             note="Any real numbers; only their differences matter to the softmax."),
        Step("Softmax p", np.stack([np.exp(z - z.max()), p]), (r"e^(z_k - max z)", "p_k"), tuple(names),
             tex=r"p_k=\frac{e^{z_k}}{\sum_j e^{z_j}}", decimals=4,
             note="Exponentials made to sum to 1 (the largest logit is subtracted first: same p, no overflow)."),
        Step("Target: one-hot y and smoothed q", np.stack([target, q]), ("y", "q"), tuple(names),
             tex=r"q_k=(1-\varepsilon)\,y_k+\varepsilon/K", decimals=4,
             note=f"The true class '{names[label]}' keeps {1 - eps + eps / k:.4f}; each other class gets "
                  f"ε/K = {eps / k:.4f}."),
        Step("Cross entropy, class by class", np.stack([-log_p, -q * log_p]), ("-log p_k", "q_k (-log p_k)"),
             tuple(names), tex=r"\mathrm{CE}=-\sum_k q_k\log p_k", decimals=4,
             note=f"(For comparison: without smoothing only the true class would count, -log p = {-log_p[label]:.4f}.)"),
        Step("The loss", np.array([-log_p[label], ce]), ("CE",), ("one-hot", f"ε = {eps:g}"),
             tex=rf"\mathrm{{CE}} = {ce:.4f}", decimals=5,
             note="The number training makes smaller: against the one-hot truth, and against the smoothed target."),
    ]
    checks = [check("softmax by hand against PyTorch's softmax", p, engine_p.double().numpy()),
              check(f"CE by hand against PyTorch's cross_entropy(label_smoothing={eps:g})", np.array(ce), engine.numpy())]
    if eps == own:
        checks.append(check("CE by hand against the task's own loss (what the run trains on)", np.array(ce),
                            np.array(task_loss)))
    symbols = (
        Symbol("z", f"the logits: one score per class ({k}), made by the output layer from h, the model's vector "
               "for the whole text (its tokens pooled as the run pools them: the [CLS] slot, the mean, the max or "
               "the last state), W its weights, b its bias"),
        Symbol("p", "the softmax of z: the model's probability per class"),
        Symbol("y", f"the truth as one-hot: 1 for '{names[label]}' (the True class knob), 0 elsewhere"),
        Symbol(r"\varepsilon", f"label smoothing: the share of the target spread evenly over all classes ({eps:g})"),
        Symbol("q", "the target the loss compares p with: y when ε = 0"),
        Symbol("K", f"the number of classes ({k})"),
        Symbol(r"\mathrm{CE}", "cross entropy: the loss, in nats; 0 only when p puts all weight where q does"),
        Symbol(r"\mathrm{PPL}", "perplexity: for a language model (not this classifier)"),
    )
    return Walkthrough("output", FORMULA, symbols, steps, checks, notes)


def next_token_ids(trained: Any, text: str, notes: list[str], what: str = "Text") -> list[int]:
    """``text`` as a language model reads it for next-token predictions: at least two tokens, cut
    to its context (a note says so)."""
    task, ids = trained.task, trained.tokenizer.encode(text)
    if len(ids) < 2:
        raise WorkbenchError("a language model needs at least two tokens of text: one to read, one to predict")
    if len(ids) > task.context + 1:
        notes.append(f"{what} cut to the model's context: {task.context} predictions of {len(ids) - 1}.")
        ids = ids[: task.context + 1]
    return list(ids)


def _language_model(trained: Any, text: str, position: int, eps: float, own: float,
                    notes: list[str]) -> Walkthrough:
    task, tok = trained.task, trained.tokenizer
    ids = next_token_ids(trained, text, notes)
    n = len(ids) - 1
    if not 0 <= position < n:
        raise ConfigError("position", position, f"0 to {n - 1}", reason=f"the text has {n} next-token predictions")
    batch = Batch({"ids": torch.tensor([ids[:-1]], device=task.device)}, torch.tensor([ids[1:]], device=task.device), n)
    plain = copy.copy(task)  # the same task scoring without smoothing, as its evaluation does
    plain.params = {**task.params, "label_smoothing": 0.0}
    logits, task_loss = _logits(trained, batch)
    _, plain_loss = _logits(trained, batch, plain)
    z = logits[0]  # (N, V)
    v = z.shape[1]
    log_p = z - _logsumexp(z)[:, None]
    targets = np.array(ids[1:])
    ce_t = -log_p[np.arange(n), targets]
    smoothed_t = (1 - eps) * ce_t - eps / v * log_p.sum(axis=1)
    mean = float(ce_t.mean())
    ppl = language_model_metrics(mean, n)["perplexity"]
    with torch.no_grad():
        engine = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(targets), reduction="none", label_smoothing=eps)
    words = [display_token(tok.id_to_token(i)) for i in ids]
    pairs = tuple(f"{words[t]} → {words[t + 1]}" for t in range(n))
    top = [int(i) for i in np.argsort(-z[position])[:SHOWN]]
    cols = top + ([] if targets[position] in top else [int(targets[position])])
    names = tuple(display_token(tok.id_to_token(i)) + (" (true)" if i == targets[position] else "") for i in cols)
    p = np.exp(log_p[position])
    q = (1 - eps) * (np.arange(v) == targets[position]) + eps / v
    steps = [
        Step(f"Logits z at position {position} ({pairs[position]})", z[position, cols], ("z",), names,
             tex=r"z_t = W h_t", note=f"One score per vocabulary token ({v}); shown: the {SHOWN} highest and the true next one."),
        Step(f"Softmax p at position {position}", p[cols], ("p",), names, tex=r"p_k=\frac{e^{z_k}}{\sum_j e^{z_j}}",
             decimals=4, note=f"Over all {v} tokens; the ones shown hold {p[cols].sum():.1%} of the probability."),
        Step(f"Targets at position {position}: one-hot y and smoothed q", np.stack([np.array(cols) == targets[position],
             q[cols]]).astype(float), ("y", "q"), names, tex=r"q_k=(1-\varepsilon)\,y_k+\varepsilon/V", decimals=4,
             note=f"Smoothing gives every one of the {v} tokens ε/V = {eps / v:.5f}."),
        Step("Cross entropy at every position", np.stack([np.exp(-ce_t), ce_t, smoothed_t], axis=1), pairs,
             ("p(true)", "CE", "smoothed"), tex=r"\mathrm{CE}_t=-\log p_t(w_{t+1})",
             decimals=4, note=f"Each row: the token read last, and the one that really came next; CE = -log p(true); smoothed: "
             f"against q (ε = {eps:g})."),
        Step("Mean cross entropy and perplexity", np.array([mean, ppl, float(smoothed_t.mean())]), ("mean",),
             ("CE (nats)", "PPL", "smoothed"),
             tex=rf"\mathrm{{PPL}}=\exp({mean:.4f})={ppl:.3f}", decimals=4,
             note=f"As unsure as a uniform pick among {ppl:.1f} tokens at each step (the vocabulary has {v})."),
    ]
    checks: list[Check] = [
        check(f"CE at every position against PyTorch's cross_entropy(label_smoothing={eps:g})", smoothed_t,
              engine.double().numpy()),
        # Relative: perplexity grows with the loss, float32's error with it.
        check("perplexity exp(mean CE) against exp of the task's own loss on this text (tolerance 1e-5 of it)",
              np.array(ppl), np.array(math.exp(plain_loss)), tolerance=1e-5 * max(1.0, ppl)),
    ]
    if eps == own:
        checks.append(check("mean smoothed CE against the task's own loss (what the run trains on)",
                            smoothed_t.mean(), np.array(task_loss)))
    symbols = (
        Symbol("z_t", f"the logits at position t: one score per vocabulary token ({v}), W times h_t, the model's "
               "vector there; this output layer has no bias, and its W " + (
                   "is the token embedding itself (tied weights)" if getattr(trained.model, "tie_weights", False)
                   else "is its own matrix (not tied to the token embedding)")),
        Symbol("w_{t+1}", "the token that really came next, the one the loss at position t is about"),
        Symbol("p", "the softmax of z_t: the model's probability for each next token"),
        Symbol("y", "the truth as one-hot: 1 for the token that really came next"),
        Symbol(r"\varepsilon", f"label smoothing: the share of the target spread evenly over the vocabulary ({eps:g})"),
        Symbol("q", "the target the loss compares p with: y when ε = 0"),
        Symbol("K = V", f"the number of classes: the vocabulary's size ({v})"),
        Symbol(r"\mathrm{CE}_t", "cross entropy at position t, in nats"),
        Symbol("N", f"the number of next-token predictions in the text ({n})"),
        Symbol(r"\mathrm{PPL}", "perplexity: exp of the mean cross entropy (unsmoothed), as the run's evaluation reports"),
    )
    return Walkthrough("output", FORMULA, symbols, steps, checks, notes)


def _logits(trained: Any, batch: Batch, task: Any = None) -> tuple[np.ndarray, float]:
    """The model's logits on ``batch`` (float64) and ``task``'s own loss on it."""
    task = task or trained.task
    with torch.no_grad(), evaluating(trained.model):
        logits = trained.model(**batch.inputs).float()
        loss = float(task.loss(trained.model, batch))
    return logits.double().cpu().numpy(), loss


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=-1)
    return top + np.log(np.exp(z - np.expand_dims(top, -1)).sum(axis=-1))
