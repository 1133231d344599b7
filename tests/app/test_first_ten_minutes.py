"""What a newcomer met in their first ten minutes (issue 26), checked through the pages
(Streamlit AppTest) as they use them: no page shows the server's folders, a refused upload
leaves no file in the uploader, a column is never both text and label, tasks read as words,
and the Sweeps form names each knob as the Train form does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Dataframe, Expander

from app.navigation import PAGES, page_path
from core.config import default_config, validate_config
from core.registry import TASKS, task_label
from core.runs import create_run, execute_run
from core.store import Store
from pages import sweeps

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "app" / "main.py"
TIMEOUT = 60
# Headerless on purpose: the first thing a newcomer tried (the columns are detected from cells).
REVIEWS = "".join(f"{'a fine warm film' if i % 2 else 'a dull cold mess'} number {i},{'pos' if i % 2 else 'neg'}\n"
                  for i in range(60))


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def shown_texts(node: Any) -> Iterator[str]:
    """Every text an element carries (label, help, options, body, placeholder: its whole
    message) and every table cell, outside collapsed expanders: what the page shows unasked."""
    if isinstance(node, Expander) and not node.proto.expanded:
        return  # opened on request, like the sidebar's store location
    if isinstance(node, Block):
        if getattr(node, "proto", None) is not None:
            yield str(node.proto)  # tab and popover labels
        for child in node.children.values():
            yield from shown_texts(child)
        return
    yield str(node.proto)
    if isinstance(node, Dataframe):
        yield node.value.to_csv()


def leaks(at: AppTest, folder: Path) -> list[str]:
    """Texts naming ``folder`` (the workbench home) or a file in its uploads folder: absolutely,
    or relative to the server's working folder (``lmwb-home/uploads/x.csv``)."""
    paths = {str(folder), str(folder.resolve()), os.path.relpath(folder.resolve(), Path.cwd()), "uploads/"}
    return [text[:300] for text in shown_texts(at._tree) if any(p in text for p in paths)]


def upload_run(store: Store, upload: Path) -> str:
    """A small classifier trained on the uploaded file, as the Data page hands it to Train."""
    raw = default_config("classification")
    raw["data"] = {"name": "file", "path": str(upload)}
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["training"].update(max_steps=4, eval_every=4, batch_size=8, device="cpu")
    run = create_run(store, validate_config(raw), name="first")
    execute_run(store, run.id)
    return run.id


def test_no_page_shows_the_workbench_home_folder(store: Store, workbench_home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workbench_home.parent)  # the server started beside its home: relative paths are short
    uploads = workbench_home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "reviews.csv").write_text(REVIEWS)
    upload_run(store, uploads / "reviews.csv")
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    found: dict[str, list[str]] = {}
    for spec in PAGES:
        at.switch_page(str(page_path(spec.name))).run()
        no_exception(at)
        found[spec.name] = leaks(at, workbench_home)
    # The views that show an uploaded file, opened as a person opens them.
    at.switch_page(str(page_path("data"))).run()
    at.radio(key="data_source").set_value("Your file").run()
    assert at.selectbox(key="data_file").value == "reviews.csv"
    found["data, your file"] = leaks(at, workbench_home)
    at.switch_page(str(page_path("train"))).run()
    data = next(s for s in at.selectbox if s.label == "Dataset")
    data.set_value(next(o for o in data.options if "reviews.csv" in o)).run()
    no_exception(at)
    assert any(e.label == "Equivalent command line" for e in at.expander)
    found["train, your file"] = leaks(at, workbench_home)
    at.switch_page(str(page_path("explain"))).run()
    evaluate_on = next(s for s in at.selectbox if s.label == "Evaluate on")
    evaluate_on.set_value("reviews.csv").run()
    no_exception(at)
    assert any("reviews.csv" in c.value for c in at.caption)  # the file, by its name
    found["explain, upload"] = leaks(at, workbench_home)
    assert not any(found.values()), {page: texts for page, texts in found.items() if texts}


def test_a_refused_upload_leaves_no_file_in_the_uploader_and_says_why() -> None:
    at = AppTest.from_file(str(REPO / "pages" / "data.py"), default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Your file").run()
    at.file_uploader[0].set_value(("ragged.csv", b"text,label\na,b\nc,d,e\n", "text/csv")).run()
    no_exception(at)
    (refusal,) = [e.value for e in at.error]
    assert refusal.startswith("Upload refused. ragged.csv, line 3: row has 3 fields")
    assert not at.file_uploader[0].value  # a fresh uploader: the refused file's chip is gone
    at.run()  # and the reason stays on the page until the next upload
    assert len(at.error) == 1 and not at.file_uploader[0].value
    at.file_uploader[0].set_value(("reviews.csv", REVIEWS.encode(), "text/csv")).run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="data_file").value == "reviews.csv"
    assert at.file_uploader[0].value.name == "reviews.csv"  # an accepted file stays listed


