"""Synonyms as nearest neighbours in a table of word vectors (cosine similarity)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from core.augment.eda import STOPWORDS
from core.augment.settings import SYNONYM_K, SYNONYM_MIN_COS
from core.tokenize import SPECIALS


def _is_word(token: str) -> bool:
    # Subword pieces ("##ing", "Ġthe"), punctuation and stopwords make poor synonyms of a word.
    return token.isalpha() and token not in SPECIALS and token.lower() not in STOPWORDS


class SynonymTable:
    """``table(word)``: up to ``k`` words nearest to ``word`` by cosine, at least ``min_cos``
    similar, itself, special tokens and non-words left out; empty for a word without a vector.
    ``known``: which words may come out (a classifier's tokenizer turns the others into <unk>,
    which would make a replacement a mask). Computed on first ask and kept."""

    def __init__(self, vocab: Sequence[str], vectors: np.ndarray, k: int = SYNONYM_K,
                 min_cos: float = SYNONYM_MIN_COS, known: Callable[[str], bool] | None = None) -> None:
        matrix = np.asarray(vectors, dtype=np.float32)
        self.unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        self.vocab = list(vocab)
        self.index: dict[str, int] = {}
        for i, word in enumerate(self.vocab):
            self.index.setdefault(word, i)
        self.eligible = np.array([_is_word(w) and (known is None or known(w)) for w in self.vocab], dtype=bool)
        self.k, self.min_cos = k, min_cos
        self._found: dict[str, tuple[str, ...]] = {}

    def __call__(self, word: str) -> tuple[str, ...]:
        found = self._found.get(word)
        if found is None:
            found = self._found[word] = self._neighbours(word)
        return found

    def similarity(self, word: str, other: str) -> float | None:
        """Cosine similarity of two words' vectors (None: one has none)."""
        a, b = (self.index.get(w, self.index.get(w.lower())) for w in (word, other))
        return None if a is None or b is None else float(self.unit[a] @ self.unit[b])

    def _neighbours(self, word: str) -> tuple[str, ...]:
        row = self.index.get(word, self.index.get(word.lower()))
        if row is None or not _is_word(word):
            return ()
        scores = self.unit @ self.unit[row]
        scores[~self.eligible] = -np.inf
        scores[row] = -np.inf
        best = np.argsort(-scores, kind="stable")[: self.k]
        return tuple(self.vocab[i] for i in best if scores[i] >= self.min_cos and self.vocab[i] != word)
