"""Data: look at a dataset before training on it.

Pick a built-in set or upload a file; see its rows, the columns that hold text and labels, the
label balance, how long examples are in tokens, and what a tokenizer makes of a sentence. The
choice goes to the Train page through ``st.session_state["train_data"]`` (task and data section).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.components.augment_preview import augment_preview
from app.components.data_options import (
    BUILTIN,
    HF_DATASET,
    HF_REF_LABEL,
    OWN_FILE,
    column_choice,
    formats_help,
    header_choice,
    page_words,
)
from app.components.data_preview import (
    load_builtin,
    load_file,
    overview,
    preview_height,
    read_table,
    tokenizer_preview,
)
from app.components.forms import component_select
from app.components.runs_table import data_label
from app.components.uploads import (
    UPLOAD_TYPES,
    save_upload,
    stored_uploads,
    upload_limit_mb,
    uploads_dir,
)
from app.state import page_path
from core.config import default_config
from core.data.types import DatasetSplits
from core.errors import WorkbenchError
from core.paths import safe_join
from core.registry import DATASETS, TASKS, task_label

TRAIN_DATA_KEY = "train_data"  # {"task", "data"}: taken (once) by the Train page
SAVED_KEY = "data_saved_uploads"  # {uploader file_id: stored name}: save each upload once
FILE_KEY = "data_file"
UPLOAD_KEY = "data_upload"  # the uploader's key, plus ".N" after the Nth refused upload
REFUSED_KEY = "data_upload_refused"  # {"round": N, "message": why the last upload was refused}


# -- loading (cached) ------------------------------------------------------------------------------
# -- page ----------------------------------------------------------------------------------------
def main() -> None:
    st.title("Data")
    _restore_choices()
    try:
        _page()
    finally:  # also after st.rerun or a page switch: what the person chose is kept for their return
        _keep_choices()


def _page() -> None:
    left, right = st.columns(2)
    task = left.radio("Task", TASKS.names(), format_func=task_label, horizontal=True, key="data_task")
    source = right.radio("Source", [BUILTIN, OWN_FILE, HF_DATASET], horizontal=True, key="data_source")
    picked = _builtin(task) if source == BUILTIN else _own_file(task) if source == OWN_FILE else _hf_dataset(task)
    if picked is None:
        return
    splits, selection, source_key = picked
    overview(splits, selection["name"] if source == BUILTIN else None)
    tokenizer_preview(task, splits, source_key)
    augment_preview(task, splits, selection["name"] if source == BUILTIN else None)
    st.divider()
    if st.button("Use this data in Train", type="primary", key="data_use", icon=":material/model_training:",
                 help="Opens the Train page with this task, data and columns chosen."):
        st.session_state[TRAIN_DATA_KEY] = {"task": task, "data": selection}
        with contextlib.suppress(StreamlitAPIException):  # a page run on its own has no navigation
            st.switch_page(page_path("train"))
    if (pending := st.session_state.get(TRAIN_DATA_KEY)) is not None:  # until the Train page takes it
        st.success(f"The **Train** page will start from this data: {_describe(pending)}.")


# The page's own choices (widget keys), kept across visits to other pages: Streamlit forgets a
# widget's value once a run of another page has not drawn it. Buttons and the uploader cannot
# be set, so they are not kept.
KEPT_KEY = "data_kept"
KEPT_PREFIXES = ("data_task", "data_source", FILE_KEY, "data_header:", "data_text_col:", "data_label_col:",
                 "data_more_text:", "data_fields:", "data_sep:", "data_label_names:", "data_builtin_", "data_hf_",
                 "data_try:")


def _kept(key: str) -> bool:
    return key.startswith(KEPT_PREFIXES) or key == "data_tok"


def _keep_choices() -> None:
    st.session_state[KEPT_KEY] = {k: v for k, v in st.session_state.items() if isinstance(k, str) and _kept(k)}


def _restore_choices() -> None:
    for key, value in (st.session_state.get(KEPT_KEY) or {}).items():
        if key not in st.session_state:
            st.session_state[key] = value


def _describe(choice: dict[str, Any]) -> str:
    data = choice["data"]
    what = data_label(data)
    return f"{task_label(choice['task'])}, " + (f"your file {what}" if data.get("path") else what)


def _builtin(task: str) -> tuple[DatasetSplits, dict[str, Any], str] | None:
    names = [n for n in DATASETS.names(tasks=task) if n != "file"]
    if not names:
        st.info(f"No built-in dataset for {task_label(task)}; upload a file instead.")
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
                     hide_index=True, height=preview_height(len(splits.train.texts)))
    elif splits.train.targets is not None:  # translation: source -> target pairs
        st.dataframe(pd.DataFrame({"source": splits.train.texts[:200], "target": splits.train.targets[:200]}),
                     hide_index=True, height=preview_height(len(splits.train.texts)))
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
    name = st.selectbox("Stored file", names, key=FILE_KEY, on_change=_empty_uploader,
                        help="The files uploaded here, newest first, kept in the workbench's uploads folder.")
    path = safe_join(uploads_dir(), name)
    mtime = path.stat().st_mtime
    header = header_choice(path)
    try:
        columns, rows, headed = read_table(str(path), mtime, header)
    except WorkbenchError as exc:
        st.error(page_words(_named(str(exc), path), page="data"))
        return None
    st.caption(f"{_count(len(rows), 'row')} · {_count(len(columns), 'column')} · {path.stat().st_size / 1e6:.2f} MB"
               + ("" if headed else " · no header row: the first line is data"))
    st.dataframe(pd.DataFrame(rows[:200], columns=columns), hide_index=True, height=preview_height(len(rows)))
    choice = column_choice(task, path, columns, rows, headed)
    if choice is None:
        return None
    selection = {"name": "file", "path": str(path), **choice, **({"header": header} if header != "auto" else {})}
    return _splits(task, selection, mtime, path)


def _hf_dataset(task: str) -> tuple[DatasetSplits, dict[str, Any], str] | None:
    ref = st.text_input(HF_REF_LABEL, key="data_hf_ref", placeholder="/data/my_set or imdb or glue/sst2",
                        help="A folder written by datasets' save_to_disk, or a Hugging Face hub name "
                             "(needs network). Its train / validation / test splits are used.").strip()
    if not ref:
        st.info("Give a save_to_disk folder or a hub name to see it here.")
        return None
    left, right = st.columns(2)
    text_col = left.text_input("Text column", key="data_hf_text", help="Empty: detect. Several: title,description.")
    label_col = right.text_input("Label column", key="data_hf_label", help="Empty: detect.") if task == "classification" else ""
    selection = {"name": "file", "dataset": ref, "text_column": text_col.strip(), "label_column": label_col.strip()}
    return _splits(task, selection, 0.0, None)


def _splits(task: str, selection: dict[str, Any], mtime: float,
            path: Path | None) -> tuple[DatasetSplits, dict[str, Any], str] | None:
    params = {k: v for k, v in selection.items() if k != "name"}
    key = json.dumps(params, sort_keys=True)
    try:
        splits = load_file(key, mtime, task)
    except WorkbenchError as exc:
        st.error(page_words(_named(str(exc), path), page="data"))
        return None
    if path is not None:  # a copy: the cached splits stay as loaded
        splits = dataclasses.replace(splits, description=_named(splits.description, path),
                                     notes=[_named(note, path) for note in splits.notes])
    # The source's key names widgets (as a digest: the file's path is no business of the page's HTML).
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return splits, selection, f"file:{digest}:{mtime}:{task}"


def _named(text: str, path: Path | None) -> str:
    """``text`` naming the uploaded file by its name, not by the server's folders (absolute, or
    relative to the server's working folder, as the loader's descriptions write it)."""
    if path is None:
        return text
    forms = {str(path), str(path.resolve())}
    with contextlib.suppress(ValueError):  # on another drive (Windows): no relative form
        forms.add(os.path.relpath(path.resolve(), Path.cwd()))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, path.name)
    return text


def _upload_widget() -> None:
    limit = upload_limit_mb()
    refused = st.session_state.get(REFUSED_KEY) or {"round": 0, "message": ""}
    uploaded = st.file_uploader(
        f"Upload a CSV, TSV, JSONL or TXT file (optionally .gz), or a Parquet or Arrow file, up to {limit:g} MB",
        type=UPLOAD_TYPES, key=upload_key(refused["round"]), max_upload_size=max(1, math.floor(limit)),
        help="A header row names the columns (a file without one works too); a .txt file is one "
             "example (or a corpus) per line.",
    )
    notice = st.empty()  # under the uploader: the last upload saved, or why it was refused
    formats_help()
    saved: dict[str, str] = st.session_state.setdefault(SAVED_KEY, {})
    if uploaded is None or uploaded.file_id in saved:  # nothing new (a file is stored on its first run)
        if refused["message"]:
            notice.error(refused["message"])
        return
    try:
        path = save_upload(uploaded.name, uploaded.getvalue(), max_mb=limit)
    except WorkbenchError as exc:
        # A new key draws an empty uploader: the refused file's chip goes, its reason stays.
        st.session_state[REFUSED_KEY] = {"round": refused["round"] + 1, "message": f"Upload refused. {exc}"}
        st.rerun()
    st.session_state[REFUSED_KEY] = {**refused, "message": ""}
    saved[uploaded.file_id] = path.name
    st.session_state[FILE_KEY] = path.name  # show the new file (set before its selectbox)
    notice.success(f"Saved as {path.name}.")


def _empty_uploader() -> None:
    """Another stored file chosen: the uploader empties (a new key), so the chip of the file
    uploaded last, and its notice, no longer sit above a different file."""
    refused = st.session_state.get(REFUSED_KEY) or {"round": 0, "message": ""}
    st.session_state[REFUSED_KEY] = {"round": refused["round"] + 1, "message": ""}


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def upload_key(refusals: int) -> str:
    """The uploader's key after ``refusals`` refused uploads (each refusal empties it)."""
    return f"{UPLOAD_KEY}.{refusals}" if refusals else UPLOAD_KEY


if __name__ == "__main__":
    main()
