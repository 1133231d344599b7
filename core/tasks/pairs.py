"""Sentence pairs (premise / hypothesis) for pair classification.

A pair travels as one text, ``a [SEP] b`` (``core.data.types.PAIR_MARK``), so tables, the
Playground and predictions handle it like any text. Encoding splits it again: the Transformer
encoder reads ``<bos> a <eos> b`` (the workbench vocabulary's ``[CLS] a [SEP] b``), a pretrained
Hugging Face model its tokenizer's own pair encoding, and the RNNs and the CNN, which have no
notion of segments, the two texts joined with the data's separator.
"""

from __future__ import annotations

import re
from typing import Any

from core.data.types import PAIR_MARK
from core.tokenize import Tokenizer

PAIR_ARCHS = ("transformer_encoder", "hf_pretrained")  # the models that see a [SEP] between the two
_MARK = re.compile(r"\s*" + re.escape(PAIR_MARK.strip()) + r"\s*")


def split_pair(text: str) -> tuple[str, str]:
    """``("a", "b")`` for ``"a [SEP] b"``; a text without the mark is a pair with an empty second."""
    parts = _MARK.split(text, maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else (text, "")


def fitting_texts(texts: list[str]) -> list[str]:
    """Texts to fit a vocabulary on: the mark is structure, not words."""
    return [" ".join(split_pair(t)) for t in texts]


def encode_texts(tokenizer: Tokenizer, texts: list[str], state: dict[str, Any], arch: str) -> list[list[int]]:
    """Token ids of classification texts; pairs (``state["text_pair"]``) as ``arch`` reads them."""
    if not state.get("text_pair"):
        return tokenizer.encode_batch(texts)
    pairs = [split_pair(t) for t in texts]
    if arch not in PAIR_ARCHS:
        separator = str(state.get("pair_separator", " "))
        return tokenizer.encode_batch([separator.join(p for p in pair if p) for pair in pairs])
    encode_pairs = getattr(tokenizer, "encode_pairs", None)
    if encode_pairs is not None:  # a pretrained tokenizer: [CLS] a [SEP] b [SEP] for BERT
        return encode_pairs(pairs)
    first = tokenizer.encode_batch([a for a, _ in pairs])
    second = tokenizer.encode_batch([b for _, b in pairs])
    return [[tokenizer.bos_id, *a, tokenizer.eos_id, *b] for a, b in zip(first, second, strict=True)]
