"""The Data page meets the ecosystem: the formats it takes, a file without a header row, several
text columns, label names, a Parquet upload and a save_to_disk folder (AppTest, no network)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_data_runs_compare_playground import no_exception, page
from tests.unit.test_data_ecosystem import AG_NEWS, dataset

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def own_file(at: AppTest) -> AppTest:
    return at.radio(key="data_source").set_value("Your file").run()


def test_headerless_file_columns_and_label_names(workbench_home: Path) -> None:
    uploads = workbench_home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "ag.csv").write_text("".join(",".join(f'"{c}"' for c in row) + "\n" for row in AG_NEWS))
    at = own_file(page("data").run())
    no_exception(at)
    formats = [e for e in at.expander if e.label == "Formats this page takes"]
    assert formats and "Parquet" in formats[0].markdown[0].value and "save_to_disk" in formats[0].markdown[0].value
    assert len(at.dataframe[0].value) == len(AG_NEWS)  # the first row is data, not a header
    assert any("no header row" in c.value for c in at.caption)
    assert at.selectbox(key="data_header:ag.csv").value == "auto"
    assert at.selectbox(key="data_text_col:ag.csv").value == "column3"  # the description, not the class
    assert at.selectbox(key="data_label_col:ag.csv").value == "column1"
    at.multiselect(key="data_more_text:ag.csv").set_value(["column2"]).run()
    at.text_input(key="data_label_names:ag.csv").input("World,Sports,Business").run()
    no_exception(at)
    assert any(m.label == "Classes" and m.value == "3" for m in at.metric)
    at.button(key="data_use").click().run()
    data = at.session_state["train_data"]["data"]
    assert data["text_column"] == "column3,column2" and data["label_column"] == "column1"
    assert data["label_names"] == "World,Sports,Business"
    # Said outright: with a header row the first line names the columns and is no example.
    at.selectbox(key="data_header:ag.csv").set_value("yes").run()
    no_exception(at)
    assert len(at.dataframe[0].value) == len(AG_NEWS) - 1
    # A bad label-names list is an error on the page, naming the field, not a traceback.
    at.selectbox(key="data_header:ag.csv").set_value("no").run()
    at.text_input(key="data_label_names:ag.csv").input("World").run()
    no_exception(at)
    assert any("**Label names**" in e.value and "data." not in e.value for e in at.error)  # the page's words


def test_parquet_upload_and_a_save_to_disk_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    dataset(24).to_parquet(buffer)
    at = own_file(page("data").run())
    at.file_uploader(key="data_upload").set_value(("reviews.parquet", buffer.getvalue(), "application/octet-stream")).run()
    no_exception(at)
    assert at.selectbox(key="data_file").value == "reviews.parquet"
    assert at.selectbox(key="data_text_col:reviews.parquet").value == "text"
    assert any(m.label == "Classes" and m.value == "2" for m in at.metric)
    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": dataset(30), "validation": dataset(6)}).save_to_disk(str(folder))
    at.radio(key="data_source").set_value("Hugging Face dataset").run()
    at.text_input(key="data_hf_ref").input(str(folder)).run()
    no_exception(at)
    assert any(m.label == "Validation" and m.value == "6" for m in at.metric)  # its own split
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at.text_input(key="data_hf_ref").input("imdb").run()
    no_exception(at)
    assert any("could not download it from the Hugging Face hub" in e.value for e in at.error)


def test_train_takes_a_hugging_face_dataset_and_headerless_choices(store, tmp_path: Path) -> None:
    from tests.app.test_home_train_run import open_page, wkey

    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": dataset(30), "validation": dataset(6)}).save_to_disk(str(folder))
    at = open_page("train")
    at.session_state["train_data"] = {"task": "classification", "data": {
        "name": "file", "dataset": str(folder), "text_column": "text", "label_column": "", "header": "no"}}
    at.run()
    assert not at.exception
    assert at.selectbox(key=wkey(at, "data")).value == "Hugging Face dataset (folder or hub name)"
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    [run] = store.list_runs()
    data = run.config["data"]
    assert data["dataset"] == str(folder) and data["path"] == "" and data["header"] == "no"
