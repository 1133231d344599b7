"""SQuAD's answer scoring: exact match and token F1 after the official answer normalisation.

Extractive QA is scored the way the SQuAD papers and leaderboards score it, so a figure here can be
set beside a published one: both answers are normalised (lower case, punctuation dropped, the
articles a/an/the dropped, whitespace collapsed), then *exact match* asks whether they are equal
and *F1* counts the words they share (a bag of words: precision over the prediction's words, recall
over the gold answer's). A question may have several gold answers (SQuAD's dev set has up to
five, written by different people); a prediction gets the best score over them.

The rules follow the official ``evaluate-v2.0.py``, which agrees with ``evaluate-v1.1.py`` on every
answerable question and adds SQuAD 2.0's no-answer questions: a gold answer that normalises to
nothing is dropped, a question left with none is unanswerable, and its only right prediction is
the empty string (exact match and F1 both 1; any text scores 0, and so does an empty prediction
for an answerable question). Per-question scores are 0..1; :func:`squad_metrics` reports the
means as percentages (0-100), as the official scripts and papers do.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCTUATION = frozenset(string.punctuation)  # ASCII only, as the official script: "é" and "–" stay
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """The official normalisation, in its order: lower case, drop punctuation, drop articles,
    collapse whitespace. The order matters: "a." loses its dot, then the article (nothing is
    left); "the-end" loses its hyphen and becomes one word, "theend", which is no article."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """The words F1 counts: the normalised answer split on whitespace."""
    return normalize_answer(text).split()


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the two answers normalise to the same text, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of word precision and recall between the normalised answers (bags of words:
    a word shared twice counts twice only if both sides have it twice). When either side is empty
    (a no-answer), 1.0 if both are, else 0.0."""
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def gold_answers(golds: Sequence[str]) -> list[str]:
    """The gold answers that count: those that normalise to some text; none left (SQuAD 2.0's
    unanswerable question, or no answers given) is the single no-answer ``""``."""
    kept = [g for g in golds if normalize_answer(g)]
    return kept or [""]


def score(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction, each the best over the gold answers; ``""`` predicts
    no answer."""
    refs = gold_answers(golds)
    return max(exact_match(prediction, g) for g in refs), max(token_f1(prediction, g) for g in refs)


def squad_metrics(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean exact match and F1 over questions, 0-100 as the official scripts report them, with
    ``n`` (questions). When some questions have no answer, also the SQuAD 2.0 split:
    ``has_answer_*`` over the answerable ones and ``no_answer_*`` over the rest (each with its
    ``_n``), which say whether a model answers well or merely abstains well."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    scores = [score(p, g) for p, g in zip(predictions, golds, strict=True)]
    answerable = [gold_answers(g) != [""] for g in golds]
    out = {"n": float(len(scores)), **_means("", scores)}
    if not all(answerable):
        out.update(_means("has_answer_", [s for s, a in zip(scores, answerable, strict=True) if a]))
        out.update(_means("no_answer_", [s for s, a in zip(scores, answerable, strict=True) if not a]))
    return out


def _means(prefix: str, scores: list[tuple[float, float]]) -> dict[str, float]:
    n = len(scores)
    em = 100.0 * sum(s[0] for s in scores) / n if n else 0.0
    f1 = 100.0 * sum(s[1] for s in scores) / n if n else 0.0
    out = {f"{prefix}exact_match": em, f"{prefix}f1": f1}
    if prefix:
        out[f"{prefix}n"] = float(n)
    return out
