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
# What each operation is called where a change is shown (the Data page's preview).
SWAP, DELETE, REPLACE, INSERT, MASK, BACK_TRANSLATE = "swap", "delete", "replace", "insert", "mask", "back-translate"
# Words synonym replacement and insertion leave alone, as EDA does: function words carry no
# meaning a neighbour could keep ("a" -> "wait"). Small and offline on purpose.
_STOPWORD_TEXT = """
a an the and or but nor so yet if then than as of at by for from in into on onto to up down with
without about over under out off is am are was were be been being do does did doing have has had
having i me my we us our you your he him his she her it its they them their this that these those
who whom whose which what there here not no can could will would shall should may might must just
very too also only own same such each both all any some more most other again once
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# What a masked word becomes in the text; the classification task encodes it as the tokenizer's
# mask token (core.augment.masking), and a pretrained teacher reads it as its own [MASK].
MASK_WORD = "[MASK]"


def replaceable(word: str) -> bool:
    """Whether synonym replacement and insertion may start from ``word``: not a stopword, and a
    word (letters), not punctuation or a number."""
    return word.isalpha() and word.lower() not in STOPWORDS


def synonym_replacement(words: list[str], n: int, synonyms: Synonyms, rng: random.Random,
                        record: list[tuple[str, str]] | None = None) -> list[str]:
    """Up to ``n`` distinct words (no stopwords or punctuation) that have synonyms, each replaced
    by one of them; ``record`` gets each (word, synonym)."""
    out = list(words)
    candidates = [i for i, w in enumerate(out) if replaceable(w) and synonyms(w)]
    rng.shuffle(candidates)
    for i in candidates[:n]:
        new = rng.choice(list(synonyms(out[i])))
        if record is not None:
            record.append((out[i], new))
        out[i] = new
    return out


def random_insertion(words: list[str], n: int, synonyms: Synonyms, rng: random.Random,
                     record: list[tuple[str, str]] | None = None) -> list[str]:
    """``n`` times: a synonym of a random word (no stopword or punctuation, that has one) inserted
    at a random position; ``record`` gets each (word, synonym)."""
    out = list(words)
    for _ in range(n):
        having = [w for w in out if replaceable(w) and synonyms(w)]
        if not having:
            break
        source = rng.choice(having)
        found = rng.choice(list(synonyms(source)))
        out.insert(rng.randint(0, len(out)), found)
        if record is not None:
            record.append((source, found))
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


def eda(words: list[str], p: float, synonyms: Synonyms | None, rng: random.Random,
        record: list[tuple[str, str]] | None = None) -> tuple[list[str], str | None]:
    """One of EDA's operations, drawn with ``rng``, at share ``p``, and its name (None: nothing
    to change); replacement and insertion need ``synonyms`` and are left out without them
    (deletion and swap remain). ``record``: as for :func:`synonym_replacement`."""
    n = changed_count(len(words), p)
    if n == 0:
        return list(words), None
    ops = [SWAP, DELETE] + ([REPLACE, INSERT] if synonyms is not None else [])
    op = rng.choice(ops)
    if op == SWAP:
        return random_swap(words, n, rng), op
    if op == DELETE:
        return random_deletion(words, p, rng), op
    assert synonyms is not None
    if op == REPLACE:
        return synonym_replacement(words, n, synonyms, rng, record), op
    return random_insertion(words, n, synonyms, rng, record), op
