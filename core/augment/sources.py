"""The runs augmentation reads, loaded from the store: word vectors for synonyms, and the two
translation runs of back-translation.

This sits below the trainer (the classification task builds its augmenter when it gets its
data), so it loads a run itself from its folder, as ``core.runs.load_trained`` does for the
commands: the stored config, tokenizer, task state and best (else last) checkpoint. A
reference that names no run, or a run of a task that cannot serve, is a ConfigError naming the
field and what it takes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.augment.settings import BACK_TRANSLATION_RUNS, SYNONYMS_RUN, VECTOR_TASKS
from core.augment.synonyms import SynonymTable
from core.config import RunConfig, validate_config
from core.errors import ConfigError, RunNotFound
from core.params import Param
from core.registry import TASKS
from core.tokenize import Tokenizer, load_tokenizer

if TYPE_CHECKING:
    from torch import nn

    from core.store import Store

Translate = Callable[[list[str]], list[str]]
VECTOR_TASKS_TEXT = "a run with word vectors (a " + ", ".join(VECTOR_TASKS) + " run)"


@dataclass
class SourceRun:
    """A run loaded for augmentation: its id, config, tokenizer, task object and model."""

    id: str
    config: RunConfig
    tokenizer: Tokenizer
    task: Any
    model: nn.Module


def open_store(store: Store | None) -> Store:
    """``store``, else the store of ``$LMWB_HOME`` / ``$LMWB_STORE`` (as a worker's run sees it)."""
    from core.store import Store  # the store's SQL engine waits until a run names a source

    return store if store is not None else Store()


def load_source(store: Store | None, ref: str, field: str, tasks: tuple[str, ...] | None, allowed: str) -> SourceRun:
    """Run ``ref`` of one of ``tasks`` (None: any), loaded on the CPU; ConfigError on ``field``."""
    # torch: only a run that augments from a stored run loads it
    from core import checkpoint as ckpt

    db = open_store(store)
    try:
        run = db.get_run(ref)
    except RunNotFound:
        raise ConfigError(field, ref, allowed + " (see `lmwb runs list`)", reason="no such run") from None
    config = validate_config(run.config)
    if tasks is not None and config.task not in tasks:
        raise ConfigError(field, ref, allowed, reason=f"run {run.id} is a {config.task} run")
    folder: Path = db.run_files(run.id)
    chosen = next((w for w in ("best", "last") if ckpt.has_checkpoint(folder / "checkpoints" / w)), None)
    if chosen is None:
        raise ConfigError(field, ref, allowed, reason=f"run {run.id} has no checkpoint yet (status: {run.status})")
    tokenizer = load_tokenizer(folder / "tokenizer")
    state = json.loads((folder / "task_state.json").read_text())
    task = TASKS.get(config.task).factory(config, tokenizer, state, "cpu")
    task.load_artifacts(folder)  # a translation run's target tokenizer
    model = task.build_model()
    ckpt.load_weights(folder / "checkpoints" / chosen, model, "cpu")
    model.eval()
    return SourceRun(run.id, config, tokenizer, task, model)


def run_word_vectors(source: SourceRun) -> tuple[list[str], np.ndarray]:
    """(vocab, vectors) of a run: a word-vector model's table, a workbench model's token
    embedding, or a pretrained (Hugging Face) model's input embeddings."""
    model: Any = source.model
    if hasattr(model, "vectors"):  # Word2Vec, GloVe (core.models.base.WordVectors)
        matrix = model.vectors()
    else:
        table = getattr(getattr(model, "backbone", model), "token_embedding", None)
        hf = getattr(model, "hf", None)
        if table is None and hf is not None:
            table = hf.get_input_embeddings()
        if table is None:
            raise ConfigError("task.synonyms_run", source.id, VECTOR_TASKS_TEXT,
                              reason=f"run {source.id} ({source.config.arch}) has no token embedding")
        matrix = table.weight
    vectors = matrix.detach().float().cpu().numpy()
    tok = source.tokenizer
    return [tok.id_to_token(i) for i in range(min(tok.vocab_size, len(vectors)))], vectors[: tok.vocab_size]


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