def test_no_column_picker_offers_the_label_as_text_or_the_text_as_label(workbench_home: Path) -> None:
    uploads = workbench_home / "uploads"
    uploads.mkdir(parents=True)
    rows = "".join(f"title {i % 4},some body text {i},{'pos' if i % 2 else 'neg'},{i % 3}\n" for i in range(40))
    (uploads / "news.csv").write_text("title,body,label,id\n" + rows)
    at = AppTest.from_file(str(REPO / "pages" / "data.py"), default_timeout=TIMEOUT).run()
    at.radio(key="data_source").set_value("Your file").run()
    text, label, more = ("data_text_col:news.csv", "data_label_col:news.csv", "data_more_text:news.csv")

    def check() -> None:
        no_exception(at)
        assert not at.error, [e.value for e in at.error]
        chosen_text, chosen_label = at.selectbox(key=text).value, at.selectbox(key=label).value
        assert chosen_text not in at.selectbox(key=label).options
        assert {chosen_text, chosen_label}.isdisjoint(at.multiselect(key=more).options)
        assert chosen_label not in [chosen_text, *at.multiselect(key=more).value]

    check()
    assert at.selectbox(key=label).value == "label"
    at.multiselect(key=more).set_value(at.multiselect(key=more).options).run()  # "Select all"
    check()
    assert at.selectbox(key=label).value == "label" and "label" not in at.multiselect(key=more).value
    at.selectbox(key=text).set_value("label").run()  # the label column taken as the text: the label moves
    check()
    at.selectbox(key=label).set_value("id").run()
    at.selectbox(key=text).set_value("title").run()
    check()
    assert at.selectbox(key=label).value == "id" and len(at.get("plotly_chart")) == 2  # the page goes on


def test_every_task_reads_as_words_where_runs_are_listed(store: Store) -> None:
    labels = {name: task_label(name) for name in TASKS.names()}
    assert labels["masked_lm"] == "Masked LM pretraining" and labels["language_model"] == "Language model"
    assert all(label != name and "_" not in label for name, label in labels.items())
    assert len(set(labels.values())) == len(labels)
    for task in ("classification", "masked_lm"):
        config = validate_config(default_config(task)).to_dict()
        store.create_run(config, name=task, task=task, arch=config["model"]["name"], status="completed")
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.switch_page(str(page_path("runs"))).run()
    no_exception(at)
    table = next(df.value for df in at.dataframe if "task" in df.value.columns)
    assert sorted(table["task"]) == ["Classification", "Masked LM pretraining"]
    assert sorted(at.multiselect(key="runs_f_task").options) == ["Classification", "Masked LM pretraining"]
    at.switch_page(str(page_path("train"))).run()
    assert at.selectbox(key="train.task").options == list(labels.values())  # the task pickers
    at.switch_page(str(page_path("sweeps"))).run()
    assert at.selectbox(key=f"{sweeps.D}.task").options == list(labels.values())


def test_the_sweeps_form_names_each_knob_as_the_train_form_does() -> None:
    """Both draw labels from Param.title; this checks the pages themselves, knob by knob."""
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.switch_page(str(page_path("train"))).run()
    train: dict[str, str] = {}
    for kind in ("number_input", "selectbox", "checkbox", "toggle", "text_input", "multiselect"):
        for widget in at.get(kind):
            parts = (widget.key or "").split(".")
            if widget.key.startswith("train.w") and len(parts) in (4, 5) and parts[-1] != "none":
                train[f"{parts[2]}.{parts[-1]}"] = widget.label
    at.switch_page(str(page_path("sweeps"))).run()
    no_exception(at)
    tick = f"{sweeps.D}.tick."
    swept = {c.key.removeprefix(tick): c.label.split(" (only ")[0] for c in at.checkbox if c.key.startswith(tick)}
    both = sorted(set(train) & set(swept))
    assert {"optimizer.lr", "model.hidden_size", "training.batch_size"} <= set(both) and len(both) >= 15
    assert {k: swept[k] for k in both} == {k: train[k] for k in both}
