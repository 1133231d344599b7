"""The ``file`` dataset component: the user's own CSV, TSV, JSONL or TXT file (plain or .gz), a
Parquet or Arrow file, or a Hugging Face dataset (a ``save_to_disk`` folder or a hub name), for
classification, language modelling, word vectors and masked-LM pretraining.

A Hugging Face dataset's own validation and test splits are used where it has them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core.data.arrow import load_splits
from core.data.columns import HEADER_CHOICES
from core.data.labels import label_display_names
from core.data.sentences import SentenceSplit, hold_out_sentences
from core.data.splits import split_indices, split_text
from core.data.tables import (
    FORMATS,
    TEXT_FIELDS,
    Labeled,
    load_corpus,
    load_labeled,
    read_table,
    sort_labels,
)
from core.data.types import DatasetSplits, Split
from core.errors import ConfigError, DataError
from core.params import Param, validate_params
from core.registry import DATASETS

# Tasks that read a file as one running text (one row a line).
CORPUS_TASKS = ("language_model", "word_embeddings", "masked_lm")

# -- the "file" dataset component -------------------------------------------------------------

FILE_PARAMS: tuple[Param, ...] = (
    Param("path", "path", "", "The data file: .csv, .tsv, .jsonl, .json or .txt (optionally .gz), .parquet or .arrow.", sweepable=False, label="File", essential=True),
    Param("dataset", "str", "", "Instead of a file: a Hugging Face dataset folder written by save_to_disk, or a hub name such as imdb or glue/sst2 (needs network). Its validation/test splits are used.", sweepable=False, label="HF dataset"),
    Param("format", "str", "auto", "File format; auto decides from the suffix (and the content when unclear).", choices=FORMATS, sweepable=False, label="Format"),
    Param("header", "str", "auto", "Does a CSV/TSV file's first row name the columns? auto: yes, unless it holds numbers or sentences; no: the columns are column1, column2...", choices=HEADER_CHOICES, sweepable=False, label="Header row"),
    Param("text_column", "str", "", "Column holding the text, by name or position (2: the second); several separated by commas (title,description or 2,3). Empty: detect text/sentence/review/...", sweepable=False, label="Text column", essential=True),
    Param("text_fields", "str", "join", "Several text columns: join them with the separator, or keep two as a sentence pair (premise/hypothesis) for pair classification.", choices=TEXT_FIELDS, sweepable=False, label="Several text columns"),
    Param("separator", "str", " ", "What joins several text columns into one text (text_fields = join).", sweepable=False, label="Separator"),
    Param("label_column", "str", "", "Column holding the class label, by name or position, classification only (empty: detect label/class/sentiment/...).", sweepable=False, label="Label column", essential=True),
    Param("label_names", "str", "", "Names for numeric labels, comma-separated, for 0, 1, 2... (or 1, 2, 3... when the labels start at 1): World,Sports,Business,Sci/Tech.", sweepable=False, label="Label names"),
    Param("label_names_file", "path", "", "A file with one label name per line, for labels 0, 1, 2... (or 1, 2, 3...).", sweepable=False, label="Label names file"),
    Param("label_name_column", "str", "", "A column holding each row's label name beside the numeric label (e.g. label_text).", sweepable=False, label="Label name column"),
    Param("validation_path", "path", "", "A separate validation file (empty: split validation off the training file).", sweepable=False, label="Validation file", essential=True),
    Param("heldout_path", "path", "", "A held-out evaluation file, classification only: scored at every evaluation beside validation and reported as held-out metrics (never used for early stopping or the best checkpoint).", sweepable=False, label="Held-out file"),
    Param("heldout_sentences", "int", 0, "Hold out this many whole sentences of the training file (rows ending in . ! or ? that no other row contains) as the held-out set, and drop every training row that is a phrase of one (SST-2 style data; 0: none). A pretraining run (word vectors, masked LM) on the same file with the same number leaves the same sentences out of its text.", low=0, high=1_000_000, sweepable=False, label="Held-out whole sentences"),
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


def _check_source(p: dict[str, Any]) -> None:
    if p["dataset"].strip() and p["path"].strip():
        raise ConfigError("data.dataset", p["dataset"], "either data.path (a file) or data.dataset "
                          "(a save_to_disk folder or hub name), not both", reason="both given")
    if not p["dataset"].strip() and not p["path"].strip():
        raise ConfigError("data.path", p["path"], "the path of a CSV, TSV, JSONL, TXT, Parquet or Arrow "
                          "file (or data.dataset: a save_to_disk folder or hub name)", reason="missing")


def _tables(p: dict[str, Any]) -> dict[str, Any]:
    """{split: table} of a Hugging Face dataset, or {"train": table} of one file."""
    if p["dataset"].strip():
        return load_splits(p["dataset"])[1]
    return {"train": read_table(p["path"], p["format"], p["header"])}


@DATASETS.register(
    "file", label="Your file",
    params=FILE_PARAMS,
    help="Your own data: CSV, TSV, JSONL or TXT (plain or .gz), Parquet, Arrow, or a Hugging Face dataset",
    tasks=("classification", "language_model", "word_embeddings", "masked_lm"),
    check=lambda p: ("data.heldout_path and data.heldout_sentences both give a held-out set; keep one "
                     "(heldout_sentences=0)") if p["heldout_path"] and p["heldout_sentences"] else None,
)
def file_dataset(params: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    """Load a user file (or Hugging Face dataset) for classification or language modelling."""
    p = validate_params(FILE_PARAMS, {k: v for k, v in params.items() if k != "name"}, "data")
    _check_source(p)
    if p["val_fraction"] + p["test_fraction"] >= 0.9:
        raise ConfigError(
            "data.test_fraction", p["test_fraction"],
            "val_fraction + test_fraction below 0.9, so training keeps most of the data",
        )
    if task == "classification":
        return _classification(p, seed)
    if p["heldout_path"]:
        raise ConfigError("data.heldout_path", p["heldout_path"], "empty: a held-out file is scored for "
                          "classification only", reason=f"not for {task}")
    if p["heldout_sentences"] and (task not in CORPUS_TASKS or p["dataset"].strip()):
        raise ConfigError("data.heldout_sentences", p["heldout_sentences"], "0: whole sentences are held out of "
                          "a classification file, or of a pretraining corpus read from a file",
                          reason=f"not for {task}" if task not in CORPUS_TASKS
                          else "not for data.dataset (a hub name or a saved dataset folder)")
    # Word vectors and masked-LM pretraining read the text as a corpus (one example per line).
    if task in CORPUS_TASKS:
        return _language_model(p)
    raise ConfigError("task.name", task, "classification or language_model", reason="the file dataset cannot do this task")


def _labeled(source: Any, p: dict[str, Any]) -> Labeled:
    return load_labeled(source, p["format"], p["text_column"], p["label_column"], header=p["header"],
                        text_fields=p["text_fields"], separator=p["separator"],
                        label_name_column=p["label_name_column"])


def _labelled_split(source: Any, p: dict[str, Any], notes: list[str]) -> Labeled | None:
    """A dataset's own validation/test split; None (with a note) when it has no labels (GLUE's
    test sets say -1)."""
    try:
        return _labeled(source, p)
    except DataError as exc:
        if "every row has an empty" not in str(exc):  # load_labeled's "nothing usable" error
            raise
        notes.append(f"{Path(source.path).name} left out: it has no labels")
        return None


def _classification(p: dict[str, Any], seed: int) -> DatasetSplits:
    tables = _tables(p)
    notes: list[str] = []
    train = _labeled(tables["train"], p)
    own_val = _labelled_split(tables["validation"], p, notes) if "validation" in tables else None
    own_test = _labelled_split(tables["test"], p, notes) if "test" in tables else None
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
    notes[:0] = train.notes
    train, heldout, held_notes = _held_out(train, p, index, label_names)
    notes += held_notes
    y = [index[lab] for lab in train.labels]
    val_fraction = 0.0 if p["validation_path"] or own_val else p["val_fraction"]
    test_fraction = 0.0 if own_test else p["test_fraction"]
    if len(y) < 2 + (test_fraction > 0):
        raise DataError(train.path, f"only {len(y)} usable rows; too few to split")
    tr_idx, va_idx, te_idx = split_indices(len(y), val_fraction, test_fraction, seed, labels=y)
    if val_fraction > 0 and not va_idx:
        raise DataError(
            train.path,
            f"only {len(y)} usable rows and no class has two, so none can be held out for "
            "validation; add rows or give data.validation_path",
        )

    if p["validation_path"] or own_val:
        # Same explicit columns; auto-detection runs again in case the header order differs.
        val = _labeled(p["validation_path"], p) if p["validation_path"] else own_val
        assert val is not None
        notes += val.notes
        validation = _indexed(val, index, label_names)
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
    if own_test is not None:
        test = _indexed(own_test, index, label_names)
        notes.append(f"test from {own_test.path.name} ({len(own_test.texts)} rows)")
    shown = label_display_names(
        label_names, names=p["label_names"], names_file=p["label_names_file"], class_names=train.class_names,
        labels=train.labels, row_names=train.row_names, name_column=p["label_name_column"], path=train.path,
    )
    if shown != label_names:
        notes.append("label names: " + ", ".join(f"{r} = {n}" for r, n in zip(label_names, shown, strict=True)))
    pair = p["text_fields"] == "pair"
    return DatasetSplits(
        task="classification",
        train=Split([train.texts[i] for i in tr_idx], [y[i] for i in tr_idx]),
        validation=validation,
        test=test,
        label_names=shown,
        description=(
            f"{_relative(train.path)}: {len(train.texts)} rows, text column{'s' * (',' in train.text_column)} "
            f"{train.text_column!r}{' (sentence pairs)' if pair else ''}, "
            f"label column {train.label_column!r}, {len(label_names)} classes"
        ),
        notes=notes,
        extras={**({"text_pair": True, "pair_separator": p["separator"]} if pair else {}),
                **({"heldout": heldout} if heldout is not None else {})},
    )


def _held_out(train: Labeled, p: dict[str, Any], index: dict[str, int],
              label_names: list[str]) -> tuple[Labeled, Split | None, list[str]]:
    """The training rows left after holding out whole sentences (data.heldout_sentences), and
    the held-out set: those sentences, or the rows of data.heldout_path."""
    if p["heldout_path"]:
        part = _labeled(p["heldout_path"], p)
        notes_extra = [*part.notes, f"held-out set: {part.path.name} ({len(part.texts)} rows)"]
        return train, _indexed(part, index, label_names), notes_extra
    if not p["heldout_sentences"]:
        return train, None, []
    split = checked_sentence_split(train.texts, p["heldout_sentences"], train.path)
    kept = _rows(train, split.train)
    held = Split([train.texts[i] for i in split.heldout], [index[train.labels[i]] for i in split.heldout])
    return kept, held, [
        f"held-out set: {len(split.heldout)} of the {split.sentences} whole sentences of {train.path.name}; "
        f"{split.dropped} training rows that are phrases of them dropped"]


def checked_sentence_split(texts: list[str], count: int, path: Path) -> SentenceSplit:
    """:func:`hold_out_sentences`, refusing a file with no whole sentence, or with no more than
    ``count`` of them (nothing of the sentences would be left to train on)."""
    split = hold_out_sentences(texts, count)
    if not split.sentences:
        raise DataError(path, "no row is a whole sentence (ends in . ! or ? with at least 4 words), "
                        "so none can be held out; set data.heldout_sentences=0 or give data.heldout_path")
    if count >= split.sentences:
        raise ConfigError("data.heldout_sentences", count, f"fewer than the {split.sentences:,} whole sentences "
                          f"of {path.name}", reason="it would hold out every one, leaving none to train on")
    return split


def _rows(part: Labeled, keep: list[int]) -> Labeled:
    """``part`` with only the rows ``keep`` (indices into its lists)."""
    return replace(part, texts=[part.texts[i] for i in keep], labels=[part.labels[i] for i in keep],
                   lines=[part.lines[i] for i in keep],
                   row_names=None if part.row_names is None else [part.row_names[i] for i in keep])


def _indexed(part: Labeled, index: dict[str, int], label_names: list[str]) -> Split:
    """A validation or test part with the training file's class indices."""
    for lab, line in zip(part.labels, part.lines, strict=True):
        if lab not in index:
            raise DataError(
                part.path,
                f"label {lab!r} does not occur in the training data (its labels: {', '.join(label_names)})",
                line,
            )
    return Split(list(part.texts), [index[lab] for lab in part.labels])


