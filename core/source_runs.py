"""A finished run loaded from the store for another run to read (its word vectors, its
translations): the stored config, tokenizer, task state and best (else last) checkpoint, on the
CPU.

This sits below the trainer and the tasks (a task reads a source run while it builds its model or
its augmenter), so it loads the run from its folder itself, as ``core.runs.load_trained`` does for
the commands. A reference that names no run, a run of a task that cannot serve, or one without a
checkpoint is a ConfigError on the field that named it, saying what the field takes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import RunConfig, validate_config
from core.errors import ConfigError, RunNotFound
from core.registry import TASKS
from core.tokenize import Tokenizer, load_tokenizer

if TYPE_CHECKING:
    from torch import nn

    from core.store import Store

# Runs with word vectors (core.augment's synonyms, task.embeddings_run): a word_embeddings run's
# table, or the token embedding of a model of these tasks (a pretrained encoder's included).
VECTOR_TASKS = ("word_embeddings", "classification", "masked_lm", "language_model")
VECTOR_TASKS_TEXT = "a run with word vectors (a " + ", ".join(VECTOR_TASKS) + " run)"


@dataclass
class SourceRun:
    """A run loaded for another run to read: its id, config, tokenizer, task object and model."""

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
    # torch: only a run that reads another run loads it
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


def token_table(model: Any) -> Any:
    """A model's word vectors as a tensor (vocabulary, dim): a word-vector model's table, a
    workbench model's token embedding, a pretrained (Hugging Face) model's input embeddings; None
    when it has none."""
    if hasattr(model, "vectors"):  # Word2Vec, GloVe (core.models.base.WordVectors)
        return model.vectors()
    table = getattr(getattr(model, "backbone", model), "token_embedding", None)
    hf = getattr(model, "hf", None)
    if table is None and hf is not None:
        table = hf.get_input_embeddings()
    return None if table is None else table.weight


def source_vectors(source: SourceRun, field: str, allowed: str) -> tuple[list[str], np.ndarray]:
    """(tokens, vectors) of a loaded run, row i the vector of its tokenizer's token i;
    ConfigError on ``field`` when the run's model has no word vectors."""
    matrix = token_table(source.model)
    if matrix is None:
        raise ConfigError(field, source.id, allowed,
                          reason=f"run {source.id} ({source.config.arch}) has no token embedding")
    vectors = matrix.detach().float().cpu().numpy()
    tok = source.tokenizer
    n = min(tok.vocab_size, len(vectors))
    return [tok.id_to_token(i) for i in range(n)], vectors[:n]
