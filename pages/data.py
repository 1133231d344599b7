"""Data: look at a dataset before training on it.

Pick a built-in set or upload a file; see its rows, the columns that hold text and labels, the
label balance, how long examples are in tokens, and what a tokenizer makes of a sentence. The
choice goes to the Train page through ``st.session_state["train_data"]`` (task and data section).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.components.charts import label_balance_figure, length_histogram_figure
from app.components.forms import component_select, section_form, section_problem
from app.server import MAX_UPLOAD_MB
from app.state import page_path
from core.config import default_config
from core.data import files
from core.data.files import detect_columns, read_records
from core.data.types import DatasetSplits
from core.errors import DataError, WorkbenchError
from core.paths import safe_join, sanitize_filename, workbench_home
from core.registry import DATASETS, TASKS, TOKENIZERS
from core.tokenize import Tokenizer

UPLOAD_TYPES = ["csv", "tsv", "jsonl", "json", "txt", "gz"]
UPLOADS_FOLDER = "uploads"
TRAIN_DATA_KEY = "train_data"  # {"task", "data"}: taken (once) by the Train page
SAVED_KEY = "data_saved_uploads"  # {uploader file_id: stored name}: save each upload once
FILE_KEY = "data_file"
SAMPLE_TEXTS = 2000  # the tokenizer preview fits on this many training examples...
SAMPLE_CHARS = 200_000  # ...or on this much of a language-model corpus
BUILTIN, OWN_FILE = "Built-in dataset", "Your file"


# -- uploads (no Streamlit: tested directly) ----------------------------------------------------
def uploads_dir() -> Path:
    folder = safe_join(workbench_home(), UPLOADS_FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_limit_mb() -> float:
    """The stricter of the engine's file limit (LMWB_MAX_FILE_MB) and Streamlit's upload limit."""
    return min(files.MAX_FILE_MB, float(MAX_UPLOAD_MB))


def save_upload(name: str, data: bytes, *, folder: Path | None = None, max_mb: float | None = None) -> Path:
    """Check an uploaded file and store it under the uploads folder; return its path.

    The name is sanitized (no user string becomes a path outside the folder). The file is
    parsed in a staging folder first, so a bad upload raises :class:`DataError` (naming the
    file and line) and leaves every stored file as it was; an upload with the name of a
    different stored file gets a ``-2`` (``-3``...) suffix instead of replacing it.
    """
    folder = folder or uploads_dir()
    shown = sanitize_filename(name, default="upload.txt")
    limit = files.MAX_FILE_MB if max_mb is None else max_mb
    if len(data) > limit * 1_000_000:
        raise DataError(shown, f"file is {len(data) / 1e6:.1f} MB, over the {limit:g} MB upload limit")
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=folder))
    try:
        candidate = staging / shown
        candidate.write_bytes(data)
        try:
            read_records(candidate, max_bytes=int(limit * 1_000_000))
        except DataError as exc:
            raise _renamed(exc, shown) from None
        target = _free_name(folder, shown, data)
        os.replace(candidate, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def stored_uploads(folder: Path | None = None) -> list[str]:
    """Names of stored uploads, newest first (staging folders and hidden files left out)."""
    folder = folder or uploads_dir()
    found = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return [p.name for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def _renamed(exc: DataError, shown: str) -> DataError:
    """The same error naming the uploaded file instead of its staging path."""
    where = f"{exc.file}, line {exc.line}: " if exc.line is not None else f"{exc.file}: "
    message = str(exc)
    return DataError(shown, message.removeprefix(where), exc.line)


def _free_name(folder: Path, name: str, data: bytes) -> Path:
    stem, dot, rest = name.partition(".")
    target, n = safe_join(folder, name), 1
    while target.exists() and (target.stat().st_size != len(data) or target.read_bytes() != data):
        n += 1
        target = safe_join(folder, f"{stem}-{n}{dot}{rest}")
    return target


# -- loading (cached) ------------------------------------------------------------------------------
# cache_resource, not cache_data: datasets can be large and this page only reads them, so one
# shared object beats a pickled copy on every rerun.
@st.cache_resource(max_entries=8, show_spinner="Loading the dataset…")
def load_builtin(name: str, task: str) -> DatasetSplits:
    return DATASETS.get(name).factory({}, task=task, seed=0)


@st.cache_resource(max_entries=4, show_spinner="Reading the file…")
def read_table(path: str, mtime: float) -> tuple[list[str], list[dict[str, str]]]:
    return read_records(path)


@st.cache_resource(max_entries=8, show_spinner="Preparing the splits…")
def load_file(path: str, mtime: float, task: str, text_column: str, label_column: str) -> DatasetSplits:
    """The splits training would see, through the engine's own ``file`` dataset."""
    params = {"path": path, "text_column": text_column, "label_column": label_column}
    return DATASETS.get("file").factory(params, task=task, seed=0)


