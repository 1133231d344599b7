"""The tasks, declared: name, label, parameters, defaults, headline metric and the rules a
config must follow. Torch-free, so the app server lists, labels, fills and validates tasks
without loading torch; each task's class (its factory) is a ``"module:Class"`` imported when a
run is built. A new task is its module (the ``Task`` subclass) plus one ``declare`` here.

``default_metric`` is the metric (declared in core.metrics) a run of the task watches for early
stopping and its best checkpoint, a sweep optimises unless told otherwise, and Compare shows first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.augment.settings import AUGMENT_PARAMS
from core.augment.settings import check_sections as check_augment
from core.decoding import settings as decoding
from core.finetune import FINETUNE_PARAMS, FREEZE_PARAMS
from core.finetune import check_sections as check_finetune
from core.models import hf_catalog as hf
from core.params import Param, RunChoice
from core.registry import TASKS
from core.source_runs import VECTOR_TASKS

# Off by default: batches that never mix lengths learn worse on small data and short runs (the
# built-in `topics` set: accuracy 0.30-0.48 against 0.48-0.70 after 80 steps; the `reverse`
# demo: BLEU 4-60 against 100 after 500), and those are what the defaults train. Recipes on real
# data turn it on, where steps get 1.7-2.9x faster and accuracy holds (docs/performance.md).
GROUP_BY_LENGTH = Param(
    "group_by_length", "bool", False,
    "Fill each training batch with rows of similar length: less padding, faster steps (about 3x fewer token "
    "positions on SST-2's phrases). Every row is still drawn with equal probability, but a batch no longer "
    "mixes lengths, which slows learning on small data sets and short runs.",
    sweepable=False, label="Batch by length",
)


PRETRAINED_PARAMS = (
    Param("pretrained_embeddings", "path", "", "A word2vec text file (e.g. exported from a word_embeddings run) to initialise the token embedding with (task.freeze: embeddings keeps it fixed); empty: random.", sweepable=False, label="Pretrained vectors file"),
    Param("embeddings_run", "str", "", "Initialise the token embedding with a finished run's word vectors (id or name): a word_embeddings run's table, or the token embedding of a classification, masked_lm or language_model run, a pretrained encoder's input embeddings included (with tokenizer: pretrained, a distilled student starts from its MiniLM teacher's). Tokens are matched by their text; model.embed_dim must equal the vectors' size; task.freeze: embeddings keeps them fixed. Empty: random.", sweepable=False, label="Embeddings from run", runs=RunChoice(VECTOR_TASKS)),
)


# Knowledge distillation (core.distill): a finished run of the same task teaches this one. The
# loss is alpha * CE(labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T)).
TEACHER = Param("teacher", "str", "", "Distil from this finished run of the same task (id or name): the loss adds the teacher's softened predictions to the labels. A classifier's teacher reads the text (it may tokenize differently) and must have the same labels in the same order; a language model's must share the vocabulary. Empty: no teacher.", sweepable=False, label="Teacher run", runs=RunChoice(same_task=True))
DISTILL_PARAMS = (
    TEACHER,
    Param("distill_alpha", "float", 0.5, "With a teacher: the weight α of the labels' cross entropy; the teacher's soft targets get 1 - α (1: the labels alone).", low=0.0, high=1.0, label="Distillation α (labels' weight)"),
    Param("distill_temperature", "float", 2.0, "With a teacher: the temperature T that softens the teacher's and the student's distributions in the soft term (scaled by T², so α means the same at any T).", low=0.5, high=20.0, label="Distillation temperature T"),
)


def default_metric(task: str) -> str:
    """The metric task ``task`` is judged by (``default_metric`` where it is declared)."""
    return str(TASKS.get(task, "task.name").meta["default_metric"])


# -- classification -------------------------------------------------------------------------------

CLASSIFICATION_PARAMS = (
    Param("max_length", "int", 128, "Longest input in tokens; longer texts are truncated.", low=4, high=4096, sweepable=False, label="Max length (tokens)", essential=True),
    Param("label_smoothing", "float", 0.0, "Spread this much target probability over the other classes.", low=0.0, high=0.5, label="Label smoothing"),
    *DISTILL_PARAMS,
    GROUP_BY_LENGTH,
    *PRETRAINED_PARAMS,
    *FINETUNE_PARAMS,
    *AUGMENT_PARAMS,  # training rows changed as they are drawn (core.augment)
)


def _check_classification(sections: dict[str, dict[str, Any]]) -> str | None:
    return hf.check_sections(sections) or check_finetune(sections) or check_augment(sections)


TASKS.declare(
    "classification", "core.tasks.classification:ClassificationTask", default_metric="accuracy",
    label="Classification",  # the task in words, wherever a person sees it
    params=CLASSIFICATION_PARAMS,
    help="Classify text: sentiment, topics, intent...",
    check_sections=_check_classification,
    defaults={
        "data": "sentiment",
        "tokenizer": "word",
        # A narrow BiLSTM with max pooling, no dropout and a brisk rate learns negation on the
        # built-in set within 500 steps (validation accuracy 0.87-0.93 over seeds 0-5, on one
        # CPU thread in about 15 s, beside a race's second run too); wider, or with dropout, it
        # is still guessing at step 500.
        "model": {"name": "lstm", "bidirectional": True, "pooling": "max", "embed_dim": 64,
                  "hidden_size": 64, "dropout": 0.0},
        "optimizer": {"name": "adamw", "lr": 0.01},
        # Small data must not be learned by heart (issue 17): the rate decays, a run on a few
        # hundred rows gets at most 20 passes over them, and it stops after 4 evaluations
        # without a better validation score.
        "schedule": "cosine",
        "training": {"max_steps": 500, "batch_size": 32, "eval_every": 50, "max_epochs": 20,
                     "early_stopping_patience": 4},
        # Architectures that learn this task with settings of their own (core.config:
        # tuned_settings takes the model's, architecture_settings the others). A transformer
        # encoder learns little at brisk rates (0.62 at 3e-3 with [CLS] pooling); warmed up at
        # 2e-3 and mean-pooled it reaches ~0.76 in 500 steps.
        "architectures": {
            "transformer_encoder": {"model": {"pooling": "mean"}, "optimizer": {"lr": 0.002},
                                    "schedule": {"warmup_steps": 50}},
        },
    },
)


# -- language modelling ---------------------------------------------------------------------------

LANGUAGE_MODEL_PARAMS = (
    Param("context_length", "int", 64, "Tokens of context the model sees (block size).", low=2, high=8192, label="Context (tokens)", essential=True),
    Param("label_smoothing", "float", 0.0, "Spread this much target probability over other tokens.", low=0.0, high=0.5, label="Label smoothing"),
    *DISTILL_PARAMS,
    Param("sample_length", "int", 200, "Tokens generated as a sample at each evaluation (0: none).", low=0, high=4096, sweepable=False, label="Sample length (tokens)", essential=True),
    Param("sample_prompt", "str", "", "Prompt for the samples (empty: the start of the validation text).", sweepable=False, label="Sample prompt", essential=True),
    decoding.renamed(decoding.TEMPERATURE, "sample_temperature", "Sampling temperature for the samples (0: greedy).", label="Sample temperature"),
    *PRETRAINED_PARAMS,
    *FREEZE_PARAMS,
)


def _check_language_model(sections: dict[str, dict[str, Any]]) -> str | None:
    if sections["task"]["name"] == "language_model" and sections["model"].get("bidirectional"):
        return "model.bidirectional must be false for language modelling (it would see the future)"
    return hf.check_generative_sections(sections)


TASKS.declare(
    "language_model", "core.tasks.language_model:LanguageModelTask", default_metric="loss",
    label="Language model",  # the task in words, wherever a person sees it
    params=LANGUAGE_MODEL_PARAMS,
    help="Predict the next token; generate text.",
    check_sections=_check_language_model,
    defaults={
        "data": "python_docs",
        "tokenizer": "char",
        "model": "transformer_decoder",
        "optimizer": "adamw",
        "schedule": "cosine",
        "training": {"max_steps": 500, "batch_size": 16, "eval_every": 100, "eval_max_batches": 20},
    },
)


# -- masked language modelling --------------------------------------------------------------------

MASKED_LM_PARAMS = (
    Param("max_length", "int", 64, "Longest example in tokens; longer lines are cut into pieces this long. Keep it equal to the fine-tuning run's task.max_length.", low=4, high=4096, sweepable=False, label="Max length (tokens)", essential=True),
    Param("mask_prob", "float", 0.15, "Share of tokens the model must predict; of those 80% become <mask>, 10% a random token, 10% stay.", low=0.01, high=0.5, label="Masked share", essential=True),
)


def _check_masked_lm(sections: dict[str, dict[str, Any]]) -> str | None:
    if sections["task"]["name"] == "masked_lm" and sections["model"].get("bidirectional") is False:
        return "model.bidirectional must be true for masked language modelling (it needs both sides)"
    return None


TASKS.declare(
    "masked_lm", "core.tasks.masked_lm:MaskedLMTask", default_metric="loss",
    label="Masked LM pretraining",  # the task in words, wherever a person sees it
    params=MASKED_LM_PARAMS,
    help="Pretrain an encoder on unlabelled text: predict masked tokens (BERT); then fine-tune a classifier.",
    check_sections=_check_masked_lm,
    defaults={
        "data": "sentiment",
        "tokenizer": "word",
        "model": {"name": "transformer_encoder", "pooling": "mean"},
        "optimizer": {"name": "adamw", "lr": 0.001},
        "schedule": {"name": "cosine", "warmup_steps": 50},
        "training": {"max_steps": 1000, "batch_size": 64, "eval_every": 100, "eval_max_batches": 20},
    },
)


# -- translation and summarisation ----------------------------------------------------------------

TRANSLATION_PARAMS = (
    Param("max_source_length", "int", 64, "Longest source in tokens: longer training pairs are dropped, longer inputs cut.", low=2, high=4096, sweepable=False, label="Max source tokens", essential=True),
    Param("max_target_length", "int", 64, "Longest target in tokens: longer training pairs are dropped; decoding stops here.", low=2, high=4096, sweepable=False, label="Max target tokens", essential=True),
    Param("shared_vocab", "bool", True, "One vocabulary for both languages (else one each, fitted with the same tokenizer settings).", sweepable=False, label="Shared vocabulary"),
    decoding.renamed(decoding.BEAM_SIZE, "beam_size", "Beam size when translating the validation set (1: greedy).", label="Beam size", essential=True),
    decoding.LENGTH_PENALTY,
    Param("eval_max_sentences", "int", 500, "Validation sentences translated and scored at each evaluation (null: all).", low=1, high=10_000_000, optional=True, sweepable=False, label="Sentences per evaluation"),
    Param("label_smoothing", "float", 0.0, "Spread this much target probability over other tokens.", low=0.0, high=0.5, label="Label smoothing"),
    GROUP_BY_LENGTH,
    Param("samples_shown", "int", 5, "Sample translations (source, reference, hypothesis) kept at each evaluation.", low=0, high=100, sweepable=False, label="Samples shown"),
)


TASKS.declare(
    "translation", "core.tasks.translation:TranslationTask", default_metric="bleu",
    label="Translation",  # the task in words, wherever a person sees it
    params=TRANSLATION_PARAMS,
    seq2seq=True,  # shares the sequence-to-sequence machinery (summarisation does too)
    check_sections=hf.check_generative_sections,
    help="Translate a sequence into another: languages, reversal, date formats...",
    defaults={
        "data": "reverse",
        "tokenizer": "word",
        # Measured on 2 CPU cores: reaches BLEU ~99 on `reverse` in about 20 s.
        "model": {"name": "transformer_seq2seq", "d_model": 64, "n_heads": 4, "encoder_layers": 2,
                  "decoder_layers": 2, "d_ff": 128, "dropout": 0.0},
        "optimizer": {"name": "adamw", "lr": 0.003},
        "schedule": {"name": "cosine", "warmup_steps": 50},
        "training": {"max_steps": 500, "batch_size": 64, "eval_every": 250, "eval_max_batches": 10},
    },
)

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
SUMMARISATION_PARAMS: tuple[Param, ...] = (
    *(replace(p, **_CHANGES.get(p.name, {})) for p in TRANSLATION_PARAMS),
    decoding.MIN_OUTPUT_TOKENS,
    decoding.NO_REPEAT_NGRAM,
)


TASKS.declare(
    "summarisation", "core.tasks.summarisation:SummarisationTask", default_metric="rougeL",
    label="Summarisation",  # the task in words, wherever a person sees it
    params=SUMMARISATION_PARAMS,
    seq2seq=True,
    check_sections=hf.check_generative_sections,
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


# -- extractive question answering ----------------------------------------------------------------

QA_PARAMS = (
    Param("max_length", "int", 384, "Tokens in one model input ([CLS] question [SEP] context part [SEP]); a longer context is read in overlapping windows.", low=16, high=4096, sweepable=False, label="Window (tokens)", essential=True),
    Param("stride", "int", 128, "Context tokens two consecutive windows share, so an answer cut by one window's edge lies whole in the next.", low=0, high=4000, sweepable=False, label="Window overlap (tokens)"),
    Param("max_question", "int", 64, "Question tokens kept; a longer question is cut, so it never squeezes the context out.", low=1, high=1024, sweepable=False, label="Max question tokens"),
    Param("max_answer", "int", 30, "Longest answer the reader may pick, in tokens.", low=1, high=1024, sweepable=False, label="Max answer tokens"),
    Param("eval_max_questions", "int", 500, "Validation questions answered and scored at each evaluation (null: all).", low=1, high=10_000_000, optional=True, sweepable=False, label="Questions per evaluation"),
)


def _check_qa(sections: dict[str, dict[str, Any]]) -> str | None:
    task = sections["task"]
    if task["max_length"] - min(task["max_question"], task["max_length"]) - 3 <= task["stride"]:
        return (f"task.stride ({task['stride']}) must be below the context tokens a window holds beside the "
                f"question: task.max_length - task.max_question - 3 = {task['max_length'] - task['max_question'] - 3}")
    if sections["model"]["name"] == hf.ARCH and sections["model"].get("pooling", "cls") != "cls":
        return "model.pooling must be cls (its default) here: pooling makes a sentence vector for classification only"
    return hf.check_sections(sections)


TASKS.declare(
    "qa", "core.tasks.qa:QATask", default_metric="qa_f1",
    label="Question answering",  # the task in words, wherever a person sees it
    params=QA_PARAMS,
    help="Answer a question with a span of its context (extractive, SQuAD-style: exact match and F1).",
    check_sections=_check_qa,
    defaults={
        "data": "news_qa",
        "tokenizer": "word",
        # Measured on 2 shared CPU cores (load 2-3), one thread: F1 ~77 on news_qa's 400 validation
        # questions in 20-30 s of training (answering with the context's first token: F1 3.5).
        # Learned positions: sinusoidal ones reach ~68 in the same steps.
        "model": {"name": "transformer_encoder", "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 128,
                  "dropout": 0.0, "pooling": "mean", "positions": "learned"},
        "optimizer": {"name": "adamw", "lr": 0.003},
        "schedule": {"name": "cosine", "warmup_steps": 50},
        # Every 50 steps: 12 points on the F1 curve, not 3; an evaluation (320 questions, BM25 once a
        # run) is cheap: 12 of them trained in 17.4 s against 3 in 17.7 s, the same within noise.
        "training": {"max_steps": 600, "batch_size": 32, "eval_every": 50, "eval_max_batches": 10},
    },
)

# -- word embeddings ------------------------------------------------------------------------------

WORD_EMBEDDINGS_PARAMS = (
    Param("window", "int", 5, "Context words on each side of a word (Word2Vec draws a smaller window per word, so near words count more; GloVe weights a pair by 1/distance).", low=1, high=20, label="Window (words)", essential=True),
    Param("subsample", "float", 1e-3, "Frequent-word subsampling threshold t (Word2Vec): a word of frequency f is kept with probability (sqrt(f/t) + 1) t/f; 0 keeps every word.", low=0.0, high=1.0, label="Subsampling threshold"),
    Param("negatives", "int", 5, "Negative samples per positive pair (Word2Vec), drawn from the unigram distribution raised to 0.75.", low=1, high=50, label="Negative samples", essential=True),
    Param("eval_words", "str", "", "Comma-separated words whose nearest neighbours are shown at each evaluation (empty: the dataset's choice or a few frequent words).", sweepable=False, label="Words to watch"),
    Param("analogies", "str", "", "Extra analogy checks, comma-separated, e.g. 'man:woman::king:queen' (planted_relations brings its own).", sweepable=False, label="Extra analogies"),
    Param("eval_k", "int", 5, "Neighbours shown per word; a planted pair counts as found when the partner is among them.", low=1, high=100, sweepable=False, label="Neighbours shown"),
)



def parse_analogies(text: str) -> list[tuple[str, str, str, str]]:
    """``"a:b::c:d, e:f::g:h"`` -> [(a, b, c, d), (e, f, g, h)]; ValueError names a bad item."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        halves = [h.strip() for h in item.split("::")]
        words = [w.strip() for h in halves for w in h.split(":")]
        if len(halves) != 2 or len(words) != 4 or not all(words):
            raise ValueError(item)
        out.append((words[0], words[1], words[2], words[3]))
    return out


def _check_word_embeddings(p: dict[str, Any]) -> str | None:
    try:
        parse_analogies(p["analogies"])
    except ValueError as exc:
        return f"task.analogies: {str(exc)!r} is not of the form a:b::c:d"
    return None


TASKS.declare(
    "word_embeddings", "core.tasks.embeddings:WordEmbeddingsTask", default_metric="loss",
    label="Word embeddings",  # the task in words, wherever a person sees it
    params=WORD_EMBEDDINGS_PARAMS,
    help="Learn word vectors (Word2Vec, GloVe); explore neighbours and analogies.",
    check=_check_word_embeddings,
    defaults={
        "data": "python_docs",
        # word2vec's min_count: words seen fewer than 3 times get no vector of their own.
        "tokenizer": {"name": "word", "min_freq": 3},
        "model": "word2vec",
        # No weight decay: it would shrink the vectors of rare words towards zero.
        "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0},
        "schedule": "linear",
        "training": {"max_steps": 1500, "batch_size": 1024, "eval_every": 500, "eval_max_batches": 20, "grad_clip": 0.0},
    },
)
