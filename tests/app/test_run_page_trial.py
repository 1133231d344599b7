"""The Run page as the newcomer trial read it (AppTest and the figures it draws): why a run ended
before its last step and how often it evaluated, in words beside the progress; bounded scores on
a bounded axis; titles clear of plotly's toolbar; a run's colour the same on every page; a race
verdict in words, without nested brackets; charts that keep their place when the verdict comes."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from app.components.charts import TITLE_TOP, color_map, metric_curves_figure
from app.components.race_story import race_answer
from core.callbacks.best import BestScore
from core.callbacks.early_stopping import EarlyStopping
from core.store import Store
from tests.app.test_home_train_run import make_run, open_page, plotly_charts


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def small_run_stopped_early(store: Store) -> Any:
    """What `lmwb train --set data.n_examples=300 --set training.max_steps=300` leaves: 270
    training rows cut the 300 steps to 169 (20 epochs) and the evaluations to every 21 steps;
    early stopping ends it at step 147, its log saying why."""
    run = make_run(store, status="completed", **{"data.n_examples": 300, "training.max_steps": 300})
    store.set_progress(run.id, {"step": 147, "max_steps": 169, "fraction": 147 / 169, "tokens_per_s": 14824.0,
                                "eta_s": 0.0, "elapsed_s": 5.4, "train_loss": 0.0016})
    store.set_summary(run.id, {"step": 147, "metric": "accuracy", "best": {"value": 0.5333, "step": 63},
                               "val": {"loss": 2.66, "accuracy": 0.5333},
                               "data": {"train_examples": 270, "val_examples": 30, "classes": 2}})
    store.log_event(run.id, "info", "completed at step 147; best val accuracy 0.5333 at step 63")
    store.log_event(run.id, "info", EarlyStopping(BestScore("accuracy"), 4).reason)
    return run


def test_a_run_that_stopped_early_says_why_and_how_often_it_evaluated(store: Store) -> None:
    run = small_run_stopped_early(store)
    at = open_page("run", run=run.id)
    captions = [c.value for c in at.caption]
    assert any("Stopped early at step 147 of 169: validation accuracy did not improve for 4 evaluations in a row "
               "(*Early-stopping patience* 4); its best, 0.533, was at step 63." in c for c in captions), captions
    assert any("Evaluates every 21 steps, not every 50 as *Evaluate every (steps)* says" in c for c in captions)
    assert "Data: 270 training rows · 30 validation" in captions  # what it trained on, from its data summary


def test_a_run_that_trained_all_its_steps_says_nothing_of_an_ending(store: Store) -> None:
    run = make_run(store, status="completed")
    store.set_progress(run.id, {"step": 300, "max_steps": 300, "fraction": 1.0})
    at = open_page("run", run=run.id)
    assert not any("Stopped" in c.value or "Evaluates every" in c.value for c in at.caption)


def constant(name: str, value: float) -> pd.DataFrame:
    return pd.DataFrame({"run": "r", "step": [10, 20, 30], "split": "val", "name": name, "value": value,
                         "wall_time": [1, 2, 3]})


@pytest.mark.parametrize("name", ["accuracy", "f1_macro", "roc_auc", "negation_accuracy"])
def test_a_constant_perfect_score_keeps_within_its_bounds(name: str) -> None:
    fig = metric_curves_figure(constant(name, 1.0), name)
    low, high = fig.layout.yaxis.range
    assert 0 <= low < 1.0 and high == 1.0  # plotly's own pads a constant 1.0 to 0-2
    assert fig.data[0].cliponaxis is False  # the points on the top line drawn whole


def test_an_unbounded_metric_keeps_plotly_s_range() -> None:
    assert metric_curves_figure(constant("loss", 2.0), "loss").layout.yaxis.range is None


def test_chart_titles_sit_under_the_toolbar_band() -> None:
    fig = metric_curves_figure(constant("accuracy", 0.8), "accuracy", title="val Accuracy on negations")
    assert fig.layout.title.yref == "paper" and fig.layout.title.yanchor == "bottom" and fig.layout.title.y == 1
    assert fig.layout.margin.t == TITLE_TOP >= 60


def test_a_run_keeps_its_colour_whatever_the_page_s_order() -> None:
    lstm, tf = "lstm-1a2b3c4d", "transformer_encoder-b938a8ed"
    assert color_map([lstm, tf]) == color_map([tf, lstm])
    assert len(set(color_map([lstm, tf]).values())) == 2
    # The Run page draws its race in its own order (the run first); Compare passes color_map of its list.
    frame = pd.concat([constant("loss", 1.0).assign(run=lstm), constant("loss", 2.0).assign(run=tf)])
    run_page = {t.name.split(" · ")[0]: t.line.color for t in metric_curves_figure(frame, "loss").data}
    assert run_page == color_map([tf, lstm])
    many = [f"run-{i}" for i in range(12)]
    assert len(set(color_map(many).values())) == 12  # never two alike while the palette lasts


def test_the_race_verdict_names_entrants_in_words_without_nested_brackets() -> None:
    frame = pd.DataFrame([{"run": run, "step": step, "split": "val", "name": "negation_accuracy", "value": v}
                          for run, points in {"lstm-a": [(200, 0.7), (300, 0.82)],
                                              "transformer_encoder-b938a8ed": [(200, 0.7), (300, 0.755)]}.items()
                          for step, v in points])
    runs = [SimpleNamespace(name="lstm-a", arch="lstm", status="completed"),
            SimpleNamespace(name="transformer_encoder-b938a8ed", arch="transformer_encoder", status="completed")]
    answer = race_answer(frame, runs)
    assert answer == ("First to 80% accuracy on negations: **LSTM** at step 300. Transformer encoder never "
                      "reached it: it completed with a best of 76%.")
    # Two entrants of one architecture are told apart by their names.
    twins = [SimpleNamespace(name="lstm-a", arch="lstm", status="completed"),
             SimpleNamespace(name="lstm-b", arch="lstm", status="running")]
    answer = race_answer(frame.replace({"transformer_encoder-b938a8ed": "lstm-b"}), twins)
    assert answer == "First to 80% accuracy on negations: **lstm-a** at step 300. lstm-b has not reached it yet."


def chart_paths(at: Any) -> dict[str, tuple[int, ...]]:
    """Each chart's title -> its place in the page's element tree (what the browser matches on)."""
    found: dict[str, tuple[int, ...]] = {}

    def walk(node: Any, path: tuple[int, ...]) -> None:
        for index, child in getattr(node, "children", {}).items():
            if getattr(child, "type", "") == "plotly_chart":
                spec = json.loads(child.proto.spec)
                title = spec.get("layout", {}).get("title", {})
                found[title.get("text", "") if isinstance(title, dict) else str(title)] = (*path, index)
            walk(child, (*path, index))

    walk(at._tree, ())
    return found


def test_race_charts_keep_their_place_when_the_verdict_appears(store: Store) -> None:
    runs = [make_run(store, "classification", status="running", **{"model.name": a}) for a in ("lstm", "gru")]
    for r in runs:
        store.set_tags(r.id, ["race-abc123"])
    at = open_page("run", run=runs[0].id)
    before = chart_paths(at)
    store.log_metrics(runs[1].id, [(50, "val", "negation_accuracy", 0.85, 2.0)])
    at.run()
    assert any("First to 80%" in m.value for m in at.markdown)
    after = chart_paths(at)
    assert before["Loss"] == after["Loss"] and before["Learning rate"] == after["Learning rate"]
    assert plotly_charts(at)
