"""Error analysis: every evaluation example with what the model made of it.

:func:`example_table` lists the run's validation split (or a data file read the way
``lmwb eval --data`` reads it), one row per example:

* classification: ``text, label, prediction, correct, confidence`` (probability of the
  prediction), ``p_label`` (of the true class), ``loss`` (cross-entropy), ``length`` (tokens);
* translation: ``source, reference, hypothesis, correct`` (exact match, as the exact_match
  metric compares), ``bleu`` / ``chrf`` (sacrebleu's sentence-level scores), ``loss``
  (teacher-forced cross-entropy per target token), ``length`` (source tokens);
* summarisation: as translation, with ``rouge1`` / ``rouge2`` / ``rougeL`` (rouge-score's
  F-measures, what the run's metrics average) instead of BLEU and chrF.

:func:`filter_examples`, :func:`confusion`, :func:`slices` and :func:`disagreement` work on
that table: pure pandas, shared by the Explain page and ``lmwb eval --examples``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from core.errors import WorkbenchError
from core.metrics import rouge_scores
from core.models.base import evaluating
from core.tasks.catalog import default_metric
from core.tasks.translation import PaddedRows

TASKS = ("classification", "translation", "summarisation")
TEXT = {"classification": "text", "translation": "source", "summarisation": "source"}
LENGTH_BUCKETS = 4
_BATCH = 64


@dataclass
class Examples:
    """The per-example table of one run on one data set."""

    task: str
    table: pd.DataFrame
    data: str  # "validation split" or the file read
    labels: list[str] = field(default_factory=list)  # classification: the run's classes, in order
    lowercase: bool = False  # translation: scored case-insensitively

    @property
    def text_column(self) -> str:
        return TEXT[self.task]

    @property
    def metric(self) -> str:
        """The metric the slices report: the task's own (``default_metric`` in core.tasks.catalog), computed over
        the examples as the run's evaluation computes it."""
        return default_metric(self.task)


def example_table(trained: Any, path: str | Path | None = None, *, source_path: str | Path | None = None,
                  target_path: str | Path | None = None, beam: int | None = None, **data_params: Any) -> Examples:
    """Every example of the run's validation split (no file given) or of a data file."""
    from core.runs import evaluation_data

    task_name = trained.config.task
    if task_name not in TASKS:
        raise WorkbenchError(f"the Examples table lists classification, translation and summarisation runs, not {task_name} runs")
    _, data = evaluation_data(trained, path, source_path=source_path, target_path=target_path, beam=beam,
                              **data_params)
    where = str(path or source_path) if path is not None or source_path is not None else "validation split"
    split = data.validation
    if not split.texts:
        raise WorkbenchError(f"{where}: no examples")
    if task_name == "classification":
        return _classification(trained, list(split.texts), list(split.labels or []), where)
    return _translation(trained, list(split.texts), list(split.targets or []), where, beam)


def _classification(trained: Any, texts: list[str], labels: list[int], where: str) -> Examples:
    names = list(trained.task.state["label_names"])
    probs = trained.task.predict_proba(trained.model, texts)  # (N, C), eval mode, batched
    y = np.asarray(labels, dtype=np.int64)
    pred = probs.argmax(axis=1)
    p_label = probs[np.arange(len(y)), y]
    lengths = [len(ids) for ids in trained.tokenizer.encode_batch(texts)]
    table = pd.DataFrame({
        "text": texts, "label": [names[i] for i in y], "prediction": [names[i] for i in pred],
        "correct": pred == y, "confidence": probs.max(axis=1).astype(float), "p_label": p_label.astype(float),
        "loss": -np.log(np.clip(p_label.astype(np.float64), 1e-12, None)), "length": lengths,
    })
    return Examples("classification", table, where, names)


