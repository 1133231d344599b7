"""The ``file`` dataset component: the user's own CSV, TSV, JSONL or TXT file (plain or .gz)
for classification, language modelling, word vectors and masked-LM pretraining."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.data.splits import split_indices, split_text
from core.data.tables import FORMATS, load_corpus, load_labeled, sort_labels
from core.data.types import DatasetSplits, Split
from core.errors import ConfigError, DataError
from core.params import Param, validate_params
from core.registry import DATASETS

# -- the "file" dataset component -------------------------------------------------------------

FILE_PARAMS: tuple[Param, ...] = (
    Param("path", "path", "", "The data file: .csv, .tsv, .jsonl, .json or .txt, optionally .gz.", sweepable=False, label="File", essential=True),
    Param("format", "str", "auto", "File format; auto decides from the suffix (and the content when unclear).", choices=FORMATS, sweepable=False, label="Format"),
    Param("text_column", "str", "", "Column holding the text (empty: detect text/sentence/review/...).", sweepable=False, label="Text column", essential=True),
    Param("label_column", "str", "", "Column holding the class label, classification only (empty: detect label/class/sentiment/...).", sweepable=False, label="Label column", essential=True),
    Param("validation_path", "path", "", "A separate validation file (empty: split validation off the training file).", sweepable=False, label="Validation file", essential=True),
    Param("val_fraction", "float", 0.1, "Share of the training file held out for validation (when no validation_path).", low=0.01, high=0.5, sweepable=False, label="Validation share"),
    Param("test_fraction", "float", 0.0, "Share of the training file held out as a test split (0: none).", low=0.0, high=0.5, sweepable=False, label="Test share"),
    Param("max_examples", "int", None, "Classification: train on at most this many rows, picked with the seed (null: all). Validation is unaffected.", low=1, high=100_000_000, optional=True, sweepable=False, label="Max examples"),
    Param("max_chars", "int", None, "Language model: train on at most the first N characters of the training part (null: all). Validation is unaffected.", low=100, high=10_000_000_000, optional=True, sweepable=False, label="Max characters"),
)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@DATASETS.register(
    "file",
    params=FILE_PARAMS,
    help="Your own file: CSV, TSV, JSONL or TXT, plain or .gz",
    tasks=("classification", "language_model", "word_embeddings", "masked_lm"),
)
def file_dataset(params: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    """Load a user file for classification or language modelling."""
    p = validate_params(FILE_PARAMS, {k: v for k, v in params.items() if k != "name"}, "data")
    if not p["path"].strip():
        raise ConfigError("data.path", p["path"], "the path of a CSV, TSV, JSONL or TXT file", reason="missing")
    if p["val_fraction"] + p["test_fraction"] >= 0.9:
        raise ConfigError(
            "data.test_fraction", p["test_fraction"],
            "val_fraction + test_fraction below 0.9, so training keeps most of the data",
        )
    if task == "classification":
        return _classification(p, seed)
    # Word vectors and masked-LM pretraining read the text as a corpus (one example per line).
    if task in ("language_model", "word_embeddings", "masked_lm"):
        return _language_model(p)
    raise ConfigError("task.name", task, "classification or language_model", reason="the file dataset cannot do this task")


def _classification(p: dict[str, Any], seed: int) -> DatasetSplits:
    train = load_labeled(p["path"], p["format"], p["text_column"], p["label_column"])
    label_names = sort_labels(train.labels)
    if len(label_names) < 2:
        raise DataError(
            train.path,
            f"column {train.label_column!r} has a single class ({label_names[0]!r}); "
            "classification needs at least two",
        )
    if len(label_names) > 1000 or (len(label_names) > 50 and len(label_names) > len(train.labels) / 2):
        # Almost one class per row: an id or free-text column was taken for the labels.
        raise DataError(
            train.path,
            f"column {train.label_column!r} has {len(label_names)} different values in "
            f"{len(train.labels)} rows; is it really the label? Name it with data.label_column=...",
        )
    index = {name: i for i, name in enumerate(label_names)}
    y = [index[lab] for lab in train.labels]
    notes = list(train.notes)
    val_fraction = 0.0 if p["validation_path"] else p["val_fraction"]
    if len(y) < 2 + (p["test_fraction"] > 0):
        raise DataError(train.path, f"only {len(y)} usable rows; too few to split")
    tr_idx, va_idx, te_idx = split_indices(len(y), val_fraction, p["test_fraction"], seed, labels=y)
    if val_fraction > 0 and not va_idx:
        raise DataError(
            train.path,
            f"only {len(y)} usable rows and no class has two, so none can be held out for "
            "validation; add rows or give data.validation_path",
        )

    if p["validation_path"]:
        # Same explicit columns; auto-detection runs again in case the header order differs.
        val = load_labeled(p["validation_path"], p["format"], p["text_column"], p["label_column"])
        notes += val.notes
        for lab, line in zip(val.labels, val.lines, strict=True):
            if lab not in index:
                raise DataError(
                    val.path,
                    f"label {lab!r} does not occur in the training file (its labels: "
                    f"{', '.join(label_names)})",
                    line,
                )
        validation = Split(list(val.texts), [index[lab] for lab in val.labels])
        val_src = f"validation from {val.path.name} ({len(val.texts)} rows)"
    else:
        validation = Split([train.texts[i] for i in va_idx], [y[i] for i in va_idx])
        val_src = f"validation: {len(va_idx)} rows split off {train.path.name}, stratified by label (seed {seed})"
    notes.append(val_src)

    if p["max_examples"] is not None and p["max_examples"] < len(tr_idx):
        # A separate stream: capping training never changes which rows went to validation.
        rng = np.random.default_rng([seed, 1])
        keep = np.sort(rng.choice(len(tr_idx), size=p["max_examples"], replace=False))
        notes.append(f"training capped at {p['max_examples']} of {len(tr_idx)} rows (max_examples)")
        tr_idx = [tr_idx[i] for i in keep]
    test = Split([train.texts[i] for i in te_idx], [y[i] for i in te_idx]) if te_idx else None
    return DatasetSplits(
        task="classification",
        train=Split([train.texts[i] for i in tr_idx], [y[i] for i in tr_idx]),
        validation=validation,
        test=test,
        label_names=label_names,
        description=(
            f"{_relative(train.path)}: {len(train.texts)} rows, text column {train.text_column!r}, "
            f"label column {train.label_column!r}, {len(label_names)} classes"
        ),
        notes=notes,
    )


def _language_model(p: dict[str, Any]) -> DatasetSplits:
    path, text, column = load_corpus(p["path"], p["format"], p["text_column"])
    notes: list[str] = []
    if p["validation_path"]:
        train_text, _, test_text = split_text(text, 0.0, p["test_fraction"])
        _, val_text, _ = load_corpus(p["validation_path"], p["format"], p["text_column"])
        notes.append(f"validation: the text of {Path(p['validation_path']).name}")
    else:
        train_text, val_text, test_text = split_text(text, p["val_fraction"], p["test_fraction"])
        notes.append(
            f"contiguous split of {len(text):,} characters: first {len(train_text):,} train, "
            f"next {len(val_text):,} validation" + (f", last {len(test_text):,} test" if test_text else "")
        )
    if not train_text or not val_text or (p["test_fraction"] > 0 and not test_text):
        raise DataError(path, f"only {len(text)} characters; too short to split")
    if p["max_chars"] is not None and p["max_chars"] < len(train_text):
        notes.append(f"training capped at the first {p['max_chars']:,} of {len(train_text):,} characters (max_chars)")
        train_text = train_text[: p["max_chars"]]
    where = f", column {column!r}" if column else ""
    return DatasetSplits(
        task="language_model",
        train=Split([train_text]),
        validation=Split([val_text]),
        test=Split([test_text]) if test_text else None,
        description=f"{_relative(path)}{where}: {len(text):,} characters of text",
        notes=notes,
    )
