"""Pretraining objectives on the learner's sentence: the masked-LM objective of a ``masked_lm`` run
(which tokens are masked, BERT's 80/10/10 rule drawn seeded as training draws it, or one position
the learner masks; the model's top-5 guesses; the loss over the masked positions only) beside the
causal objective of a ``language_model`` run (each position predicts the next; the loss over all).

The other objective's run is the ``beside`` knob's, else the newest finished one in the workbench's
store (the one the page and ``lmwb`` read from ``$LMWB_STORE`` / ``$LMWB_HOME``), if there is one.
Checks: the seeded masking by hand against the task's ``mask_tokens``; the masked loss against
the masked_lm task's own ``loss`` on the same batch; the causal loss against the language model
task's ``loss`` on the same ids (label smoothing 0, as its evaluation scores).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, WorkbenchError
from core.inspect.maps import display_token
from core.learn.output import next_token_ids
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.models.base import evaluating
from core.runs import load_trained
from core.store import Store
from core.tasks.base import Batch
from core.tasks.masked_lm import MASK_SHARE, RANDOM_SHARE, mask_tokens

FORMULA = (r"\mathrm{L}_{MLM}=-\frac{1}{|M|}\sum_{i\in M}\log p(x_i\,|\,x^{m}),\quad "
           r"\mathrm{L}_{causal}=-\frac{1}{T-1}\sum_{t=1}^{T-1}\log p(x_{t+1}\,|\,x_{1..t})")
GUESSES = 5
MASK = "[MASK]"
_LOADED: dict[tuple[str, float | None], Any] = {}  # the other objective's run, loaded once
# The other objective, and the architectures whose runs the chapter reads for it.
OTHER = {"masked_lm": ("language_model", ("rnn", "lstm", "gru", "transformer_decoder")),
         "language_model": ("masked_lm", ("transformer_encoder",))}


def walkthrough(trained: Any, text: str, *, mask: int | None = None, seed: int = 0, beside: str = "") -> Walkthrough:
    """The objective of ``trained`` on ``text``, and the other one's beside it when a run has it."""
    if trained.run.task not in OTHER:
        raise WorkbenchError(f"run {trained.run.id} is a {trained.run.task} run; this chapter reads masked-LM "
                             "and language-model runs")
    notes: list[str] = []
    other = _beside(trained, beside, notes)
    runs = {trained.run.task: trained, **({other.run.task: other} if other is not None else {})}
    steps: list[Step] = []
    checks: list[Check] = []
    summary: dict[str, tuple[int, int, float]] = {}
    if "masked_lm" in runs:
        summary["masked LM"] = _masked(runs["masked_lm"], text, mask, seed, steps, checks, notes)
    if "language_model" in runs:
        summary["causal LM"] = _causal(runs["language_model"], text, steps, checks, notes)
    if len(summary) == 2:
        steps.append(Step("The two objectives side by side", np.array(list(summary.values()), dtype=float),
                          tuple(summary), ("positions scored", "tokens", "mean CE"), decimals=4,
                          note="The masked model sees both sides but learns only from the few masked positions; the "
                               "causal model sees only the left but learns from every position."))
    symbols = (
        Symbol("x_i", "the token at position i of your input"),
        Symbol("M", "the masked positions: the only ones the masked-LM loss scores"),
        Symbol("x^{m}", f"the input with the positions in M corrupted ({MASK}, a random token, or kept)"),
        Symbol("p(x_i | x^m)", "the masked model's probability of the true token at i, reading both sides"),
        Symbol("p(x_{t+1} | x_{1..t})", "the causal model's probability of the next token, reading the left only"),
        Symbol("T", "the number of tokens: a causal model makes T - 1 predictions"),
    )
    return Walkthrough("pretraining", FORMULA, symbols, steps, checks, notes)


