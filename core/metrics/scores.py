"""Evaluation metrics: thin adapters over scikit-learn and sacrebleu, plus the arithmetic of perplexity.

Each function returns a plain, JSON-ready dict (lists, not arrays), so a result can go straight
into the run store's summary or a chart. :func:`scalars` picks out its single numbers, for
metric series and run comparisons.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_CURVE_POINTS = 200
COUNT_KEYS = frozenset({"n", "num_classes", "tokens", "chars"})
_LN2 = math.log(2.0)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    probs: Sequence[Sequence[float]] | np.ndarray,
    label_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics of a classifier from true labels ``(N,)`` and class probabilities ``(N, C)``.

    The prediction is the most probable class. Returned keys:

    * ``accuracy``, ``n`` (examples), ``num_classes``;
    * ``precision``, ``recall``, ``f1``: binary only, positive class = 1;
    * ``precision_macro`` / ``recall_macro`` / ``f1_macro`` and the ``_weighted`` variants,
      over all C classes (a class never predicted or never seen scores 0, ``zero_division=0``);
    * ``roc_auc``: binary; one-vs-rest macro average for multiclass, over the classes present
      in ``y_true``. None when ``y_true`` holds a single class (AUC is undefined);
    * ``pr_auc``: average precision, defined and averaged the same way;
    * ``per_class``: ``{name: {precision, recall, f1, support, roc_auc}}``;
    * ``confusion_matrix``: ``{"labels": names, "matrix": rows = true class, columns =
      predicted}``;
    * ``roc_curve``: ``{name: {"fpr": [...], "tpr": [...], "auc": float}}``: the positive
      class for binary, each present class (one-vs-rest) for multiclass; at most 200 points.

    A 1-D ``probs`` is read as P(class 1) of a binary classifier.
    """
    # Imported here: scikit-learn costs ~1 s at start-up, which every worker and CLI call paid.
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
        roc_curve,
    )

    y = np.asarray(y_true).astype(np.int64, copy=False).ravel()
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, C) with C >= 2, got {p.shape}")
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} labels but probs has {len(p)} rows")
    if len(y) == 0:
        raise ValueError("no examples to score")
    n_classes = p.shape[1]
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}; got {y.min()}..{y.max()}")
    names = [str(i) for i in range(n_classes)] if label_names is None else list(label_names)
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} label names for {n_classes} classes")

    labels = list(range(n_classes))  # score every class, even those absent from predictions
    y_pred = p.argmax(axis=1)
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(y, y_pred)),
        "n": len(y),
        "num_classes": n_classes,
    }
    if n_classes == 2:
        prec, rec, f1, _ = precision_recall_fscore_support(
            y, y_pred, labels=labels, average="binary", pos_label=1, zero_division=0
        )
        out.update(precision=float(prec), recall=float(rec), f1=float(f1))
    for average in ("macro", "weighted"):
        prec, rec, f1, _ = precision_recall_fscore_support(
            y, y_pred, labels=labels, average=average, zero_division=0
        )
        out[f"precision_{average}"] = float(prec)
        out[f"recall_{average}"] = float(rec)
        out[f"f1_{average}"] = float(f1)

    # Ranking metrics, each class against the rest (for binary, class 1 against class 0 is
    # the usual AUC). A class absent from y_true has no AUC and is left out of the mean.
    present = set(np.unique(y).tolist())
    aucs: dict[int, float] = {}
    aps: dict[int, float] = {}
    curves: dict[str, dict[str, Any]] = {}
    if len(present) > 1:
        for k in labels:
            if k not in present:
                continue
            is_k = (y == k).astype(np.int64)
            aucs[k] = float(roc_auc_score(is_k, p[:, k]))
            aps[k] = float(average_precision_score(is_k, p[:, k]))
            if n_classes > 2 or k == 1:
                fpr, tpr, _ = roc_curve(is_k, p[:, k])
                curves[names[k]] = {"fpr": _subsample(fpr), "tpr": _subsample(tpr), "auc": aucs[k]}
    if n_classes == 2:
        out["roc_auc"] = aucs.get(1)
        out["pr_auc"] = aps.get(1)
    else:
        out["roc_auc"] = float(np.mean(list(aucs.values()))) if aucs else None
        out["pr_auc"] = float(np.mean(list(aps.values()))) if aps else None

    prec_k, rec_k, f1_k, support_k = precision_recall_fscore_support(
        y, y_pred, labels=labels, average=None, zero_division=0
    )
    out["per_class"] = {
        names[k]: {
            "precision": float(prec_k[k]),
            "recall": float(rec_k[k]),
            "f1": float(f1_k[k]),
            "support": int(support_k[k]),
            "roc_auc": aucs.get(k),
        }
        for k in labels
    }
    out["confusion_matrix"] = {
        "labels": names,
        "matrix": confusion_matrix(y, y_pred, labels=labels).tolist(),
    }
    out["roc_curve"] = curves
    return out


