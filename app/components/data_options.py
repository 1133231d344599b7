"""The Data page's choices for a file: the formats it takes, whether the first row is a header,
which column(s) hold the text (one, several joined, or a sentence pair), which the label, and
names for numeric labels. Every option is the ``file`` dataset's own declaration
(core/data/files.py), drawn by ``param_widget``, so its choices, default and help are written once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from app.components.forms import param_widget
from core.data.columns import detect_columns, guess_by_content, rank_label_columns
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
# The Data page's sources (its Source radio) and its box for a Hugging Face dataset: named here
# because a loader's message is put in the page's words (page_words) with them.
BUILTIN, OWN_FILE, HF_DATASET = "Built-in dataset", "Your file", "Hugging Face dataset"
HF_REF_LABEL = "Folder or hub name"


def formats_help() -> None:
    with st.expander("Formats this page takes"):
        st.markdown(FORMATS_HELP)


def _param(name: str) -> Any:
    return DATASETS.get("file").param(name)


def header_choice(path: Path, *, prefix: str = "data", start: str | None = None) -> str:
    """data.header for a CSV/TSV file (auto for every other format, where it means nothing).
    ``prefix`` begins the widget's key (the Data page's, or the Train form's), ``start`` is the
    value it starts from (default: the declared one)."""
    if not path.name.removesuffix(".gz").lower().endswith(TEXT_FILE_SUFFIXES):
        return "auto"
    return str(param_widget(_param("header"), start or _param("header").default, key=f"{prefix}_header:{path.name}"))


def column_choice(task: str, path: Path, columns: list[str], rows: list[dict[str, str]],
                  headed: bool, *, prefix: str = "data",
                  start: Mapping[str, Any] | None = None) -> dict[str, str] | None:
    """The data section's column choices (only those set): text column(s), how several combine,
    the label column and its names. None when the choice cannot work (an error is shown).

    Pickers of the file's own columns, on the Data page and the Train form alike: ``prefix``
    begins their keys, ``start`` (a data section, e.g. what the Data page handed to Train) is
    what they start from where it names columns of this file; the rest is detected."""
    start = start or {}
    given = [c.strip() for c in str(start.get("text_column") or "").split(",") if c.strip()]
    given = given if given and set(given) <= set(columns) else []
    given_label = str(start.get("label_column") or "")
    if problem := file_problem(task, path, columns):
        st.error(problem)
        return None
    if _is_txt(path, columns):
        return {"text_column": "", "label_column": ""}  # a .txt corpus: the whole file is the text
    detected_text, detected_label = detect_columns(path, columns, rows=None if headed else rows)
    if headed and (detected_text is None or detected_label is None):
        # Header names that say nothing (id, comment, mood): the cells decide what the names left open.
        taken = [c for c in (detected_text, detected_label) if c]
        guess_text, guess_label = guess_by_content(columns, rows, exclude=taken)
        detected_text = detected_text or (guess_text if guess_text != detected_label else None)
        detected_label = detected_label or (guess_label if guess_label != detected_text else None)
    if given:
        detected_text = given[0]
    if given_label in columns and given_label not in given:
        detected_label = given_label
    left, right = st.columns(2)
    text_key, label_key = f"{prefix}_text_col:{path.name}", f"{prefix}_label_col:{path.name}"
    more_key = f"{prefix}_more_text:{path.name}"
    if st.session_state.get(text_key) not in columns:  # the first look (or the file changed since)
        st.session_state[text_key] = detected_text or columns[0]
        if given[1:] and more_key not in st.session_state:
            st.session_state[more_key] = given[1:]
    text_col = left.selectbox("Text column", columns, key=text_key,
                              help="Detected from the header (or, without one, from the cells); change it "
                                   "if the guess is wrong.")
    # A column is text or label, never both: each picker offers only the columns the others have
    # not taken (the label before the extra text columns, so "Select all" there leaves it alone).
    label_col = None
    if task == "classification":
        others = [c for c in columns if c != text_col]  # never empty: file_problem ruled one column out
        ranked = rank_label_columns(others, rows)
        before = st.session_state.get(label_key)
        if before not in others:
            # The text picker took the label column (or this is the first look): the label goes to
            # the best remaining candidate, by the rule that made the first guess.
            st.session_state[label_key] = (detected_label if before is None and detected_label in others
                                           else ranked[0][0])
            if before is not None:
                moved = st.session_state[label_key]
                note = "" if dict(ranked)[moved] else " (no other column repeats a few short values)"
                right.info(f"*{before}* is now the Text column, so the Label column moved to *{moved}*{note}.",
                           icon=":material/swap_horiz:")
        label_col = right.selectbox("Label column", others, key=label_key,
                                    help="Detected from the header, else the column repeating the fewest "
                                         "short values (never one with a new value on every row, such as an id).")
        problem = label_problem(path, label_col, rows, others)
        if problem:
            st.error(problem)
            return None
    extra = [c for c in columns if c not in (text_col, label_col)]
    if any(c not in extra for c in st.session_state.get(more_key) or []):  # taken by the other pickers
        st.session_state[more_key] = [c for c in st.session_state[more_key] if c in extra]
    more = left.multiselect("More text columns", extra, key=more_key,
                            help="A title and a description joined, or a premise and a hypothesis.")
    out = {"text_column": ",".join([text_col, *more])}
    if more:
        fields = param_widget(_param("text_fields"), start.get("text_fields") or _param("text_fields").default,
                              key=f"{prefix}_fields:{path.name}")
        if fields != _param("text_fields").default:
            out["text_fields"] = fields
        if fields == "join":
            sep = param_widget(_param("separator"), start.get("separator", _param("separator").default),
                               key=f"{prefix}_sep:{path.name}")
            if sep != _param("separator").default:
                out["separator"] = sep
    if label_col is None:
        out["label_column"] = ""
        return out
    out["label_column"] = label_col
    with right:
        names = param_widget(_param("label_names"), str(start.get("label_names") or ""),
                             key=f"{prefix}_label_names:{path.name}")
    if names.strip():
        out["label_names"] = names
    return out


def file_problem(task: str, path: Path, columns: list[str]) -> str | None:
    """Why no choice of ``path``'s columns can train ``task`` (a plain text file or a single
    column has no labels to classify by), or None. The Data page says it; the Train page does not
    offer such a file for the task (:func:`app.components.data_preview.stored_file_problem`)."""
    if task != "classification":
        return None
    if _is_txt(path, columns):
        return f"{path.name}: a plain text file has no labels; use CSV, TSV or JSONL with a label column."
    if len(columns) < 2:
        return f"{path.name}: one column only; a classification file needs a text column and a label column."
    return None


def _is_txt(path: Path, columns: list[str]) -> bool:
    return columns == ["text"] and path.name.removesuffix(".gz").endswith(".txt")


def label_problem(path: Path, label: str, rows: list[dict[str, str]], others: list[str]) -> str | None:
    """Why ``label`` cannot be this file's label column, in the page's words (its pickers), or
    None. Only what the cells show at once; the loader's own checks follow (see ``page_words``)."""
    values = [v for r in rows if (v := (r.get(label) or "").strip())]
    counts = Counter(values)
    if len(values) < 2 or max(counts.values()) > 1 and len(counts) > 1:
        return None
    fix = "pick another **Label column**" if len(others) > 1 else "pick another **Text column**"
    if len(counts) == 1:
        return (f"{path.name}: the Label column *{label}* holds a single class ({values[0]!r}) on every row, "
                f"and classification needs two: {fix}.")
    return (f"{path.name}: the Label column *{label}* has a different value on each of its {len(values)} rows "
            f"(an id?), so no class has two rows and none can be held out for validation: {fix}, or add rows.")


