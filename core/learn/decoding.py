"""Decoding, on the learner's prompt: the model's next-token distribution, greedy choice,
temperature, top-k and top-p (nucleus) as sampling applies them, a short greedy continuation
token by token, and on a translation run beam search as a tree of scored hypotheses.

The logits are the model's own; the filtering is numpy, checked against the engine's
``filtered_logits`` (what ``sample_next_token`` draws from) on the same logits; the continuation
against ``generate`` / the task's greedy decoding, and the beam tree's best hypothesis against the
task's own ``beam_search`` output (the engine has beam search for translation only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.decoding.sampling import filtered_logits, generate
from core.errors import WorkbenchError
from core.inspect.maps import display_token
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.models.base import evaluating

FORMULA = (r"p_k=\frac{e^{z_k/T}}{\sum_j e^{z_j/T}},\quad w^*=\arg\max_k z_k,\quad"
           r"p'_k=\frac{p_k}{\sum_{j\in S} p_j}\ (k\in S),\quad"
           r"\mathrm{score}(y)=\frac{1}{|y|^{\alpha}}\sum_t\log p(y_t\,|\,y_{<t})")
SHOWN = 10  # the most likely tokens shown beside each other
ROWS = 40  # at most this many ranked tokens in the top-k / top-p tables
PROMPT_SHOWN = 12  # the note lists the prompt's last this many tokens


class _Model:
    """Next-token logits for a prefix of ids: a language model on the prompt, or a translation
    model's decoder on the encoded source (from <bos>, with the tokens it never outputs removed)."""

    def __init__(self, trained: Any, text: str) -> None:
        self.trained, self.task, self.model = trained, trained.task, trained.model
        self.seq2seq = trained.run.task == "translation"
        if self.seq2seq:
            self.tok = self.task.target_tokenizer
            self.src = self.task._encode_sources([text]).take(torch.tensor([0]))[0].to(self.task.device)
            with torch.no_grad(), evaluating(self.model):
                self.encoded = self.model.encode(self.src, None)
            self.start = [self.tok.bos_id]
            self.limit = int(self.task.params["max_target_length"]) + 1  # the decoder's learned positions end there
            self.cache: dict[tuple[int, ...], tuple[np.ndarray, Any]] = {}
        else:
            self.tok = trained.tokenizer
            self.start = self.tok.encode(text) or [self.tok.bos_id]
            self.limit = 1_000_000  # the model reads its last context tokens: no end

    def logits(self, prefix: list[int]) -> np.ndarray:
        with torch.no_grad(), evaluating(self.model):
            if not self.seq2seq:
                ids = torch.tensor([prefix[-self.task.context:]], device=self.task.device)
                out = self.model(ids)
                return (out[0] if isinstance(out, tuple) else out)[0, -1].double().cpu().numpy()
            key = tuple(prefix)
            if key not in self.cache:  # the decoder's state after the prefix, built on its parent's
                state = self.cache[key[:-1]][1] if len(key) > 1 else None
                z, state = self.model.decode_step(self.encoded, torch.tensor([prefix], device=self.task.device), state)
                z = z[0].double().cpu().numpy()
                z[[self.tok.pad_id, self.tok.bos_id]] = -np.inf  # as the task's decoding suppresses them
                self.cache[key] = (z, state)
            return self.cache[key][0]

    def word(self, i: int) -> str:
        return display_token(self.tok.id_to_token(int(i)))


