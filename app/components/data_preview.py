"""The Data page's views of a dataset: cached loading, sizes and label balance, and the
tokenizer preview (length histogram, a sentence as tokens)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app.components.charts import label_balance_figure, length_histogram_figure
from app.components.data_options import file_problem
from app.components.forms import component_select, section_form, section_problem
from core.config import default_config, section_params, tuned_settings
from core.data import tables
from core.data.types import DatasetSplits
from core.errors import WorkbenchError
from core.registry import DATASETS, TASKS, TOKENIZERS, task_label
from core.tasks.pairs import fitting_texts as pair_fitting_texts
from core.tokenize import Tokenizer

SAMPLE_TEXTS = 2000  # the length histogram measures this many training examples...
SAMPLE_CHARS = 200_000  # ...or this much of a language-model corpus
# The preview's tokenizer is fitted as a run fits its own (on all the training text), so the
# vocabulary it shows is the run's; past this much text, on its start (and the page says so).
FIT_CHARS = 20_000_000


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


@st.cache_data(max_entries=256, show_spinner=False)
def stored_file_problem(path: str, mtime: float, task: str) -> str | None:
    """Why a stored upload cannot train ``task`` whatever its columns (``file_problem``: the
    message the Data page showed), or None. Kept small per file, so the Train page can ask of
    every stored file on each rerun."""
    try:
        columns = tables.read_table(path).columns
    except WorkbenchError as exc:  # stored before a stricter reader: it cannot train anything now
        return str(exc)
    return file_problem(task, Path(path), columns)


@st.cache_resource(max_entries=8, show_spinner="Preparing the splits…")
def load_file(params_json: str, mtime: float, task: str) -> DatasetSplits:
    """The splits training would see, through the engine's own ``file`` dataset (``params_json``:
    its data section, a file path or a Hugging Face dataset with the column choices)."""
    return DATASETS.get("file").factory(json.loads(params_json), task=task, seed=0)


@st.cache_resource(max_entries=8, show_spinner="Fitting the tokenizer…")
def fit_tokenizer(source_key: str, name: str, params_json: str, _texts: tuple[str, ...]) -> Tokenizer:
    # Keyed by (data source, tokenizer, its params); the sample itself is not hashed.
    return TOKENIZERS.get(name).factory(json.loads(params_json), list(_texts))


def fitting_texts(task: str, splits: DatasetSplits) -> tuple[list[str], bool]:
    """The texts a run of ``task`` fits its tokenizer on (core.assemble.fit_tokenizer: the
    training texts, a sentence pair's without its mark, and the targets where both sides share
    one vocabulary, as the task's default has it), and whether they were cut to FIT_CHARS."""
    texts = list(splits.train.texts)
    if splits.extras.get("text_pair"):
        texts = pair_fitting_texts(texts)
    if splits.train.targets and _task_default(task, "shared_vocab", True):
        texts += splits.train.targets
    kept, chars = [], 0
    for text in texts:
        if chars + len(text) > FIT_CHARS and kept:
            return kept, True
        kept.append(text[:FIT_CHARS])
        chars += len(text)
    return kept, False


def _task_default(task: str, name: str, fallback: Any) -> Any:
    """A task setting as a run of the task starts with it: the task's default config, else the
    declaration's default."""
    declared = {p.name: p.default for p in section_params("task", task)}
    return default_config(task).get("task", {}).get(name, declared.get(name, fallback))


def training_sample(splits: DatasetSplits) -> list[str]:
    """Examples to measure: lines of a corpus."""
    if splits.train.labels is not None:
        return list(splits.train.texts[:SAMPLE_TEXTS])
    if splits.train.targets is not None:  # translation: the source sentences
        return list(splits.train.texts[:SAMPLE_TEXTS])
    corpus = "\n".join(splits.train.texts)[:SAMPLE_CHARS]
    return [line for line in corpus.split("\n") if line.strip()][:SAMPLE_TEXTS * 5]


def overview(splits: DatasetSplits, dataset: str | None = None) -> None:
    """Sizes and label balance under the dataset's description and notes (a built-in set's,
    ``dataset``, in the page's words: :func:`in_words`)."""
    st.caption(in_words(splits.description, dataset))
    for note in splits.notes:
        st.caption(in_words(note, dataset))
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


def in_words(text: str, dataset: str | None) -> str:
    """A built-in set's description or note as the page names things: the set by its label
    (``sentiment: 4,000 reviews`` -> ``Sentiment reviews: 4,000 reviews``) and each setting it
    names as ``label_noise=0.03`` by its title (*Label noise* 0.03), as the Train form labels it."""
    if dataset is None or dataset not in DATASETS:
        return text
    if text.startswith(f"{dataset}: "):
        text = f"{DATASETS.label(dataset)}: {text.removeprefix(f'{dataset}: ')}"
    for param in DATASETS.get(dataset).params:
        text = re.sub(rf"\b{param.name}=", f"*{param.title}* ", text)
    return text


def tokenizer_preview(task: str, splits: DatasetSplits, source_key: str) -> None:
    st.subheader("Tokenizer")
    left, right = st.columns([1, 2])
    with left:
        # The box's own state (kept across pages by the Data page) is its value: no default beside
        # it, which Streamlit would warn about.
        start = None if "data_tok" in st.session_state else default_config(task)["tokenizer"]["name"]
        name = component_select("tokenizer", TOKENIZERS.names(), start, key="data_tok")
    with right:
        # The task's own tokenizer settings, as the Train form starts from them (a word-vector
        # run keeps words seen 3 times): the vocabulary shown is the one a run gets.
        params = section_form("tokenizer", name, tuned_settings(task, "tokenizer", name), key_prefix=f"data.{task}")
    if section_problem("tokenizer", name, params):
        return  # section_form already showed the problem
    texts, cut = fitting_texts(task, splits)
    try:
        tokenizer = fit_tokenizer(source_key, name, json.dumps(params, sort_keys=True), tuple(texts))
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    sample = training_sample(splits)
    lengths = [len(ids) for ids in tokenizer.encode_batch(sample)]
    st.metric("Vocabulary (tokens)", f"{tokenizer.vocab_size:,}", help=vocabulary_help(task, splits, name, cut))
    unit = ("tokens per example" if splits.train.labels is not None
            else "tokens per source sentence" if splits.train.targets is not None else "tokens per line")
    st.plotly_chart(length_histogram_figure(lengths, unit="tokens", title=f"Length ({unit})"),
                    key="data_lengths")
    if task == "classification":
        limit = TASKS.get("classification").param("max_length")
        over = sum(n > limit.default for n in lengths) / max(1, len(lengths))
        st.caption(f"Lengths of {sample_words(len(sample), len(splits.train.texts))} · {over:.1%} are longer "
                   f"than **{limit.title}** ({limit.default}, Train page, task section) and would be truncated.")
    else:
        st.caption(f"Lengths measured on {sum(map(len, sample)):,} characters of training text.")
    # Keyed by the data shown: another dataset or task starts from its own first example.
    sentence = st.text_input("Try a sentence", value=sample[0][:200] if sample else "", key=f"data_try:{source_key}")
    ids = tokenizer.encode(sentence)
    tokens = pd.DataFrame({"token": [_visible(t) for t in tokenizer.tokens(sentence)], "id": ids})
    st.dataframe(tokens.rename_axis("position"), height=min(400, 38 + 35 * len(ids)), key="data_tokens")
    st.caption(f"{len(ids)} tokens for {len(sentence)} characters.")


def sample_words(measured: int, total: int) -> str:
    """What the length histogram measured: all the training examples, or a sample of them."""
    if measured >= total:
        return f"all {total:,} training examples" if total != 1 else "the training example"
    return f"the first {measured:,} of the {total:,} training examples"  # a sample, as training_sample takes it


def vocabulary_help(task: str, splits: DatasetSplits, tokenizer: str, cut: bool) -> str:
    """What the vocabulary figure counts, in words: the one figure the page gives for it."""
    what = f"Distinct tokens the {TOKENIZERS.label(tokenizer)} tokenizer knows, its special tokens included"
    if TOKENIZERS.get(tokenizer).meta.get("from_model"):
        return f"{what}: the pretrained model's own vocabulary, whatever the data."
    noun = "pairs" if splits.train.targets is not None else "examples" if not _is_corpus(splits) else "text"
    count = "" if _is_corpus(splits) else f"{len(splits.train.texts):,} "
    where = (f"fitted on the first {FIT_CHARS:,} characters of the training {noun} (a run fits all of it: its "
             "vocabulary can be larger)" if cut else
             f"fitted on all {count}training {noun}, as a run of {task_label(task)} on this data fits it")
    return f"{what}, {where}: a run on this data logs the same figure (vocab_size, in its Run log)."


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


