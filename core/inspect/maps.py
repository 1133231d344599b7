"""What a look at attention is made of: one input's maps, its tokens, and their JSON form.

An :class:`AttentionMaps` holds the weights ``(layers, heads, queries, keys)`` of one kind of
attention plus the token labels of both axes:

* ``encoder``: bidirectional self-attention (Transformer encoder, Hugging Face encoders);
* ``decoder``: causal self-attention (GPT-style decoder, the decoder of an encoder-decoder);
* ``cross``: decoder queries over encoder states (Transformer seq2seq, RNN seq2seq attention).

An :class:`AttentionCapture` is every map of one input with the model's prediction and notes.
Both round-trip through JSON (the Export download and the training snapshots).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.errors import WorkbenchError

if TYPE_CHECKING:  # saved captures are read (the Run view's snapshots) without torch
    from torch import nn

DEFAULT_MAX_TOKENS = 64  # bertviz draws tokens^2 lines per head: beyond ~100 it gets sluggish
CLS_TOKEN = "[CLS]"
KINDS = ("encoder", "decoder", "cross")  # display order
KIND_TITLES = {"encoder": "Encoder self-attention", "decoder": "Decoder self-attention (causal)",
               "cross": "Cross-attention (target → source)"}
EXPORT_DECIMALS = 5


class NoAttentionError(WorkbenchError):
    """The model has no attention to show (RNN, LSTM, GRU, TextCNN without attention)."""


class ModelSource(Protocol):
    """Anything holding a trained model and its task: a ``TrainedRun`` or a ``Trainer``."""

    model: nn.Module
    task: Any  # core.tasks.base.Task (tokenizer, params, state)


@dataclass
class AttentionMaps:
    """One kind of attention of one input: ``weights[layer, head, query, key]``."""

    kind: str  # encoder | decoder | cross
    weights: np.ndarray  # float32 (L, H, Tq, Tk); each row sums to 1
    query_tokens: list[str]
    key_tokens: list[str]
    causal: bool = False

    @property
    def n_layers(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.weights.shape[1])

    def matrix(self, layer: int, head: int | None = None) -> np.ndarray:
        """(Tq, Tk) weights of one head, or the mean over heads when ``head`` is None."""
        w = self.weights[layer]
        return w.mean(axis=0) if head is None else w[head]


@dataclass
class AttentionCapture:
    """Everything one input shows: its attention maps, the model's output, and notes."""

    maps: dict[str, AttentionMaps]
    notes: list[str] = field(default_factory=list)  # e.g. "truncated to 64 of 210 tokens"
    prediction: str | None = None  # class, next token, or the translation
    prediction_kind: str | None = None  # "class" | "next token" | "translation"
    # Seq2seq: the token each decoder row produces (the row of <bos> produces the first word),
    # which is how an alignment matrix labels its rows.
    output_tokens: list[str] | None = None
    text: str = ""
    target: str | None = None

    @property
    def structure(self) -> str:
        """encoder-decoder | encoder | decoder."""
        if "cross" in self.maps:
            return "encoder-decoder"
        return "decoder" if "decoder" in self.maps else "encoder"

    @property
    def self_kind(self) -> str | None:
        """The self-attention of a single-stack model (None for encoder-decoder)."""
        return None if self.structure == "encoder-decoder" else next(iter(self.maps))


# -- labels ------------------------------------------------------------------------------------
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "Ġ": "␣", "Ċ": "↵", "▁": "␣"})


def display_token(token: str) -> str:
    """A token as a label: whitespace made visible (char models), BPE markers shown as ␣."""
    return token.translate(_VISIBLE) if token else "∅"


# -- JSON --------------------------------------------------------------------------------------
def _rounded(a: np.ndarray, decimals: int) -> list[Any]:
    # float64 after rounding: json writes the shortest repr (0.1234), not float32 noise.
    return np.round(a.astype(np.float64), decimals).tolist()


def capture_to_dict(capture: AttentionCapture, decimals: int = EXPORT_DECIMALS) -> dict[str, Any]:
    return {
        "format": "lmwb-attention", "version": 1, "structure": capture.structure,
        "text": capture.text, "target": capture.target, "prediction": capture.prediction,
        "prediction_kind": capture.prediction_kind,
        "output_tokens": capture.output_tokens, "notes": capture.notes,
        "maps": {
            kind: {
                "query_tokens": m.query_tokens, "key_tokens": m.key_tokens, "causal": m.causal,
                "shape": list(m.weights.shape), "weights": _rounded(m.weights, decimals),
            }
            for kind, m in capture.maps.items()
        },
    }


def capture_from_dict(doc: dict[str, Any]) -> AttentionCapture:
    maps = {
        kind: AttentionMaps(kind, np.asarray(m["weights"], dtype=np.float32).reshape(m["shape"]),
                            list(m["query_tokens"]), list(m["key_tokens"]), bool(m.get("causal")))
        for kind, m in doc["maps"].items()
    }
    return AttentionCapture(
        maps, list(doc.get("notes") or []), doc.get("prediction"), doc.get("prediction_kind"),
        doc.get("output_tokens"), doc.get("text") or "", doc.get("target"),
    )


def capture_to_json(capture: AttentionCapture, decimals: int = EXPORT_DECIMALS) -> str:
    """The tensors and their token labels as JSON (the Export download)."""
    return json.dumps(capture_to_dict(capture, decimals), ensure_ascii=False, separators=(",", ":"))

