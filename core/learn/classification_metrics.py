"""Precision, recall, F1 and ROC-AUC of a trained classifier, by hand, on its validation split.

The run's model predicts the whole validation split again (its own data, read as for training,
core.runs.evaluation_data). From the predictions: the confusion matrix, each class's precision,
recall and F1 and their macro mean; then, for one class against the rest, the ROC curve as a sweep
of the threshold on that class's probability, the confusion at the learner's threshold, and the
AUC as a sum of trapezoids. Checks hold each number to scikit-learn's and to the workbench's own
scorer (core.metrics.classification_metrics).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import ConfigError, WorkbenchError
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough, check
from core.metrics.scores import classification_metrics
from core.runs import evaluation_data

FORMULA = (r"P_k=\frac{TP_k}{TP_k+FP_k},\quad R_k=\frac{TP_k}{TP_k+FN_k},\quad F_{1,k}=\frac{2P_kR_k}{P_k+R_k},"
           r"\qquad \mathrm{AUC}=\sum_i \big(\mathrm{FPR}_{i+1}-\mathrm{FPR}_i\big)\,"
           r"\frac{\mathrm{TPR}_i+\mathrm{TPR}_{i+1}}{2}")
SHOWN_EXAMPLES = 8


def walkthrough(trained: Any, text: str, *, threshold: float = 0.5, positive: int = 1) -> Walkthrough:
    """The metrics of ``trained`` on its validation split; the ROC of class ``positive``. ``text``
    is predicted too and shown first: the metrics' inputs are predictions like that one."""
    from sklearn.metrics import roc_auc_score

    names = list(trained.task.label_names)
    if not 0 <= positive < len(names):
        raise ConfigError("positive", positive, f"0 to {len(names) - 1}", reason="this run has no such class")
    _, data = evaluation_data(trained)
    texts, y = list(data.validation.texts), np.asarray(data.validation.labels, dtype=np.int64)
    yours = [text] if text.strip() else []
    probs = trained.task.predict_proba(trained.model, [*yours, *texts])
    mine, probs = probs[: len(yours)], probs[len(yours):]
    pred, C, N = probs.argmax(axis=1), len(names), len(y)
    if N == 0:
        raise WorkbenchError(f"run {trained.run.id}'s validation split is empty: nothing to score")
    pos_name = names[positive]
    shown = [(text[:60], "(your input)", names[int(m.argmax())], f"{m[positive]:.3f}") for m in mine]
    shown += [(t[:60], names[a], names[b], f"{p:.3f}")
              for t, a, b, p in zip(texts, y, pred, probs[:, positive], strict=False)][:SHOWN_EXAMPLES]
    steps = [Step(f"The model's predictions on the {N} validation examples", np.zeros(0),
                  tuple(["yours"] * len(yours) + [str(i) for i in range(len(shown) - len(yours))]), ("text", "true class", "predicted", f"P({pos_name})"),
                  note=f"The predicted class is the most probable one; the first {len(shown) - len(yours)} of {N} shown.",
                  text=tuple(shown))]
    confusion = np.zeros((C, C))
    np.add.at(confusion, (y, pred), 1)
    steps.append(Step("Confusion matrix (rows: the true class; columns: the predicted one)", confusion,
                      tuple(names), tuple(names), decimals=0, tex=r"M_{ij}=\#\{\text{true } i,\ \text{predicted } j\}",
                      note="The diagonal is right; everything off it is a mistake: a false positive for its column, "
                      "a false negative for its row."))
    tp = np.diag(confusion)
    fp, fn = confusion.sum(axis=0) - tp, confusion.sum(axis=1) - tp
    p = np.divide(tp, tp + fp, out=np.zeros(C), where=tp + fp > 0)  # never predicted: 0, as scikit-learn's zero_division=0
    r = np.divide(tp, tp + fn, out=np.zeros(C), where=tp + fn > 0)
    f1 = np.divide(2 * p * r, p + r, out=np.zeros(C), where=p + r > 0)
    table = np.column_stack([tp, fp, fn, p, r, f1])
    steps.append(Step("Per class: precision, recall, F1; their macro mean", np.vstack([table, [np.nan] * 3 + [
        p.mean(), r.mean(), f1.mean()]]), (*names, "macro mean"), ("TP", "FP", "FN", "precision", "recall", "F1"),
        tex=r"\mathrm{macro}\ F_1=\frac{1}{C}\sum_k F_{1,k}",
        note="Macro: every class weighs the same, however rare, so a class the model ignores pulls it down."))
    checks = _prf_checks(y, pred, C, p, r, f1)
    engine = classification_metrics(y, probs, names)
    checks.append(check("the confusion matrix against the workbench's scorer (what the run reports)", confusion,
                        np.asarray(engine["confusion_matrix"]["matrix"])))

    scores, is_pos = probs[:, positive], y == positive
    P, Nn = int(is_pos.sum()), int((~is_pos).sum())
    if P == 0 or Nn == 0:
        raise ConfigError("positive", positive, "a class the validation split has examples of and not only of",
                          reason=f"the ROC curve of {pos_name} needs both its examples and others")
    thresholds, fpr, tpr = _sweep(scores, is_pos)
    at = np.flatnonzero(thresholds >= threshold)[-1]  # the sweep's point that predicts as the threshold does
    keep = _corners(fpr, tpr, at)
    labels = tuple("∞" if not np.isfinite(t) else f"≥ {t:.4f}" for t in thresholds[keep])
    steps.append(Step(f"ROC: the threshold on P({pos_name}) swept from 1 down to 0", np.column_stack([fpr[keep], tpr[keep]]),
                      labels, ("FPR", "TPR"), curve=True, mark=int(np.searchsorted(keep, at)),
                      tex=r"\mathrm{TPR}(t)=\frac{TP(t)}{P},\quad \mathrm{FPR}(t)=\frac{FP(t)}{N}", decimals=4,
                      note=f"Each point: every example with P({pos_name}) ≥ t called {pos_name}. Lowering t finds more "
                      "positives (up) and raises more false alarms (right); points on a straight line are left out."))
    called = scores >= threshold
    tp_t, fn_t = int((called & is_pos).sum()), int((~called & is_pos).sum())
    fp_t, tn_t = int((called & ~is_pos).sum()), int((~called & ~is_pos).sum())
    steps.append(Step(f"The confusion at threshold t = {threshold:g} (rows: true; columns: called)",
                      np.array([[tp_t, fn_t], [fp_t, tn_t]]), (pos_name, "other"), (pos_name, "other"), decimals=0,
                      tex=rf"\mathrm{{TPR}}={tp_t}/{P}={tp_t / P:.3f},\quad \mathrm{{FPR}}={fp_t}/{Nn}={fp_t / Nn:.3f}",
                      note="The marked point of the curve. Move the threshold to walk along it."))
    x, h = fpr[keep], tpr[keep]
    widths, heights = np.diff(x), (h[:-1] + h[1:]) / 2
    wide = widths > 0
    auc = float(np.sum(widths * heights))
    steps.append(Step("AUC: the area under the curve, trapezoid by trapezoid", np.column_stack(
        [x[:-1], x[1:], h[:-1], h[1:], widths * heights])[wide], tuple(f"{i + 1}" for i in range(int(wide.sum()))),
        ("FPR from", "FPR to", "TPR from", "TPR to", "area"), decimals=4,
        tex=rf"\mathrm{{AUC}}=\sum_i \Delta\mathrm{{FPR}}_i\cdot\overline{{\mathrm{{TPR}}}}_i={auc:.4f}",
        note="The chance that a random example of the class scores above a random other one (0.5: a coin; 1: perfect). "
        "Vertical steps have no width and add nothing."))
    checks.append(check(f"AUC of {pos_name} by trapezoids against scikit-learn's roc_auc_score", np.array(auc),
                        np.array(roc_auc_score(is_pos, scores)), 1e-9))
    if C > 2:
        checks.append(_macro_auc(steps, y, probs, names, engine))
    symbols = (
        Symbol("TP_k,\\ FP_k,\\ FN_k", "for class k: examples of k called k, others called k, examples of k called something else"),
        Symbol("P_k,\\ R_k", "precision (how many called k are k) and recall (how many of k are found)"),
        Symbol("F_{1,k}", "the harmonic mean of P_k and R_k: high only when both are"),
        Symbol("C", f"the number of classes: {C} ({', '.join(names)})"),
        Symbol("t", f"the threshold on P({pos_name}): at or above it, an example is called {pos_name} (now {threshold:g})"),
        Symbol("P,\\ N", f"the validation examples of {pos_name} ({P}) and of the other classes ({Nn})"),
        Symbol(r"\mathrm{TPR},\ \mathrm{FPR}", f"the share of {pos_name} examples called {pos_name}, and of the others"),
    )
    notes = [f"The run's model on its whole validation split ({N} examples), checkpoint '{trained.checkpoint}'."]
    return Walkthrough("classification_metrics", FORMULA, symbols, steps, checks, notes)