def language_model_metrics(
    mean_loss_nats: float, tokens: int, chars: int | None = None
) -> dict[str, Any]:
    """Perplexity and bits from a mean cross-entropy (natural log) over ``tokens`` tokens.

    * ``loss``: the mean loss in nats per token;
    * ``perplexity``: exp(loss), ``inf`` when that overflows a float;
    * ``bits_per_token``: loss / ln 2;
    * ``bits_per_char`` (when ``chars`` is given): total nats / chars / ln 2, which compares
      models with different tokenizers on the same text.
    """
    loss = float(mean_loss_nats)
    if tokens <= 0:
        raise ValueError(f"tokens must be positive, got {tokens}")
    try:
        perplexity = math.exp(loss)
    except OverflowError:  # loss above ~709 nats: a diverged model
        perplexity = math.inf
    out: dict[str, Any] = {
        "loss": loss,
        "perplexity": perplexity,
        "bits_per_token": loss / _LN2,
        "tokens": int(tokens),
    }
    if chars is not None:
        if chars <= 0:
            raise ValueError(f"chars must be positive, got {chars}")
        out["bits_per_char"] = loss * tokens / chars / _LN2
        out["chars"] = int(chars)
    return out


_ANSWER = re.compile(r"\s*(-?\d+)")  # the number a continuation starts with (spaces before it skipped)


def written_answer(continuation: str) -> str | None:
    """The answer a model's continuation of a question (``23+58=``) gives: the first number it
    writes, whole (a character model ends it with the line, a word model with a space); None
    when it writes no number first."""
    found = _ANSWER.match(continuation)
    return found.group(1) if found else None


def answer_right(continuation: str, answer: str) -> bool:
    """The sums_right metric's rule for one problem: the continuation writes the answer whole,
    first (``81`` for 81 is right; ``8``, ``810`` or ``x81`` are not)."""
    return written_answer(continuation) == answer


def translation_metrics(
    hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = False
) -> dict[str, Any]:
    """Corpus BLEU and chrF (sacrebleu, default settings) plus exact match, one reference each.

    Give *detokenised* text (what a person would write): sacrebleu tokenises it itself (13a for
    BLEU, characters for chrF), so scores compare across tokenizers and with published figures.
    ``lowercase`` scores case-insensitively (for a model whose tokenizer lowercases).

    * ``bleu``, ``chrf``: 0-100, exactly what ``sacrebleu.corpus_bleu`` / ``corpus_chrf`` give
      (case-insensitive when ``lowercase``);
    * ``bleu_cased``, ``bleu_lowercased``: sacreBLEU both ways, whichever ``bleu`` is, since papers
      quote either (Multi30k results are often lowercased, WMT's are cased);
    * ``exact_match``: share (0-1) of hypotheses equal to their reference once both are
      tokenised as BLEU sees them (so "1998 - 03 - 05" matches "1998-03-05");
    * ``bleu_precisions`` (1- to 4-gram, %), ``brevity_penalty``, ``n``, ``bleu_signature``.
    """
    from sacrebleu.metrics import BLEU, CHRF  # imported here: keeps start-up light

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not hypotheses:
        raise ValueError("no translations to score")
    hyps, refs = list(hypotheses), list(references)
    both = {case: BLEU(lowercase=case) for case in (False, True)}
    scored = {case: metric.corpus_score(hyps, [refs]) for case, metric in both.items()}
    bleu_metric, bleu = both[lowercase], scored[lowercase]
    chrf = CHRF(lowercase=lowercase).corpus_score(hyps, [refs])
    tokenize = bleu_metric.tokenizer
    fold = str.lower if lowercase else str

    def same(h: str, r: str) -> bool:
        return tokenize(fold(h.strip())).split() == tokenize(fold(r.strip())).split()

    return {
        "bleu": float(bleu.score),
        "bleu_cased": float(scored[False].score),
        "bleu_lowercased": float(scored[True].score),
        "chrf": float(chrf.score),
        "exact_match": sum(same(h, r) for h, r in zip(hyps, refs, strict=True)) / len(hyps),
        "bleu_precisions": [float(p) for p in bleu.precisions],
        "brevity_penalty": float(bleu.bp),
        "n": len(hyps),
        "bleu_signature": str(bleu_metric.get_signature()),
    }


