"""The newcomer trial's leftovers (issue 26), through the pages as a person uses them: one click
takes the Data page's choice to Train, whose pickers offer the file's own columns; the Data page
gives one vocabulary, the one a run gets; datasets and settings read as words; the arithmetic
sample marks its sums; Compare's every metric fits the page as rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.components.runs_table import run_row
from app.components.sums_view import RIGHT, WRONG
from app.navigation import page_path
from core.assemble import fit_tokenizer, load_dataset
from core.config import default_config, section_params, validate_config
from core.metrics import task_metrics
from core.registry import DATASETS, TASKS
from core.runs import create_run
from core.store import Store
from tests.seed_runs import seed_run

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "app" / "main.py"
TIMEOUT = 60
# A header that says little (the columns are guessed from the cells), and a title to join.
ROWS = "".join(f"{i},{'fine' if i % 2 else 'dull'} film,{'a fine warm film' if i % 2 else 'a dull cold mess'} {i},"
               f"{'pos' if i % 2 else 'neg'}\n" for i in range(60))


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_app(page: str) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.switch_page(str(page_path(page))).run()
    no_exception(at)
    return at


def test_one_click_opens_train_with_the_files_columns_as_pickers(store: Store) -> None:
    uploads = store.home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "reviews.csv").write_text("id,title,review,label\n" + ROWS)
    at = open_app("data")
    at.radio(key="data_source").set_value("Your file").run()
    assert at.selectbox(key="data_text_col:reviews.csv").value == "review"
    assert at.selectbox(key="data_label_col:reviews.csv").value == "label"
    at.multiselect(key="data_more_text:reviews.csv").set_value(["title"]).run()  # a choice made here
    at.button(key="data_use").click().run()  # once
    no_exception(at)
    assert [t.value for t in at.title] == ["Train"]
    assert at.selectbox(key="train.task").value == "classification"
    gen = f"train.w{at.session_state['train.form']['gen']}"
    assert at.selectbox(key=f"{gen}.data").value == "upload: reviews.csv"
    columns = ["id", "title", "review", "label"]
    text, label = at.selectbox(key=f"{gen}.data_text_col:reviews.csv"), at.selectbox(key=f"{gen}.data_label_col:reviews.csv")
    more = at.multiselect(key=f"{gen}.data_more_text:reviews.csv")
    assert (text.value, more.value, label.value) == ("review", ["title"], "label")
    assert text.options == columns and set(label.options) < set(columns) and set(more.options) < set(columns)
    assert not [t.label for t in at.text_input if t.label in ("Text column", "Label column")]  # no free text
    # A picker changed on Train is what the run trains on. (AppTest reruns the page it was last
    # sent to, not the one st.switch_page opened, as a browser would.)
    at.switch_page(str(page_path("train"))).run()
    at.selectbox(key=f"{gen}.data_label_col:reviews.csv").set_value("title").run()
    no_exception(at)
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    [run] = store.list_runs()
    assert (run.config["data"]["text_column"], run.config["data"]["label_column"]) == ("review", "title")


def test_a_column_choice_that_cannot_train_is_a_problem_on_train(store: Store) -> None:
    uploads = store.home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "ids.csv").write_text("text,label\n" + "".join(f"row {i},{i}\n" for i in range(30)))
    at = open_app("data")
    at.session_state["train_data"] = {"task": "classification", "data": {
        "name": "file", "path": str(uploads / "ids.csv"), "text_column": "text", "label_column": "label"}}
    at.switch_page(str(page_path("train"))).run()
    no_exception(at)
    assert any("different value on each" in e.value for e in at.error)  # the label is an id
    assert [b for b in at.button if b.label == "Start"][0].disabled


@pytest.mark.parametrize("task", ["classification", "translation"])
def test_the_data_page_shows_one_vocabulary_the_one_a_run_gets(task: str) -> None:
    at = open_app("data")
    at.radio(key="data_task").set_value(task).run()
    no_exception(at)
    [vocab] = [m for m in at.metric if "ocabulary" in m.label]
    assert vocab.label == "Vocabulary (tokens)" and "fitted on all" in vocab.help
    config = validate_config(default_config(task))
    assert int(vocab.value.replace(",", "")) == fit_tokenizer(config, load_dataset(config)).vocab_size
    # No other vocabulary figure of the page's own (the dataset's description may round one).
    texts = [c.value for c in at.caption] + [m.label for m in at.metric]
    assert not [t for t in texts if re.search(r"vocabulary \d", t, re.IGNORECASE)]


def test_datasets_and_settings_read_as_words(store: Store) -> None:
    at = open_app("data")
    data_picker = at.selectbox(key="data_builtin_classification")
    assert data_picker.options == [DATASETS.label(n) for n in DATASETS.names(tasks="classification") if n != "file"]
    assert "Sentiment reviews" in data_picker.options
    max_length = TASKS.get("classification").param("max_length").title
    captions = " ".join(c.value for c in at.caption)
    assert max_length in captions and "task.max_length" not in captions
    # The set's description and notes name it and its settings as the pickers do.
    assert "Sentiment reviews: " in captions and "sentiment: " not in captions
    assert "Label noise" in captions and "label_noise=" not in captions
    # Train: the dataset picker, and the small-data warning of a small upload.
    uploads = store.home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "small.csv").write_text("text,label\n" + "".join(f"a {'good' if i % 2 else 'bad'} film {i},{i % 2}\n"
                                                               for i in range(40)))
    at.switch_page(str(page_path("train"))).run()
    gen = f"train.w{at.session_state['train.form']['gen']}"
    picker = at.selectbox(key=f"{gen}.data")
    assert "Sentiment reviews" in picker.options and "sentiment" not in picker.options
    picker.set_value("upload: small.csv").run()
    no_exception(at)
    [warning] = [w.value for w in at.warning if "training rows" in w.value]
    titles = {p.name: p.title for p in section_params("training")}
    assert titles["max_epochs"] in warning and titles["early_stopping_patience"] in warning
    assert not re.search(r"\b(training|data|task)\.[a-z_]+", warning), warning
    # A race shares its data, said in words; the runs table names the data in words too.
    for arch in ("lstm", "gru"):
        raw = default_config("classification")
        raw["model"]["name"] = arch
        create_run(store, validate_config(raw), name=arch, status="completed", tags=("race-abc",))
    at.switch_page(str(page_path("run"))).run()
    no_exception(at)
    assert any("Same data Sentiment reviews" in c.value for c in at.caption)
    assert {run_row(r)["data"] for r in store.list_runs()} == {"Sentiment reviews"}


def test_the_arithmetic_sample_marks_each_sum_right_or_wrong(store: Store) -> None:
    run = seed_run(store, "language_model", "sums")
    summary = dict(run.summary or {})
    summary["sample"] = "12+30=42\n7+8=16\n40+2=42\n99+1=1000\n5+"  # right, wrong, right, wrong, cut short
    summary["val"] = {**summary["val"], "sums_right": 0.5}
    store.set_summary(run.id, summary)
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.query_params["run"] = run.id
    at.switch_page(str(page_path("run"))).run()
    no_exception(at)
    [table] = [t.value for t in at.table if "Right?" in t.value.columns]
    assert list(table["Sum"]) == ["12+30=", "7+8=", "40+2=", "99+1="]
    assert list(table["Right?"]) == [RIGHT, WRONG, RIGHT, WRONG]
    assert any("2 of 4 sums right" in c.value for c in at.caption)
    # A language model without sums keeps its sample as text.
    plain = seed_run(store, "language_model", "prose")
    at.query_params["run"] = plain.id
    at.switch_page(str(page_path("run"))).run()
    no_exception(at)
    assert not [t for t in at.table if "Right?" in t.value.columns]


def test_every_metric_of_a_classifier_is_a_row(store: Store) -> None:
    runs = [seed_run(store, "classification", f"clf-{i}", seed=i) for i in range(3)]
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.query_params["runs"] = ",".join(r.id for r in runs)
    at.switch_page(str(page_path("compare"))).run()
    at.toggle(key="compare_every.classification").set_value(True).run()
    no_exception(at)
    [every] = [f.value for f in at.dataframe if "Accuracy" in f.value.index]
    reported = {m.label for m in task_metrics("classification", objective=True) if m.name in runs[0].summary["val"]}
    assert set(every.index) == reported and len(reported) > 6  # every metric reachable, one row each
    assert sorted(every.columns) == [r.name for r in runs]  # a column per run: a few, whatever the metrics
