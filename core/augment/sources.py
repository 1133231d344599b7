"""The runs augmentation reads, loaded from the store: word vectors for synonyms, and the two
translation runs of back-translation.

This sits below the trainer (the classification task builds its augmenter when it gets its
data), so it loads a run itself from its folder, as ``core.runs.load_trained`` does for the
commands: the stored config, tokenizer, task state and best (else last) checkpoint. A
reference that names no run, or a run of a task that cannot serve, is a ConfigError naming the
field and what it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from core.augment.settings import BACK_TRANSLATION_RUNS, SYNONYMS_RUN
from core.augment.synonyms import SynonymTable
from core.params import Param
from core.source_runs import VECTOR_TASKS_TEXT, SourceRun, load_source, source_vectors

if TYPE_CHECKING:
    from core.store import Store

Translate = Callable[[list[str]], list[str]]


def run_word_vectors(source: SourceRun) -> tuple[list[str], np.ndarray]:
    """(vocab, vectors) of a run named by ``task.synonyms_run``."""
    return source_vectors(source, "task.synonyms_run", VECTOR_TASKS_TEXT)


def _accepted(param: Param) -> tuple[str, ...] | None:
    """The tasks a run-valued knob's declaration accepts (the form lists the same runs)."""
    return param.runs.accepts("") if param.runs is not None else None


def synonyms_from_run(ref: str, store: Store | None = None, known: Callable[[str], bool] | None = None) -> SynonymTable:
    """The synonym table of run ``ref`` (``task.synonyms_run``), offering only ``known`` words."""
    source = load_source(store, ref, "task.synonyms_run", _accepted(SYNONYMS_RUN), "the id or name of " + VECTOR_TASKS_TEXT)
    vocab, vectors = run_word_vectors(source)
    return SynonymTable(vocab, vectors, known=known)


def translator_from_run(ref: str, store: Store | None = None) -> Translate:
    """Greedy translation of a list of texts by translation run ``ref``."""
    source = load_source(store, ref, "task.back_translation_runs", _accepted(BACK_TRANSLATION_RUNS),
                         "the ids or names of two translation runs")

    def translate(texts: list[str]) -> list[str]:
        return list(source.task.translate(source.model, list(texts), beam_size=1))

    return translate
