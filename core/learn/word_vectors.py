"""Word vectors on the learner's sentence and a trained ``word_embeddings`` run: the skip-gram and
CBOW windows, the negative-sampling loss of one pair (Word2Vec) or GloVe's weighted least-squares
term of one co-occurrence cell, and a word's nearest neighbours by cosine.

The sentence is the task's stream: its words the run knows, unknown ones dropped as training drops
them. The k negatives are drawn, seeded, from the unigram^0.75 distribution of the run's training
words, counted as the task counts them (its dataset is read once per run). GloVe's cell is one of
the typed sentence's co-occurrence counts (1/distance per pair, as the task counts its corpus).
Checks: the loss by hand against the model's own ``forward`` on the same ids, the sentence's
counts against the task's ``_cooccurrence``, the neighbours against ``core.embeddings``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.assemble import load_dataset
from core.embeddings import nearest_neighbours, run_vectors
from core.errors import ConfigError, WorkbenchError
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.models.word2vec import GloVe, Word2Vec
from core.tasks.embeddings import _cooccurrence
from core.tokenize import SPECIALS

FORMULA = (r"\mathrm{L}=-\log\sigma(u_o^\top v)-\sum_{k=1}^{K}\log\sigma(-u_k^\top v),\quad "
           r"\cos(a,b)=\frac{a\cdot b}{|a|\,|b|}")
GLOVE_FORMULA = (r"J_{ij}=f(X_{ij})\,(w_i^\top c_j+b_i+b^c_j-\log X_{ij})^2,\quad "
                 r"f(x)=\min(1,(x/x_{max})^{\alpha}),\quad \cos(a,b)=\frac{a\cdot b}{|a|\,|b|}")
NEIGHBOURS = 8  # listed for the chosen word
_COUNTS: dict[str, np.ndarray] = {}  # run id -> its training words' counts (reading a dataset takes a while)


def walkthrough(trained: Any, text: str, *, window: int | None = None, pair: int = 0, seed: int = 0,
                word: str = "") -> Walkthrough:
    """Windows, one pair's loss and ``word``'s neighbours of ``trained`` on ``text``."""
    model = trained.model
    if not isinstance(model, Word2Vec | GloVe):
        raise WorkbenchError(f"run {trained.run.id} is not a Word2Vec or GloVe run")
    w = int(trained.task.params["window"]) if window is None else int(window)
    tok = trained.tokenizer
    every = tok.encode(text)
    ids = [i for i in every if i >= len(SPECIALS)]
    words = [tok.id_to_token(i) for i in ids]
    notes = [f"Window {w} on each side" + (" (the run's task.window)." if window is None else
                                            f"; the run trained with {trained.task.params['window']}.")]
    if len(ids) < len(every):
        notes.append(f"{len(every) - len(ids)} word(s) of your input are not in the run's vocabulary: "
                     "dropped, as training drops them.")
    if len(ids) < 2:
        raise WorkbenchError("word vectors need at least two words of your input that the run knows")
    n = len(ids)
    skips = [(c, o) for c in range(n) for o in range(max(0, c - w), min(n, c + w + 1)) if o != c]
    label = [f"{i}: {t}" for i, t in enumerate(words)]
    steps = [
        Step("Skip-gram: each centre word predicts each word of its window", np.zeros((len(skips), 3)),
             tuple(str(i) for i in range(len(skips))), ("centre v", "context o", "distance"),
             text=tuple((label[c], label[o], str(abs(o - c))) for c, o in skips),
             note="One training pair per row. Training draws each centre's window from 1 to the window "
                  "and drops frequent words first, so it sees a sample of these."),
        Step("CBOW: the mean of a window's words predicts its centre", np.zeros((n, 2)), tuple(label),
             ("context (averaged into v)", "centre o"),
             text=tuple((", ".join(words[o] for o in range(max(0, c - w), min(n, c + w + 1)) if o != c), words[c])
                        for c in range(n))),
    ]
    checks: list[Check] = []
    if isinstance(model, GloVe):
        formula = GLOVE_FORMULA
        symbols = _glove(model, ids, words, w, pair, steps, checks, tok.vocab_size)
    else:
        formula = FORMULA
        symbols = _sgns(trained, model, ids, words, w, skips, pair, seed, steps, checks, notes)
    symbols += _neighbours(trained, word or words[0], steps, checks)
    return Walkthrough("word_vectors", formula, symbols, steps, checks, notes)


def _sgns(trained: Any, model: Word2Vec, ids: list[int], words: list[str], w: int, skips: list[tuple[int, int]],
          pair: int, seed: int, steps: list[Step], checks: list[Check], notes: list[str]) -> tuple[Symbol, ...]:
    cbow = model.mode == "cbow"
    n = len(ids)
    count = n if cbow else len(skips)
    if not 0 <= pair < count:
        raise ConfigError("pair", pair, f"0 to {count - 1}", reason=f"the sentence has {count} "
                          + ("CBOW windows" if cbow else "skip-gram pairs") + f" with window {w}")
    k = int(trained.task.params["negatives"])
    counts = _counts(trained)
    noise = counts ** 0.75
    noise_t = torch.from_numpy(noise / noise.sum()).float()  # as the task builds it
    negatives = torch.multinomial(noise_t, k, replacement=True, generator=torch.Generator().manual_seed(seed))
    inp = model.input_vectors.weight.detach().double().numpy()
    out = model.output_vectors.weight.detach().double().numpy()
    if cbow:
        centre, context = pair, [o for o in range(max(0, pair - w), min(n, pair + w + 1)) if o != pair]
        target = ids[centre]
        v = inp[[ids[o] for o in context]].mean(axis=0)
        inputs = torch.tensor([[ids[o] for o in context]])
        shown = f"the mean of {', '.join(words[o] for o in context)} → {words[centre]}"
    else:
        c, o = skips[pair]
        target, v, inputs = ids[o], inp[ids[c]], torch.tensor([ids[c]])
        shown = f"{words[c]} → {words[o]}"
    neg = negatives.tolist()
    rows = [f"+ {words[ids.index(target)]} (true)"] + [f"− {trained.tokenizer.id_to_token(i)}" for i in neg]
    u = out[[target, *neg]]
    dots = u @ v
    signed = np.concatenate([dots[:1], -dots[1:]])
    log_sig = -np.logaddexp(0.0, -signed)  # log σ(x), stable
    loss = float(-log_sig.sum())
    dims = tuple(str(j) for j in range(len(v)))
    p = noise / noise.sum()
    steps += [
        Step(f"Pair {pair}: {shown}", np.vstack([v, u]), ("v (input side)", *(r.split(" (")[0] for r in rows)), dims,
             tex=r"v,\ u_o,\ u_1\dots u_K", heatmap=True,
             note="v: the input vector" + (" averaged over the window" if cbow else " of the centre word")
                  + "; u: the output vectors of the true word (+) and the K negatives (−)."),
        Step(f"{k} negatives drawn from the unigram^0.75 distribution (seed {seed})",
             np.stack([counts[neg], counts[neg] ** 0.75, p[neg]], axis=1), tuple(rows[1:]),
             ("count", "count^0.75", "P_n(w)"), tex=r"P_n(w)=\frac{\mathrm{count}(w)^{0.75}}{\sum_x \mathrm{count}(x)^{0.75}}",
             decimals=5, note="Counts of the run's training words; the power 0.75 gives rare words a larger share "
                              "than their frequency."),
        Step("Every term of the loss", np.stack([dots, signed, 1 / (1 + np.exp(-signed)), log_sig], axis=1),
             tuple(rows), ("u·v", "±u·v", "σ(±u·v)", "log σ"), decimals=4,
             tex=r"\log\sigma(u_o^\top v),\ \log\sigma(-u_k^\top v)",
             note="σ(u·v) near 1 for the true word and σ(−u·v) near 1 for the negatives make the loss small."),
        Step("The loss of this pair", np.array([loss]), ("L",), ("−Σ log σ",), tex=rf"\mathrm{{L}} = {loss:.4f}", decimals=5),
    ]
    kwargs = {"mask": torch.ones_like(inputs, dtype=torch.bool)} if cbow else {}
    with torch.no_grad():
        own = model(inputs, torch.tensor([target]), negatives.view(1, -1), **kwargs)
    checks.append(check("the loss by hand against the Word2Vec model's own loss on the same ids", np.array([loss]),
                        own.double().numpy()))
    notes.append(f"Word2Vec, {model.mode}: the " + ("CBOW window" if cbow else "skip-gram pair")
                 + f" chosen by the Pair knob; {k} negatives (the run's task.negatives).")
    return (Symbol("v", "the input vector: the centre word's (skip-gram) or the mean of the window's (CBOW)"),
            Symbol("u_o", "the output vector of the true word o (the context word, or the centre for CBOW)"),
            Symbol("u_k", f"the output vectors of the K = {k} negative words, drawn from P_n"),
            Symbol(r"\sigma", "the sigmoid 1/(1+e^{-x}): a score turned into a probability"),
            Symbol("L", "the pair's loss: the true word scored high, the negatives low"))


def _glove(model: GloVe, ids: list[int], words: list[str], w: int, cell: int, steps: list[Step],
           checks: list[Check], vocab_size: int) -> tuple[Symbol, ...]:
    totals: dict[tuple[int, int], float] = {}
    for d in range(1, w + 1):
        for i in range(len(ids) - d):
            for a, b in ((ids[i], ids[i + d]), (ids[i + d], ids[i])):
                totals[(a, b)] = totals.get((a, b), 0.0) + 1.0 / d
    keys = sorted(totals, key=lambda ab: ab[0] * vocab_size + ab[1])  # the task's order
    if not 0 <= cell < len(keys):
        raise ConfigError("pair", cell, f"0 to {len(keys) - 1}",
                          reason=f"the sentence has {len(keys)} co-occurrence cells with window {w}")
    name = dict(zip(ids, words, strict=True))
    rows_, cols_, counts_ = _cooccurrence(np.array(ids), np.zeros(len(ids), dtype=np.int64), w, vocab_size)
    x_all = np.array([totals[k] for k in keys])
    checks.append(check("the sentence's counts by hand against the task's own co-occurrence counting",
                        np.stack([[a for a, _ in keys], [b for _, b in keys], x_all]),
                        np.stack([rows_, cols_, counts_]), tolerance=1e-6))
    i, j = keys[cell]
    x = totals[(i, j)]
    wi, cj = (t.weight.detach().double().numpy() for t in (model.word, model.context))
    bi, bj = float(model.word_bias.weight[i, 0].detach()), float(model.context_bias.weight[j, 0].detach())
    dot = float(wi[i] @ cj[j])
    pred = dot + bi + bj
    f = min(1.0, (x / model.x_max) ** model.alpha)
    term = f * (pred - np.log(x)) ** 2
    steps += [
        Step("Co-occurrence counts X_ij of your sentence", x_all[:, None], tuple(f"{n_}: {name[a]} · {name[b]}"
             for n_, (a, b) in enumerate(keys)), ("X_ij",), tex=r"X_{ij}=\sum 1/d", decimals=3,
             note="Each pair of words within the window adds 1/distance, both ways; the run's cells are "
                  "counted so over its whole corpus."),
        Step(f"Cell {cell}: {name[i]} · {name[j]}", np.array([dot, bi, bj, pred, np.log(x), pred - np.log(x), f, term]),
             ("value",), ("w_i·c_j", "b_i", "b^c_j", "prediction", "log X_ij", "difference", "f(X_ij)", "J_ij"),
             tex=rf"J_{{ij}}={f:.4f}\cdot({pred:.4f}-{np.log(x):.4f})^2={term:.5f}", decimals=5,
             note=f"f caps the weight of frequent pairs at 1 (x_max = {model.x_max:g}, α = {model.alpha:g})."),
    ]
    with torch.no_grad():
        own = model(torch.tensor([i]), torch.tensor([j]), torch.tensor([x], dtype=torch.float32))
    checks.append(check("J_ij by hand against the GloVe model's own loss on the same cell", np.array([term]),
                        own.double().numpy(), tolerance=1e-5 * max(1.0, term)))
    return (Symbol("X_{ij}", "how often words i and j occur near each other (here: in your sentence)"),
            Symbol("w_i, c_j", "word i's vector and word j's context vector (the run's two tables)"),
            Symbol("b_i, b^c_j", "their biases (one number per word, in each table)"),
            Symbol("f", "the weight: small for rare pairs, at most 1"),
            Symbol("J_{ij}", "the cell's share of the loss: the prediction's squared miss of log X_ij, weighted"))


def _neighbours(trained: Any, word: str, steps: list[Step], checks: list[Check]) -> tuple[Symbol, ...]:
    vocab, vectors = run_vectors(trained)
    index = {t: i for i, t in reversed(list(enumerate(vocab)))}
    key = word if word in index else word.lower()
    if key not in index or key in SPECIALS:
        raise ConfigError("word", word, "a word of the run's vocabulary", reason="the run has no vector for it")
    m = vectors.astype(np.float64)
    norms = np.linalg.norm(m, axis=1)
    cos = m @ m[index[key]] / np.maximum(norms * norms[index[key]], 1e-12)
    ranked = [int(r) for r in np.argsort(-cos, kind="stable") if vocab[r] not in SPECIALS and r != index[key]]
    top = ranked[:NEIGHBOURS]
    steps.append(Step(f"Nearest neighbours of '{key}' by cosine", np.stack([m[top] @ m[index[key]], norms[top], cos[top]],
                      axis=1), tuple(vocab[r] for r in top), ("a·b", "|b|", "cos(a,b)"), decimals=4,
                      tex=r"\cos(a,b)=\frac{a\cdot b}{|a|\,|b|}",
                      note=f"a: '{key}', |a| = {norms[index[key]]:.4f}. The angle, not the length, decides: "
                           "1 is the same direction, 0 unrelated."))
    engine = nearest_neighbours(vectors, vocab, key, NEIGHBOURS)
    checks.append(check("the neighbours by hand against the workbench's nearest_neighbours (words)",
                        np.array(top), np.array([index[t] for t, _ in engine]), tolerance=0))
    checks.append(check("their cosines against nearest_neighbours'", cos[top], np.array([s for _, s in engine])))
    return (Symbol("a, b", "two word vectors (for GloVe, w + c: the run's word vectors)"),)


def _counts(trained: Any) -> np.ndarray:
    """How often each id occurs in the run's training words, as the task counts them."""
    if trained.run.id not in _COUNTS:
        data = load_dataset(trained.config)
        stream, _ = trained.task._stream(data.train.texts, "training")
        _COUNTS.clear()  # one run's counts at a time: a vocabulary-sized array each
        _COUNTS[trained.run.id] = np.bincount(stream, minlength=trained.tokenizer.vocab_size).astype(np.float64)
    return _COUNTS[trained.run.id]
