"""The runs table: one row per run from its stored fields alone (no further queries), its
filters, and the column formats (shared by the Runs page and Home's recent runs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from core.config import RunConfig
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


def run_row(run: Run) -> dict[str, Any]:
    """One table row from a run's stored fields only (no further queries)."""
    flat = RunConfig(run.config).flat() if run.config else {}
    summary = run.summary or {}
    val = summary.get("val") or {}
    best = summary.get("best") or {}
    row: dict[str, Any] = {
        "name": run.name,
        "status": run.status,
        "task": run.task,
        "arch": run.arch,
        "tags": ", ".join(run.tags),
    }
    row.update({col: _scalar(flat.get(key)) for col, key in KEY_PARAMS.items()})
    row.update({
        "metric": summary.get("metric"),
        "best": best.get("value"),
        "accuracy": val.get("accuracy"),
        "perplexity": val.get("perplexity"),
        "duration (s)": run.duration_s,
        "created": datetime.fromtimestamp(run.created_at),
        "id": run.id,
    })
    return row


# The best value and what it measures come right after the name and status, so they are on
# screen without scrolling sideways; the hyperparameters follow.
TABLE_COLUMNS = [
    "name", "status", "best", "metric", "task", "arch", "accuracy", "perplexity", "tags",
    *KEY_PARAMS, "duration (s)", "created", "id",
]


def runs_table(runs: Sequence[Run]) -> pd.DataFrame:
    return pd.DataFrame([run_row(r) for r in runs], columns=TABLE_COLUMNS)


# How each number reads (the Styler's, so a missing value can be blank: st.dataframe writes
# "None" in an empty cell otherwise).
FORMATS = {
    "best": "{:.4f}", "accuracy": "{:.3f}", "perplexity": "{:.2f}", "lr": "{:.2e}",
    "duration (s)": "{:.0f}", "created": "{:%Y-%m-%d %H:%M}",
}


def styled(table: pd.DataFrame) -> Any:
    """``table`` for st.dataframe: blank where a run has no value (an LSTM's d_model, a running
    run's best), numbers in their column's format, whole numbers without decimals."""
    formats = {c: FORMATS.get(c, "{:.0f}" if pd.api.types.is_float_dtype(table[c]) else "{}")
               for c in table.columns}
    return table.style.format(formats, na_rep="")


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


COLUMN_CONFIG = {
    "name": st.column_config.TextColumn("name", pinned=True),
    "id": st.column_config.TextColumn("id", width="small"),
    "best": st.column_config.NumberColumn("best", help="Best validation value of the run's watched metric (next column)"),
    "metric": st.column_config.TextColumn("metric", help="The metric the run watches for its best checkpoint"),
    "accuracy": st.column_config.NumberColumn("val accuracy"),
    "perplexity": st.column_config.NumberColumn("val perplexity"),
}


def _scalar(value: Any) -> Any:
    """Lists (e.g. kernel sizes) as text, so a column keeps one type."""
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else value
