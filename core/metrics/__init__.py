"""Validation metrics: their declarations (:mod:`core.metrics.catalog`) and the adapters over
scikit-learn, sacrebleu and rouge-score that compute them (:mod:`core.metrics.scores`)."""

from core.metrics.catalog import (
    HELDOUT,
    HELDOUT_LABEL,
    METRICS,
    Metric,
    check_objective,
    direction,
    metric,
    metric_label,
    metric_value,
    task_metrics,
)
from core.metrics.scores import (
    COUNT_KEYS,
    answer_right,
    bleu_case_note,
    classification_metrics,
    language_model_metrics,
    rouge_scores,
    scalars,
    summarisation_metrics,
    translation_metrics,
    written_answer,
)

__all__ = [
    "COUNT_KEYS", "HELDOUT", "answer_right", "bleu_case_note", "HELDOUT_LABEL", "METRICS", "Metric", "check_objective", "classification_metrics",
    "direction", "language_model_metrics", "metric", "metric_label", "metric_value", "rouge_scores", "scalars", "summarisation_metrics",
    "task_metrics", "translation_metrics", "written_answer",
]