# How a translation run's ``bleu`` treats case (``details["bleu_case"]``), in words.
BLEU_CASES = {
    "cased": "cased (sacreBLEU's default)",
    "lowercased": "lowercased, as are chrF and exact match (the target tokenizer lowercases, so its output "
                  "has no case to score)",
}


def bleu_case_note(metrics: dict[str, Any], details: dict[str, Any]) -> str:
    """One line giving sacreBLEU both ways and saying which one the run shows as ``bleu``
    (``"sacreBLEU cased 30.21, lowercased 33.10; the run's BLEU is lowercased (...)"``); "" when
    the evaluation did not score both (a run from before they were reported)."""
    cased, lower = metrics.get("bleu_cased"), metrics.get("bleu_lowercased")
    case = details.get("bleu_case")
    if not isinstance(cased, int | float) or not isinstance(lower, int | float) or case not in BLEU_CASES:
        return ""
    return f"sacreBLEU cased {cased:.2f}, lowercased {lower:.2f}; the run's BLEU is {BLEU_CASES[case]}"


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def rouge_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """Per example, the ROUGE-1/2/L F-measure (0-1) of ``rouge_score`` with its default
    tokenisation (lowercased, alphanumeric tokens) and the Porter stemmer, as summarisation
    papers report it: ``{"rouge1": [...], "rouge2": [...], "rougeL": [...]}``."""
    from rouge_score import rouge_scorer  # imported here: keeps start-up light

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    out: dict[str, list[float]] = {t: [] for t in ROUGE_TYPES}
    for hyp, ref in zip(hypotheses, references, strict=True):
        scores = scorer.score(ref, hyp)  # (target, prediction)
        for t in ROUGE_TYPES:
            out[t].append(float(scores[t].fmeasure))
    return out


def summarisation_metrics(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """ROUGE-1/2/L: the mean over examples of each one's F-measure (0-1), plus ``n``."""
    if not hypotheses:
        raise ValueError("no summaries to score")
    per = rouge_scores(hypotheses, references)
    return {**{t: float(np.mean(v)) for t, v in per.items()}, "n": len(hypotheses)}


def scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The single-number entries of a metrics dict, as floats: what is worth a metric series.

    None, lists, dicts and booleans are dropped, and so are the counts in :data:`COUNT_KEYS`
    (sample sizes describe the evaluation, they are not a score).
    """
    return {
        key: float(value)
        for key, value in metrics.items()
        if key not in COUNT_KEYS
        and isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
    }


def _subsample(values: np.ndarray, limit: int = MAX_CURVE_POINTS) -> list[float]:
    """At most ``limit`` evenly spaced points of a curve, always keeping both ends."""
    if len(values) > limit:
        index = np.unique(np.linspace(0, len(values) - 1, limit).round().astype(np.int64))
        values = values[index]
    return [float(v) for v in values]
