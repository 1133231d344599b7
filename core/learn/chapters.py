"""Every Learn chapter, declared once: its title, the part of the course it belongs to, what it
shows, the runs it can read and its knobs (``Param``: the page's widgets, the CLI's flags and
their validation come from these). The computation is a ``"module:function"`` imported on first
use, called as ``function(trained, text, **knobs) -> Walkthrough``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import core.optim  # noqa: F401  (registers the optimizers the optimizer chapter offers)
from core.config import RunConfig, apply_overrides, default_config, validate_config
from core.decoding import settings as decoding
from core.errors import ConfigError
from core.metrics import metric_label
from core.params import Param, validate_params
from core.registry import OPTIMIZERS

if TYPE_CHECKING:
    from core.learn.walkthrough import Walkthrough

STARTER_STEPS = 200  # a learner's first run for a chapter: enough to have learned something to show

# The course, from text to evaluation: a chapter belongs to one part.
PARTS = ("Text to tokens", "Models", "Training", "Decoding", "Evaluation")

LAYER = Param("layer", "int", 0, "Which block of the model, counted from the input (0: the first).",
              low=0, high=255, label="Layer", essential=True)
HEAD = Param("head", "int", 0, "Which attention head of that layer (0: the first).",
             low=0, high=255, label="Head", essential=True)


@dataclass(frozen=True)
class Knob:
    """A knob fitted to one run: its declaration with the run's bounds (``dataclasses.replace`` of
    the chapter's Param), and how each value reads when it names something (a class)."""

    param: Param
    names: dict[Any, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chapter:
    name: str  # in URLs and on the command line: ?chapter=attention, lmwb learn attention
    title: str
    part: str
    summary: str  # one line: what the learner sees computed
    compute: str  # "module:function"
    # The runs it reads: {task: architectures} (empty: it needs no run).
    runs: dict[str, tuple[str, ...]]
    knobs: tuple[Param, ...] = ()
    default_text: str = "the cat sat on the mat"
    # The metrics (core.metrics names) it computes by hand: Compare links their columns here.
    explains: tuple[str, ...] = ()
    # Knobs that apply to runs of some tasks only ({knob: tasks}); the others apply to every run.
    only_for: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The knobs fitted to one run and input, "module:function" called as function(trained, text) ->
    # {knob: Knob}: a layer or head the model has, a time step the text has, a class by its name.
    adapt: str = ""

    def adapted(self, trained: Any, text: str) -> dict[str, Knob]:
        """The knobs as ``trained`` and ``text`` allow them (none fitted without a run or an ``adapt``)."""
        if not self.adapt or trained is None:
            return {}
        module, _, name = self.adapt.partition(":")
        fitted: dict[str, Knob] = getattr(importlib.import_module(module), name)(trained, text)
        return fitted

    def knobs_for(self, task: str | None) -> tuple[Param, ...]:
        """The knobs that apply to a run of ``task`` (all of them when there is no run)."""
        return tuple(k for k in self.knobs if task is None or task in self.only_for.get(k.name, (task,)))

    def starter(self) -> RunConfig:
        """A tiny run this chapter can read, for a learner who has none: the first kind it reads,
        the task's defaults, a short budget (well under a minute on a laptop CPU)."""
        task, archs = next(iter(self.runs.items()))
        return validate_config(apply_overrides(default_config(task), {
            "model.name": archs[0], "training.max_steps": STARTER_STEPS}))

    def accepts(self, task: str, arch: str) -> bool:
        return arch in self.runs.get(task, ())

    def function(self) -> Callable[..., Walkthrough]:
        module, _, name = self.compute.partition(":")
        return getattr(importlib.import_module(module), name)

    def knob_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` checked against the knobs' declarations, defaults filled (ConfigError names
        the knob)."""
        return validate_params(self.knobs, values, self.name)


_TRANSFORMERS = ("transformer_encoder", "transformer_decoder")

# Every architecture the workbench builds itself: their runs' tokenizers are its own (char, word, BPE).
_OWN = ("rnn", "lstm", "gru", "textcnn", "transformer_encoder", "transformer_decoder", "seq2seq_rnn",
        "transformer_seq2seq", "word2vec", "glove")

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "tokens", "Tokenisation", "Text to tokens",
        "Your text split into a run's own tokens: characters or words looked up in its vocabulary (unknown "
        "ones as <unk>, and why), or BPE's learned merges applied one at a time, ending in the tokenizer's ids.",
        "core.learn.tokens:walkthrough",
        {task: _OWN for task in ("classification", "language_model", "masked_lm", "translation", "summarisation",
                                 "word_embeddings")},
        default_text="The cats sat on the mat, unbelievably.",
    ),
    Chapter(
        "word_vectors", "Word vectors", "Text to tokens",
        "A Word2Vec or GloVe run on your sentence: the skip-gram and CBOW windows, the negative-sampling loss of "
        "one pair term by term (or GloVe's weighted least-squares term of one co-occurrence cell), and a word's "
        "nearest neighbours by cosine; against the model's own loss and the workbench's neighbour search.",
        "core.learn.word_vectors:walkthrough",
        {"word_embeddings": ("word2vec", "glove")},
        (Param("window", "int", None, "Words on each side of a centre word (null: the run's task.window).",
               low=1, high=20, optional=True, label="Window", essential=True),
         Param("pair", "int", 0, "Which skip-gram pair (a CBOW run: which window; GloVe: which co-occurrence cell) "
               "to work the loss through, by its row in the table (0: the first).", low=0, high=4095,
               label="Pair", essential=True),
         Param("seed", "int", 0, "Seed of the negative words drawn for the loss (Word2Vec).", low=0,
               high=2**31 - 1, label="Negatives' seed", essential=True),
         Param("word", "str", "", "The word whose nearest neighbours are listed (empty: the first word of your "
               "input the run knows).", sweepable=False, label="Neighbours of", essential=True)),
        default_text="the cat sat on the mat",
    ),
    Chapter(
        "classification_metrics", f"Precision, recall, F1 and {metric_label('roc_auc')}", "Evaluation",
        "A trained classifier's validation predictions to the confusion matrix, each class's precision, recall "
        "and F1, the ROC curve as a threshold sweep and AUC as its area, against scikit-learn's.",
        "core.learn.classification_metrics:walkthrough",
        {"classification": _OWN},
        (Param("threshold", "float", 0.5, "Call an example positive when its probability of the positive class "
               "is at least this: a point on the ROC curve.", low=0.0, high=1.0, label="Threshold", essential=True),
         Param("positive", "int", 1, "The class the ROC curve is drawn for, against all the others (0: the "
               "first class).", low=0, high=255, label="Positive class", essential=True)),
        default_text="what a great match, the team played well",
        explains=("f1_macro", "roc_auc", "precision", "recall", "f1", "precision_macro", "recall_macro"),
    ),
    Chapter(
        "bleu_rouge", f"{metric_label('bleu')} and ROUGE", "Evaluation",
        "Your input as a hypothesis against a reference: BLEU's clipped n-gram precisions, brevity penalty and "
        "geometric mean, and ROUGE-1/2/L's overlaps, against sacreBLEU and rouge-score.",
        "core.learn.bleu_rouge:walkthrough", {},
        (Param("reference", "str", "the cat is on the mat", "The reference text your input is scored against.",
               sweepable=False, label="Reference", essential=True),),
        default_text="the cat sat on the mat",
        explains=("bleu", "rougeL", "rouge1", "rouge2"),
    ),
    Chapter(
        "attention", "Self-attention", "Models",
        "Q, K and V of a trained Transformer layer on your tokens; QKᵀ/√d_k, the causal mask, the softmax, "
        "the weighted sum of V, the heads joined and projected, against the weights the model used.",
        "core.learn.attention:walkthrough",
        {"classification": _TRANSFORMERS, "language_model": ("transformer_decoder",), "masked_lm": ("transformer_encoder",)},
        (LAYER, HEAD),
        adapt="core.learn.fitted:attention",
    ),
    Chapter(
        "recurrent", "Recurrent cells", "Models",
        "An RNN, LSTM or GRU layer of a trained run on your tokens: every gate, the cell and the hidden "
        "state recomputed from the layer's weights, one time step worked through, against PyTorch's output.",
        "core.learn.recurrent:walkthrough",
        {"classification": ("rnn", "lstm", "gru"), "language_model": ("rnn", "lstm", "gru")},
        (Param("step", "int", 0, "Which time step (token) to work through in detail (0: the first).",
               low=0, high=4095, label="Time step", essential=True), LAYER,
         Param("unit", "int", 0, "Which hidden unit's equations to work through (0: the first).", low=0, high=4095,
               label="Unit", essential=True),
         Param("direction", "str", "forward", "A bidirectional layer's reading to show: forward (left to right) "
               "or backward (right to left, its own …_reverse weights).", choices=("forward", "backward"),
               sweepable=False, label="Direction", essential=True)),
        adapt="core.learn.fitted:recurrent",
    ),
    Chapter(
        "output", "The output layer and its loss", "Training",
        "A trained classifier's or language model's logits on your text, the softmax, the cross entropy for the "
        "true class or each true next token, label smoothing's target, perplexity as exp of the mean; "
        "against F.cross_entropy and the task's own loss.",
        "core.learn.output:walkthrough",
        {"classification": ("rnn", "lstm", "gru", "textcnn", *_TRANSFORMERS),
         "language_model": ("rnn", "lstm", "gru", "transformer_decoder")},
        (Param("label", "int", 0, "Classification: the true class, by its place in the run's classes (0: the first).",
               low=0, high=4095, label="True class", essential=True),
         Param("position", "int", 0, "Language model: the next-token prediction to show in detail (0: the first "
               "token's guess of the second).", low=0, high=4095, label="Position", essential=True),
         Param("smoothing", "float", None, "The label smoothing ε to compute with (null: the run's own "
               "task.label_smoothing).", low=0.0, high=1.0, optional=True, label="Label smoothing", essential=True)),
        explains=("loss", "perplexity"),
        only_for={"label": ("classification",), "position": ("language_model",)},
        adapt="core.learn.fitted:output",
    ),
    Chapter(
        "pretraining", "Pretraining objectives: masked and causal", "Training",
        "A masked-LM run on your sentence: which tokens are masked (BERT's 80/10/10 rule, or the one you mark), "
        "the model's top-5 guesses and the loss over the masked positions only; beside it a language model's "
        "causal objective, every position predicting the next; against each task's own loss.",
        "core.learn.pretraining:walkthrough",
        {"masked_lm": ("transformer_encoder",), "language_model": ("rnn", "lstm", "gru", "transformer_decoder")},
        (Param("mask", "int", None, "The position of a token to mask yourself (null: chosen at random as "
               "training chooses, with the Masking seed).", low=0, high=4095, optional=True, label="Mask position",
               essential=True),
         Param("seed", "int", 0, "Seed of the random masking: another seed, other tokens masked.", low=0,
               high=2**31 - 1, label="Masking seed", essential=True),
         Param("beside", "str", "", "The id or name of a run of the other objective to show beside (empty: the "
               "newest finished one, if any; none: no other run).", sweepable=False, label="Beside run",
               essential=True)),
        default_text="the story was a real delight",
    ),
    Chapter(
        "backprop", "Backpropagation, dropout and gradient clipping", "Training",
        "A tiny two-layer network (3 inputs, 4 tanh units, 2 classes) on three numbers from your text: the "
        "forward pass, every gradient by the chain rule, a dropout mask and its 1/(1-p) scaling, clipping by "
        "the global norm; against torch.autograd, F.dropout and clip_grad_norm_.",
        "core.learn.backprop:walkthrough", {},
        (Param("label", "int", 0, "The true class of your input (0 or 1): the loss, and so every gradient, "
               "depends on it.", low=0, high=1, label="True class", essential=True),
         Param("dropout", "float", 0.25, "The dropout rate p: each hidden unit is dropped with this probability "
               "(0: none).", low=0.0, high=0.9, label="Dropout p", essential=True),
         Param("seed", "int", 3, "Seed of the dropout mask (PyTorch's own draw): another seed, other units "
               "dropped.", low=0, high=2**31 - 1, label="Mask seed", essential=True),
         Param("max_norm", "float", 1.0, "Clip the gradients when their global norm is above this (as "
               "training.grad_clip does).", low=1e-3, high=100.0, label="Max norm", essential=True)),
        default_text="the cat sat on the mat",
    ),
    Chapter(
        "normalisation", "LayerNorm and BatchNorm over a real batch", "Training",
        "Your text and rows of a classifier's own validation split, padded and looked up in its token embedding: "
        "LayerNorm per token over the features, BatchNorm per feature over the batch (padding masked), its "
        "running statistics and eval mode; against F.layer_norm, F.batch_norm and nn.BatchNorm1d.",
        "core.learn.normalisation:walkthrough",
        {"classification": ("rnn", "lstm", "gru", "textcnn", *_TRANSFORMERS)},
        (Param("batch", "int", 4, "Rows in the batch: your text, then the first rows of the run's validation "
               "split.", low=2, high=32, label="Batch size", essential=True),
         Param("token", "int", 0, "Which token of your text to work LayerNorm through (0: the first).", low=0,
               high=4095, label="Token", essential=True),
         Param("feature", "int", 0, "Which embedding feature (column) to work BatchNorm through (0: the first).",
               low=0, high=4095, label="Feature", essential=True)),
        default_text="the team won the match",
    ),
    Chapter(
        "optimizer", "One optimizer step: SGD, momentum, Adam, AdamW", "Training",
        "One step of a trained run's optimizer on one of its weight tensors, from the state saved in its last "
        "checkpoint and the gradient of the task's loss on your text: m, v, bias correction, weight decay, the "
        "new values, the learning-rate schedule; against torch.optim's own step.",
        "core.learn.optimizer:walkthrough",
        {"classification": ("rnn", "lstm", "gru", "textcnn", *_TRANSFORMERS),
         "language_model": ("rnn", "lstm", "gru", "transformer_decoder")},
        (Param("parameter", "str", "", "The parameter tensor to step, by its name in the model, e.g. "
               "'classifier.weight' (empty: the model's last weight matrix, its output layer).", sweepable=False,
               label="Parameter", essential=True),
         Param("optimizer", "str", None, "Whose update rule to apply (null: the run's own); its settings are "
               "the run's where it has them.", choices=tuple(OPTIMIZERS.names()), optional=True, sweepable=False,
               label="Optimizer", essential=True),
         Param("weight_decay", "float", None, "Weight decay λ for the step (null: the run's own).", low=0.0,
               high=1.0, optional=True, label="Weight decay", essential=True),
         Param("label", "int", 0, "Classification: the true class of your text, by its place in the run's "
               "classes (0: the first).", low=0, high=4095, label="True class", essential=True)),
        only_for={"label": ("classification",)},
    ),
    Chapter(
        "tuning", "Tuning: grid, random and Bayesian search", "Training",
        "One numeric parameter of a finished sweep's trials as a 1-D slice: what a grid and seeded random search "
        "would try, and a Gaussian-process surrogate fitted to the trials with its mean, ±2σ band and the Expected "
        "Improvement that picks the next x; against scikit-learn's GP, the normal distribution and the store's "
        "metrics.",
        "core.learn.tuning:walkthrough", {},
        (Param("sweep", "str", "", "The id or name of a sweep (empty: the newest finished one in the store).",
               sweepable=False, label="Sweep", essential=True),
         Param("param", "str", "", "The numeric parameter of its space to slice along, e.g. 'optimizer.lr' "
               "(empty: the first numeric one).", sweepable=False, label="Parameter", essential=True),
         Param("points", "int", 5, "Points of the grid, and draws of random search, to show.", low=2, high=50,
               sweepable=False, label="Grid points", essential=True),
         Param("seed", "int", 0, "Seed of random search's draws.", low=0, high=2**31 - 1, label="Random seed",
               essential=True)),
        default_text="0.001 0.01",
    ),
    Chapter(
        "decoding", "Decoding: greedy, temperature, top-k, top-p and beam search", "Decoding",
        "A trained language model's next-token distribution after your prompt: greedy choice, temperature, the "
        "top-k and top-p kept sets, a greedy continuation token by token; on a translation run beam search as a "
        "tree of scored hypotheses; against the engine's own sampling filter and decoders.",
        "core.learn.decoding:walkthrough",
        {"language_model": ("rnn", "lstm", "gru", "transformer_decoder"),
         "translation": ("seq2seq_rnn", "transformer_seq2seq")},
        (decoding.renamed(decoding.TEMPERATURE, "temperature", "Divide the logits by this before the softmax "
                          "(0: greedy).", label="Temperature", essential=True),
         decoding.renamed(decoding.TOP_K, "top_k", "Keep the k most likely tokens (null: all of them).", default=5,
                          label="Top-k", essential=True),
         decoding.renamed(decoding.TOP_P, "top_p", "Then keep the fewest top tokens whose probabilities add up to p "
                          "(null: all of them).", default=0.9, label="Top-p", essential=True),
         Param("steps", "int", 5, "Tokens decoded greedily one by one (and the beam tree's depth).", low=1, high=30,
               sweepable=False, label="Steps", essential=True),
         decoding.renamed(decoding.BEAM_SIZE, "beam", "Hypotheses kept at each depth of the beam tree.", default=3,
                          label="Beam", essential=True)),
        default_text="the cat sat on the",
        only_for={"beam": ("translation",)},
    ),
)
_BY_NAME = {c.name: c for c in CHAPTERS}


def explaining(metrics: list[str]) -> list[Chapter]:
    """The chapters that compute any of ``metrics`` by hand, in the order they are declared."""
    return [c for c in CHAPTERS if set(c.explains) & set(metrics)]


def chapter(name: str) -> Chapter:
    """The chapter called ``name``, or a ConfigError listing them."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError("chapter", name, "one of " + ", ".join(_BY_NAME), reason="no such chapter") from None
