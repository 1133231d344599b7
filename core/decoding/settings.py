"""The decoding knobs, declared once (no torch here).

The CLI's ``generate`` / ``translate`` / ``eval`` / ``fill-mask`` flags, the Playground's widgets,
the language model's sample settings, the translation task's beam settings and the engine's
function defaults all derive from these declarations, so a range or a default is written in one
place.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.params import Param

TEMPERATURE = Param(
    "temperature", "float", 0.8,
    "Divide the logits by this before sampling: lower is safer and more repetitive, higher more "
    "surprising (0: always the most likely token).", low=0.0, high=5.0, sweepable=False, label="Temperature",
)
GREEDY = Param("greedy", "bool", False, "Always take the most likely token (the same as temperature 0).",
               sweepable=False, label="Greedy")
TOP_K = Param("top_k", "int", None, "Sample only among the k most likely tokens (null: all of them).",
              low=1, high=1_000_000, optional=True, sweepable=False, label="Top-k")
TOP_P = Param("top_p", "float", None,
              "Sample from the smallest set of tokens whose probabilities add up to p (null: all of them).",
              low=0.01, high=1.0, optional=True, sweepable=False, label="Top-p")
MAX_NEW_TOKENS = Param("max_new_tokens", "int", 200, "How many tokens to generate after the prompt.",
                       low=1, high=100_000, sweepable=False, label="Max new tokens")
SEED = Param("seed", "int", 0, "Random seed of the sampler: the same seed and settings give the same text.",
             low=0, high=2**31 - 1, sweepable=False, label="Seed")
BEAM_SIZE = Param("beam_size", "int", 1,
                  "Partial translations kept at each step; the best whole one wins (1: greedy decoding).",
                  low=1, high=64, sweepable=False, label="Beam size")
LENGTH_PENALTY = Param(
    "length_penalty", "float", 1.0,
    "Beam search ranks by log p / length ** this (0: raw sum, favours short output; 1: per-token mean).",
    low=0.0, high=5.0, sweepable=False, label="Length penalty",
)
MAX_OUTPUT_TOKENS = Param("max_output_tokens", "int", None,
                          "Longest translation in tokens (null: twice the source plus 10).",
                          low=1, high=10_000, optional=True, sweepable=False, label="Longest output")

MIN_OUTPUT_TOKENS = Param("min_output_tokens", "int", 0,
                          "Shortest output in tokens: <eos> is refused before this many (0: no minimum).",
                          low=0, high=10_000, sweepable=False, label="Shortest output")
NO_REPEAT_NGRAM = Param("no_repeat_ngram", "int", 0,
                        "Never output the same n-gram of this many tokens twice (0: off; 3 is usual for summaries).",
                        low=0, high=20, sweepable=False, label="No-repeat n-gram")

# A masked LM's guesses: `lmwb fill-mask -k` and the Playground's fill-mask widget.
GUESSES = Param("guesses", "int", 5, "Guesses listed for each masked token, most likely first.",
                low=1, high=1000, sweepable=False, label="Guesses")

# Word vectors (core.embeddings), listed best first like the guesses above: `lmwb embeddings RUN neighbours|analogy -k` and the Playground.
WORDS_LISTED = Param("top", "int", 10, "How many words to list, best first: a word's nearest neighbours, "
                     "an analogy's answers.", low=1, high=10_000, sweepable=False, label="Words listed")

SAMPLING: tuple[Param, ...] = (MAX_NEW_TOKENS, TEMPERATURE, GREEDY, TOP_K, TOP_P, SEED)
TRANSLATION: tuple[Param, ...] = (BEAM_SIZE, LENGTH_PENALTY, MAX_OUTPUT_TOKENS)
# Length controls matter most for summaries (how much to say, no stutter); translation keeps its three.
SUMMARISATION: tuple[Param, ...] = (*TRANSLATION, MIN_OUTPUT_TOKENS, NO_REPEAT_NGRAM)


def renamed(param: Param, name: str, help: str, **changes: Any) -> Param:
    """``param`` under another name in another section (a task's sample settings), with the same
    range: the range stays declared once."""
    return replace(param, **{"name": name, "help": help, "label": "", **changes})
