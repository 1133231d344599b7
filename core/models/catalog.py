"""The architectures, declared: name, label, parameters, the tasks each serves and the checks
across its parameters. Torch-free, so the app server lists, labels and validates architectures
without loading torch; each factory is a ``"module:function"`` imported when a model is built.

A new architecture is its own module (the ``nn.Module`` and a factory) plus one ``declare`` here.
"""

from __future__ import annotations

from typing import Any

from core.models import hf_catalog as hf
from core.params import Param
from core.registry import MODELS

CELLS = ("rnn", "lstm", "gru")  # the recurrent cells (core.models.rnn builds them)
POSITION_KINDS = ("sinusoidal", "learned")
ATTENTION_KINDS = ("bahdanau", "luong_dot", "luong_general", "none")
WORD2VEC_MODES = ("skipgram", "cbow")

# -- recurrent ------------------------------------------------------------------------------------

RNN_PARAMS = (
    Param("embed_dim", "int", 128, "Size of the token embeddings.", low=4, high=4096, log=True, label="Embedding size", essential=True),
    Param("hidden_size", "int", 128, "Size of the recurrent state (per direction).", low=4, high=4096, log=True, label="Hidden size", essential=True),
    Param("n_layers", "int", 1, "Stacked recurrent layers.", low=1, high=16, label="Layers", essential=True),
    Param("bidirectional", "bool", False, "Also read right to left (classification only: it sees the future).", label="Bidirectional", essential=True),
    Param("dropout", "float", 0.2, "Dropout after the embedding and between layers.", low=0.0, high=0.9, label="Dropout"),
    Param("pooling", "str", "last", "Sentence vector: final state, or mean / max over the outputs.", choices=("last", "mean", "max"), label="Pooling", essential=True),
    Param("tie_weights", "bool", False, "Share the embedding with the output layer (language modelling; needs embed_dim == hidden_size, unidirectional).", label="Tie embeddings"),
)


def check_recurrent(p: dict[str, Any]) -> str | None:
    if p["tie_weights"] and p["bidirectional"]:
        return "model.tie_weights needs model.bidirectional = false"
    if p["tie_weights"] and p["embed_dim"] != p["hidden_size"]:
        return (
            f"model.tie_weights needs model.embed_dim ({p['embed_dim']}) "
            f"equal to model.hidden_size ({p['hidden_size']})"
        )
    return None


for _name, _label, _help in (
    ("rnn", "Simple RNN", "Vanilla (Elman) RNN: a tanh recurrence; simple, forgets quickly."),
    ("lstm", "LSTM", "LSTM: gated memory cell; the classic strong recurrent baseline."),
    ("gru", "GRU", "GRU: a lighter gated recurrence, often as good as an LSTM."),
):
    MODELS.declare(
        _name, f"core.models.rnn:build_{_name}", params=RNN_PARAMS, help=_help, check=check_recurrent,
        tasks=("classification", "language_model"),
        label=_label,  # the architecture in words, wherever a person sees it
    )

# -- convolutional --------------------------------------------------------------------------------

CNN_PARAMS = (
    Param("embed_dim", "int", 128, "Size of the token embeddings.", low=4, high=4096, log=True, label="Embedding size", essential=True),
    Param("kernel_sizes", "ints", (3, 4, 5), "Convolution widths (tokens per window), one filter bank each.", low=1, high=32, label="Kernel sizes", essential=True),
    Param("n_filters", "int", 100, "Filters per kernel size.", low=1, high=4096, log=True, label="Filters per size", essential=True),
    Param("dropout", "float", 0.5, "Dropout on the pooled features before the classifier.", low=0.0, high=0.9, label="Dropout"),
)

MODELS.declare(
    "textcnn", "core.models.cnn:build_textcnn", params=CNN_PARAMS, tasks=("classification",), label="TextCNN",
    help="TextCNN (Kim 2014): n-gram convolutions with max-over-time pooling; fast and strong.",
)

