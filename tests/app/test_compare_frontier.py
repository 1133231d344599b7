"""Compare's Frontier view through AppTest (issue 27): two tiny trained classifiers, the first
quantised to int8 and timed by `lmwb eval --speed`'s own code, the second distilled from the first
and not yet timed. The view offers the command and a button for the second; once measured, it
shows all three models, marks the frontier as core.metrics.frontier computes it at the batch size
chosen, and links the student to its teacher. `lmwb frontier` prints the same marks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.cli.main import main as lmwb
from core.config import default_config, validate_config
from core.distill.teacher import teacher_ref
from core.metrics.frontier import measure_command, on_frontier, speed_points
from core.runs import create_run, execute_run
from core.store import Run, Store
from core.variants import SUMMARY_KEY, make_variant, speed_table
from tests.app.test_home_train_run import open_page
from tests.conftest import trained_tiny_classifier

KEY = "compare.frontier"


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def student_of(store: Store, teacher: Run) -> Run:
    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["task"].update(teacher=teacher.id)
    raw["training"].update(max_steps=6, eval_every=6, batch_size=8, device="cpu")
    run = create_run(store, validate_config(raw), name="student")
    execute_run(store, run.id)
    return store.get_run(run.id)


def expected_marks(store: Store, runs: list[Run], batch: int) -> dict[tuple[str, str], bool]:
    """(run name, model) -> on the frontier, as the pure function says over the stored figures."""
    points = [p for r in (store.get_run(r.id) for r in runs)
              for p in speed_points(r.id, r.name, r.summary.get(SUMMARY_KEY), teacher_ref(r.config))]
    return {(p.run, p.variant): f for p, f in zip(points, on_frontier(points, batch), strict=True)}


def frontier_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "on the frontier" in d.value.columns)


def shown_marks(at: AppTest) -> dict[tuple[str, str], bool]:
    table = frontier_table(at)
    return {(r["run"], r["model"]): r["on the frontier"] == "✓" for r in table.to_dict("records")}


@pytest.mark.usefixtures("one_torch_thread")
def test_the_frontier_view_measures_marks_and_links_like_the_pure_function(
        store: Store, workbench_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    teacher = trained_tiny_classifier(store, "teacher")
    make_variant(store, teacher.id, "int8")
    speed_table(store, teacher.id, seconds=0.05)  # what `lmwb eval RUN --speed` runs
    student = student_of(store, teacher)
    runs = [teacher, student]

    at = open_page("compare", runs=f"{teacher.id},{student.id}")
    assert shown_marks(at) == expected_marks(store, runs, 32)
    assert set(shown_marks(at)) == {("teacher", "fp32"), ("teacher", "int8")}
    said = " ".join(m.value for m in at.markdown)
    assert f"student: never measured. In a terminal: `{measure_command(student.id)}`" in said, said
    assert measure_command(student.id) == f"lmwb eval {student.id} --speed"

    at.button(key=f"{KEY}.measure.{student.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Measured student: 1 model on ") for s in at.success), \
        [e.value for e in at.error]
    assert store.get_run(student.id).summary[SUMMARY_KEY]["threads"] == 1  # measured on the page's one thread
    for batch in (32, 1):
        at.radio(key=f"{KEY}.batch").set_value(batch).run()
        marks = expected_marks(store, runs, batch)
        assert set(marks) == {("teacher", "fp32"), ("teacher", "int8"), ("student", "fp32")}
        assert shown_marks(at) == marks and any(marks.values())
        # The chart's frontier line runs through exactly the marked points (none for one point).
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        chart = next(c for c in charts if any(t.get("legendgroup") == "shapes" for t in c["data"]))
        lines = [t for t in chart["data"] if t.get("name") == "Pareto frontier"]
        table = frontier_table(at)
        front = table[table["on the frontier"] == "✓"]
        speeds = front[f"examples/s at batch {batch}"].astype(float).round()
        if len(front) > 1:
            assert len(lines) == 1 and sorted(_numbers(lines[0]["x"])) == sorted(speeds)
        else:
            assert not lines
    assert not [m for m in at.markdown if "never measured" in m.value]
    assert any(c.value.endswith("student was distilled from teacher.") for c in at.caption)
    arrows = [a for a in chart["layout"]["annotations"] if a.get("showarrow")]
    assert len(arrows) == 1  # teacher -> student

    # The CLI prints the same table: the starred lines are the frontier at that batch.
    assert lmwb(["--home", str(workbench_home), "frontier", teacher.id, student.id, "--batch", "1"]) == 0
    printed = capsys.readouterr().out
    starred = {tuple(line[1:].split()[:2]) for line in printed.splitlines() if line.startswith("* ")}
    assert starred == {k for k, on in expected_marks(store, runs, 1).items() if on}, printed
    assert "student was distilled from teacher" in printed


def _numbers(values: object) -> list[float]:
    """A trace's numbers, which plotly may write as base64 ``bdata``."""
    import base64

    import numpy as np

    if isinstance(values, dict):
        values = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return [round(float(v)) for v in values]  # type: ignore[union-attr]