def _language_model(p: dict[str, Any]) -> DatasetSplits:
    if p["dataset"].strip():
        return _language_model_hf(p)
    path, text, column = load_corpus(p["path"], p["format"], p["text_column"], header=p["header"],
                                     separator=p["separator"])
    notes: list[str] = []
    if p["heldout_sentences"]:
        text = _without_heldout_sentences(text, p["heldout_sentences"], notes, path)
    if p["validation_path"]:
        train_text, _, test_text = split_text(text, 0.0, p["test_fraction"])
        _, val_text, _ = load_corpus(p["validation_path"], p["format"], p["text_column"], header=p["header"],
                                     separator=p["separator"])
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


def _without_heldout_sentences(text: str, count: int, notes: list[str], path: Path) -> str:
    """The corpus (one row a line) without the sentences a classification run with the same
    data.heldout_sentences holds out, nor any of their phrases: pretraining for that classifier
    (word vectors, a masked LM) then never reads the text it is scored on."""
    rows = text.split("\n")
    split = checked_sentence_split(rows, count, path)
    notes.append(f"{len(split.heldout)} of the {split.sentences:,} whole sentences held out (data.heldout_sentences) "
                 f"and {split.dropped:,} rows that are phrases of them left out of the text, the same ones as in a "
                 "classification run on this file")
    return "\n".join(rows[i] for i in split.train)


def _language_model_hf(p: dict[str, Any]) -> DatasetSplits:
    """A Hugging Face dataset's text as a corpus; its validation split, else the last part."""
    tables = _tables(p)

    def corpus(split: str) -> tuple[Path, str, str | None]:
        return load_corpus(tables[split], text_column=p["text_column"], separator=p["separator"])

    path, text, column = corpus("train")
    if "validation" in tables:
        train_text, val_text = text, corpus("validation")[1]
        note = "validation: the dataset's validation split"
    else:
        train_text, val_text, _ = split_text(text, p["val_fraction"], 0.0)
        note = f"validation: the last {len(val_text):,} characters of the train split"
    if p["max_chars"] is not None and p["max_chars"] < len(train_text):
        train_text = train_text[: p["max_chars"]]
    return DatasetSplits(
        task="language_model",
        train=Split([train_text]),
        validation=Split([val_text]),
        test=Split([corpus("test")[1]]) if "test" in tables else None,
        description=f"{p['dataset']}, column {column!r}: {len(text):,} characters of text",
        notes=[note],
    )
