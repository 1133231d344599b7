"""The Examples view (error analysis): every evaluation example of a run, with filters, a
clickable confusion matrix, slices, the salience of a chosen example and where other runs
disagree. The table and its views come from ``core.examples``; nothing here scores.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.components.attention_view import checkpoint_mtime, one_torch_thread, trained_run
from app.components.run_picker import run_label
from app.components.salience_view import salience_panel, salience_settings
from app.components.uploads import stored_uploads, uploads_dir
from app.state import page_path
from core import examples as ex
from core.errors import WorkbenchError
from core.metrics import METRICS
from core.paths import safe_join
from core.runs import TrainedRun
from core.store import Store

VALIDATION = "(the run's validation split)"
SHOWN = {"classification": ["text", "label", "prediction", "correct", "confidence", "loss", "length"],
         "translation": ["source", "reference", "hypothesis", "correct", "bleu", "chrf", "loss", "length"],
         "summarisation": ["source", "reference", "hypothesis", "correct", "rougeL", "rouge1", "rouge2", "loss", "length"]}
TEXTS = ("source", "reference", "hypothesis")
SORTABLE = ("confidence", "loss", "length", "bleu", "chrf", "rougeL")
ORDER = "index"  # the sort that keeps the examples in order


def column_title(column: str) -> str:
    """How a column reads: a declared metric (core.metrics) by its label, the others by name."""
    return METRICS[column].label if column in METRICS else column


def sort_title(sort: str) -> str:
    return "example order" if sort == ORDER else column_title(sort)


def column_config(columns: list[str]) -> dict[str, Any]:
    """The table's column formats: confidence as a bar, each declared metric labelled and
    formatted as the catalogue declares it."""
    config: dict[str, Any] = {c: st.column_config.NumberColumn(METRICS[c].label, format=METRICS[c].fmt)
                              for c in columns if c in METRICS}
    if "confidence" in columns:
        # Medium: at "small" the bar leaves its percentage too little room ("92.57%" read "92.57").
        config["confidence"] = st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0,
                                                               width="medium")
    # Three texts side by side would each take the width of their longest line and push the
    # scores off the page: a medium width each; a click on the row shows them whole.
    for column in (*TEXTS, "text"):  # a classifier's text too, beside its label, scores and confidence
        if column in columns:
            config[column] = st.column_config.TextColumn(width="medium")
    return config


def scores_text(row: pd.Series, columns: list[str]) -> str:
    """An example's scores in one line (``BLEU 27.35 · chrF 51.20 · Loss 1.2345``), as declared."""
    return " · ".join(f"{METRICS[c].label} {METRICS[c].shown(row[c])}" for c in columns if c in METRICS)


@st.cache_resource(max_entries=8, show_spinner="Scoring every example…")
def _examples(_source: TrainedRun, run_id: str, mtime: float, upload: str | None) -> ex.Examples:
    path = None if upload is None else safe_join(uploads_dir(), upload)
    with one_torch_thread():
        return ex.example_table(_source, path)


def examples_for(store: Store, source: TrainedRun, upload: str | None = None) -> ex.Examples:
    """The run's per-example table (its validation split, or a stored upload), cached per checkpoint."""
    return _examples(source, source.run.id, checkpoint_mtime(store, source.run.id), upload)


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()


def _filters(examples: ex.Examples, key: str) -> dict[str, Any]:
    df = examples.table
    cols = st.columns([1.3, 2, 2])
    outcome = cols[0].segmented_control("Show", ["all", "wrong", "correct"], default="all", key=f"{key}.outcome") or "all"
    search = cols[1].text_input("Text contains", key=f"{key}.search")
    sorts = [s for s in SORTABLE if s in df] + [ORDER]
    sort = cols[2].selectbox("Sort by", sorts, format_func=sort_title, key=f"{key}.sort")
    out: dict[str, Any] = {"outcome": outcome, "search": search, "sort": None if sort == ORDER else sort}
    cols = st.columns(3)
    lo, hi = int(df["length"].min()), int(df["length"].max())
    if lo < hi:
        out["length"] = cols[0].slider("Length (tokens)", lo, hi, (lo, hi), key=f"{key}.length")
    if examples.task == "classification":
        out["confidence"] = cols[1].slider("Confidence", 0.0, 1.0, (0.0, 1.0), 0.05, key=f"{key}.confidence")
        out["labels"] = cols[2].multiselect("True label", examples.labels, key=f"{key}.labels")
    out["descending"] = sort != ORDER and not st.toggle("Ascending", key=f"{key}.ascending")
    return out


def confusion_cell(examples: ex.Examples, key: str) -> tuple[str, str] | None:
    """The confusion matrix; clicking a cell returns its (true label, prediction)."""
    confusion = ex.confusion(examples)
    matrix = confusion.rename(index=lambda n: f"true {n}", columns=lambda n: f"predicted {n}")
    event = st.dataframe(matrix, key=f"{key}.confusion", on_select="rerun", selection_mode="single-cell",
                         width="content")
    st.caption("Click a cell for its examples.")  # below: the table's toolbar covers the line above it
    cells = event.selection.get("cells", []) if event else []
    if not cells:
        return None
    row, column = cells[0]
    return str(confusion.index[int(row)]), str(confusion.columns[list(matrix.columns).index(column)])


