"""Compare and Run pages (AppTest): runs of different tasks are never overlaid, each task's table
leads with its headline metrics, and the curves' smoothing and log-scale controls change what is
drawn (as plotly receives it) without changing which traces there are."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.components.charts import RAW_SUFFIX, smooth
from app.state import page_path
from core.metrics import task_metrics
from core.store import Store
from tests.seed_runs import seed_run

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def specs(at: AppTest) -> dict[str, dict[str, Any]]:
    """Every plotly chart's figure as the browser gets it, by the chart's key."""
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def values(array: Any) -> np.ndarray:
    """A trace's x or y: plotly sends numbers as base64 typed arrays."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).astype(float)
    return np.asarray(array, dtype=float)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def run_page(run_id: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=TIMEOUT).run()
    at.query_params["run"] = run_id
    at.switch_page(str(page_path("run"))).run()
    no_exception(at)
    return at


def compare_page(store: Store, ids: list[str]) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / "compare.py"), default_timeout=TIMEOUT)
    at.session_state["compare_runs"] = ids
    at.run()
    no_exception(at)
    return at


def test_compare_with_three_tasks_draws_no_chart_that_mixes_tasks(store: Store) -> None:
    runs = [seed_run(store, task, f"{task[:4]}-{i}", seed=i)
            for task in ("classification", "language_model", "translation") for i in range(2)]
    task_of = {r.name: r.task for r in runs}
    at = compare_page(store, [r.id for r in runs])
    curves = {key: spec for key, spec in specs(at).items() if key.startswith("compare_curves")}
    assert len(curves) == 3  # one per task
    for key, spec in curves.items():
        drawn = {trace["legendgroup"] for trace in spec["data"]}
        assert drawn, key
        assert len({task_of[name] for name in drawn}) == 1, f"{key} mixes {sorted(drawn)}"
    # Every run is drawn somewhere; each task's chart holds both of its runs.
    assert {g for spec in curves.values() for g in (t["legendgroup"] for t in spec["data"])} == set(task_of)
    assert any("Each task has its own charts and table" in w.value for w in at.warning)
    # Sections in words, the newest run's task first.
    assert [s.value for s in at.subheader if "runs)" in s.value] == \
        ["Translation (2 runs)", "Language model (2 runs)", "Classification (2 runs)"]

    # One table per task, its headline metric first; no column of another task.
    tables = {frozenset(f.value.index): f.value for f in at.dataframe}
    for task, first in (("classification", "Accuracy"), ("language_model", "Perplexity"), ("translation", "BLEU")):
        names = frozenset(r.name for r in runs if r.task == task)
        table = tables[names]
        assert table.columns[0] == first, list(table.columns)
        own = {m.label for m in task_metrics(task)}
        assert set(table.columns) <= own | {f"{label} (held-out)" for label in own}, list(table.columns)
        assert len(table.columns) <= 6  # the headline metrics: they fit the page
    assert "BLEU" not in tables[frozenset(r.name for r in runs if r.task == "classification")].columns

    # The rest of a classifier's metrics on request, still after its headline ones: one row a
    # metric, the runs as columns, so a dozen metrics fit the page's width.
    at.toggle(key="compare_every.classification").set_value(True).run()
    no_exception(at)
    clf = next(f.value for f in at.dataframe if "Precision (binary)" in f.value.index)
    assert list(clf.index[:2]) == ["Accuracy", "F1 (macro)"] and len(clf.index) > 6 and len(clf.columns) == 2


def test_compare_smoothing_and_log_scale_change_what_is_drawn(store: Store) -> None:
    runs = [seed_run(store, "classification", f"clf-{i}", seed=i) for i in range(2)]
    at = compare_page(store, [r.id for r in runs])
    before = specs(at)["compare_curves.classification"]
    lines = [t for t in before["data"] if not t["name"].endswith(RAW_SUFFIX)]
    raw_y = {t["name"]: values(t["y"]) for t in lines}
    assert not any(t["name"].endswith(RAW_SUFFIX) for t in before["data"])  # off: the lines alone

    at.slider(key="compare_view.smoothing").set_value(0.8).run()
    no_exception(at)
    after = specs(at)["compare_curves.classification"]
    # Each run's lines in one legend group, toggled as a whole by a click on its entry.
    assert all(t["legendgroup"] == t["name"].split(" · ")[0] for t in after["data"])
    assert after["layout"]["legend"]["groupclick"] == "togglegroup"
    by_name = {t["name"]: t for t in after["data"]}
    for name, y in raw_y.items():
        assert values(by_name[name]["y"]) == pytest.approx(smooth(y, 0.8))  # smoothed...
        assert values(by_name[name + RAW_SUFFIX]["y"]) == pytest.approx(y)  # ...over the raw values
        assert 0 < by_name[name + RAW_SUFFIX]["opacity"] < 1
    assert "type" not in after["layout"].get("yaxis", {}) or after["layout"]["yaxis"]["type"] != "log"

    at.toggle(key="compare_view.log_y").set_value(True).run()
    no_exception(at)
    assert specs(at)["compare_curves.classification"]["layout"]["yaxis"]["type"] == "log"


def test_run_page_smoothing_and_log_scale(store: Store) -> None:
    run = seed_run(store, "classification", "clf")
    at = run_page(run.id)
    loss = specs(at)["run.chart.loss"]
    [train] = [t for t in loss["data"] if t["name"] == "clf · train"]
    y = values(train["y"])
    at.slider(key="run.curves.smoothing").set_value(0.6).run()
    at.toggle(key="run.curves.log_y").set_value(True).run()
    no_exception(at)
    charts = specs(at)
    [smoothed] = [t for t in charts["run.chart.loss"]["data"] if t["name"] == "clf · train"]
    assert values(smoothed["y"]) == pytest.approx(smooth(y, 0.6))
    # Log scale on the loss-like curves only: accuracy (0-1) and the schedule stay linear.
    log = {key for key, chart in charts.items() if chart["layout"]["yaxis"].get("type") == "log"}
    assert log == {"run.chart.loss"}, sorted(charts)
    [lr] = [t for t in charts["run.chart.lr"]["data"] if t["name"] == "clf · train"]
    assert values(lr["y"]) == pytest.approx(1e-3)  # the schedule is never smoothed


@pytest.mark.parametrize("task", ["summarisation", "translation"])
def test_run_page_shows_samples_in_a_table_that_wraps(store: Store, task: str) -> None:
    run = seed_run(store, task, f"{task}-run")
    at = run_page(run.id)
    # A static table (its cells wrap), not a grid that cuts each text to one line.
    [table] = [t.value for t in at.table if "hypothesis" in t.value.columns]
    assert list(table.columns) == ["source", "reference", "hypothesis"]
    assert table["hypothesis"].tolist() == [s["hypothesis"] for s in run.summary["details"]["translations"]]
    assert not any("hypothesis" in f.value.columns for f in at.dataframe)
