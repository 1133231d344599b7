"""Every validation metric the engine reports, declared once: name, label, direction, the
tasks that report it and how to show it.

Early stopping, the best checkpoint, sweep objectives, the CLI's progress line, the Run view's
charts, the Runs table and Compare all read these declarations; a test checks that each task
reports exactly the metrics declared for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError

CLASSIFICATION = "classification"
LANGUAGE_MODEL = "language_model"
TRANSLATION = "translation"
MASKED_LM = "masked_lm"
WORD_EMBEDDINGS = "word_embeddings"
SUMMARISATION = "summarisation"
QA = "qa"
ALL_TASKS = (CLASSIFICATION, LANGUAGE_MODEL, TRANSLATION, MASKED_LM, WORD_EMBEDDINGS, SUMMARISATION, QA)

# A training series beside the loss (training.log_grad_norm), not a validation metric: its name
# and its chart's title in the Run view.
GRAD_NORM = "grad_norm"
GRAD_NORM_LABEL = "Gradient norm (before clipping)"


@dataclass(frozen=True)
class Metric:
    """One validation metric.

    ``direction``: ``max`` (higher is better) or ``min``. ``tasks``: the tasks whose
    evaluation reports it. ``fmt``: a printf format for the shown number (``%.1f`` for 0-100
    scores), ``scale`` what the stored value is multiplied by first (100: a 0-1 share shown as a
    percentage) and ``unit`` what follows the number (``%``); every screen and the CLI show a
    value through :meth:`shown`, so a task's scores read on one scale side by side.
    ``fixed``: the same at every evaluation of a run (QA's passage retrieval is BM25's, done
    once, not the reader's): shown as a tile, never charted over steps.
    ``headline``: shown in short summaries (the CLI's eval line, the Run view's first charts).
    ``objective``: worth optimising (early stopping, sweeps); a diagnostic such as BLEU's
    brevity penalty is reported but not offered. ``high``: the most it can be (1 for shares and
    0-1 scores, 100 for 0-100 ones; None: no bound, as a loss), where its chart's axis stops.
    """

    name: str
    label: str
    direction: str
    tasks: tuple[str, ...]
    help: str
    fmt: str = "%.4f"
    headline: bool = False
    objective: bool = True
    high: float | None = None
    unit: str = ""
    scale: float = 1
    fixed: bool = False

    def __post_init__(self) -> None:
        if self.direction not in ("max", "min"):
            raise ValueError(f"metric {self.name}: direction must be max or min")
        unknown = set(self.tasks) - set(ALL_TASKS)
        if unknown:
            raise ValueError(f"metric {self.name}: unknown tasks {sorted(unknown)}")

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.direction == "max" else "minimize"

    def shown(self, value: float) -> str:
        """``value`` as every screen shows it: ``METRICS["bleu"].shown(27.345)`` is ``27.35``,
        ``METRICS["qa_recall_at_1"].shown(0.25)`` is ``25.0%``."""
        return self.fmt % (value * self.scale) + self.unit

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "max" else a < b


_CLS = (CLASSIFICATION,)
_BINARY = " Binary classification only (the positive class is 1)."
_MACRO = " Averaged over classes with equal weight."
_WEIGHTED = " Averaged over classes weighted by their support."

# Declaration order is display order: the Run view charts the first headline metrics.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "Accuracy", "max", (CLASSIFICATION, MASKED_LM), "Share of correct predictions (masked LM: of masked tokens).", fmt="%.3f", headline=True, high=1),
    Metric("negation_accuracy", "Accuracy on negations", "max", _CLS, "Accuracy on the validation examples whose label rests on a negation ('not a good film at all', 'hardly a masterpiece'); reported when the dataset marks them, as the built-in sentiment set does.", fmt="%.3f", headline=True, high=1),
    Metric("f1_macro", "F1 (macro)", "max", _CLS, "Harmonic mean of precision and recall." + _MACRO, fmt="%.3f", headline=True, high=1),
    Metric("roc_auc", "ROC-AUC", "max", _CLS, "Area under the ROC curve (one-vs-rest mean for several classes); missing when validation holds one class.", fmt="%.3f", headline=True, high=1),
    Metric("pr_auc", "PR-AUC", "max", _CLS, "Average precision (one-vs-rest mean for several classes).", fmt="%.3f", high=1),
    Metric("precision", "Precision (binary)", "max", _CLS, "Of the examples predicted positive, the share that are." + _BINARY, fmt="%.3f", high=1),
    Metric("recall", "Recall (binary)", "max", _CLS, "Of the positive examples, the share predicted positive." + _BINARY, fmt="%.3f", high=1),
    Metric("f1", "F1 (binary)", "max", _CLS, "Harmonic mean of binary precision and recall." + _BINARY, fmt="%.3f", high=1),
    Metric("precision_macro", "Precision (macro)", "max", _CLS, "Precision per class." + _MACRO, fmt="%.3f", high=1),
    Metric("recall_macro", "Recall (macro)", "max", _CLS, "Recall per class." + _MACRO, fmt="%.3f", high=1),
    Metric("precision_weighted", "Precision (weighted)", "max", _CLS, "Precision per class." + _WEIGHTED, fmt="%.3f", high=1),
    Metric("recall_weighted", "Recall (weighted)", "max", _CLS, "Recall per class." + _WEIGHTED, fmt="%.3f", high=1),
    Metric("f1_weighted", "F1 (weighted)", "max", _CLS, "F1 per class." + _WEIGHTED, fmt="%.3f", high=1),
    Metric("bleu", "BLEU", "max", (TRANSLATION,), "Corpus BLEU (sacrebleu, 13a tokenisation), 0-100: cased, or lowercased when the target tokenizer lowercases (the run says which).", fmt="%.2f", headline=True, high=100),
    Metric("bleu_cased", "BLEU (cased)", "max", (TRANSLATION,), "sacreBLEU with case counting (its default; WMT figures), 0-100.", fmt="%.2f", high=100),
    Metric("bleu_lowercased", "BLEU (lowercased)", "max", (TRANSLATION,), "sacreBLEU ignoring case (many Multi30k figures), 0-100.", fmt="%.2f", high=100),
    Metric("chrf", "chrF", "max", (TRANSLATION,), "Character n-gram F-score (sacrebleu), 0-100.", fmt="%.2f", headline=True, high=100),
    Metric("exact_match", "Exact match", "max", (TRANSLATION,), "Share of translations equal to their reference, token for token.", fmt="%.3f", headline=True, high=1),
    Metric("brevity_penalty", "BLEU brevity penalty", "max", (TRANSLATION,), "BLEU's penalty for output shorter than the references (1: none).", fmt="%.3f", objective=False, high=1),
    Metric("rougeL", "ROUGE-L", "max", (SUMMARISATION,), "Longest common subsequence F-measure with the reference summary (rouge-score, stemmed), mean over examples, 0-1.", fmt="%.3f", headline=True, high=1),
    Metric("rouge1", "ROUGE-1", "max", (SUMMARISATION,), "Word (unigram) overlap F-measure with the reference summary (rouge-score, stemmed), mean over examples, 0-1.", fmt="%.3f", headline=True, high=1),
    Metric("rouge2", "ROUGE-2", "max", (SUMMARISATION,), "Bigram overlap F-measure with the reference summary (rouge-score, stemmed), mean over examples, 0-1.", fmt="%.3f", headline=True, high=1),
    Metric("qa_f1", "F1 (QA)", "max", (QA,), "Token F1 between each predicted answer and its best gold answer after SQuAD's normalisation (lower case, no punctuation or articles), mean over questions, in percent (SQuAD's 0-100 scale); an unanswerable question scores 100 only for no answer.", fmt="%.1f", headline=True, high=100, unit="%"),
    Metric("qa_exact_match", "Exact match (QA)", "max", (QA,), "Share of questions whose predicted answer equals a gold answer after SQuAD's normalisation, in percent (SQuAD's 0-100 scale).", fmt="%.1f", headline=True, high=100, unit="%"),
    Metric("qa_recall_at_1", "Passage recall@1", "max", (QA,), "Retrieval before reading: every validation context cut into passages of about 100 words, each question ranked against all of them by BM25 (lmwb eval --retriever dense: by a sentence encoder); the share of questions whose first passage holds a gold answer whole, over the questions some passage answers, in percent. It does not depend on the reader's training: it scores the retriever and the data, once a run, and runs on the same validation set share it.", fmt="%.1f", headline=True, high=1, unit="%", scale=100, fixed=True),
    Metric("qa_recall_at_5", "Passage recall@5", "max", (QA,), "As passage recall@1, with a gold answer in any of the first 5 passages (what lmwb ask -k 5 hands the reader), in percent; fixed for a run like it.", fmt="%.1f", headline=True, high=1, unit="%", scale=100, fixed=True),
    Metric("qa_mrr", "Passage MRR", "max", (QA,), "Mean reciprocal rank of the first passage holding a gold answer (1/rank among the first 100, 0 when none), same questions and passages as passage recall@1, in percent (100: every first passage holds one); fixed for a run like it.", fmt="%.1f", high=1, unit="%", scale=100, fixed=True),
    Metric("sums_right", "Sums right", "max", (LANGUAGE_MODEL,), "Share of the validation problems ('23+58=') whose answer the model writes exactly, decoding greedily; reported for the built-in arithmetic set.", fmt="%.3f", headline=True, high=1),
    Metric("perplexity", "Perplexity", "min", (LANGUAGE_MODEL, TRANSLATION, MASKED_LM, SUMMARISATION), "exp(loss): how many tokens the model hesitates between, on average.", fmt="%.2f", headline=True),
    Metric("bits_per_char", "Bits per character", "min", (LANGUAGE_MODEL,), "Loss in bits per character of text: compares models with different tokenizers.", fmt="%.3f", headline=True),
    Metric("bits_per_token", "Bits per token", "min", (LANGUAGE_MODEL,), "Loss in bits per token.", fmt="%.3f"),
    Metric("neighbour_accuracy", "Neighbour accuracy", "max", (WORD_EMBEDDINGS,), "Share of planted related words found among each other's nearest neighbours.", fmt="%.3f", headline=True, high=1),
    Metric("analogy_accuracy", "Analogy accuracy", "max", (WORD_EMBEDDINGS,), "Share of planted analogies (a:b :: c:?) answered correctly.", fmt="%.3f", headline=True, high=1),
    Metric("loss", "Loss", "min", ALL_TASKS, "Mean validation loss (cross-entropy in nats; word vectors: their training objective).", fmt="%.4f", headline=True),
)}


def metric(name: str) -> Metric:
    """The declaration of ``name``; KeyError names the known metrics."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def metric_label(name: str) -> str:
    """How every screen names ``name`` ("BLEU", "ROUGE-L", "Accuracy"); an undeclared name as
    it is."""
    found = METRICS.get(name)
    return found.label if found is not None else name


def metric_value(name: str, value: float) -> str:
    """``value`` in ``name``'s declared format (``%.4f`` for an undeclared name)."""
    found = METRICS.get(name)
    return found.shown(value) if found is not None else f"{value:.4f}"


def task_metrics(task: str, *, objective: bool | None = None) -> list[Metric]:
    """The metrics ``task`` reports, in display order (``objective=True``: only those worth
    optimising)."""
    return [m for m in METRICS.values()
            if task in m.tasks and (objective is None or m.objective == objective)]


def direction(name: str) -> str:
    """``max`` or ``min`` for a declared metric; an undeclared name is maximised (scores)."""
    found = METRICS.get(name)
    return found.direction if found is not None else "max"


def check_objective(task: str, name: str, field: str) -> Metric:
    """The declaration of ``name`` if ``task`` reports it as an objective, else a ConfigError
    naming ``field`` and the allowed metrics."""
    allowed = [m.name for m in task_metrics(task, objective=True)]
    if name not in allowed:
        raise ConfigError(field, name, "one of " + ", ".join(allowed),
                          reason=f"not a validation metric of {task}")
    return METRICS[name]


# A run's metrics come from its validation split ("val") and, where the data names one, a
# held-out set scored the same way at each evaluation (the same metrics, declared above; never
# used for early stopping or the best checkpoint). Stored as the metric rows' split and as the
# summary's "heldout" key (the last evaluation; summary["best"]["heldout"]: at the best step).
HELDOUT = "heldout"
HELDOUT_LABEL = "held-out"
