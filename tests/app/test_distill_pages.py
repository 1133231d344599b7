"""Distillation in the app (issue 27): the Train form picks a teacher among the finished runs of
the task, and a distilled run's page and Compare show the teacher beside the student."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.config import default_config, validate_config
from core.metrics import metric_value
from core.runs import create_run, execute_run
from core.store import Run, Store
from tests.app.test_data_runs_compare_playground import tiny_trained_run

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def open_page(page: str, **query: str) -> AppTest:
    """The app opened on ``page`` with ``query`` in its address."""
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.query_params.update(query)
    at.switch_page(str(page_path(page))).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_train_page_offers_finished_runs_of_the_task_as_teachers(store: Store) -> None:
    teacher = tiny_trained_run(store, "classification")
    create_run(store, validate_config(default_config("classification")), name="still-queued")
    at = open_page("train")
    gen = at.session_state["train.form"]["gen"]
    picker = at.selectbox(key=f"train.w{gen}.task.classification.teacher")
    assert picker.label == "Teacher run" and picker.value == ""
    assert picker.options[0] == "none: no teacher"  # the declaration's "Empty: ..."
    # The finished run with its checkpoint, not the queued one; named with its best score.
    assert len(picker.options) == 2 and picker.options[1].startswith(f"{teacher.name} · ")
    assert teacher.id in picker.options[1] and "val Accuracy" in picker.options[1]
    picker.set_value(teacher.id).run()
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    queued = next(r for r in store.list_runs() if r.name != "still-queued" and r.id != teacher.id)
    assert queued.config["task"]["teacher"] == teacher.id


def ys(values: Any) -> set[float]:
    """A trace's values as a set: plotly writes numbers as base64 ``bdata`` of a numpy dtype."""
    if isinstance(values, dict):
        values = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return {float(v) for v in values}


def distilled(store: Store) -> tuple[Run, Run]:
    teacher = tiny_trained_run(store, "classification")
    raw = default_config("classification")
    raw["data"]["n_examples"] = 400
    raw["model"].update(embed_dim=16, hidden_size=16)
    raw["task"].update(teacher=teacher.name, distill_alpha=0.3, distill_temperature=4)
    raw["training"].update(max_steps=10, eval_every=10, batch_size=16, device="cpu")
    student = create_run(store, validate_config(raw), name="the-student")
    execute_run(store, student.id)
    return teacher, store.get_run(student.id)


def test_a_distilled_run_shows_its_teacher_on_its_page_and_in_compare(store: Store) -> None:
    teacher, student = distilled(store)
    at = open_page("run", run=student.id)
    said = [m.value for m in at.markdown]
    assert any(f"Distilled from {teacher.name} (`{teacher.id}`): α 0.3, T 4" in m for m in said), said
    table = next(d.value for d in at.dataframe if f"teacher: {teacher.name}" in list(d.value.index))
    assert list(table.index) == [f"teacher: {teacher.name}", "student: the-student"]
    assert table.loc[f"teacher: {teacher.name}", "val Accuracy"] == metric_value("accuracy", teacher.summary["best"]["value"])
    # The teacher's best validation accuracy, a flat line on the student's accuracy chart.
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    lines = [ys(t["y"]) for c in charts for t in c["data"] if t.get("name", "").startswith(f"teacher: {teacher.name} · val")]
    assert lines and all(len(y) == 1 for y in lines)
    assert {teacher.summary["best"]["value"]} in lines, lines
    # Its train loss is the mixed loss: said under the Loss chart, not left to look like overfitting.
    assert any(c.value.startswith("Distilled (the-student): the train curve is the mixed loss") for c in at.caption)
    at = open_page("run", run=teacher.id)
    assert not any("mixed loss" in c.value for c in at.caption)
    at = open_page("compare", runs=student.id)
    assert any("Distilled from" in c.value for c in at.caption)
    compared = next(d.value for d in at.dataframe if f"teacher: {teacher.name}" in list(d.value.index))
    assert list(compared.index) == ["the-student", f"teacher: {teacher.name}"]