def _masked(trained: Any, text: str, mask: int | None, seed: int, steps: list[Step], checks: list[Check],
            notes: list[str]) -> tuple[int, int, float]:
    task, tok = trained.task, trained.tokenizer
    ids = tok.encode(text)
    width = int(task.params["max_length"])
    if len(ids) > width:
        notes.append(f"Masked LM: input cut to the run's first {width} of {len(ids)} tokens.")
        ids = ids[:width]
    if not ids:
        raise WorkbenchError("the input has no tokens to mask")
    x = torch.tensor([ids])
    pad = torch.zeros_like(x, dtype=torch.bool)
    words = [display_token(tok.id_to_token(i)) for i in ids]
    mask_id, vocab = tok.mask_id, tok.vocab_size
    labels = tuple(f"{i}: {w}" for i, w in enumerate(words))
    if mask is not None:
        if not 0 <= mask < len(ids):
            raise ConfigError("mask", mask, f"0 to {len(ids) - 1}", reason=f"the input has {len(ids)} tokens")
        chosen = torch.zeros_like(pad)
        chosen[0, mask] = True
        inputs = x.masked_fill(chosen, mask_id)
        notes.append(f"Masked LM: you masked position {mask} ('{words[mask]}'); it becomes {MASK}.")
    else:
        prob = float(task.params["mask_prob"])
        g = torch.Generator().manual_seed(seed)
        draw, action = torch.rand(x.shape, generator=g), torch.rand(x.shape, generator=g)
        low = len(tok.specials) if vocab > len(tok.specials) else 0
        random_ids = torch.randint(low, vocab, x.shape, generator=g)
        chosen = draw < prob
        inputs = _corrupt(x, chosen, action, random_ids, mask_id)
        own_inputs, own_chosen = mask_tokens(x, pad, mask_id=mask_id, vocab_size=vocab, first_regular=len(tok.specials),
                                             prob=prob, generator=torch.Generator().manual_seed(seed))
        checks.append(check(f"the masking by hand against the masked_lm task's mask_tokens (seed {seed})",
                            np.concatenate([inputs.numpy(), chosen.numpy()]),
                            np.concatenate([own_inputs.numpy(), own_chosen.numpy()]), 0))
        if not bool(chosen.any()):  # p = 0.15 on a short input often picks nothing: the lowest draw, then
            chosen = draw == draw.min()
            inputs = _corrupt(x, chosen, action, random_ids, mask_id)
            notes.append(f"Masked LM: with seed {seed} no draw fell below p = {prob:g}; the position with the lowest "
                         "draw is masked instead, so there is something to predict (another seed draws again).")
        kinds = [MASK if a < MASK_SHARE else "random token" if a < MASK_SHARE + RANDOM_SHARE else "kept"
                 for a in action[0].tolist()]
        shown = [_word(tok, i) for i in inputs[0].tolist()]
        steps.append(Step(f"Which tokens are masked: draws with seed {seed}", np.zeros((len(ids), 4)), labels,
                          ("draw r", f"chosen (r < {prob:g})", "action a", "the model reads"),
                          text=tuple((f"{r:.3f}", "yes" if c else "", f"{a:.3f} → {k}" if c else "", s if c else "")
                                     for r, c, a, k, s in zip(draw[0].tolist(), chosen[0].tolist(), action[0].tolist(),
                                                              kinds, shown, strict=True)),
                          note=f"A token is chosen when its draw r is below p; a chosen one becomes {MASK} when a < "
                               f"{MASK_SHARE:g}, a random token when a < {MASK_SHARE + RANDOM_SHARE:g}, else stays "
                               "(80/10/10): the model cannot tell which tokens are real."))
    picked = [int(i) for i in torch.nonzero(chosen[0]).flatten()]
    batch = Batch({"ids": inputs, "pad_mask": pad, "select": chosen}, x[chosen], len(ids))
    with torch.no_grad(), evaluating(trained.model):
        logits = trained.model(inputs, pad_mask=pad).double()[0].numpy()  # every position, (T, V)
        own = float(task.loss(trained.model, batch))
    log_p = logits - _logsumexp(logits)[:, None]
    ce = np.array([-log_p[i, ids[i]] for i in picked])
    loss = float(ce.mean())
    rows = tuple(labels[i] for i in picked)
    steps += [
        Step("The model reads", np.zeros((1, len(ids))), ("input",), labels,
             text=(tuple(_word(tok, i) for i in inputs[0].tolist()),)),
        Step(f"Its top-{GUESSES} guesses at each masked position", np.zeros((len(picked), GUESSES)), rows,
             tuple(f"guess {g + 1}" for g in range(GUESSES)),
             text=tuple(tuple(f"{display_token(tok.id_to_token(int(j)))} {np.exp(log_p[i, j]):.3f}"
                              for j in np.argsort(-log_p[i])[:GUESSES]) for i in picked),
             note="Each guess with its probability, reading the words on both sides."),
        Step("Cross entropy at the masked positions only", np.stack([np.exp(-ce), ce], axis=1), rows,
             ("p(true)", "CE"), tex=r"\mathrm{CE}_i=-\log p(x_i\,|\,x^{m})", decimals=4,
             note=f"The other {len(ids) - len(picked)} positions add nothing to the loss."),
        Step("The masked-LM loss", np.array([loss]), ("L_MLM",), ("mean CE",), decimals=5,
             tex=rf"\mathrm{{L}}_{{MLM}}={loss:.4f}"),
    ]
    checks.append(check("the masked loss by hand against the masked_lm task's own loss on the same batch",
                        np.array(loss), np.array(own)))
    notes.append(f"Masked LM: run {trained.run.id} ({trained.run.name}).")
    return len(picked), len(ids), loss