def _sweep(scores: np.ndarray, is_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct score as a threshold, highest first, after ∞ (nothing called positive)."""
    order = np.argsort(-scores, kind="stable")
    s, hits = scores[order], is_pos[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last example at each distinct score
    tp, fp = np.cumsum(hits)[last], np.cumsum(~hits)[last]
    return (np.r_[np.inf, s[last]], np.r_[0, fp] / max(1, (~is_pos).sum()), np.r_[0, tp] / max(1, is_pos.sum()))


def _corners(fpr: np.ndarray, tpr: np.ndarray, mark: int) -> np.ndarray:
    """The points where the curve turns (a point on a straight line adds no area), and ``mark``."""
    turns = np.r_[True, np.logical_or(np.diff(fpr, 2) != 0, np.diff(tpr, 2) != 0), True]
    turns[mark] = True
    return np.flatnonzero(turns)


def _prf_checks(y: np.ndarray, pred: np.ndarray, C: int, p: np.ndarray, r: np.ndarray, f1: np.ndarray) -> list[Check]:
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(range(C))
    each = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)[:3]
    macro = precision_recall_fscore_support(y, pred, labels=labels, average="macro", zero_division=0)[:3]
    return [check("per-class precision, recall, F1 against scikit-learn's precision_recall_fscore_support",
                  np.vstack([p, r, f1]), np.vstack(each), 1e-12),
            check("macro precision, recall, F1 against scikit-learn's (average='macro')",
                  np.array([p.mean(), r.mean(), f1.mean()]), np.array(macro, dtype=float), 1e-12)]


def _macro_auc(steps: list[Step], y: np.ndarray, probs: np.ndarray, names: list[str], engine: dict[str, Any]) -> Check:
    """Each class's AUC against the rest by trapezoids; their mean is the run's roc_auc."""
    present = [k for k in range(len(names)) if 0 < (y == k).sum() < len(y)]
    aucs = []
    for k in present:
        _, fpr, tpr = _sweep(probs[:, k], y == k)
        aucs.append(float(np.sum(np.diff(fpr) * (tpr[:-1] + tpr[1:]) / 2)))
    steps.append(Step("Every class against the rest: the run's roc_auc is the mean", np.array([[*aucs, np.mean(aucs)]]),
                      ("AUC",), (*(names[k] for k in present), "mean"), decimals=4,
                      note="With more than two classes, each class gets its own ROC curve against all the others."))
    return check("the mean of the one-vs-rest AUCs against the run's roc_auc (what the run reports)", np.array(np.mean(aucs)),
                 np.array(engine["roc_auc"]), 1e-9)
