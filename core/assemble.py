"""A run's parts from its config: the dataset, the tokenizer fitted on it, the task.

Used by the trainer (:mod:`core.train`, which a new run is built by) and by whatever reloads
or inspects a run; they are importable from ``core.train`` as well.
"""

from __future__ import annotations

from typing import Any

import torch

from core.config import RunConfig
from core.data.types import DatasetSplits
from core.errors import ConfigError
from core.registry import DATASETS, TASKS, TOKENIZERS
from core.tasks.base import Task
from core.tasks.pairs import fitting_texts
from core.tokenize import Tokenizer


def load_dataset(config: RunConfig) -> DatasetSplits:
    comp = DATASETS.get(config["data"]["name"], path="data.name")
    return comp.factory(config.params("data"), task=config.task, seed=config["training"]["seed"])


def fit_tokenizer(config: RunConfig, data: DatasetSplits) -> Tokenizer:
    comp = TOKENIZERS.get(config["tokenizer"]["name"], path="tokenizer.name")
    texts = list(data.train.texts)
    if data.extras.get("text_pair"):  # "a [SEP] b": the mark is not a word of the vocabulary
        texts = fitting_texts(texts)
    # Translation with separate vocabularies fits the target side itself (TranslationTask).
    if data.train.targets and config["task"].get("shared_vocab", True):
        texts += data.train.targets
    # Question answering (core.data.qa.QASplit): the questions, and each context they are asked of once.
    texts += list(dict.fromkeys(getattr(data.train, "contexts", ())))
    params = config.params("tokenizer")
    if not (comp.meta.get("from_model") and not params.get("model")):
        return comp.factory(params, texts)
    params["model"] = config["model"].get("model") or ""  # a pretrained model's own tokenizer
    try:
        return comp.factory(params, texts)
    except ConfigError as exc:  # the folder the user named is model.model: say that one
        if exc.path != "tokenizer.model":
            raise
        raise ConfigError("model.model", exc.value, exc.allowed, reason=exc.reason) from None


def build_task(config: RunConfig, tokenizer: Tokenizer, state: dict[str, Any] | None, device: torch.device) -> Task:
    return TASKS.get(config.task).factory(config, tokenizer, state, device)