def _causal(trained: Any, text: str, steps: list[Step], checks: list[Check], notes: list[str]) -> tuple[int, int, float]:
    task, tok = trained.task, trained.tokenizer
    ids = next_token_ids(trained, text, notes, what="Causal LM: text")
    n = len(ids) - 1
    batch = Batch({"ids": torch.tensor([ids[:-1]])}, torch.tensor([ids[1:]]), n)
    unsmoothed = copy.copy(task)  # the same task scoring without smoothing, as its evaluation does
    unsmoothed.params = {**task.params, "label_smoothing": 0.0}
    with torch.no_grad(), evaluating(trained.model):
        logits = trained.model(**batch.inputs).double()[0].numpy()
        own = float(unsmoothed.loss(trained.model, batch))
    log_p = logits - _logsumexp(logits)[:, None]
    ce = -log_p[np.arange(n), ids[1:]]
    loss = float(ce.mean())
    words = [display_token(tok.id_to_token(i)) for i in ids]
    rows = tuple(f"{words[t]} → {words[t + 1]}" for t in range(n))
    best = [display_token(tok.id_to_token(int(j))) for j in log_p.argmax(axis=1)]
    steps += [
        Step("Causal LM: each position predicts the next token", np.zeros((n, 2)), rows, ("reads", "top guess"),
             text=tuple((" ".join(words[: t + 1]), best[t]) for t in range(n)),
             note="A row reads only the tokens to its left: the causal mask hides the rest."),
        Step("Cross entropy at every position", np.stack([np.exp(-ce), ce], axis=1), rows, ("p(true)", "CE"),
             tex=r"\mathrm{CE}_t=-\log p(x_{t+1}\,|\,x_{1..t})", decimals=4),
        Step("The causal loss", np.array([loss]), ("L_causal",), ("mean CE",), decimals=5,
             tex=rf"\mathrm{{L}}_{{causal}}={loss:.4f}"),
    ]
    checks.append(check("the causal loss by hand against the language model task's own loss on the same ids",
                        np.array(loss), np.array(own)))
    notes.append(f"Causal LM: run {trained.run.id} ({trained.run.name}).")
    return n, len(ids), loss


def _word(tok: Any, i: int) -> str:
    return MASK if i == tok.mask_id else display_token(tok.id_to_token(i))


def _corrupt(x: torch.Tensor, chosen: torch.Tensor, action: torch.Tensor, random_ids: torch.Tensor,
             mask_id: int) -> torch.Tensor:
    """BERT's 80/10/10 rule by hand: chosen tokens to the mask id, a random id, or left."""
    masked = x.masked_fill(chosen & (action < MASK_SHARE), mask_id)
    randomise = chosen & (action >= MASK_SHARE) & (action < MASK_SHARE + RANDOM_SHARE)
    return torch.where(randomise, random_ids, masked)


def _beside(trained: Any, beside: str, notes: list[str]) -> Any | None:
    """The run of the other objective: ``beside`` (an id or name), else the newest finished one."""
    if beside.strip().lower() == "none":
        return None
    task, archs = OTHER[trained.run.task]
    store = Store()
    try:
        store.get_run(trained.run.id)
    except WorkbenchError:
        notes.append(f"Run {trained.run.id} is not in the workbench's store, so no {task} run is looked for there.")
        return None
    if beside.strip():
        run = store.get_run(beside.strip())
        if run.task != task or run.arch not in archs:
            raise ConfigError("beside", beside, f"a {task} run ({', '.join(archs)})",
                              reason=f"it is a {run.task} run of {run.arch}")
    else:
        found = [r for r in store.list_runs(status="completed", task=task) if r.arch in archs]
        if not found:
            notes.append(f"No finished {task} run to show beside this one: train one to compare the objectives.")
            return None
        run = found[0]
    key = (run.id, run.updated_at)
    if key not in _LOADED:
        _LOADED.clear()  # one model held: the page reruns on every knob, the run stays the same
        _LOADED[key] = load_trained(store, run.id)
    return _LOADED[key]


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=-1)
    return top + np.log(np.exp(z - top[:, None]).sum(axis=-1))
