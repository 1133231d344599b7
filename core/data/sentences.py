"""A held-out set of whole sentences from a phrase-level training file (SST-2 style).

SST-2's ``train.tsv`` holds every phrase of the treebank's parse trees beside the sentences
they come from, so any split of its rows leaves phrases of a validation sentence in training:
the model has seen most of the sentence, labelled. This module holds out whole sentences and
drops every training row that is a phrase of one, so nothing of a held-out sentence is learned.

How, exactly (tokens are the row split on whitespace, as the treebank writes them):

1. A row *is a whole sentence* when its last token is ``.``, ``!`` or ``?``, it has at least
   ``MIN_TOKENS`` tokens, and no other such row contains it as a run of consecutive tokens.
2. The held-out sentences are the first ``count`` of those in the order of the SHA-1 of their
   text: fixed by the file's content alone (not the row order, not the run's seed).
3. Training drops every row whose tokens are a run of consecutive tokens of a held-out
   sentence (the sentences themselves, their phrases, and single words of them written as
   rows), whatever its label.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

SENTENCE_END = frozenset({".", "!", "?"})
MIN_TOKENS = 4


@dataclass(frozen=True)
class SentenceSplit:
    """Row indices: ``train`` (what may be trained on), ``heldout`` (whole sentences), and how
    many rows were dropped as phrases of a held-out sentence."""

    train: list[int]
    heldout: list[int]
    dropped: int
    sentences: int  # whole sentences found in the file


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def whole_sentences(texts: Sequence[str]) -> list[int]:
    """Indices of the rows that are whole sentences (rule 1 above), in file order."""
    rows = [_tokens(t) for t in texts]
    candidates = [i for i, r in enumerate(rows) if len(r) >= MIN_TOKENS and r[-1] in SENTENCE_END]
    # A candidate inside another ends with an end token too, so only the spans of each candidate
    # that end on one need to be listed: a handful per sentence instead of n^2 / 2.
    contained: set[tuple[str, ...]] = set()
    for i in candidates:
        r = rows[i]
        for end in (j + 1 for j, tok in enumerate(r) if tok in SENTENCE_END):
            for start in range(end):
                if (start, end) != (0, len(r)):
                    contained.add(r[start:end])
    seen: set[tuple[str, ...]] = set()
    out = []
    for i in candidates:
        if rows[i] not in contained and rows[i] not in seen:  # a repeated sentence counts once
            seen.add(rows[i])
            out.append(i)
    return out


def _spans(tokens: tuple[str, ...]) -> set[tuple[str, ...]]:
    return {tokens[a:b] for a in range(len(tokens)) for b in range(a + 1, len(tokens) + 1)}


def hold_out_sentences(texts: Sequence[str], count: int) -> SentenceSplit:
    """Hold out ``count`` whole sentences of ``texts`` and drop their phrases from training.

    Fewer are held out when the file has fewer whole sentences (``SentenceSplit.sentences``
    says how many it has)."""
    found = whole_sentences(texts)
    order = sorted(found, key=lambda i: hashlib.sha1(" ".join(texts[i].split()).encode()).hexdigest())
    heldout = sorted(order[:count])
    banned: set[tuple[str, ...]] = set()
    for i in heldout:
        banned |= _spans(_tokens(texts[i]))
    train = [i for i, t in enumerate(texts) if _tokens(t) not in banned]
    dropped = len(texts) - len(train) - len(heldout)
    return SentenceSplit(train=train, heldout=heldout, dropped=dropped, sentences=len(found))
