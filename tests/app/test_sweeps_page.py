"""Sweeps page (Streamlit AppTest): empty store, defining a sweep (grid size, invalid range),
watching and analysing a finished sweep, plus the page's pure figure helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import sweep as sw
from core.config import default_config, validate_config
from core.params import Param
from core.store import Store
from pages import sweeps as page

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60
D = page.D


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


@pytest.fixture
def one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / "sweeps.py"), default_timeout=TIMEOUT)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def metric_value(at: AppTest, label: str) -> str:
    for m in at.metric:
        if m.label == label:
            return str(m.value)
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def _tiny_sweep(store: Store) -> Any:
    raw = default_config("classification")
    raw["task"] = {"name": "classification", "max_length": 16}
    raw["data"] = {"name": "sentiment", "n_examples": 200}
    raw["model"] = {"name": "gru", "embed_dim": 8, "hidden_size": 8}
    raw["training"] = {"max_steps": 20, "eval_every": 10, "log_every": 10, "eval_max_batches": 1,
                       "batch_size": 16, "checkpoint": False}
    spec = sw.build_spec(raw, {"optimizer.lr": {"choices": [0.003, 0.01]},
                               "model.dropout": {"choices": [0.0, 0.2]}}, method="grid")
    sweep = sw.create_sweep(store, spec, name="page-sweep")
    sw.start_sweep(store, sweep.id)
    sw.run_worker(store, sweep.id, slot=0)
    return store.get_sweep(sweep.id)


def test_page_renders_on_an_empty_store() -> None:
    at = app().run()
    no_exception(at)
    assert at.radio(key=page.VIEW).value == "Define"
    assert any("Tick at least one parameter" in i.value for i in at.info)
    at.radio(key=page.VIEW).set_value("Watch").run()
    no_exception(at)
    assert any("No sweeps yet" in i.value for i in at.info)


def test_defining_a_grid_shows_its_size_and_an_invalid_range_an_error() -> None:
    at = app().run()
    at.selectbox(key=f"{D}.method").set_value("grid")
    at.checkbox(key=f"{D}.tick.optimizer.lr").check()
    at.run()
    no_exception(at)
    assert metric_value(at, "Grid size") == "3"  # 3 log-spaced points by default
    at.checkbox(key=f"{D}.tick.model.bidirectional").check().run()
    assert metric_value(at, "Grid size") == "6"  # x {true, false}
    assert metric_value(at, "Expected trials") == "6"
    assert not at.error

    at.number_input(key=f"{D}.range.optimizer.lr.high").set_value(1e-5).run()  # below low
    no_exception(at)
    assert any("optimizer.lr.high" in e.value and "empty range" in e.value for e in at.error)
    at.number_input(key=f"{D}.range.optimizer.lr.high").set_value(50.0).run()  # beyond declared 10
    assert any("optimizer.lr.high" in e.value and "[1e-06, 10]" in e.value for e in at.error)


def test_launching_a_sweep_opens_its_watch_view(store: Store) -> None:
    at = app().run()
    at.selectbox(key=f"{D}.method").set_value("grid")
    at.checkbox(key=f"{D}.tick.optimizer.lr").check()
    at.text_input(key=f"{D}.name").input("launched")
    at.run()
    at.button(key=f"{D}.launch").click().run()
    no_exception(at)
    (sweep,) = store.list_sweeps()
    assert sweep.name == "launched" and sweep.status == "running"
    assert at.radio(key=page.VIEW).value == "Watch"
    assert at.selectbox(key=page.PICK).value == sweep.id


def test_watch_and_analyse_a_finished_sweep(store: Store, one_thread: None) -> None:
    sweep = _tiny_sweep(store)
    at = app().run()
    no_exception(at)
    assert at.radio(key=page.VIEW).value == "Watch"
    assert metric_value(at, "Status") == "completed"
    assert metric_value(at, "Trials") == "4 / 4"
    table = next(df.value for df in at.dataframe if "trial" in df.value.columns)
    assert len(table) == 4 and set(table["status"]) == {"complete"}
    assert {"optimizer.lr", "model.dropout", "duration_s"} <= set(table.columns)
    assert len(at.get("plotly_chart")) >= 2  # history and learning curves

    at.radio(key=page.VIEW).set_value("Analyse").run()
    no_exception(at)
    best = sw.best_trial(store, sweep)
    assert best is not None
    assert any(f"Best trial: {best['trial']}" in s.value for s in at.subheader)
    assert len(at.get("plotly_chart")) >= 3  # importances / parallel coordinates / slices / contour
    submit = next(b for b in at.button if "Start full run" in str(b.label))
    submit.click().run()
    promoted = store.list_runs(tag=f"promoted-from-sweep-{sweep.id}")
    assert len(promoted) == 1 and promoted[0].parent_id == best["run_id"]


def test_figure_helpers_and_default_ranges() -> None:
    frame = pd.DataFrame({"trial": [0, 1, 2], "status": ["complete", "pruned", "complete"],
                          "value": [0.6, 0.5, 0.7]})
    fig = page.history_figure(frame, "accuracy", "maximize")
    best_line = next(t for t in fig.data if t.name == "best so far")
    assert list(best_line.y) == [0.6, 0.7]
    curves = pd.DataFrame({"run": ["trial 0"] * 2 + ["trial 1"], "trial": [0, 0, 1],
                           "status": ["completed", "completed", "pruned"], "step": [10, 20, 10],
                           "split": "val", "name": "accuracy", "value": [0.6, 0.7, 0.5],
                           "wall_time": [1.0, 2.0, 1.0]})
    fig = page.curves_figure(curves, "accuracy")
    assert any(t.name == "pruned here" and list(t.x) == [10] for t in fig.data)
    lr = Param("lr", "float", 1e-3, "", low=1e-6, high=10.0, log=True)
    assert page.default_range(lr) == {"low": 1e-4, "high": 1e-2, "log": True}
    dropout = Param("dropout", "float", 0.2, "", low=0.0, high=0.9)
    assert page.default_range(dropout) == {"low": 0.0, "high": 0.9, "log": False}
    hidden = Param("hidden", "int", 128, "", low=4, high=4096, log=True)
    assert page.default_range(hidden) == {"low": 13, "high": 1280, "log": True}
    assert validate_config(default_config("classification"))  # the form's starting point is valid