def frontier_chart(at: AppTest) -> dict:
    """The frontier's figure: the one with the marker-shape legend."""
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(c for c in charts if any(t.get("legendgroup") == "shapes" for t in c["data"]))


def _stored(load: float, rows: list[tuple[str, float, float]]) -> dict:
    """A speed table as `lmwb eval --speed` stores it, timed at ``load``: (model, accuracy, ex/s)."""
    return {"processor": "Test CPU", "threads": 1, "load_1min": load, "data": "validation split",
            "measured_at": 1.0,
            "rows": [{"variant": v, "metric": "accuracy", "value": x, "examples_per_s_b1": s, "examples_per_s_b32": s,
                      "bytes": 1000, "params": 50} for v, x, s in rows]}


def test_loads_far_apart_are_warned_and_re_measure_all_times_every_run_again(
        store: Store, workbench_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = trained_tiny_classifier(store, "alpha"), trained_tiny_classifier(store, "beta")
    # alpha's own weights beat both of beta's models: a frontier of one point, no line to draw.
    store.set_summary(a.id, {SUMMARY_KEY: _stored(0.4, [("fp32", 0.9, 900.0)])})
    store.set_summary(b.id, {SUMMARY_KEY: _stored(2.6, [("fp32", 0.8, 500.0), ("int8", 0.7, 800.0)])})
    at = open_page("compare", runs=f"{a.id},{b.id}")
    assert any("measured at loads from 0.40 to 2.60" in w.value for w in at.warning), [w.value for w in at.warning]
    chart = frontier_chart(at)
    names = [t.get("name") for t in chart["data"]]
    assert "Pareto frontier" not in names, names  # one point on it: no line, no legend entry
    shapes = {t["name"]: t["marker"]["symbol"] for t in chart["data"] if t.get("legendgroup") == "shapes"}
    assert shapes == {"fp32 (the run's own weights): circle": "circle", "int8: diamond": "diamond"}, shapes
    # The terminal says the same, and --measure --all times them again (--all alone is refused).
    assert lmwb(["--home", str(workbench_home), "frontier", a.id, b.id]) == 0
    assert "measured at loads from 0.40 to 2.60" in capsys.readouterr().out
    assert lmwb(["--home", str(workbench_home), "frontier", a.id, "--all"]) != 0
    assert "use it with --measure" in capsys.readouterr().err

    at.button(key=f"{KEY}.measure_all").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith(("Measured alpha: 1 model; beta: 1 model on ", "Measured beta: 1 model; alpha: 1 model on ")) for s in at.success), \
        [e.value for e in [*at.success, *at.error]]
    for run in (a, b):  # real figures now, timed one after the other on this machine
        table = store.get_run(run.id).summary[SUMMARY_KEY]
        assert table["processor"] != "Test CPU" and table["measured_at"] > 1.0 and table["threads"] == 1
    # Two points now (one per run): drawn as a line when both are on the frontier, never a lone entry.
    chart = frontier_chart(at)
    shapes = {t["name"] for t in chart["data"] if t.get("legendgroup") == "shapes"}
    assert shapes == {"fp32 (the run's own weights): circle"}
