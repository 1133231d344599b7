"""The built-in summarisation set ``briefs``: short news items and the facts they report.

Each document reports one event (who did what, where, when, and how it went) in four
sentences of varied wording, shuffled among sentences about other people, other places and
the weather. The summary states the facts in a fixed order::

    document: the weather in oslo was cold . on friday the concert took place in lima . ...
    summary:  nina played the concert in lima on friday ; it was a triumph .

So the summary is a function of the document: a model must find the event's own person and
city among distractors and reorder them, while the first sentences (a lead-N summary) carry
only part of it. Generated offline from ``data_seed``; pairs are split like translation pairs
(``source`` / ``target``); your own documents and summaries come in through the ``parallel``
dataset, in the same file formats as translation pairs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.data.builtin import _DATA_SEED, _fraction_params, _register
from core.data.seq2seq import _split_pairs, pairs_split
from core.data.types import DatasetSplits
from core.params import Param

PEOPLE = ("anna", "ben", "carla", "david", "elena", "farid", "greta", "hugo", "ines", "jonas",
          "kira", "luca", "maya", "nina", "omar", "paula", "rosa", "sami", "tara", "victor")
CITIES = ("paris", "lima", "oslo", "cairo", "tokyo", "quito", "rome", "dakar", "seoul", "perth",
          "berlin", "madrid", "nairobi", "lisbon", "delhi")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# (event, what its person did, how that is said in the passive)
EVENTS = (("concert", "played", "played"), ("match", "won", "won"), ("meeting", "chaired", "chaired"),
          ("lecture", "gave", "given"), ("race", "ran", "run"), ("exhibition", "opened", "opened"),
          ("trial", "judged", "judged"), ("debate", "led", "led"), ("wedding", "hosted", "hosted"),
          ("festival", "organised", "organised"))
OUTCOMES = ("triumph", "disaster", "surprise", "success", "failure", "draw")
WEATHER = ("cold", "warm", "wet", "windy", "mild", "grey")

# Several wordings per fact, so the model must read, not count positions.
_WHO = ("{p} {did} the {e} .", "the {e} was {done} by {p} .", "it was {p} who {did} the {e} .")
_WHERE = ("the {e} took place in {c} .", "the {e} was held in {c} .", "{c} was where the {e} happened .")
_WHEN = ("it happened on {d} .", "on {d} the {e} began .", "{d} was the day of the {e} .")
_HOW = ("observers called it a {o} .", "most agreed it was a {o} .", "the press described a {o} .")
_NOISE = ("the weather in {c2} was {w} .", "{p2} flew in from {c2} .", "{p2} did not attend .",
          "tickets sold out in {c2} .", "{p2} stayed in {c2} on {d2} .")

PARAMS: tuple[Param, ...] = (
    Param("n_examples", "int", 4000, "Number of generated documents.", low=100, high=1_000_000, log=True, sweepable=False, label="Examples", essential=True),
    Param("noise_sentences", "int", 3, "Sentences about other people and places mixed into each document.", low=0, high=10, sweepable=False, label="Distractor sentences", essential=True),
    *_fraction_params(),
    _DATA_SEED,
)


def brief(rng: np.random.Generator, noise: int) -> tuple[str, str]:
    """One (document, summary) pair."""
    def pick(options: tuple[Any, ...]) -> Any:
        return options[int(rng.integers(len(options)))]

    person, city, day, outcome = pick(PEOPLE), pick(CITIES), pick(DAYS), pick(OUTCOMES)
    event, did, done = pick(EVENTS)
    others = [p for p in PEOPLE if p != person]
    elsewhere = [c for c in CITIES if c != city]
    facts = [pick(t).format(p=person, did=did, done=done, e=event, c=city, d=day, o=outcome)
             for t in (_WHO, _WHERE, _WHEN, _HOW)]
    fillers = [pick(_NOISE).format(p2=pick(tuple(others)), c2=pick(tuple(elsewhere)), w=pick(WEATHER), d2=pick(DAYS))
               for _ in range(noise)]
    sentences = facts + fillers
    order = rng.permutation(len(sentences))
    document = " ".join(sentences[i] for i in order)
    summary = f"{person} {did} the {event} in {city} on {day} ; it was a {outcome} ."
    return document, summary


def lead(document: str, n: int) -> str:
    """The first ``n`` sentences of a generated document (the lead-N baseline summary)."""
    sentences = [s.strip() + " ." for s in document.split(" .") if s.strip()]
    return " ".join(sentences[:n])


@_register("briefs", PARAMS, tasks=("summarisation",), size="4,000 documents", label="News briefs",
           help="Short generated news items (an event among distractors) -> the event's facts in a fixed order")
def briefs(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    rng = np.random.default_rng([p["data_seed"], 515])
    pairs = [brief(rng, p["noise_sentences"]) for _ in range(p["n_examples"])]
    # Split by data_seed, not the run seed: runs that differ only in seed score the same documents.
    train, val, test = _split_pairs(pairs, p["val_fraction"], p["test_fraction"], p["data_seed"])
    return DatasetSplits(
        task=task,
        train=pairs_split(train),
        validation=pairs_split(val),
        test=pairs_split(test) if test else None,
        description=(f"briefs: {len(pairs):,} generated news items ({4 + p['noise_sentences']} sentences, "
                     "facts shuffled among distractors) -> who did what, where, when and how it went"),
    )