def walkthrough(trained: Any, text: str, *, temperature: float, top_k: int | None, top_p: float | None,
                steps: int, beam: int) -> Walkthrough:
    """Decoding with ``trained``'s model after ``text`` (a prompt, or a translation's source); the
    knobs' defaults are the chapter's declarations (core.learn.chapters)."""
    if trained.run.task not in ("language_model", "translation"):
        raise WorkbenchError(f"run {trained.run.id} is a {trained.run.task} run; this chapter reads language "
                             "models and translation runs")
    m = _Model(trained, text)
    notes = [_prompt_note([m.word(i) for i in m.start]) if not m.seq2seq
             else "A translation run: the distribution is its first output token's, after <bos>."]
    z = m.logits(m.start)
    v = int(np.isfinite(z).sum())
    p = _softmax(z)
    top = [int(i) for i in np.argsort(-z, kind="stable")[:SHOWN]]
    names = tuple(m.word(i) for i in top)
    t_used = temperature if temperature > 0 else 1.0
    if temperature == 0:
        notes.append("Temperature 0 is greedy: nothing is sampled. The top-k and top-p sets are shown at T = 1.")
    p_t = _softmax(z / t_used)
    steps_out = [
        Step("Next-token scores and probabilities after the prompt", np.stack([z[top], p[top]]), ("z", "p"), names,
             tex=r"p_k=\frac{e^{z_k}}{\sum_j e^{z_j}}", decimals=4,
             note=f"The {SHOWN} most likely of {v} tokens; greedy decoding takes the first, '{names[0]}' "
                  f"({p[top[0]]:.1%})."),
        Step(f"Temperature T = {temperature:g}: softmax(z/T) beside softmax(z)", np.stack([p[top], p_t[top]]),
             ("softmax(z)", f"softmax(z/{t_used:g})"), names, tex=r"p_k(T)=\frac{e^{z_k/T}}{\sum_j e^{z_j/T}}",
             decimals=4, note="T < 1 sharpens the distribution toward the top token, T > 1 flattens it; "
                              "T → 0 is greedy."),
    ]
    order = np.argsort(-p_t, kind="stable")
    after_k, after_p, both = _top_k(p_t, top_k), _top_p(p_t, top_p), _top_p(_top_k(p_t, top_k), top_p)
    kept_k, kept_p = int((after_k > 0).sum()), int((after_p > 0).sum())
    n = min(len(order), ROWS, max(SHOWN, kept_k + 2, kept_p + 2))
    ranked, cumulative = order[:n], np.cumsum(p_t[order])[:n]
    rows = tuple(f"{r + 1}. {m.word(i)}" for r, i in enumerate(ranked))
    k_name, p_name = top_k if top_k is not None else "all", top_p if top_p is not None else 1
    steps_out += [
        Step(f"Top-k, k = {k_name}: the {kept_k} most likely kept", np.stack([p_t[ranked], after_k[ranked] > 0,
             after_k[ranked]], axis=1), rows, ("p(T)", "kept", "p'"), decimals=4,
             tex=r"p'_k=\frac{p_k}{\sum_{j\in S} p_j}\ \text{for }k\in S,\ 0\ \text{outside } S",
             note=f"The kept tokens held {p_t[after_k > 0].sum():.1%} of the probability; p' shares it out "
                  "among them again."),
        Step(f"Top-p, p = {p_name:g}: the fewest top tokens whose sum reaches p", np.stack([p_t[ranked], cumulative,
             after_p[ranked] > 0, after_p[ranked], both[ranked]], axis=1), rows, ("p(T)", "Σ so far", "kept", "p'",
             "k then p"), tex=r"S=\text{the fewest top tokens with }\sum_{j\in S} p_j\ge p", decimals=4,
             note=f"Sorted and summed from the top: a token is kept while those before it reach less than p "
                  f"({kept_p} kept). The engine cuts to top-k first, then to top-p: the last column is what "
                  "sampling draws from."),
        Step("The nucleus: cumulative probability by rank", np.stack([np.arange(1, n + 1), cumulative], axis=1),
             rows, ("rank", "Σ so far"), curve=True, mark=kept_p - 1,
             note="The marked token is the last one top-p keeps: the sum first reaches p there."),
    ]
    with torch.no_grad():
        zt = torch.from_numpy(z)[None].float()  # what the sampler is handed: the model's float32 scores
        engine = {name: filtered_logits(zt, t_used, *cut)[0] for name, cut in
                  (("T", (None, None)), ("k", (top_k, None)), ("p", (None, top_p)), ("kp", (top_k, top_p)))}
    checks = [check("softmax(z/T) by hand against the softmax of the engine's filtered_logits(z, T)", p_t,
                    engine["T"].softmax(-1).double().numpy())]
    for mine, name, what in ((after_k, "k", "top-k"), (after_p, "p", "top-p"), (both, "kp", "top-k then top-p")):
        checks += [_same_set(f"{what}'s kept set against the engine's filtered_logits", mine, engine[name]),
                   check(f"{what}'s p' against the softmax of the engine's filtered logits", mine,
                         engine[name].softmax(-1).double().numpy())]
    greedy_step, greedy_check = _greedy(m, steps)
    steps_out.append(greedy_step)
    checks.append(greedy_check)
    if m.seq2seq:
        tree, best = _beam(m, beam, steps)
        steps_out.append(tree)
        checks.append(best)
    else:
        notes.append("Beam search: the engine searches beams for translation runs; open a translation run "
                     "for the tree.")
    symbols = (
        Symbol("z_k", f"the logit (score) of token k after the prompt; {v} tokens can come next"),
        Symbol("T", f"the temperature: the logits are divided by it before the softmax ({temperature:g})"),
        Symbol("p_k", "the model's probability that token k comes next"),
        Symbol("w^*", "greedy decoding's choice: the most likely token"),
        Symbol("S", f"the kept set: top-k's k most likely ({top_k if top_k is not None else 'all'}), then "
                    f"top-p's fewest top tokens whose probabilities add up to p ({top_p if top_p is not None else 1:g})"),
        Symbol("p'_k", "the probability sampling draws k with: p_k shared out over S, 0 outside it"),
        Symbol(r"\mathrm{score}(y)", "beam search's rank of a whole output y: the sum of its tokens' "
               "log-probabilities divided by |y|^α, its length in tokens to the power α"),
        Symbol(r"\alpha", "the length penalty (0: the plain sum, which favours short outputs; 1: the mean "
               "log-probability per token)"),
    )
    return Walkthrough("decoding", FORMULA, symbols, steps_out, checks, notes)


