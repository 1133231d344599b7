"""EDA's operations (Wei & Zou 2019, "EDA: Easy Data Augmentation Techniques for Boosting
Performance on Text Classification Tasks") and token masking, on a list of words.

Each takes the words, how many to change, and a ``random.Random`` of the caller's (never the
global generator), and returns a new list. Synonyms come from a function ``word -> candidates``
(:class:`core.augment.synonyms.SynonymTable`); a word without any is left alone, as EDA does
with WordNet.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

Synonyms = Callable[[str], Sequence[str]]
# What a masked word becomes in the text; the classification task encodes it as the tokenizer's
# mask token (core.augment.masking), and a pretrained teacher reads it as its own [MASK].
MASK_WORD = "[MASK]"


def synonym_replacement(words: list[str], n: int, synonyms: Synonyms, rng: random.Random) -> list[str]:
    """Up to ``n`` distinct words that have synonyms, each replaced by one of them."""
    out = list(words)
    candidates = [i for i, w in enumerate(out) if synonyms(w)]
    rng.shuffle(candidates)
    for i in candidates[:n]:
        out[i] = rng.choice(list(synonyms(out[i])))
    return out


def random_insertion(words: list[str], n: int, synonyms: Synonyms, rng: random.Random) -> list[str]:
    """``n`` times: a synonym of a random word (that has one) inserted at a random position."""
    out = list(words)
    for _ in range(n):
        having = [w for w in out if synonyms(w)]
        if not having:
            break
        found = rng.choice(list(synonyms(rng.choice(having))))
        out.insert(rng.randint(0, len(out)), found)
    return out


def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    """``n`` times: two random positions swap their words (the multiset of words is kept)."""
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    """Each word removed with probability ``p``; one word always stays (EDA keeps a random one)."""
    if len(words) <= 1 or p <= 0:
        return list(words)
    out = [w for w in words if rng.random() >= p]
    return out or [rng.choice(words)]


def mask_words(words: list[str], n: int, rng: random.Random, mask: str = MASK_WORD) -> list[str]:
    """``n`` distinct random words replaced by ``mask``."""
    out = list(words)
    for i in rng.sample(range(len(out)), min(n, len(out))):
        out[i] = mask
    return out


def changed_count(n_words: int, p: float) -> int:
    """Words an operation changes in a text of ``n_words`` at share ``p``: EDA's
    ``max(1, int(alpha * l))``, and none when ``p`` is 0."""
    return 0 if p <= 0 or n_words == 0 else max(1, int(p * n_words))


def eda(words: list[str], p: float, synonyms: Synonyms | None, rng: random.Random) -> list[str]:
    """One of EDA's operations, drawn with ``rng``, at share ``p``: replacement and insertion need
    ``synonyms`` and are left out without them (deletion and swap remain)."""
    n = changed_count(len(words), p)
    if n == 0:
        return list(words)
    ops = ["swap", "delete"] + (["replace", "insert"] if synonyms is not None else [])
    op = rng.choice(ops)
    if op == "swap":
        return random_swap(words, n, rng)
    if op == "delete":
        return random_deletion(words, p, rng)
    assert synonyms is not None
    if op == "replace":
        return synonym_replacement(words, n, synonyms, rng)
    return random_insertion(words, n, synonyms, rng)
