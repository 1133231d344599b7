"""The runs table: one row per run from its stored fields alone (no further queries), its
filters, and the column formats (shared by the Runs page and Home's recent runs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.metrics import METRICS, metric_label
from core.registry import DATASETS, task_label
from core.store import Run

# Column -> config key: the few hyperparameters worth a column (absent ones stay blank).
KEY_PARAMS: dict[str, str] = {
    "data": "data.name",
    "tokenizer": "tokenizer.name",
    "layers": "model.n_layers",
    "d_model": "model.d_model",
    "hidden": "model.hidden_size",
    "lr": "optimizer.lr",
    "batch": "training.batch_size",
    "steps": "training.max_steps",
}
# Validation metrics worth a column of their own (their last value), labelled and formatted as
# the metric catalogue (core.metrics) declares them.
VAL_METRICS = ("accuracy", "perplexity")


def data_label(data: Mapping[str, Any] | None) -> str:
    """A run's data in words: a file by its name (never the server's folders), a Hugging Face
    dataset folder by its name, a built-in set as its declaration names it (``label=``)."""
    data = data or {}
    for key in ("path", "source_path"):  # the file dataset; parallel text
        if data.get(key):
            return Path(str(data[key])).name
    if data.get("dataset"):  # a hub name as given (glue/sst2); a folder by its name
        ref = str(data["dataset"]).rstrip("/\\")
        return Path(ref).name if Path(ref).is_absolute() else ref
    return DATASETS.label(str(data["name"])) if data.get("name") else ""


def run_row(run: Run) -> dict[str, Any]:
    """One table row from a run's stored fields only (no further queries)."""
    flat = RunConfig(run.config).flat() if run.config else {}
    summary = run.summary or {}
    val = summary.get("val") or {}
    best = summary.get("best") or {}
    row: dict[str, Any] = {
        "name": run.name,
        "status": run.status,
        "task": task_label(run.task),  # in words, as its declaration names it
        "arch": run.arch,
        "tags": ", ".join(run.tags),
    }
    row.update({col: _scalar(flat.get(key)) for col, key in KEY_PARAMS.items()})
    row["data"] = data_label((run.config or {}).get("data")) or None  # in words, as the Train form shows it
    row.update({
        "metric": metric_label(summary["metric"]) if summary.get("metric") else None,  # as every screen says it
        "best": best.get("value"),
        **{name: val.get(name) for name in VAL_METRICS},
        "duration (s)": run.duration_s,
        "created": datetime.fromtimestamp(run.created_at),
        "id": run.id,
    })
    return row


# The best value and what it measures come right after the name and status, so they are on
# screen without scrolling sideways; the hyperparameters follow.
TABLE_COLUMNS = [
    "name", "status", "best", "metric", "task", "arch", *VAL_METRICS, "tags",
    *KEY_PARAMS, "duration (s)", "created", "id",
]


# What a person needs first, on screen at 1400 px without scrolling sideways (the Runs page and
# Home's recent runs); the rest wait behind the Runs page's "More columns".
FIRST_COLUMNS = ["name", "status", "best", "metric", "task", "arch", "created"]
MORE_COLUMNS = [c for c in TABLE_COLUMNS if c not in FIRST_COLUMNS]


def runs_table(runs: Sequence[Run]) -> pd.DataFrame:
    return pd.DataFrame([run_row(r) for r in runs], columns=TABLE_COLUMNS)


# How each number reads. st.dataframe draws "None" in an empty cell whatever the formatting, so
# the table on screen holds text (the numbers themselves stay in runs_table, for filters and the
# CSV download): digits aligned on the decimal point, padded with spaces, so the grid's text sort
# still orders them as numbers, and an empty cell is empty.
# printf formats, as the metric catalogue writes its own.
FORMATS = {
    "best": "%.4f", **{name: METRICS[name].fmt for name in VAL_METRICS}, "lr": "%.6f", "duration (s)": "%.0f",
}
NUMBER_COLUMNS = ("best", *VAL_METRICS, "layers", "d_model", "hidden", "lr", "batch", "steps", "duration (s)")


def aligned_text(values: pd.Series, fmt: str | Callable[[float], str] = "%.0f") -> pd.Series:
    """Numbers as text aligned on the decimal point (spaces pad the whole part in front and the
    fraction behind, trailing zeros of a fraction dropped), "" where there is none. For
    non-negative numbers the text order is the number order. ``fmt``: a printf format, or a
    function such as a metric's declared ``Metric.shown``."""
    texts = []
    for value in values:
        number = pd.to_numeric(value, errors="coerce")
        if pd.isna(number):
            texts.append(None)
            continue
        text = fmt(float(number)) if callable(fmt) else fmt % float(number)
        if "." in text and "e" not in text:
            text = text.rstrip("0").rstrip(".") if fmt == "%.6f" else text
        texts.append(text)
    whole = max((len(t.split(".")[0]) for t in texts if t), default=0)
    frac = max((len(t.split(".")[1]) + 1 if "." in t else 0 for t in texts if t), default=0)
    out = []
    for t in texts:
        if t is None:
            out.append("")
            continue
        head, _, tail = t.partition(".")
        tail = f".{tail}" if tail else ""
        out.append(head.rjust(whole) + tail.ljust(frac))
    return pd.Series(out, index=values.index, dtype=object)


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as the grid shows it: numbers as aligned text, missing values blank."""
    out = table.copy()
    for column in out.columns:
        if column in NUMBER_COLUMNS:
            out[column] = aligned_text(out[column], FORMATS.get(column, "%.0f"))
        elif out[column].dtype == object:
            out[column] = out[column].map(lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    return out


def filter_table(
    table: pd.DataFrame, *, statuses: Sequence[str] = (), tasks: Sequence[str] = (),
    archs: Sequence[str] = (), tags: Sequence[str] = (), text: str = "",
) -> pd.DataFrame:
    """Rows matching every filter; an empty filter matches all. ``text`` searches name,
    id, architecture and tags, case-insensitively."""
    keep = pd.Series(True, index=table.index)
    for column, wanted in (("status", statuses), ("task", tasks), ("arch", archs)):
        if wanted:
            keep &= table[column].isin(wanted)
    if tags:
        tag_sets = table["tags"].str.split(", ")
        keep &= tag_sets.map(lambda have: any(t in have for t in tags))
    if text.strip():
        haystack = table["name"] + " " + table["id"] + " " + table["arch"] + " " + table["tags"]
        keep &= haystack.str.contains(text.strip(), case=False, regex=False)
    return table[keep]


_HELP = {
    "best": "Best validation value of the run's watched metric (next column)",
    **{name: f"Validation {METRICS[name].label.lower()} at the last evaluation" for name in VAL_METRICS},
}
_LABELS = {name: f"val {METRICS[name].label.lower()}" for name in VAL_METRICS}
COLUMN_CONFIG = {
    "id": st.column_config.TextColumn("id", width="small"),
    "name": st.column_config.TextColumn("name", width="medium"),
    "arch": st.column_config.TextColumn("architecture", width="medium"),
    "metric": st.column_config.TextColumn("metric", help="The metric the run watches for its best checkpoint"),
    "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
    **{c: st.column_config.TextColumn(_LABELS.get(c, c), alignment="right", help=_HELP.get(c)) for c in NUMBER_COLUMNS},
}


def _scalar(value: Any) -> Any:
    """Lists (e.g. kernel sizes) as text, so a column keeps one type."""
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else value