# -- transformers ---------------------------------------------------------------------------------

def _shape_params(d_model: int, n_layers: int, n_heads: int, d_ff: int, dropout: float) -> list[Param]:
    return [
        Param("d_model", "int", d_model, "Width of the residual stream (embedding size).", low=8, high=4096, log=True, label="Width (d_model)", essential=True),
        Param("n_layers", "int", n_layers, "Number of transformer blocks.", low=1, high=48, label="Layers", essential=True),
        Param("n_heads", "int", n_heads, "Attention heads per block; must divide d_model.", low=1, high=64, label="Heads", essential=True),
        Param("d_ff", "int", d_ff, "Hidden width of each block's MLP (usually 4 x d_model).", low=8, high=16384, log=True, label="MLP width (d_ff)", essential=True),
        Param("dropout", "float", dropout, "Dropout on embeddings, attention weights and residual branches.", low=0.0, high=0.9, label="Dropout"),
    ]


ENCODER_PARAMS = (
    *_shape_params(128, 2, 4, 256, 0.1),
    Param("norm_first", "bool", True, "Pre-LN (LayerNorm before each sublayer; trains more stably) instead of post-LN.", label="Pre-LayerNorm"),
    Param("positions", "str", "sinusoidal", "Position encoding: fixed sin/cos or learned vectors.", choices=POSITION_KINDS, label="Positions"),
    Param("pooling", "str", "cls", "Sentence vector: a prepended [CLS] token's state, or the mean over tokens.", choices=("cls", "mean"), label="Pooling"),
)

DECODER_PARAMS = (
    *_shape_params(128, 4, 4, 512, 0.0),
    Param("positions", "str", "learned", "Position encoding: learned vectors (GPT-2) or fixed sin/cos.", choices=POSITION_KINDS, label="Positions"),
    Param("bias", "bool", False, "Biases in linear layers and LayerNorms (nanoGPT: off, a bit faster and as good).", label="Biases"),
    Param("tie_weights", "bool", True, "Share the token embedding with the output layer (language modelling).", label="Tie embeddings"),
    Param("pooling", "str", "last", "Sentence vector for classification: last non-pad token's state, or the mean.", choices=("last", "mean"), label="Pooling"),
)


def check_heads(p: dict[str, Any]) -> str | None:
    if p["d_model"] % p["n_heads"] != 0:
        return f"model.d_model ({p['d_model']}) must be divisible by model.n_heads ({p['n_heads']})"
    return None


MODELS.declare(
    "transformer_encoder", "core.models.transformer:build_encoder", params=ENCODER_PARAMS,
    check=check_heads, tasks=("classification", "masked_lm", "qa"), label="Transformer encoder",
    help="Transformer encoder (BERT-style): every token attends to every other; [CLS] or mean pooling.",
)
MODELS.declare(
    "transformer_decoder", "core.models.transformer:build_decoder", params=DECODER_PARAMS,
    check=check_heads, tasks=("language_model", "classification"), label="Transformer decoder",
    help="Transformer decoder (GPT-style): causal self-attention; generates text.",
)
MODELS.declare(
    hf.ARCH, "core.models.hf:build_hf_classifier", params=hf.MODEL_PARAMS, check=hf.check_model,
    builds_classifier=True, label="Pretrained (Hugging Face)",
    # The only tokenizer it can read, and a fine-tuning rate: the task defaults (3e-3 to 5e-3,
    # for models trained from scratch) wreck pretrained weights in a few steps.
    suggests={"tokenizer": {"name": hf.TOKENIZER_KIND}, "optimizer": {"lr": 1e-4}},
    # The generative kinds (causal LM, seq2seq) are built by core/models/hf_generative.py.
    # An extractive reader (qa) is built by core/models/hf_reader.py: the encoder with a span head.
    tasks=("classification", "language_model", "translation", "summarisation", "qa"),
    help="A pretrained Hugging Face model: an encoder (BERT, MiniLM...) with a new classification head, "
         "a causal LM (GPT-2...) or a seq2seq model (T5, BART, Marian), by task.",
)

