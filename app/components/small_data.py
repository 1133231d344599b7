"""The Train page's word on small data: how many training rows a classification run gets,
against how many parameters its model has (core.budget.small_data_warning decides)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app.components.forms import setting_words
from core.budget import SMALL_ROWS, small_data_warning
from core.config import RunConfig
from core.registry import MODELS, arch_label

_COUNTED = (".csv", ".tsv", ".txt", ".jsonl")  # plain text files: one row a line
_MAX_COUNTED_BYTES = 50_000_000


def training_rows(data: dict[str, Any]) -> int | None:
    """About how many rows train: a built-in set's n_examples, or a plain file's lines, less the
    validation share; None when unknown (a Parquet file, a hub dataset, no file yet)."""
    held = float(data.get("val_fraction") or 0) + float(data.get("test_fraction") or 0)
    if "n_examples" in data:
        rows = int(data["n_examples"])
    elif data.get("path"):
        path = Path(str(data["path"]))
        if path.suffix not in _COUNTED or not path.is_file() or path.stat().st_size > _MAX_COUNTED_BYTES:
            return None
        with path.open("rb") as f:
            rows = max(0, sum(1 for line in f if line.strip()) - 1)  # less a header row, if any
        if data.get("validation_path"):
            held = float(data.get("test_fraction") or 0)
    else:
        return None
    rows = round(rows * (1 - held))
    return min(rows, int(data["max_examples"])) if data.get("max_examples") else rows


def model_parameters(config: RunConfig, vocab_size: int) -> int | None:
    """Parameters of the run's backbone for a vocabulary of ``vocab_size`` (None: a pretrained
    model, whose size comes with its weights)."""
    comp = MODELS.get(config.arch)
    if comp.meta.get("builds_classifier"):
        return None
    model = comp.factory(config.params("model"), vocab_size=vocab_size, pad_id=0,
                         max_len=int(config["task"].get("max_length", 128)) + 1)
    return sum(p.numel() for p in model.parameters())


def small_data_note(configs: list[RunConfig]) -> None:
    """A warning under the form when a classification run's data is small for its model."""
    for config in configs:
        if config.task != "classification":
            continue
        rows = training_rows(config["data"])
        if rows is None or rows >= SMALL_ROWS:
            continue  # counting the model's parameters builds it (and loads torch): only when it matters
        # The vocabulary is fitted on the training rows: a few words a row, up to the cap.
        vocab = min(int(config["tokenizer"].get("max_vocab") or 30_000), 4 + 3 * rows)
        params = model_parameters(config, vocab)
        text = small_data_warning(rows, params) if params is not None else None
        if text:
            arch = f" ({arch_label(config.arch)})" if len(configs) > 1 else ""
            st.warning(setting_words(text, config.to_dict()) + arch, icon=":material/data_alert:")