def _prompt_note(words: list[str]) -> str:
    """The prompt's length and its last PROMPT_SHOWN tokens, the cut marked with … and counted."""
    n = len(words)
    cut = max(0, n - PROMPT_SHOWN)
    shown = " ".join(words[cut:])
    head = f"The prompt is {n} token{'s' if n > 1 else ''}: "
    return head + (f"… {shown} (the last {PROMPT_SHOWN}; {cut} before them not shown)" if cut else shown)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z[np.isfinite(z)].max())
    return e / e.sum()


def _log_softmax(z: np.ndarray) -> np.ndarray:
    top = z[np.isfinite(z)].max()
    return z - top - np.log(np.exp(z - top).sum())


def _top_k(p: np.ndarray, k: int | None) -> np.ndarray:
    """p cut to its k most likely tokens (ties with the k-th kept, as the engine does), renormalised."""
    if k is None or k >= len(p):
        return p.copy()
    kth = np.sort(p)[::-1][k - 1]
    kept = np.where(p >= kth, p, 0.0)
    return kept / kept.sum()


def _top_p(p: np.ndarray, top_p: float | None) -> np.ndarray:
    """p cut to the nucleus (the fewest top tokens whose sum reaches top_p), renormalised."""
    if top_p is None or top_p >= 1.0:
        return p.copy()
    order = np.argsort(-p, kind="stable")
    drop = np.cumsum(p[order]) - p[order] >= top_p  # the tokens before it already reach p
    kept = p.copy()
    kept[order[drop]] = 0.0
    return kept / kept.sum()


def _same_set(what: str, mine: np.ndarray, engine: torch.Tensor) -> Check:
    return check(what, np.flatnonzero(mine > 0), torch.isfinite(engine).nonzero().flatten().numpy(), tolerance=0)


