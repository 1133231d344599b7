"""Token ids with each token's character span, for every kind of tokenizer the workbench has.

An extractive reader predicts a start and an end *token*; the answer a person reads is a span of
*characters* of the context. Mapping one to the other needs each token's character offsets in the
original text, which the workbench's tokenizers do not return from ``encode``. This module gets
them, giving exactly the ids ``encode`` gives (no special tokens added):

* ``char``: one token per character. With ``lowercase`` on, the text is lowered first, and a few
  characters lower to two ("İ" to "i̇"), so offsets go through a map from lowered to original
  positions.
* ``word``: the tokenizer's own regex, run on the (lowered) text as ``WordTokenizer.split`` does,
  ids through ``token_to_id``: the very ids ``encode`` gives.
* ``bpe`` and ``pretrained``: the Hugging Face library the tokenizer wraps reports offsets itself
  (``Encoding.offsets``; a fast ``transformers`` tokenizer's ``offset_mapping``). Byte-level BPE
  counts the space before a word in its token, and a character split over two byte pieces gives
  both pieces its span; :mod:`core.qa.windows` trims the spaces when mapping back.

A Hugging Face fast tokenizer or ``tokenizers.Tokenizer`` given directly works too. A slow
(pure Python) ``transformers`` tokenizer has no offsets, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.tokenize import (
    DEFAULT_WORD_PATTERN,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    compile_pattern,
)

Span = tuple[int, int]


@dataclass(frozen=True)
class Encoded:
    """A text's token ids and each token's character span ``[start, end)`` in that text."""

    ids: list[int]
    offsets: list[Span]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.offsets):
            raise ValueError(f"{len(self.ids)} ids but {len(self.offsets)} offsets")

    def __len__(self) -> int:
        return len(self.ids)


def encode_with_offsets(tokenizer: Any, text: str) -> Encoded:
    """``text``'s ids (as ``tokenizer.encode`` gives them, without special tokens) with character
    offsets; ``tokenizer`` is a workbench tokenizer, a Hugging Face fast tokenizer or a
    ``tokenizers.Tokenizer``."""
    if isinstance(tokenizer, CharTokenizer):
        return _char(tokenizer, text)
    if isinstance(tokenizer, WordTokenizer):
        return _word(tokenizer, text)
    if isinstance(tokenizer, Tokenizer):
        # bpe and pretrained wrap a Hugging Face tokenizer, which alone knows the offsets; the
        # base class has no offsets interface yet, so this reaches for the wrapped object.
        inner = getattr(tokenizer, "_tok", None)
        if inner is None:
            raise TypeError(f"no character offsets for a {tokenizer.kind!r} tokenizer")
        return _hugging_face(inner, text)
    return _hugging_face(tokenizer, text)


def special_ids(tokenizer: Any) -> tuple[int, int]:
    """(classifier-start id, separator id) for a question-context pair: [CLS] and [SEP] for a
    pretrained BERT-style tokenizer, <bos> and <eos> for the workbench's own (whose models learn
    their meaning from training)."""
    if isinstance(tokenizer, Tokenizer):
        return tokenizer.bos_id, tokenizer.eos_id
    cls, sep = getattr(tokenizer, "cls_token_id", None), getattr(tokenizer, "sep_token_id", None)
    if cls is None or sep is None:
        raise TypeError(f"{type(tokenizer).__name__} has no [CLS]/[SEP] tokens")
    return int(cls), int(sep)


def lowered_positions(text: str) -> tuple[str, list[int]]:
    """``text`` lowered, and for each lowered character the position it came from in ``text``
    (equal positions unless a character lowers to several)."""
    parts: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        low = ch.lower()
        parts.append(low)
        where.extend([i] * len(low))
    lowered = "".join(parts)
    # str.lower lowers a final sigma by context, one character for one: lengths still agree.
    return (text.lower() if len(lowered) == len(text) else lowered), where


def _char(tokenizer: CharTokenizer, text: str) -> Encoded:
    ids = tokenizer.encode(text)
    if not tokenizer.params.get("lowercase", False):
        return Encoded(ids, [(i, i + 1) for i in range(len(text))])
    _, where = lowered_positions(text)
    if len(where) != len(ids):  # the context rule of str.lower changed a length: never seen
        raise ValueError("lowercasing changed the text's length; cannot place the tokens")
    return Encoded(ids, [(w, w + 1) for w in where])


def _word(tokenizer: WordTokenizer, text: str) -> Encoded:
    regex = compile_pattern(tokenizer.params.get("pattern", DEFAULT_WORD_PATTERN))
    if tokenizer.params.get("lowercase", True):
        lowered, where = lowered_positions(text)
    else:
        lowered, where = text, list(range(len(text)))
    ids: list[int] = []
    offsets: list[Span] = []
    for m in regex.finditer(lowered):
        ids.append(tokenizer.token_to_id(m.group(0)))
        offsets.append((where[m.start()], where[m.end() - 1] + 1))
    return Encoded(ids, offsets)


def _hugging_face(tok: Any, text: str) -> Encoded:
    if getattr(tok, "is_fast", None) is False:
        raise TypeError(f"{type(tok).__name__} is a slow tokenizer: only fast ones report offsets")
    if hasattr(tok, "is_fast"):  # transformers' PreTrainedTokenizerFast
        out = tok(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        return Encoded(list(out["input_ids"]), [(int(a), int(b)) for a, b in out["offset_mapping"]])
    if hasattr(tok, "encode_batch"):  # tokenizers.Tokenizer
        enc = tok.encode(text, add_special_tokens=False)
        return Encoded(list(enc.ids), [(int(a), int(b)) for a, b in enc.offsets])
    raise TypeError(f"cannot get character offsets from a {type(tok).__name__}")