def _translation(trained: Any, sources: list[str], references: list[str], where: str, beam: int | None) -> Examples:
    from sacrebleu.metrics import BLEU, CHRF

    task = trained.task
    hypotheses = task.translate(trained.model, sources, beam_size=beam)
    lowercase = bool(task.target_tokenizer.params.get("lowercase", False))
    bleu, chrf = BLEU(lowercase=lowercase, effective_order=True), CHRF(lowercase=lowercase)
    fold = str.lower if lowercase else str

    def tokens(text: str) -> list[str]:  # what the exact_match metric compares (13a tokens)
        return bleu.tokenizer(fold(text.strip())).split()

    pairs = list(zip(hypotheses, references, strict=True))
    columns: dict[str, Any] = {
        "source": sources, "reference": references, "hypothesis": hypotheses,
        "correct": [tokens(h) == tokens(r) for h, r in pairs],
    }
    if trained.config.task == "summarisation":
        columns.update(rouge_scores(hypotheses, references))
    else:
        columns["bleu"] = [float(bleu.sentence_score(h, [r]).score) for h, r in pairs]
        columns["chrf"] = [float(chrf.sentence_score(h, [r]).score) for h, r in pairs]
    columns["loss"] = _translation_losses(trained, sources, references)
    columns["length"] = [len(ids) for ids in trained.tokenizer.encode_batch(sources)]
    return Examples(trained.config.task, pd.DataFrame(columns), where, lowercase=lowercase)


@torch.no_grad()
def _translation_losses(trained: Any, sources: list[str], references: list[str]) -> list[float]:
    """Teacher-forced cross-entropy per target token, per sentence (the task's encoding)."""
    task, model = trained.task, trained.model
    tgt = task.target_tokenizer
    src_rows = PaddedRows(task._source_rows(task.tokenizer.encode_batch(sources)), task.tokenizer.pad_id)
    tgt_rows = PaddedRows(task._target_rows(tgt.encode_batch(references)), tgt.pad_id)
    device = next(model.parameters()).device
    out: list[float] = []
    with evaluating(model):
        for start in range(0, len(sources), _BATCH):
            index = torch.arange(start, min(start + _BATCH, len(sources)))
            src_ids, src_mask = src_rows.take(index)
            tgt_ids, _ = tgt_rows.take(index)
            logits = model(src_ids=src_ids.to(device), src_pad_mask=src_mask.to(device), tgt_ids=tgt_ids[:, :-1].to(device))
            gold = tgt_ids[:, 1:].to(device)
            loss = F.cross_entropy(logits.float().transpose(1, 2), gold, ignore_index=tgt.pad_id, reduction="none")
            real = (gold != tgt.pad_id).float()
            out += (loss.sum(1) / real.sum(1).clamp(min=1)).cpu().tolist()
    return out


# -- views of the table ----------------------------------------------------------------------------
def filter_examples(
    examples: Examples, *, outcome: str = "all", search: str = "", labels: Sequence[str] = (),
    predictions: Sequence[str] = (), confidence: tuple[float, float] = (0.0, 1.0),
    length: tuple[int, int] | None = None, sort: str | None = None, descending: bool = True,
) -> pd.DataFrame:
    """The rows that pass every filter (``outcome``: all | correct | wrong; ``search``: a
    case-insensitive substring of the text), sorted by ``sort``; the index is the example's."""
    df = examples.table
    keep = pd.Series(True, index=df.index)
    if outcome in ("correct", "wrong"):
        keep &= df["correct"] == (outcome == "correct")
    if search.strip():
        needle = search.strip().lower()
        text_columns = [c for c in ("text", "source", "reference", "hypothesis") if c in df]
        keep &= np.logical_or.reduce([df[c].str.lower().str.contains(needle, regex=False) for c in text_columns])
    if labels and "label" in df:
        keep &= df["label"].isin(list(labels))
    if predictions and "prediction" in df:
        keep &= df["prediction"].isin(list(predictions))
    if "confidence" in df and tuple(confidence) != (0.0, 1.0):
        keep &= df["confidence"].between(*confidence)
    if length is not None:
        keep &= df["length"].between(*length)
    out = df[keep]
    return out.sort_values(sort, ascending=not descending, kind="stable") if sort else out


def confusion(examples: Examples) -> pd.DataFrame:
    """Rows: true class, columns: predicted class (every class, zeros included)."""
    names = examples.labels
    counts = pd.crosstab(pd.Categorical(examples.table["label"], names), pd.Categorical(examples.table["prediction"], names),
                         dropna=False)
    counts.index.name, counts.columns.name = "true", "predicted"
    return counts.reindex(index=names, columns=names, fill_value=0).astype(int)


