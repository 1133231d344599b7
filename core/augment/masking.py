"""Encoding texts with masked words: each ``[MASK]`` becomes the tokenizer's mask token.

The workbench's own tokenizers never turn typed text into a special id (``[MASK]`` would be
three unknown words), so a text is encoded piece by piece around its masks and the pieces are
joined with ``mask_id``; a pretrained tokenizer reads its own mask token in text, so the
placeholder is swapped for that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from core.augment.eda import MASK_WORD
from core.tokenize import Tokenizer


class MaskAware:
    """``tokenizer`` whose ``encode``/``encode_batch`` read :data:`MASK_WORD` as its mask token;
    every other attribute is the tokenizer's own."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        self._pretrained = hasattr(tokenizer, "encode_pairs")  # a Hugging Face tokenizer
        self._own = tokenizer.id_to_token(tokenizer.mask_id)
        if self._pretrained:  # only then: core.tasks.pairs asks whether a tokenizer has encode_pairs
            self.encode_pairs = self._encode_pairs

    def _encode_pairs(self, pairs: list[tuple[str, str]]) -> list[list[int]]:
        own = self._own
        return list(self._tok.encode_pairs(  # type: ignore[attr-defined]
            [(a.replace(MASK_WORD, own), b.replace(MASK_WORD, own)) for a, b in pairs]))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tok, name)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        texts = list(texts)
        if self._pretrained:
            return self._tok.encode_batch([t.replace(MASK_WORD, self._own) for t in texts])
        out = []
        for text in texts:
            pieces = self._tok.encode_batch(text.split(MASK_WORD))
            ids = list(pieces[0])
            for piece in pieces[1:]:
                ids += [self._tok.mask_id, *piece]
            out.append(ids)
        return out


def mask_aware(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` reading :data:`MASK_WORD` as its mask token (a :class:`MaskAware`, which
    answers for the tokenizer wherever one is read)."""
    return cast(Tokenizer, MaskAware(tokenizer))