# The data section's settings as this page names them: a loader's message names config keys
# (``data.label_column``), which are the command line's words.
_ON_PAGE = ("text_column", "label_column", "header", "label_names", "text_fields", "separator")
_KEY = re.compile(r"\b(give |set |name it with )?data\.(\w+)(?:=\.\.\.)?", re.IGNORECASE)


# Where the Data page takes a file or a Hugging Face dataset: its Source choices, not the Train
# form's fields (a message there must not send the person to another page for what this one has).
_ON_DATA_PAGE = {"path": f"Source *{OWN_FILE}* above", "dataset": f"**{HF_REF_LABEL}** above"}


def page_words(message: str, page: str = "train") -> str:
    """``message`` with each ``data.<setting>`` named as ``page`` ("data" or "train") shows it."""
    params = {p.name: p for p in DATASETS.get("file").params}

    def named(match: re.Match[str]) -> str:
        verb, name = match.group(1), match.group(2)
        if name not in params:
            return match.group(0)
        title = params[name].title
        if page == "data" and name in _ON_DATA_PAGE:
            words = f"{'choose ' if verb else ''}{_ON_DATA_PAGE[name]}"
        elif name not in _ON_PAGE:
            words = f"give a **{title}** (Train page, Data section)"
        else:
            words = f"pick another **{title}**" if verb else f"**{title}**"
        return words[0].upper() + words[1:] if verb and verb[0].isupper() else words

    return _KEY.sub(named, message)
