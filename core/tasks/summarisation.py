"""Summarisation: a document in, a short summary out, scored with ROUGE-1/2/L.

The sequence-to-sequence machinery is translation's: the same models (RNN with attention,
Transformer encoder-decoder, Hugging Face seq2seq), teacher-forced training, batched greedy /
beam decoding. What differs is declared here: longer sources, the length controls every
summariser needs (shortest output, no repeated n-grams; the length penalty is shared), and
ROUGE instead of BLEU (``rouge-score``, as summarisation papers report it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.decoding import settings as decoding
from core.metrics import summarisation_metrics
from core.models import hf_generative
from core.params import Param
from core.registry import TASKS
from core.tasks.translation import PARAMS as TRANSLATION_PARAMS
from core.tasks.translation import TranslationTask

# Translation's declarations with a summary's defaults and wording; two decoding knobs more.
_CHANGES: dict[str, dict[str, Any]] = {
    "max_source_length": {"default": 128, "help": "Longest document in tokens: longer training pairs are dropped, longer inputs cut."},
    "max_target_length": {"default": 32, "help": "Longest summary in tokens: longer training pairs are dropped; decoding stops here."},
    "shared_vocab": {"help": "One vocabulary for documents and summaries (else one each)."},
    "beam_size": {"help": "Beam size when summarising the validation set (1: greedy)."},
    "eval_max_sentences": {"help": "Validation documents summarised and scored at each evaluation (null: all).",
                           "label": "Documents per evaluation"},
    "samples_shown": {"help": "Sample summaries (document, reference, output) kept at each evaluation."},
}
PARAMS: tuple[Param, ...] = (
    *(replace(p, **_CHANGES.get(p.name, {})) for p in TRANSLATION_PARAMS),
    decoding.MIN_OUTPUT_TOKENS,
    decoding.NO_REPEAT_NGRAM,
)


@TASKS.register(
    "summarisation",
    label="Summarisation",  # the task in words, wherever a person sees it
    params=PARAMS,
    seq2seq=True,
    check_sections=hf_generative.check_sections,
    help="Summarise a document: the key facts, in a few words (ROUGE).",
    defaults={
        "data": "briefs",
        "tokenizer": "word",
        # Measured on 2 shared CPU cores, one thread: ROUGE-L ~0.88 on `briefs` in under a minute
        # (lead-3, the first three sentences, scores 0.34).
        "model": {"name": "transformer_seq2seq", "d_model": 64, "n_heads": 4, "encoder_layers": 2,
                  "decoder_layers": 2, "d_ff": 128, "dropout": 0.0},
        "optimizer": {"name": "adamw", "lr": 0.003},
        "schedule": {"name": "cosine", "warmup_steps": 50},
        "training": {"max_steps": 400, "batch_size": 32, "eval_every": 200, "eval_max_batches": 4},
    },
)
class SummarisationTask(TranslationTask):
    name = "summarisation"
    default_metric = "rougeL"

    def score(self, hypotheses: list[str], references: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """ROUGE-1/2/L F-measures (mean over documents, 0-1)."""
        return summarisation_metrics(hypotheses, references), {"rouge": "rouge-score, Porter stemmer, F-measure"}
