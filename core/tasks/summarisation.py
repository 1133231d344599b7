"""Summarisation: a document in, a short summary out, scored with ROUGE-1/2/L.

The sequence-to-sequence machinery is translation's: the same models (RNN with attention,
Transformer encoder-decoder, Hugging Face seq2seq), teacher-forced training, batched greedy /
beam decoding. What differs is declared here: longer sources, the length controls every
summariser needs (shortest output, no repeated n-grams; the length penalty is shared), and
ROUGE instead of BLEU (``rouge-score``, as summarisation papers report it).
"""

from __future__ import annotations

from typing import Any

from core.metrics import summarisation_metrics
from core.tasks.translation import TranslationTask


class SummarisationTask(TranslationTask):
    name = "summarisation"

    def score(self, hypotheses: list[str], references: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """ROUGE-1/2/L F-measures (mean over documents, 0-1)."""
        return summarisation_metrics(hypotheses, references), {"rouge": "rouge-score, Porter stemmer, F-measure"}
