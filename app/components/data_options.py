"""The Data page's choices for a file: the formats it takes, whether the first row is a header,
which column(s) hold the text (one, several joined, or a sentence pair), which the label, and
names for numeric labels. Every option is the ``file`` dataset's own declaration
(core/data/files.py), drawn by ``param_widget``, so its choices, default and help are written once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app.components.forms import param_widget
from core.data.columns import detect_columns
from core.registry import DATASETS

FORMATS_HELP = """\
| Format | What it holds |
|---|---|
| CSV, TSV (`.csv`, `.tsv`, optionally `.gz`) | one example a row; a header row names the columns, or none (detected, or set *Header row*) |
| JSON lines (`.jsonl`, `.json`) | one object a line (or one array of objects) |
| Text (`.txt`) | one example, or a corpus, a line |
| Parquet (`.parquet`) | a table, read through the `datasets` library (label names of a `ClassLabel` come along) |
| Arrow (`.arrow`) | an Arrow IPC table (file or stream), as `datasets` writes it |
| A `save_to_disk` folder or a hub name | *Hugging Face dataset* above: its train / validation / test splits are used; a hub name needs network |
"""
TEXT_FILE_SUFFIXES = (".csv", ".tsv", ".tab")


def formats_help() -> None:
    with st.expander("Formats this page takes"):
        st.markdown(FORMATS_HELP)


def _param(name: str) -> Any:
    return DATASETS.get("file").param(name)


def header_choice(path: Path) -> str:
    """data.header for a CSV/TSV file (auto for every other format, where it means nothing)."""
    if not path.name.removesuffix(".gz").lower().endswith(TEXT_FILE_SUFFIXES):
        return "auto"
    return str(param_widget(_param("header"), _param("header").default, key=f"data_header:{path.name}"))


def column_choice(task: str, path: Path, columns: list[str], rows: list[dict[str, str]],
                  headed: bool) -> dict[str, str] | None:
    """The data section's column choices (only those set): text column(s), how several combine,
    the label column and its names. None when the choice cannot work (an error is shown)."""
    if columns == ["text"] and path.name.removesuffix(".gz").endswith(".txt"):
        if task == "classification":
            st.error(f"{path.name}: a plain text file has no labels; use CSV, TSV or JSONL with a label column.")
            return None
        return {"text_column": "", "label_column": ""}  # a .txt corpus: the whole file is the text
    detected_text, detected_label = detect_columns(path, columns, rows=None if headed else rows)
    left, right = st.columns(2)
    text_col = left.selectbox("Text column", columns, key=f"data_text_col:{path.name}",
                              index=columns.index(detected_text) if detected_text else 0,
                              help="Detected from the header (or, without one, from the cells); change it "
                                   "if the guess is wrong.")
    # A column is text or label, never both: each picker offers only the columns the others have
    # not taken (the label before the extra text columns, so "Select all" there leaves it alone).
    label_col = None
    if task == "classification":
        others = [c for c in columns if c != text_col]
        if not others:
            st.error(f"{path.name}: one column only; a classification file needs a text column and a label "
                     "column.")
            return None
        label_col = right.selectbox("Label column", others, key=f"data_label_col:{path.name}",
                                    index=others.index(detected_label) if detected_label in others else 0)
    more = left.multiselect("More text columns", [c for c in columns if c not in (text_col, label_col)],
                            key=f"data_more_text:{path.name}",
                            help="A title and a description joined, or a premise and a hypothesis.")
    out = {"text_column": ",".join([text_col, *more])}
    if more:
        fields = param_widget(_param("text_fields"), _param("text_fields").default, key=f"data_fields:{path.name}")
        if fields != _param("text_fields").default:
            out["text_fields"] = fields
        if fields == "join":
            sep = param_widget(_param("separator"), _param("separator").default, key=f"data_sep:{path.name}")
            if sep != _param("separator").default:
                out["separator"] = sep
    if label_col is None:
        out["label_column"] = ""
        return out
    out["label_column"] = label_col
    with right:
        names = param_widget(_param("label_names"), "", key=f"data_label_names:{path.name}")
    if names.strip():
        out["label_names"] = names
    return out