# -- encoder-decoders -----------------------------------------------------------------------------

_RNN = {p.name: p for p in RNN_PARAMS}
SEQ2SEQ_RNN_PARAMS = (
    Param("cell", "str", "gru", "Recurrent cell of encoder and decoder.", choices=CELLS, label="Cell", essential=True),
    Param("attention", "str", "bahdanau", "How the decoder looks at the source: additive (Bahdanau), dot or general (Luong), or none (one fixed vector).", choices=ATTENTION_KINDS, label="Attention", essential=True),
    _RNN["embed_dim"],
    _RNN["hidden_size"],
    _RNN["n_layers"],
    Param("bidirectional", "bool", True, "Encoder reads the source both ways (it may: the whole source is given).", label="Bidirectional"),
    _RNN["dropout"],
)

TRANSFORMER_SEQ2SEQ_PARAMS = (
    *(p for p in _shape_params(128, 2, 4, 256, 0.1) if p.name != "n_layers"),
    Param("encoder_layers", "int", 2, "Encoder blocks (self-attention over the source).", low=1, high=48, label="Encoder layers", essential=True),
    Param("decoder_layers", "int", 2, "Decoder blocks (causal self-attention + cross-attention).", low=1, high=48, label="Decoder layers", essential=True),
    Param("positions", "str", "sinusoidal", "Position encoding: fixed sin/cos or learned vectors.", choices=POSITION_KINDS, label="Positions"),
    Param("tie_weights", "bool", False, "Share the decoder's input embedding with its output layer (fewer parameters; trains slower on small tasks).", label="Tie embeddings"),
)

MODELS.declare(
    "seq2seq_rnn", "core.models.seq2seq:build_rnn_seq2seq", params=SEQ2SEQ_RNN_PARAMS,
    tasks=("translation", "summarisation"), seq2seq=True, label="RNN encoder-decoder",
    help="RNN / LSTM / GRU encoder-decoder with Bahdanau or Luong attention.",
)
MODELS.declare(
    "transformer_seq2seq", "core.models.seq2seq:build_transformer_seq2seq",
    params=TRANSFORMER_SEQ2SEQ_PARAMS, check=check_heads, tasks=("translation", "summarisation"),
    seq2seq=True, label="Transformer encoder-decoder",
    help="Transformer encoder-decoder: self-attention, causal decoder, cross-attention.",
)

# -- word vectors ---------------------------------------------------------------------------------

_DIM = Param("dim", "int", 100, "Size of the word vectors.", low=2, high=1024, log=True, label="Vector size", essential=True)

MODELS.declare(
    "word2vec", "core.models.word2vec:word2vec",
    params=(
        _DIM,
        Param("mode", "str", "skipgram", "skipgram predicts each context word from the centre word; cbow predicts the centre from the mean of its context.", choices=WORD2VEC_MODES, label="Mode", essential=True),
    ),
    help="Word2Vec with negative sampling: skip-gram or CBOW word vectors",
    tasks=("word_embeddings",),
    objective="sgns",
    label="Word2Vec",
)
MODELS.declare(
    "glove", "core.models.word2vec:glove",
    params=(
        _DIM,
        # The paper's 100 suits billions of tokens; on the small corpora here it leaves almost
        # every entry with a tiny weight, and 10 finds clearly better neighbours.
        Param("x_max", "float", 10.0, "Co-occurrence count at which an entry gets full weight (the paper uses 100 on huge corpora).", low=1.0, high=1e6, log=True, label="Full-weight count"),
        Param("alpha", "float", 0.75, "Exponent of the weighting (x / x_max)^alpha below x_max.", low=0.0, high=1.0, label="Weighting power"),
    ),
    help="GloVe: word vectors fitted to log co-occurrence counts (weighted least squares)",
    tasks=("word_embeddings",),
    objective="glove",
    label="GloVe",
)