def _greedy(m: _Model, steps: int) -> tuple[Step, Check]:
    """The most likely token, ``steps`` times, each row its choice and the runner-up."""
    prefix, rows, chosen = list(m.start), [], []
    for _ in range(min(steps, m.limit)):
        p = _softmax(m.logits(prefix))
        first, second = (int(i) for i in np.argsort(-p, kind="stable")[:2])
        rows.append((" ".join(m.word(i) for i in prefix[-4:]), m.word(first), f"{p[first]:.4f}", m.word(second),
                     f"{p[second]:.4f}"))
        prefix.append(first)
        if m.seq2seq and first == m.tok.eos_id:
            break
        chosen.append(first)
    if m.seq2seq:
        engine = m.task.translate_ids(m.model, m.src, None, beam_size=1, max_len=min(steps, m.limit),
                                      length_penalty=1.0)[0]
        what = "the greedy output against the task's own greedy decoding"
    else:
        ids = torch.tensor([m.start], device=m.task.device)
        engine = generate(m.model, ids, steps, context_length=m.task.context, greedy=True)[0, len(m.start):].tolist()
        what = "the greedy continuation against the engine's generate(greedy=True)"
    step = Step(f"Greedy decoding, {len(rows)} steps, token by token", np.zeros(0),
                tuple(f"t = {t + 1}" for t in range(len(rows))), ("reads … last", "chosen", "p(chosen)", "runner-up", "p(runner-up)"),
                text=tuple(rows), note=f"Each step appends the most likely token and reads again: {m.tok.decode(chosen)!r}.")
    return step, check(what, np.array(chosen), np.array(engine), tolerance=0)


def _beam(m: _Model, k: int, steps: int) -> tuple[Step, Check]:
    """Beam search by hand, as core.decoding.seq2seq.beam_search does it, every candidate recorded:
    of the 2k best extensions, an <eos> among the first k finishes a hypothesis, the k best others live on."""
    alpha, eos, depth = float(m.task.params["length_penalty"]), m.tok.eos_id, min(steps, m.limit)
    live: list[tuple[float, list[int], str]] = [(0.0, list(m.start), "<bos>")]
    finished: list[tuple[float, list[int]]] = []
    rows: list[tuple[str, ...]] = []
    labels: list[str] = []
    for d in range(1, depth + 1):
        cands = []
        for score, prefix, name in live:
            logp = _log_softmax(m.logits(prefix))
            cands += [(score + float(logp[t]), prefix, name, int(t), float(logp[t])) for t in np.flatnonzero(np.isfinite(logp))]
        cands = sorted(cands, key=lambda c: -c[0])[: 2 * k]
        picked = ([j for j, c in enumerate(cands) if c[3] != eos] + [j for j, c in enumerate(cands) if c[3] == eos])[:k]
        nxt = []
        for j, (s, prefix, parent, t, lp) in enumerate(cands):
            status = []
            if t == eos and j < k and len(finished) < k:
                finished.append((s / d**alpha, prefix[1:]))
                status.append(f"finished, score {s / d**alpha:.4f}")
            if j in picked:
                nxt.append((s, [*prefix, t], f"{d}.{j + 1}"))
                status.append("kept")
            labels.append(f"{d}.{j + 1}")
            rows.append((parent, " ".join(m.word(i) for i in [*prefix[1:], t]), f"{lp:.4f}", f"{s:.4f}",
                         "; ".join(status) or "pruned"))
        live = nxt
        if len(finished) >= k:
            break
    else:
        for s, prefix, _ in live:  # out of length: the live beams compete as they are
            if len(finished) < k:
                finished.append((s / depth**alpha, prefix[1:]))
    best = max(finished, key=lambda h: h[0])[1] if finished else []
    engine = m.task.translate_ids(m.model, m.src, None, beam_size=k, max_len=depth, length_penalty=alpha)[0]
    step = Step(f"Beam search, beam {k}, up to {depth} tokens: the tree", np.zeros(0), tuple(labels),
                ("from", "hypothesis", "log p(token)", "Σ log p", "status"), text=tuple(rows), tree=True,
                note=f"Row d.j: the j-th best extension at depth d, grown from hypothesis 'from'; the {k} best live "
                     f"on. Best: {m.tok.decode(best)!r}, score = Σ log p / length^{alpha:g}.")
    return step, check("the tree's best hypothesis against the task's own beam_search output", np.array(best),
                       np.array(engine), tolerance=0)
