"""The Data page's views of a dataset: cached loading, sizes and label balance, and the
tokenizer preview (length histogram, a sentence as tokens)."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import streamlit as st

from app.components.charts import label_balance_figure, length_histogram_figure
from app.components.forms import component_select, section_form, section_problem
from core.config import default_config
from core.data import tables
from core.data.types import DatasetSplits
from core.errors import WorkbenchError
from core.registry import DATASETS, TASKS, TOKENIZERS
from core.tokenize import Tokenizer

SAMPLE_TEXTS = 2000  # the tokenizer preview fits on this many training examples...
SAMPLE_CHARS = 200_000  # ...or on this much of a language-model corpus


# cache_resource, not cache_data: datasets can be large and this page only reads them, so one
# shared object beats a pickled copy on every rerun.
@st.cache_resource(max_entries=8, show_spinner="Loading the dataset…")
def load_builtin(name: str, task: str) -> DatasetSplits:
    return DATASETS.get(name).factory({}, task=task, seed=0)


@st.cache_resource(max_entries=4, show_spinner="Reading the file…")
def read_table(path: str, mtime: float, header: str = "auto") -> tuple[list[str], list[dict[str, str]], bool]:
    """(columns, rows, whether the first row was a header)."""
    table = tables.read_table(path, header=header)
    return table.columns, table.rows, table.header


@st.cache_resource(max_entries=8, show_spinner="Preparing the splits…")
def load_file(params_json: str, mtime: float, task: str) -> DatasetSplits:
    """The splits training would see, through the engine's own ``file`` dataset (``params_json``:
    its data section, a file path or a Hugging Face dataset with the column choices)."""
    return DATASETS.get("file").factory(json.loads(params_json), task=task, seed=0)


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


def overview(splits: DatasetSplits) -> None:
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


def tokenizer_preview(task: str, splits: DatasetSplits, source_key: str) -> None:
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


def preview_height(rows: int) -> int:
    """Pixels for a preview table: its rows (header 38 px, 35 a row), at most about seven."""
    return min(250, 38 + 35 * max(1, rows))


def _is_corpus(splits: DatasetSplits) -> bool:
    """Language-model data: running text (counted in characters), not separate examples."""
    return splits.train.labels is None and splits.train.targets is None


def _size(texts: list[str], corpus: bool) -> int:
    return sum(map(len, texts)) if corpus else len(texts)