@st.cache_resource(max_entries=8, show_spinner="Fitting the tokenizer…")
def fit_tokenizer(source_key: str, name: str, params_json: str, _texts: tuple[str, ...]) -> Tokenizer:
    # Keyed by (data source, tokenizer, its params); the sample itself is not hashed.
    return TOKENIZERS.get(name).factory(json.loads(params_json), list(_texts))


def training_sample(splits: DatasetSplits) -> list[str]:
    """Examples to fit the preview tokenizer on and to measure: lines of a corpus."""
    if splits.train.labels is not None:
        return list(splits.train.texts[:SAMPLE_TEXTS])
    if splits.train.targets is not None:  # translation: the source sentences
        return list(splits.train.texts[:SAMPLE_TEXTS])
    corpus = "\n".join(splits.train.texts)[:SAMPLE_CHARS]
    return [line for line in corpus.split("\n") if line.strip()][:SAMPLE_TEXTS * 5]


# -- page ----------------------------------------------------------------------------------------
def main() -> None:
    st.title("Data")
    left, right = st.columns(2)
    task = left.radio("Task", TASKS.names(), format_func=_pretty, horizontal=True, key="data_task")
    source = right.radio("Source", [BUILTIN, OWN_FILE], horizontal=True, key="data_source")
    picked = _builtin(task) if source == BUILTIN else _own_file(task)
    if picked is None:
        return
    splits, selection, source_key = picked
    _overview(splits)
    _tokenizer_preview(task, splits, source_key)
    st.divider()
    if st.button("Use this data in Train", type="primary", key="data_use"):
        st.session_state[TRAIN_DATA_KEY] = {"task": task, "data": selection}
    if (pending := st.session_state.get(TRAIN_DATA_KEY)) is not None:  # until the Train page takes it
        st.success(f"The **Train** page will start from this data: {_describe(pending)}.")
        with contextlib.suppress(StreamlitAPIException):  # a page run on its own has no navigation
            st.page_link(page_path("train"), label="Go to Train", icon=":material/model_training:")


def _describe(choice: dict[str, Any]) -> str:
    data = choice["data"]
    what = f"your file `{Path(data['path']).name}`" if data["name"] == "file" else f"`{data['name']}`"
    return f"{_pretty(choice['task'])}, {what}"


def _builtin(task: str) -> tuple[DatasetSplits, dict[str, Any], str] | None:
    names = [n for n in DATASETS.names(tasks=task) if n != "file"]
    if not names:
        st.info(f"No built-in dataset for {_pretty(task)}; upload a file instead.")
        return None
    name = component_select("data", names, default_config(task)["data"]["name"], key=f"data_builtin_{task}",
                            label="Dataset")
    try:
        splits = load_builtin(name, task)
    except WorkbenchError as exc:
        st.error(str(exc))
        return None
    if splits.train.labels is not None:
        names_of = splits.label_names or []
        st.dataframe(pd.DataFrame({"text": splits.train.texts[:200],
                                   "label": [names_of[i] for i in splits.train.labels[:200]]}),
                     hide_index=True, height=_preview_height(len(splits.train.texts)))
    elif splits.train.targets is not None:  # translation: source -> target pairs
        st.dataframe(pd.DataFrame({"source": splits.train.texts[:200], "target": splits.train.targets[:200]}),
                     hide_index=True, height=_preview_height(len(splits.train.texts)))
    else:
        st.code(splits.train.texts[0][:1500], language=None, wrap_lines=True)
    return splits, {"name": name}, f"builtin:{name}:{task}"


