"""The first ten minutes (issue 26): the default classifier and each Home demo reach, on the real
built-in data, the figure they state within their steps.

Each run trains its real config (the task's defaults, the demo's configs) through the store as a
worker would, on one torch thread, and stops at the first evaluation that meets its goal: the
promise is "within its steps", so the steps after that add nothing to the check. A run that ends
its steps short of the goal fails with its curve. No timing is asserted.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.callbacks.base import Callback
from core.config import RunConfig, default_config, validate_config
from core.metrics import METRICS, metric_label
from core.run_guard import StopEvent
from core.runs import create_run, execute_run
from core.store import Store
from pages.home import DEMOS, Demo, Goal

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


class StopAtGoal(Callback):
    """Requests a stop at the first evaluation whose ``goal.metric`` is at least as good as
    ``goal.value``; keeps every value of the metric it saw."""

    def __init__(self, goal: Goal, stop: StopEvent) -> None:
        self.goal, self.stop = goal, stop
        self.curve: list[tuple[int, float]] = []
        self.reached: int | None = None

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        value = metrics.get(self.goal.metric)
        if value is None:
            return
        self.curve.append((step, value))
        if self.reached is None and not METRICS[self.goal.metric].better(self.goal.value, value):
            self.reached = step
            self.stop.request("the goal is reached")


def train_to(store: Store, config: RunConfig, goal: Goal) -> tuple[str, StopAtGoal]:
    """Train ``config`` as a stored run until ``goal`` is met or its steps are spent."""
    run = create_run(store, config, name=f"{config.arch}-{goal.metric}")
    stop = StopEvent()
    watch = StopAtGoal(goal, stop)
    execute_run(store, run.id, callbacks=[watch], stop_event=stop)
    steps = config["training"]["max_steps"]
    assert watch.reached is not None and watch.reached <= steps, (
        f"{config.arch}: {goal.metric} never reached {goal.value:g} in {steps} steps: {watch.curve}")
    return run.id, watch


def demo(title: str) -> Demo:
    [found] = [d for d in DEMOS if d.title.startswith(title)]
    return found


def test_each_demo_states_its_goals() -> None:
    """The figure a blurb promises is the goal checked below, one per run."""
    for d in DEMOS:
        assert len(d.goals) == len(d.runs), d.title
        for goal in d.goals:
            assert goal.metric in METRICS and f"{goal.value:g}" in d.blurb, (d.title, goal)


def test_the_default_classifier_and_the_race_learn_within_their_steps(store: Store) -> None:
    """The default classifier passes 0.85 validation accuracy on the built-in reviews within
    its default steps; it is the race's LSTM (one training checks both), and the race's
    transformer, with its own tuned settings, learns too."""
    race = demo("LSTM vs Transformer")
    lstm, transformer = race.configs()
    default = validate_config(default_config("classification"))
    assert lstm.to_dict() == default.to_dict()
    assert race.goals[0] == Goal("accuracy", 0.85)
    # A fair race: same data and budget, each architecture with its own learning rate.
    for section in ("data", "training"):
        assert lstm[section] == transformer[section]
    assert lstm["optimizer"]["lr"] != transformer["optimizer"]["lr"]
    for config, goal in zip((lstm, transformer), race.goals, strict=True):
        _, watch = train_to(store, config, goal)
        assert watch.curve[0][1] < goal.value  # it learned: the first evaluation is short of it


@pytest.mark.parametrize("title", ["Character-level GPT", "Translation", "Arithmetic"])
def test_a_home_demo_reaches_its_stated_figure_within_its_steps(store: Store, title: str) -> None:
    d = demo(title)
    [config], [goal] = d.configs(), d.goals
    run_id, watch = train_to(store, config, goal)
    assert METRICS[goal.metric].better(goal.value, watch.curve[0][1]), watch.curve  # from short of it
    if goal.metric == "sums_right":
        # The Run page charts the share of sums right like any validation metric, and it rises.
        at = AppTest.from_file(str(MAIN), default_timeout=30).run()
        at.query_params.update(run=run_id)
        at.switch_page(str(page_path("run"))).run()
        assert not at.exception, [e.value for e in at.exception]
        title_text = f"val {metric_label('sums_right')}"
        [chart] = [c for c in at.get("plotly_chart")
                   if json.loads(c.proto.spec)["layout"]["title"]["text"] == title_text]
        [trace] = json.loads(chart.proto.spec)["data"]
        y = trace["y"]  # plotly sends arrays as base64 typed arrays
        drawn = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]) if isinstance(y, dict) else y
        assert list(drawn) == pytest.approx([v for _, v in watch.curve])
        assert drawn[-1] > drawn[0] + 0.5
