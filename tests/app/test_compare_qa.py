"""Compare (AppTest) with two question-answering runs: their table shows the reader's F1 and exact
match beside the passage retrieval's recall@1 and recall@5 (the task's headline metrics), with
each run's own values, and MRR among every metric on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.metrics import METRICS, metric_label
from core.store import Store
from tests.seed_runs import seed_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def test_compare_shows_em_f1_and_passage_recall_of_two_qa_runs(store: Store) -> None:
    runs = [seed_run(store, "qa", f"reader-{i}", seed=i) for i in range(2)]
    at = AppTest.from_file(str(REPO / "pages" / "compare.py"), default_timeout=60)
    at.session_state["compare_runs"] = [r.id for r in runs]
    at.run()
    assert not at.exception, [e.value for e in at.exception]

    table = next(f.value for f in at.dataframe if f.value.index.name == "run")
    headline = ("qa_f1", "qa_exact_match", "qa_recall_at_1", "qa_recall_at_5")
    assert [metric_label(n) for n in headline] == list(table.columns[:4]), list(table.columns)
    for run in runs:
        for name in headline:  # each cell is the run's own logged value
            shown = table.loc[run.name, metric_label(name)]  # as the catalogue shows it (percentages)
            assert shown.strip() == METRICS[name].shown(run.summary["val"][name])
    assert metric_label("qa_mrr") not in table.columns

    at.toggle(key="compare_every.qa").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    every = next(f.value for f in at.dataframe if metric_label("qa_mrr") in f.value.index)
    assert {metric_label(n) for n in (*headline, "qa_mrr")} <= set(every.index)
    assert sorted(every.columns) == sorted(r.name for r in runs)  # the runs as columns, newest first
