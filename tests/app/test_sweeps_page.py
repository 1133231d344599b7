"""Sweeps page (Streamlit AppTest): empty store, defining a sweep (grid size, invalid range,
budget), widgets that match the sweep-setting declarations and the metric catalog, watching and
analysing a finished sweep, plus the figure and range helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState
from streamlit.testing.v1 import AppTest

from app.components.sweep_charts import curves_figure, history_figure
from app.components.sweep_form import default_range
from core import sweep as sw
from core.config import default_config, section_params, validate_config
from core.metrics import METRICS, task_metrics
from core.params import Param
from core.registry import TASKS
from core.store import Store
from core.sweep import settings
from core.tasks.catalog import default_metric
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
    sw.run_trials(store, sweep.id)
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
    # The Train form's words for the parameter; the key a sweep file uses is in the help.
    lr = at.checkbox(key=f"{D}.tick.optimizer.lr")
    assert lr.label == "Learning rate" and "`optimizer.lr`" in lr.help
    assert at.number_input(key=f"{D}.range.optimizer.lr.low").label == "Learning rate low"
    at.checkbox(key=f"{D}.tick.model.bidirectional").check().run()
    assert metric_value(at, "Grid size") == "6"  # x {true, false}
    assert metric_value(at, "Expected trials") == "6"
    assert not at.error

    at.number_input(key=f"{D}.range.optimizer.lr.high").set_value(1e-5).run()  # below low
    no_exception(at)
    assert any("optimizer.lr.high" in e.value and "empty range" in e.value for e in at.error)
    at.number_input(key=f"{D}.range.optimizer.lr.high").set_value(50.0).run()  # beyond declared 10
    assert any("optimizer.lr.high" in e.value and "[1e-06, 10]" in e.value for e in at.error)


def test_a_base_config_on_several_processes_is_refused_with_the_clis_line(store: Store) -> None:
    """The page goes through build_spec, as `lmwb sweep create` does: the same one line, and no
    Launch button."""
    at = app().run()
    at.selectbox(key=f"{D}.method").set_value("grid")
    at.checkbox(key=f"{D}.tick.optimizer.lr").check()
    at.number_input(key=f"{D}.classification.training.nproc_per_node").set_value(2)
    at.run()
    no_exception(at)
    assert [e.value for e in at.error] == [
        "training.nproc_per_node = 2: a sweep trains each trial in one process; expected 1"]
    assert not [b for b in at.button if b.key == f"{D}.launch"]
    assert store.list_sweeps() == []


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
    sweep = _tiny_sweep(store)  # all four trials done
    store.update_sweep(sweep.id, status="running")  # as the page last saw it, before it closed
    at = app().run()
    no_exception(at)
    assert at.radio(key=page.VIEW).value == "Watch"
    # The status panel closed the sweep, and the whole page drew itself again to agree.
    assert metric_value(at, "Status") == "completed"
    assert at.selectbox(key=page.PICK).format_func(sweep.id) == f"page-sweep · Grid · {sweep.id}"  # no stale status, the method in words
    assert not [b for b in at.button if "Stop" in str(b.label)]
    assert metric_value(at, "Trials") == "4 / 4"
    table = next(df.value for df in at.dataframe if "Trial" in df.value.columns)
    assert len(table) == 4 and set(table["Trial status"]) == {"complete"}
    # Knobs named as the Train form names them, the objective by its catalogue label, the rest in words
    # (duration_s and step are labelled by their column config).
    objective = METRICS[sw.SweepSpec.from_dict(sweep.spec).metric]
    assert {"Learning rate", "Dropout", f"val {objective.label}", "Run", "Run status"} <= set(table.columns)
    assert not [c for c in table.columns if ("." in c or "_" in c) and c not in ("duration_s",)], list(table.columns)
    assert metric_value(at, f"Best val {objective.label}") is not None
    assert len(at.get("plotly_chart")) >= 2  # history and learning curves

    at.radio(key=page.VIEW).set_value("Analyse").run()
    no_exception(at)
    best = sw.best_trial(store, sweep)
    assert best is not None
    assert any(f"Best trial: {best['trial']}" in s.value for s in at.subheader)
    # The objective as the metric catalogue names and formats it, like the Train and Run pages.
    assert any(f"(val {objective.label} {objective.shown(best['value'])})" in s.value for s in at.subheader)
    assert len(at.get("plotly_chart")) >= 3  # importances / parallel coordinates / slices / contour
    steps = next(p for p in section_params("training") if p.name == "max_steps")
    assert at.number_input(key="sweeps.promote.steps").label == steps.title  # as on the Train form
    submit = next(b for b in at.button if "Start full run" in str(b.label))
    submit.click().run()
    promoted = store.list_runs(tag=f"promoted-from-sweep-{sweep.id}")
    assert len(promoted) == 1 and promoted[0].parent_id == best["run_id"]


def test_every_sweep_setting_widget_has_its_declared_range_and_default() -> None:
    """The Define view's settings are drawn from core/sweep/settings.py: each widget starts
    at the declared default and allows exactly the declared range or choices."""
    at = app().run()
    no_exception(at)
    optional = [p for p in settings.SETTINGS if p.optional and p is not settings.METRIC]
    for param in settings.SETTINGS:
        if param is settings.METRIC:
            continue  # its choices depend on the task: see the next test
        key = f"{D}.{param.name}"
        if param is settings.TRIALS:  # TPE never ends on its own: the page starts with a budget
            assert at.checkbox(key=f"{key}.none").value is False
            assert at.number_input(key=key).value == settings.SUGGESTED_TRIALS
        elif param.optional:
            assert at.checkbox(key=f"{key}.none").value is (param.default is None), param.name
        elif param.choices is not None:
            box = at.selectbox(key=key)
            assert box.value == param.default, param.name
            assert box.options == [box.format_func(c) for c in param.choices], param.name
        elif param.kind in ("int", "float"):
            number = at.number_input(key=key)
            assert (number.min, number.max, number.value) == (param.low, param.high, param.default), param.name
        else:
            assert at.text_input(key=key).value == param.default, param.name
    for param in optional:  # "no limit" off: the number input shows the declared range
        if param is not settings.TRIALS:
            at.checkbox(key=f"{D}.{param.name}.none").uncheck()
    at.run()
    for param in optional:
        number = at.number_input(key=f"{D}.{param.name}")
        assert (number.min, number.max) == (param.low, param.high), param.name
    # A grid's points per numeric range come from their declaration too.
    at.selectbox(key=f"{D}.method").set_value("grid")
    at.checkbox(key=f"{D}.tick.optimizer.lr").check()
    at.run()
    points = at.number_input(key=f"{D}.range.optimizer.lr.points")
    grid = settings.GRID_POINTS
    assert (points.min, points.max, points.value) == (grid.low, grid.high, grid.default)


def test_the_objective_list_of_every_task_is_its_declared_metrics() -> None:
    at = app().run()
    at.selectbox(key=f"{D}.method").set_value("grid")
    at.checkbox(key=f"{D}.tick.optimizer.lr").check()
    for task in TASKS.names():
        at.selectbox(key=f"{D}.task").set_value(task).run()
        no_exception(at)
        assert not at.error, (task, [e.value for e in at.error])
        box = at.selectbox(key=f"{D}.metric.{task}")
        names = [m.name for m in task_metrics(task, objective=True)]
        assert box.options == [box.format_func(n) for n in names], task
        assert box.value == default_metric(task)
        assert metric_value(at, "Expected trials") == "3", task  # the page built a spec
        for name in names:  # and a sweep can be built for each objective
            spec = sw.build_spec(default_config(task), {"optimizer.lr": {"choices": [1e-3, 2e-3]}},
                                 method="grid", metric=name)
            assert (spec.metric, spec.direction) == (name, METRICS[name].optuna_direction)
    spec = sw.build_spec(default_config("translation"), {"optimizer.lr": {"choices": [1e-3]}},
                         method="grid", metric="bleu")
    assert spec.direction == "maximize"


def test_the_page_starts_valid_and_asks_for_a_budget_before_a_search_that_would_never_end() -> None:
    at = app().run()
    at.checkbox(key=f"{D}.tick.optimizer.lr").check().run()  # tpe with the starting budget
    no_exception(at)
    assert not at.info and metric_value(at, "Expected trials") == str(settings.SUGGESTED_TRIALS)
    assert f"{D}.launch" in [b.key for b in at.button]
    at.checkbox(key=f"{D}.trials.none").check().run()  # no trials and no time limit
    assert any("never ends on its own" in i.value for i in at.info)
    assert f"{D}.launch" not in [b.key for b in at.button]
    at.checkbox(key=f"{D}.trials.none").uncheck().run()
    at.number_input(key=f"{D}.trials").set_value(20).run()
    assert metric_value(at, "Expected trials") == "20"
    sweep_file = next(c.value for c in at.code if "space:" in c.value)
    assert yaml.safe_load(sweep_file)["trials"] == 20
    # A grid starts with no trial limit: it runs every point.
    at.selectbox(key=f"{D}.method").set_value("grid").run()
    assert at.checkbox(key=f"{D}.trials.grid.none").value and metric_value(at, "Expected trials") == "3"


def test_a_task_change_resets_the_objective_and_says_so() -> None:
    at = app().run()
    at.checkbox(key=f"{D}.tick.optimizer.lr").check().run()
    at.selectbox(key=f"{D}.metric.classification").set_value("f1_macro").run()
    assert not at.info
    at.selectbox(key=f"{D}.task").set_value("language_model").run()
    no_exception(at)
    own = default_metric("language_model")
    assert at.selectbox(key=f"{D}.metric.language_model").value == own
    assert any("objective starts again" in i.value and METRICS[own].label in i.value for i in at.info)
    at.run()
    assert not any("objective starts again" in i.value for i in at.info)  # said once


def test_figures_and_default_ranges() -> None:
    study = optuna.create_study(direction="maximize")
    for value, curve, state in ((0.6, [0.5, 0.6], TrialState.COMPLETE), (None, [0.4], TrialState.PRUNED),
                                (0.7, [0.6, 0.7], TrialState.COMPLETE)):
        trial = study.ask()
        for step, point in enumerate(curve, start=1):
            trial.report(point, 10 * step)
        study.tell(trial, value, state=state)
    fig = history_figure(study, "accuracy")
    best_line = next(t for t in fig.data if t.name == "best so far")  # the page's words, not Optuna's
    assert fig.layout.yaxis.title.text == "val Accuracy"  # the catalogue's label
    assert list(best_line.x) == [0, 1, 2] and list(best_line.y) == [0.6, 0.6, 0.7]  # best so far
    fig = curves_figure(study, "accuracy")
    assert {t.name for t in fig.data} >= {"trial 0", "trial 1", "trial 2"}
    assert any(t.name == "pruned here" and list(t.x) == [10] for t in fig.data)
    assert history_figure(optuna.create_study(), "accuracy").layout.annotations  # "no trials yet"
    lr = Param("lr", "float", 1e-3, "", low=1e-6, high=10.0, log=True)
    assert default_range(lr) == {"low": 1e-4, "high": 1e-2, "log": True}
    dropout = Param("dropout", "float", 0.2, "", low=0.0, high=0.9)
    assert default_range(dropout) == {"low": 0.0, "high": 0.9, "log": False}
    hidden = Param("hidden", "int", 128, "", low=4, high=4096, log=True)
    assert default_range(hidden) == {"low": 64, "high": 256, "log": True}  # what a CPU trains
    assert default_range(hidden, gpu=True) == {"low": 32, "high": 512, "log": True}
    assert validate_config(default_config("classification"))  # the form's starting point is valid


def test_more_parallel_workers_than_the_machine_trains_at_once_says_they_take_turns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """"Parallel workers: 2" once ran trials one after another in the app without a word: the
    machine's supervisor trains LMWB_MAX_WORKERS runs at once (1 on a CPU machine)."""
    monkeypatch.delenv("LMWB_MAX_WORKERS", raising=False)
    at = app().run()
    workers = f"{D}.{settings.WORKERS.name}"
    assert not [c for c in at.caption if "take turns" in c.value]
    at.number_input(key=workers).set_value(2).run()
    no_exception(at)
    notes = [c.value for c in at.caption if "take turns" in c.value]
    assert notes and "trains 1 run at a time (LMWB_MAX_WORKERS)" in notes[0] and "LMWB_MAX_WORKERS=2" in notes[0]
    monkeypatch.setenv("LMWB_MAX_WORKERS", "2")
    at.run()
    assert not [c for c in at.caption if "take turns" in c.value]