def _own_file(task: str) -> tuple[DatasetSplits, dict[str, Any], str] | None:
    _upload_widget()
    names = stored_uploads()
    if not names:
        st.info("Upload a file to see it here. It is kept in the workbench's uploads folder.")
        return None
    if st.session_state.get(FILE_KEY) not in names:
        st.session_state.pop(FILE_KEY, None)  # a file removed from disk since the last rerun
    name = st.selectbox("Stored file", names, key=FILE_KEY, help=f"Files in {uploads_dir()}")
    path = safe_join(uploads_dir(), name)
    mtime = path.stat().st_mtime
    try:
        columns, rows = read_table(str(path), mtime)
    except WorkbenchError as exc:
        st.error(str(exc))
        return None
    st.caption(f"{len(rows):,} rows · {len(columns)} columns · {path.stat().st_size / 1e6:.2f} MB")
    st.dataframe(pd.DataFrame(rows[:200], columns=columns), hide_index=True, height=_preview_height(len(rows)))
    text_col, label_col = _column_choice(task, path, columns)
    if text_col is None:
        return None
    try:
        splits = load_file(str(path), mtime, task, text_col, label_col)
    except WorkbenchError as exc:
        st.error(str(exc).replace(str(path), path.name))  # the file's name, not the server's folders
        return None
    selection = {"name": "file", "path": str(path), "text_column": text_col, "label_column": label_col}
    return splits, selection, f"file:{path}:{mtime}:{task}:{text_col}:{label_col}"


def _upload_widget() -> None:
    limit = upload_limit_mb()
    uploaded = st.file_uploader(
        f"Upload a CSV, TSV, JSONL or TXT file (optionally .gz), up to {limit:g} MB",
        type=UPLOAD_TYPES, key="data_upload", max_upload_size=max(1, math.floor(limit)),
        help="A header row names the columns; a .txt file is one example (or a corpus) per line.",
    )
    if uploaded is None:
        return
    saved: dict[str, str] = st.session_state.setdefault(SAVED_KEY, {})
    if uploaded.file_id in saved:
        return  # stored on an earlier rerun
    try:
        path = save_upload(uploaded.name, uploaded.getvalue(), max_mb=limit)
    except WorkbenchError as exc:
        st.error(f"Upload refused. {exc}")
        return
    saved[uploaded.file_id] = path.name
    st.session_state[FILE_KEY] = path.name  # show the new file (set before its selectbox)
    st.success(f"Saved as {path.name}.")


def _column_choice(task: str, path: Path, columns: list[str]) -> tuple[str | None, str]:
    """Detected text / label columns, each with a selectbox to override it."""
    if columns == ["text"] and path.name.removesuffix(".gz").endswith(".txt"):
        if task == "classification":
            st.error(f"{path.name}: a plain text file has no labels; use CSV, TSV or JSONL with a label column.")
            return None, ""
        return "", ""  # a .txt corpus: the whole file is the text
    detected_text, detected_label = detect_columns(path, columns)
    left, right = st.columns(2)
    text_col = left.selectbox("Text column", columns, key=f"data_text_col:{path.name}",
                              index=columns.index(detected_text) if detected_text else 0,
                              help="Detected from the header; change it if the guess is wrong.")
    if task != "classification":
        return text_col, ""
    fallback = next((i for i, c in enumerate(columns) if c != text_col), 0)
    label_col = right.selectbox("Label column", columns, key=f"data_label_col:{path.name}",
                                index=columns.index(detected_label) if detected_label else fallback)
    if label_col == text_col:
        st.error(f"{path.name}: column {text_col!r} cannot be both the text and the label.")
        return None, ""
    return text_col, label_col


