"""The Run page of a qa run (AppTest): each score's tile reads as the catalogue declares it
(Metric.shown, percentages); the metrics fixed for a run (passage retrieval, BM25's) get a tile
with a tooltip saying so and no chart, while the reader's F1 and exact match are charted."""

from __future__ import annotations

import json

import pytest

from core.metrics import METRICS, task_metrics
from core.store import Store
from tests.app.test_home_train_run import open_page, plotly_charts
from tests.seed_runs import seed_run


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def test_a_qa_run_shows_fixed_metrics_as_tiles_not_charts(store: Store) -> None:
    run = seed_run(store, "qa", "reader")
    at = open_page("run", run=run.id)
    tiles = {m.proto.label: m for m in at.metric}
    scores = [m for m in task_metrics("qa") if m.name != "loss"]
    for declared in scores:
        tile = tiles[f"val {declared.label}"]
        assert tile.value == declared.shown(run.summary["val"][declared.name])
        assert ("Fixed for the run" in tile.proto.help) == declared.fixed, declared.name
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in plotly_charts(at)]
    for declared in scores:
        charted = any(title.endswith(f" {declared.label}") for title in titles)
        assert charted == (not declared.fixed), (declared.name, titles)
    assert {m.name for m in scores if m.fixed} == {"qa_recall_at_1", "qa_recall_at_5", "qa_mrr"}
    assert METRICS["qa_f1"].label in " ".join(titles)
