"""One object that augments texts, deterministic under a seed per row.

A row's seed mixes the run's seed, a stamp of the batch being drawn (the trainer's batch
generator, which advances every step and is restored on resume) and the row's index, so the
same run draws the same augmented rows again, another seed draws others, and nothing reads the
global random generators. Whether a row is augmented at all (``task.augment_prob``) is the
first draw of its own generator.
"""

from __future__ import annotations

import difflib
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.augment import eda
from core.augment.settings import run_refs
from core.data.types import PAIR_MARK

if TYPE_CHECKING:
    from core.augment.sources import Translate
    from core.store import Store


def row_seed(seed: int, stamp: int, row: int) -> int:
    """The seed of row ``row`` in the batch stamped ``stamp`` of a run seeded ``seed``."""
    digest = hashlib.blake2b(f"{seed}:{stamp}:{row}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass
class Change:
    """What augmenting one text did: the text, the operations (one per side of a pair), the
    (word, synonym) pairs replaced or inserted, and why it came out unchanged ("" when it changed)."""

    text: str
    ops: list[str] = field(default_factory=list)
    synonyms: list[tuple[str, str]] = field(default_factory=list)
    unchanged: str = ""


def unchanged_reason(op: str | None, words: list[str], p: float) -> str:
    """Why operation ``op`` at share ``p`` left ``words`` as they were."""
    if op is None:
        return "no words" if not words else "share of words is 0"
    if op == eda.DELETE:
        return "one word only" if len(words) < 2 else f"no word drawn for deletion (each goes with chance {p:g})"
    if op == eda.SWAP:
        return "fewer than two words" if len(words) < 2 else "swapped words were equal"
    if op in (eda.REPLACE, eda.INSERT):
        return "no word with a synonym (stopwords and punctuation are skipped)"
    return "the round trip gave the text back" if op == eda.BACK_TRANSLATE else "nothing to change"


class Augmenter:
    """Changes texts by ``method`` (``core.augment.settings.METHODS``) at share ``p`` of their
    words, each row with chance ``prob``. ``synonyms``: word -> candidates (eda, synonyms);
    ``translate``: (source -> pivot, pivot -> source) for back_translation."""

    def __init__(self, method: str, p: float, prob: float = 1.0, *, synonyms: eda.Synonyms | None = None,
                 translate: tuple[Translate, Translate] | None = None, mask_word: str = eda.MASK_WORD) -> None:
        if method == "synonyms" and synonyms is None:
            raise ValueError("synonyms augmentation needs a synonym table")
        if method == "back_translation" and translate is None:
            raise ValueError("back-translation needs two translation functions")
        self.method, self.p, self.prob = method, float(p), float(prob)
        self.synonyms, self.translate, self.mask_word = synonyms, translate, mask_word
        self._round_trips: dict[str, str] = {}  # greedy decoding: one text, one round trip

    def augment(self, texts: Sequence[str], seeds: Sequence[int]) -> list[str | None]:
        """Each text augmented under its seed, or None where its draw leaves it as it is."""
        rngs = [random.Random(s) for s in seeds]
        chosen = [i for i, rng in enumerate(rngs) if rng.random() < self.prob]
        out: list[str | None] = [None] * len(texts)
        if self.method == "back_translation":
            for i, text in zip(chosen, self.back_translate([texts[i] for i in chosen]), strict=True):
                out[i] = text
            return out
        for i in chosen:
            out[i] = self.change(texts[i], rngs[i])
        return out

    def copies(self, texts: Sequence[str], seeds: Sequence[int]) -> list[str]:
        """Every text augmented under its seed, ``prob`` aside: one fixed copy of each
        (``task.augment_copies`` makes several, one seed each)."""
        return [change.text for change in self.explain_all(texts, seeds)]

    def change(self, text: str, rng: random.Random) -> str:
        """``text`` changed by the word operations (each side of a sentence pair on its own)."""
        return self.explain(text, rng).text

    def explain(self, text: str, rng: random.Random) -> Change:
        """:meth:`change`, saying what it did (the Data page's preview)."""
        mark = PAIR_MARK.strip()
        if mark in text:
            sides = [self.explain(side.strip(), rng) for side in text.split(mark, 1)]
            return Change(PAIR_MARK.join(c.text for c in sides), [o for c in sides for o in c.ops],
                          [w for c in sides for w in c.synonyms], "; ".join(filter(None, (c.unchanged for c in sides))))
        words = text.split()
        n = eda.changed_count(len(words), self.p)
        record: list[tuple[str, str]] = []
        op: str | None = None
        out = words
        if self.method == "eda":
            out, op = eda.eda(words, self.p, self.synonyms, rng, record)
        elif self.method == "mask":
            out, op = eda.mask_words(words, n, rng, self.mask_word), eda.MASK if n else None
        elif self.method == "synonyms":
            assert self.synonyms is not None
            out, op = eda.synonym_replacement(words, n, self.synonyms, rng, record), eda.REPLACE if n else None
        return Change(" ".join(out), [op] if op else [], record,
                      "" if out != words else unchanged_reason(op, words, self.p))

    def explain_all(self, texts: Sequence[str], seeds: Sequence[int]) -> list[Change]:
        """Every text augmented under its seed (``prob`` aside), saying what was done: the preview."""
        if self.method == "back_translation":
            return [Change(after, [eda.BACK_TRANSLATE], [],
                           "" if after != before else unchanged_reason(eda.BACK_TRANSLATE, before.split(), self.p))
                    for before, after in zip(texts, self.back_translate(list(texts)), strict=True)]
        out = []
        for text, seed in zip(texts, seeds, strict=True):
            rng = random.Random(seed)
            rng.random()  # the draw of whether the row is augmented, as in augment()
            out.append(self.explain(text, rng))
        return out

    def back_translate(self, texts: list[str]) -> list[str]:
        """Round trips through the pivot language, each text's computed once."""
        assert self.translate is not None
        forward, back = self.translate
        new = list(dict.fromkeys(t for t in texts if t not in self._round_trips))
        if new:
            for text, result in zip(new, back(forward(new)), strict=True):
                self._round_trips[text] = result.strip() or text  # an empty round trip keeps the text
        return [self._round_trips[t] for t in texts]


def build_augmenter(params: dict[str, Any], store: Store | None = None, mask_word: str = eda.MASK_WORD,
                    known: Callable[[str], bool] | None = None) -> Augmenter | None:
    """The augmenter a task's parameters ask for (None: ``augment`` is none), loading the runs
    they name from ``store`` (None: the store of ``$LMWB_HOME``); synonyms are ``known`` words
    only (None: any)."""
    from core.augment import sources  # loads runs (torch); a run without augmentation never does

    method = params.get("augment", "none")
    if method == "none":
        return None
    synonyms = None
    if method in ("eda", "synonyms") and (refs := run_refs(params.get("synonyms_run", ""))):
        synonyms = sources.synonyms_from_run(refs[0], store, known)
    translate = None
    if method == "back_translation":
        there, back = run_refs(params.get("back_translation_runs", ""))
        translate = (sources.translator_from_run(there, store), sources.translator_from_run(back, store))
    return Augmenter(method, params.get("augment_p", 0.1), params.get("augment_prob", 0.5),
                     synonyms=synonyms, translate=translate, mask_word=mask_word)


def word_changes(original: str, augmented: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Each text's words with whether it changed: in ``original`` the words removed or replaced,
    in ``augmented`` those inserted or new (moved words count as changed on both sides)."""
    a, b = original.split(), augmented.split()
    left = [(w, True) for w in a]
    right = [(w, True) for w in b]
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            left[block.a + k] = (a[block.a + k], False)
            right[block.b + k] = (b[block.b + k], False)
    return left, right
