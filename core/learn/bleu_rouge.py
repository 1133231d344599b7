"""BLEU and ROUGE of a typed hypothesis against a typed reference, counted by hand.

BLEU as sacreBLEU's ``sentence_bleu`` computes it (13a tokenisation, case kept, ``exp``
smoothing, effective order): clipped n-gram precisions for n = 1..4, the brevity penalty, the
geometric mean. ROUGE-1/2/L as rouge-score computes it with the Porter stemmer (the settings the
summarisation task scores with, core.metrics.scores.rouge_scores): n-gram overlaps and the longest
common subsequence, each to precision, recall and F. Checks hold both to the libraries.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from core.errors import ConfigError
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.metrics import metric_label
from core.metrics.scores import ROUGE_TYPES, rouge_scores

ORDERS = (1, 2, 3, 4)
FORMULA = (r"\mathrm{BLEU}=\mathrm{BP}\cdot\exp\Big(\frac{1}{N}\sum_{n=1}^{N}\log p_n\Big),\quad"
           r"\mathrm{BP}=\min\big(1,\,e^{1-r/c}\big),\qquad "
           r"\mathrm{ROUGE}\text{-}N:\ P=\frac{\text{overlap}}{|\hat y|},\ R=\frac{\text{overlap}}{|y|},\ "
           r"F=\frac{2PR}{P+R}")


def walkthrough(trained: Any, text: str, *, reference: str) -> Walkthrough:
    """BLEU and ROUGE of hypothesis ``text`` against ``reference`` (no run: ``trained`` is None)."""
    from rouge_score import rouge_scorer, tokenizers
    from sacrebleu import sentence_bleu
    from sacrebleu.metrics import BLEU

    if not reference.strip():
        raise ConfigError("reference", reference, "some text to score against", reason="the reference is empty")
    bleu = BLEU(tokenize="13a", smooth_method="exp", effective_order=True)  # sentence_bleu's settings
    hyp, ref = bleu.tokenizer(text.rstrip()).split(), bleu.tokenizer(reference.rstrip()).split()
    steps = [Step("BLEU's tokens (sacreBLEU's 13a tokenizer)", np.zeros(0), ("hypothesis", "reference"),
                  ("tokens", "count"), text=((" ".join(hyp), str(len(hyp))), (" ".join(ref), str(len(ref)))),
                  note="Punctuation is split from words; case is kept, so 'The' and 'the' differ.")]
    rows, correct, total = [], [], []
    for n in ORDERS:
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        clipped = {g: min(c, r[g]) for g, c in h.items()}
        rows += [(str(n), " ".join(g), str(c), str(r[g]), str(clipped[g])) for g, c in h.items()]
        correct.append(sum(clipped.values()))
        total.append(sum(h.values()))
    steps.append(Step("Each n-gram of the hypothesis, clipped by the reference", np.zeros(0),
                      tuple(str(i) for i in range(len(rows))), ("n", "n-gram", "in hypothesis", "in reference", "clipped"),
                      tex=r"\mathrm{clip}(g)=\min\big(\#_{\hat y}(g),\ \#_{y}(g)\big)",
                      note="Repeating a right word earns nothing: a match counts at most as often as the reference has it.",
                      text=tuple(rows) or (("", "", "", "", ""),)))
    precisions, used, smooth, notes = [], 0, 1.0, []
    for n in ORDERS:
        if total[n - 1] == 0:  # effective order: n-gram orders the hypothesis is too short for are left out
            break
        used = n
        if correct[n - 1] == 0:  # exp smoothing: each order with no match gets half the credit of the last
            smooth *= 2
            precisions.append(100.0 / (smooth * total[n - 1]))
            notes.append(f"No {n}-gram matches: p_{n} is smoothed to 1 / ({smooth:g} × {total[n - 1]}) "
                         "(sacreBLEU's 'exp' smoothing) instead of 0, which would make BLEU 0.")
        else:
            precisions.append(100.0 * correct[n - 1] / total[n - 1])
    c, r_len = len(hyp), len(ref)
    bp = 1.0 if c >= r_len else (math.exp(1 - r_len / c) if c else 0.0)
    score = bp * math.exp(sum(math.log(p) for p in precisions) / used) if any(correct) and used else 0.0
    if used < len(ORDERS):
        notes.append(f"The hypothesis has no {used + 1}-grams, so the mean runs over n = 1..{used} (effective order).")
    steps += [
        Step("Clipped precisions p_n", np.array([[correct[n - 1], total[n - 1], precisions[n - 1] if n <= used else 0.0]
                                                 for n in ORDERS]),
             tuple(f"n = {n}" + (" (smoothed)" if n <= used and not correct[n - 1] else "") for n in ORDERS),
             ("matches", "n-grams", "p_n (%)"), tex=r"p_n=\frac{\sum_g \mathrm{clip}(g)}{\sum_g \#_{\hat y}(g)}",
             decimals=2, note="How many of the hypothesis's n-grams the reference has, in per cent."),
        Step("Brevity penalty", np.array([[c, r_len, bp]]), ("",), ("c", "r", "BP"),
             tex=r"\mathrm{BP}=\begin{cases}1 & c\ge r\\ e^{1-r/c} & c<r\end{cases}", decimals=4,
             note="Precision alone rewards saying little; a hypothesis shorter than the reference pays for it."),
        Step("BLEU: the geometric mean of p_1..p_N, times BP", np.array(
            [[*(math.log(p) for p in precisions), bp, score]]), ("",),
             (*(f"log p_{n}" for n in ORDERS[:used]), "BP", metric_label("bleu")),
             tex=r"\mathrm{BLEU}=\mathrm{BP}\cdot\exp\Big(\tfrac{1}{N}\textstyle\sum_n \log p_n\Big)", decimals=4,
             note="p_n in per cent, so BLEU comes out between 0 and 100." if any(correct)
             else "Not one word matches: BLEU is 0."),
    ]
    theirs = sentence_bleu(text, [reference])  # its defaults: 13a, cased, exp smoothing, effective order
    checks = [check("the n-gram matches and counts against sacreBLEU's", np.array(correct + total),
                    np.array(list(theirs.counts) + list(theirs.totals)), tolerance=0),
              check("the score by hand against sacreBLEU's sentence_bleu", np.array([bp, score]),
                    np.array([theirs.bp, theirs.score]), tolerance=1e-9)]

    tokenize = tokenizers.DefaultTokenizer(use_stemmer=True).tokenize
    rh, rr = tokenize(text), tokenize(reference)
    steps.append(Step("ROUGE's tokens (rouge-score: lowercased, letters and digits only, Porter-stemmed)",
                      np.zeros(0), ("hypothesis", "reference"), ("tokens", "count"),
                      text=((" ".join(rh), str(len(rh))), (" ".join(rr), str(len(rr)))),
                      note="Stemming makes 'cats' and 'cat' one word; words of 3 letters or fewer stay as they are."))
    table = _lcs(rr, rh)
    if rh and rr:
        steps.append(Step("Longest common subsequence, by dynamic programming", table[1:, 1:], tuple(rr), tuple(rh),
                          tex=r"L_{ij}=\begin{cases}L_{i-1,j-1}+1 & y_i=\hat y_j\\ \max(L_{i-1,j},L_{i,j-1})"
                              r" & \text{otherwise}\end{cases}", heatmap=True, decimals=0,
                          note="Rows: reference words; columns: hypothesis words. The bottom-right cell is the "
                          "LCS length: words in the same order, gaps allowed."))
    counts = [_overlap(rh, rr, 1), _overlap(rh, rr, 2), (int(table[-1, -1]), len(rh), len(rr))]
    prf = np.array([_prf(*x) for x in counts])
    rouges = tuple(metric_label(m) for m in ("rouge1", "rouge2", "rougeL"))
    steps.append(Step(", ".join(rouges), np.column_stack([np.array(counts, dtype=float), prf]),
                      rouges, ("overlap", "in hyp.", "in ref.", "P", "R", "F"),
                      tex=r"P=\frac{\text{overlap}}{\text{hypothesis}},\ R=\frac{\text{overlap}}{\text{reference}},"
                          r"\ F=\frac{2PR}{P+R}",
                      note="Overlap for ROUGE-1/2: unigrams/bigrams in common (each "
                      "counted as often as both have it); for ROUGE-L: the LCS length. Summaries are judged mostly by R: how much of the reference is covered."))
    lib = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True).score(reference, text)
    checks += [check("ROUGE P, R, F by hand against rouge-score's", prf,
                     np.array([[lib[t].precision, lib[t].recall, lib[t].fmeasure] for t in ROUGE_TYPES]), 1e-12),
               _engine_rouge(text, reference, prf[:, 2])]
    symbols = (
        Symbol(r"\hat y,\ y", f"the hypothesis (your input: {len(hyp)} tokens as sacreBLEU splits it) and the reference ({len(ref)})"),
        Symbol(r"\#_{\hat y}(g)", "how often n-gram g (n words in a row) occurs in the hypothesis"),
        Symbol("p_n", "the clipped precision of n-grams, in per cent"),
        Symbol("N", f"the highest n-gram order used: {used} (4, or fewer for a hypothesis shorter than 4 tokens)"),
        Symbol("c,\\ r", f"the lengths of hypothesis and reference in tokens: {c} and {r_len}"),
        Symbol(r"\mathrm{BP}", f"the brevity penalty: {bp:.4f}"),
        Symbol("P,\\ R,\\ F", "precision (share of the hypothesis found in the reference), recall (share of the "
               "reference found in the hypothesis), and their harmonic mean"),
    )
    return Walkthrough("bleu_rouge", FORMULA, symbols, steps, checks, notes)


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _overlap(hyp: list[str], ref: list[str], n: int) -> tuple[int, int, int]:
    h, r = _ngrams(hyp, n), _ngrams(ref, n)
    return sum(min(c, r[g]) for g, c in h.items()), sum(h.values()), sum(r.values())


def _prf(overlap: int, n_hyp: int, n_ref: int) -> tuple[float, float, float]:
    p, r = overlap / max(n_hyp, 1), overlap / max(n_ref, 1)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _lcs(ref: list[str], hyp: list[str]) -> np.ndarray:
    """The LCS table with its zero first row and column."""
    table = np.zeros((len(ref) + 1, len(hyp) + 1))
    for i, a in enumerate(ref, 1):
        for j, b in enumerate(hyp, 1):
            table[i, j] = table[i - 1, j - 1] + 1 if a == b else max(table[i - 1, j], table[i, j - 1])
    return table


def _engine_rouge(text: str, reference: str, f: np.ndarray) -> Check:
    scored = rouge_scores([text], [reference])
    return check("ROUGE F against the summarisation task's own scorer", f,
                 np.array([scored[t][0] for t in ROUGE_TYPES]), 1e-12)