def length_buckets(lengths: pd.Series, buckets: int = LENGTH_BUCKETS) -> list[tuple[int, int]]:
    """Up to ``buckets`` contiguous token-length ranges holding about as many examples each."""
    edges = np.unique(np.floor(np.quantile(lengths, np.linspace(0, 1, buckets + 1))).astype(int))
    if len(edges) == 1:
        return [(int(edges[0]), int(edges[0]))]
    ranges = [(int(lo) if i == 0 else int(lo) + 1, int(hi)) for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
    return [(lo, hi) for lo, hi in ranges if lo <= hi]


def slices(examples: Examples, buckets: int = LENGTH_BUCKETS) -> pd.DataFrame:
    """One table of slices (all, each length bucket, each true class) and their metric:
    accuracy for classification, corpus BLEU for translation, mean ROUGE-L for summarisation;
    plus size, mean loss."""
    df = examples.table
    parts: list[tuple[str, str, pd.DataFrame]] = [("all", "all examples", df)]
    for lo, hi in length_buckets(df["length"], buckets):
        parts.append(("length", f"{lo}-{hi} tokens" if lo != hi else f"{lo} tokens", df[df["length"].between(lo, hi)]))
    for name in examples.labels:
        parts.append(("label", name, df[df["label"] == name]))
    metric = examples.metric
    rows = []
    for kind, name, part in parts:
        rows.append({"slice": kind, "value": name, "examples": len(part),
                     metric: _metric(examples, part) if len(part) else None,
                     "wrong": int((~part["correct"]).sum()), "mean loss": float(part["loss"].mean()) if len(part) else None})
    return pd.DataFrame(rows)


def overall_metric(examples: Examples) -> float:
    """The task's metric over every example: accuracy, corpus BLEU or mean ROUGE-L."""
    return _metric(examples, examples.table)


def _metric(examples: Examples, part: pd.DataFrame) -> float:
    metric = examples.metric
    if metric == "accuracy":
        return float(part["correct"].mean())
    if metric in ("rougeL", "rouge1", "rouge2"):  # the run's ROUGE: a mean over examples
        return float(part[metric].mean())
    if metric == "bleu":  # the run's BLEU: one corpus score
        from sacrebleu.metrics import BLEU

        return float(BLEU(lowercase=examples.lowercase).corpus_score(list(part["hypothesis"]),
                                                                      [list(part["reference"])]).score)
    raise WorkbenchError(f"no per-example {metric} for {examples.task}: the examples table scores "
                         "accuracy, BLEU and ROUGE")


# -- two or more runs ------------------------------------------------------------------------------
@dataclass
class Disagreement:
    counts: pd.DataFrame  # pattern of right/wrong per run -> examples, among those where they disagree
    rows: pd.DataFrame  # the examples where the runs' outputs differ, every run's output beside
    total: int  # examples compared
    disagree: int  # how many of them differ


def disagreement(runs: Mapping[str, Examples]) -> Disagreement:
    """Where runs of one task, scored on the same examples, give different outputs."""
    if len(runs) < 2:
        raise WorkbenchError("pick at least two runs to compare")
    first = next(iter(runs.values()))
    text = first.text_column
    for name, ex in runs.items():
        if ex.task != first.task or len(ex.table) != len(first.table) or not ex.table[text].equals(first.table[text]):
            raise WorkbenchError(f"{name} was not scored on the same examples as {next(iter(runs))}: "
                                 "compare runs of one task on one data set")
    output = "prediction" if first.task == "classification" else "hypothesis"
    gold = "label" if first.task == "classification" else "reference"
    merged = first.table[[text, gold]].copy()
    for name, ex in runs.items():
        merged[f"{output} · {name}"] = ex.table[output]
        merged[f"correct · {name}"] = ex.table["correct"]
        if first.task != "classification":
            score = first.metric
            merged[f"{score} · {name}"] = ex.table[score]
    outputs = merged[[f"{output} · {n}" for n in runs]]
    differ = outputs.nunique(axis=1) > 1
    rows = merged[differ]
    marks = rows[[f"correct · {n}" for n in runs]].apply(
        lambda r: " · ".join(f"{n} {'✓' if ok else '✗'}" for n, ok in zip(runs, r, strict=True)), axis=1)
    counts = (marks.value_counts().rename_axis("right / wrong").reset_index(name="examples")
              if len(rows) else pd.DataFrame({"right / wrong": [], "examples": []}))
    return Disagreement(counts, rows, len(merged), int(differ.sum()))