def _overview(splits: DatasetSplits) -> None:
    st.caption(splits.description)
    for note in splits.notes:
        st.caption(f"· {note}")
    cols = st.columns(3)
    corpus = _is_corpus(splits)
    noun = "pairs" if splits.train.targets is not None else "examples"
    cols[0].metric(f"Training {noun}" if not corpus else "Training characters", f"{_size(splits.train.texts, corpus):,}")
    cols[1].metric("Validation", f"{_size(splits.validation.texts, corpus):,}")
    if splits.label_names:
        cols[2].metric("Classes", len(splits.label_names))
        labels = list(splits.train.labels or []) + list(splits.validation.labels or [])
        counts = Counter(labels)
        balance = {splits.label_names[i]: counts.get(i, 0) for i in range(len(splits.label_names))}
        st.plotly_chart(label_balance_figure(balance), key="data_balance")


def _tokenizer_preview(task: str, splits: DatasetSplits, source_key: str) -> None:
    st.subheader("Tokenizer")
    left, right = st.columns([1, 2])
    with left:
        name = component_select("tokenizer", TOKENIZERS.names(), default_config(task)["tokenizer"]["name"],
                                key="data_tok")
    with right:
        params = section_form("tokenizer", name, {}, key_prefix="data")
    if section_problem("tokenizer", name, params):
        return  # section_form already showed the problem
    sample = training_sample(splits)
    try:
        tokenizer = fit_tokenizer(source_key, name, json.dumps(params, sort_keys=True), tuple(sample))
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    lengths = [len(ids) for ids in tokenizer.encode_batch(sample)]
    unit = ("tokens per example" if splits.train.labels is not None
            else "tokens per source sentence" if splits.train.targets is not None else "tokens per line")
    st.plotly_chart(length_histogram_figure(lengths, unit="tokens", title=f"Length ({unit})"),
                    key="data_lengths")
    if task == "classification":
        limit = TASKS.get("classification").param("max_length").default
        over = sum(n > limit for n in lengths) / max(1, len(lengths))
        st.caption(f"Fitted on {len(sample):,} training examples · vocabulary {tokenizer.vocab_size:,} · "
                   f"{over:.1%} are longer than task.max_length = {limit} and would be truncated.")
    else:
        st.caption(f"Fitted on {sum(map(len, sample)):,} characters of training text · "
                   f"vocabulary {tokenizer.vocab_size:,}.")
    # Keyed by the data shown: another dataset or task starts from its own first example.
    sentence = st.text_input("Try a sentence", value=sample[0][:200] if sample else "", key=f"data_try:{source_key}")
    ids = tokenizer.encode(sentence)
    tokens = pd.DataFrame({"token": [_visible(t) for t in tokenizer.tokens(sentence)], "id": ids})
    st.dataframe(tokens.rename_axis("position"), height=min(400, 38 + 35 * len(ids)), key="data_tokens")
    st.caption(f"{len(ids)} tokens for {len(sentence)} characters.")


def _visible(token: str) -> str:
    """Spaces and newlines drawn as symbols, so whitespace tokens can be seen."""
    return token.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")


def _preview_height(rows: int) -> int:
    """Pixels for a preview table: its rows (header 38 px, 35 a row), at most about seven."""
    return min(250, 38 + 35 * max(1, rows))


def _is_corpus(splits: DatasetSplits) -> bool:
    """Language-model data: running text (counted in characters), not separate examples."""
    return splits.train.labels is None and splits.train.targets is None


def _size(texts: list[str], corpus: bool) -> int:
    return sum(map(len, texts)) if corpus else len(texts)


def _pretty(name: str) -> str:
    return name.replace("_", " ").capitalize()


if __name__ == "__main__":
    main()