def examples_panel(store: Store, source: TrainedRun, key: str, open_text: Callable[[str], None] | None = None) -> None:
    """Everything the Examples view shows for one run."""
    uploads = stored_uploads()
    data = st.selectbox("Evaluate on", [VALIDATION, *uploads], key=f"{key}.data",
                        help="The run's own validation split, or a file uploaded on the Data page.")
    try:
        examples = examples_for(store, source, None if data == VALIDATION else data)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    df = examples.table
    metric = METRICS[examples.metric]
    evaluated = f"the {examples.data}" if data == VALIDATION else data  # an upload by its name, not its folder
    st.caption(f"{len(df):,} examples of {evaluated} · {metric.label} {metric.shown(ex.overall_metric(examples))} · "
               f"{int((~df['correct']).sum()):,} wrong")
    cell = None
    slices = ex.slices(examples)
    if examples.task == "classification":
        left, right = st.columns([2, 3])
        with left:
            st.markdown("**Confusion matrix**")
            cell = confusion_cell(examples, key)
        with right:
            st.markdown("**Slices**")
            st.dataframe(slices, hide_index=True, key=f"{key}.slices", column_config=column_config(list(slices.columns)))
    else:
        st.markdown("**Slices**")
        st.dataframe(slices, hide_index=True, key=f"{key}.slices", column_config=column_config(list(slices.columns)))
    settings = _filters(examples, key)
    if cell is not None:
        settings.update(labels=[cell[0]], predictions=[cell[1]])
        st.info(f"Examples of true **{cell[0]}** predicted **{cell[1]}** (the confusion-matrix cell).")
    shown = ex.filter_examples(examples, **settings)
    # Salience explains classifiers (core.inspect.salience); a translation or a summary has
    # its attention only.
    what = "its salience and attention" if examples.task == "classification" else "it whole and its attention"
    st.markdown(f"**{len(shown):,} examples** (click one for {what})")
    event = st.dataframe(
        shown[SHOWN[examples.task]].rename_axis("example"), key=f"{key}.table.{_digest(settings, len(df))}",
        on_select="rerun", selection_mode="single-row", height=320, column_config=column_config(SHOWN[examples.task]),
    )
    rows = event.selection.get("rows", []) if event else []
    if rows:
        example_detail(source, examples, shown.iloc[int(rows[0])], f"{key}.detail", open_text)
    disagreement_panel(store, source, examples, None if data == VALIDATION else data, key)


def attention_link(run_id: str, text: str) -> None:
    with contextlib.suppress(StreamlitAPIException):  # a page run on its own has no navigation
        st.page_link(page_path("attention"), label="Open in Attention", icon=":material/visibility:",
                     query_params={"run": run_id, "text": text})


def example_detail(source: TrainedRun, examples: ex.Examples, row: pd.Series, key: str,
                   open_text: Callable[[str], None] | None) -> None:
    """One example: its text and outcome, its salience (classification), links to look further."""
    text = str(row[examples.text_column])
    with st.container(border=True):
        if examples.task == "classification":
            mark = "✓" if row["correct"] else "✗"
            st.markdown(f"{mark} true **{row['label']}**, predicted **{row['prediction']}** "
                        f"({row['confidence']:.1%}), {scores_text(row, SHOWN[examples.task])}")
            settings = salience_settings(f"{key}.salience", targets=examples.labels)
            salience_panel(source, text, f"{key}.salience", **settings)
        else:
            st.markdown(f"**Source** {text}  \n**Reference** {row['reference']}  \n**Hypothesis** {row['hypothesis']}  \n"
                        f"{scores_text(row, SHOWN[examples.task])}")
        cols = st.columns(2)
        if open_text is not None and examples.task == "classification":
            cols[0].button("Open in Salience", key=f"{key}.open", icon=":material/insights:",
                           on_click=open_text, args=(text,))
        with cols[1]:
            attention_link(source.run.id, text)


def disagreement_panel(store: Store, source: TrainedRun, examples: ex.Examples, upload: str | None, key: str) -> None:
    """Other finished runs of the task on the same examples: where their outputs differ."""
    others = [r for r in store.list_runs(status=["completed", "stopped"], task=source.run.task) if r.id != source.run.id]
    with st.expander("Where other runs disagree", icon=":material/call_split:", expanded=bool(st.session_state.get(f"{key}.others"))):
        if not others:
            st.caption("No other finished run of this task to compare with.")
            return
        by_id = {r.id: r for r in others}
        chosen = st.multiselect("Compare with", list(by_id), format_func=lambda i: run_label(by_id[i]), key=f"{key}.others")
        if not chosen:
            return
        runs = [source.run, *(by_id[i] for i in chosen)]
        names = [r.name for r in runs]
        tables = {}
        try:
            for run, name in zip(runs, names, strict=True):  # a repeated name gets its run id
                label = name if names.count(name) == 1 else f"{name} {run.id}"
                tables[label] = examples if run.id == source.run.id else examples_for(store, trained_run(store, run.id), upload)
            found = ex.disagreement(tables)
        except (WorkbenchError, OSError) as exc:
            st.error(str(exc))
            return
        st.caption(f"The runs differ on {found.disagree:,} of {found.total:,} examples.")
        st.dataframe(found.counts, hide_index=True, key=f"{key}.disagree.counts")
        st.dataframe(found.rows.rename_axis("example"), key=f"{key}.disagree.rows", height=260)
