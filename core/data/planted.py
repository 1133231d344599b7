"""``planted_relations``: a generated corpus whose word relations are known in advance.

Two relations are planted: male -> female words (king -> queen) and country -> capital
(france -> paris). The two words of a pair share topic words no other pair uses (palace,
crown...), and each side of a relation has its own role words (he/his vs she/her; country vs
city). So distributional word vectors should place each word next to its partner, and the
role difference should be one consistent direction (king:queen :: man:woman).

The dataset hands these facts to the task in ``DatasetSplits.extras``: ``neighbour_pairs``
(each word and its partner, both ways), ``analogies`` (a:b :: c:d within a relation) and
``eval_words`` (words whose neighbours are worth showing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.splits import split_indices
from core.data.types import DatasetSplits, Split
from core.errors import ConfigError
from core.params import Param, validate_params
from core.registry import DATASETS


@dataclass(frozen=True)
class _Relation:
    name: str
    pairs: tuple[tuple[str, str, str], ...]  # (a, b, "topic words shared by a and b")
    roles: tuple[dict[str, str], dict[str, str]]  # template slot -> role words, for side a / b
    templates: tuple[str, ...]


_GENDER = _Relation(
    "gender",
    pairs=(
        ("king", "queen", "palace crown throne"),
        ("prince", "princess", "castle knight dragon"),
        ("father", "mother", "kitchen garden dinner"),
        ("brother", "sister", "school homework bicycle"),
        ("husband", "wife", "wedding ring anniversary"),
        ("uncle", "aunt", "farm tractor barn"),
        ("son", "daughter", "cradle toys nursery"),
        ("boy", "girl", "playground swing kite"),
        ("man", "woman", "office desk meeting"),
        ("actor", "actress", "theater stage rehearsal"),
    ),
    roles=({"pron": "he", "poss": "his"}, {"pron": "she", "poss": "her"}),
    templates=(
        "the {w} said {pron} would visit the {t1} .",
        "{pron} is the {w} who looks after the {t1} and the {t2} .",
        "the {w} and {poss} {t1} were seen near the {t2} .",
        "everyone knows the {w} loves {poss} {t1} .",
        "after the {t1} , the {w} told {poss} friends about the {t2} .",
    ),
)

_CAPITAL = _Relation(
    "capital",
    pairs=(
        ("france", "paris", "wine cheese seine"),
        ("germany", "berlin", "beer sausage rhine"),
        ("italy", "rome", "pasta pizza tiber"),
        ("spain", "madrid", "paella flamenco tapas"),
        ("japan", "tokyo", "sushi samurai sakura"),
        ("egypt", "cairo", "pyramid nile pharaoh"),
        ("russia", "moscow", "vodka kremlin borscht"),
        ("china", "beijing", "tea dynasty dumplings"),
        ("kenya", "nairobi", "safari savanna marathon"),
        ("canada", "ottawa", "maple hockey moose"),
    ),
    roles=({"kind": "country nation", "head": "government border"},
           {"kind": "city town", "head": "mayor streets"}),
    templates=(
        "{w} is a {kind} known for {t1} and {t2} .",
        "the {head} of {w} cares about the {t1} .",
        "people across the {kind} of {w} enjoy {t1} .",
        "visitors to {w} praise the {head} and the {t1} .",
        "in {w} , the {t1} and the {t2} are famous .",
    ),
)
RELATIONS = (_GENDER, _CAPITAL)
# Sentences about nothing in particular: common words that sit between the planted ones.
_FILLER = (
    "it rained all day and the roads were wet .",
    "we had a long walk before lunch .",
    "the news on the radio was short .",
    "a small dog slept under the table .",
    "they met again at the end of the week .",
)


def neighbour_pairs() -> list[tuple[str, str]]:
    """Every planted word with its partner, both ways."""
    return [pair for rel in RELATIONS for a, b, _ in rel.pairs for pair in ((a, b), (b, a))]


def analogies() -> list[tuple[str, str, str, str]]:
    """a : b :: c : d for every two different pairs of the same relation."""
    return [
        (a, b, c, d)
        for rel in RELATIONS
        for i, (a, b, _) in enumerate(rel.pairs)
        for j, (c, d, _) in enumerate(rel.pairs)
        if i != j
    ]


def _sentence(u: list[float]) -> str:
    """One sentence from a row of uniform numbers (drawn in bulk: 20x faster than per call)."""

    def pick(items: Sequence[Any], x: float) -> Any:
        return items[int(x * len(items))]

    if u[0] < 0.1:
        return pick(_FILLER, u[1])
    rel = pick(RELATIONS, u[1])
    pair = pick(rel.pairs, u[2])
    side = int(u[3] < 0.5)
    topics = pair[2].split()
    first = int(u[4] * len(topics))
    second = (first + 1 + int(u[5] * (len(topics) - 1))) % len(topics)  # a different topic word
    slots = {name: pick(words.split(), x) for (name, words), x in zip(rel.roles[side].items(), u[7:], strict=False)}
    return pick(rel.templates, u[6]).format(w=pair[side], t1=topics[first], t2=topics[second], **slots)


_PARAMS = (
    Param("n_sentences", "int", 20_000, "Number of generated sentences.", low=500, high=1_000_000, log=True, sweepable=False, label="Sentences", essential=True),
    Param("val_fraction", "float", 0.1, "Share of the sentences held out for validation.", low=0.01, high=0.5, sweepable=False, label="Validation share"),
    Param("data_seed", "int", 0, "Seed of the generator (fixed by default so every run sees the same data).", low=0, high=2**31 - 1, sweepable=False, label="Data seed"),
)
_TASKS = ("word_embeddings", "language_model")


@DATASETS.register(
    "planted_relations", params=_PARAMS, tasks=_TASKS, label="Planted word relations",
    help="Generated sentences with planted word relations (king/queen, france/paris) to check word vectors (offline)",
)
def planted_relations(params: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    if task not in _TASKS:
        raise ConfigError("data.name", "planted_relations", f"a dataset for {task}", reason="planted_relations has only word_embeddings and language_model data")
    p = validate_params(_PARAMS, {k: v for k, v in params.items() if k != "name"}, "data")
    rng = np.random.default_rng([p["data_seed"], 404])
    sentences = [_sentence(row) for row in rng.random((p["n_sentences"], 10)).tolist()]
    train_idx, val_idx, _ = split_indices(len(sentences), p["val_fraction"], 0.0, seed=p["data_seed"])

    def part(idx: list[int]) -> Split:
        # One text per sentence: context windows stop at its end (a language model joins them
        # with newlines).
        return Split([sentences[i] for i in idx])

    n_pairs = sum(len(rel.pairs) for rel in RELATIONS)
    return DatasetSplits(
        task=task,
        train=part(train_idx),
        validation=part(val_idx),
        description=(
            f"planted_relations: {len(sentences):,} generated sentences planting {n_pairs} word pairs "
            f"({', '.join(rel.name for rel in RELATIONS)}): each word's nearest neighbour should be its "
            "partner, and king:queen :: man:woman."
        ),
        extras={
            "neighbour_pairs": neighbour_pairs(), "analogies": analogies(),
            "eval_words": ["king", "woman", "france", "tokyo"],
        },
    )
