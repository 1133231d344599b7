"""The frontier on Compare in a real browser (issue 27): a quantised and timed classifier and one
not yet timed; the *Measure* button times the second, and the chart Chromium draws then holds all
three models with the frontier line through exactly the ones core.metrics.frontier puts on it.
Screenshot in ``test-artifacts/e2e/``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.config import default_config, validate_config
from core.distill.teacher import teacher_ref
from core.metrics.frontier import on_frontier, speed_points
from core.runs import create_run
from core.store import Store
from core.variants import SUMMARY_KEY, make_variant, speed_table
from tests.e2e.conftest import ARTIFACTS, Server, act, wait_idle
from tests.trained_runs import execute_on_one_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# What the browser drew: each trace's name and its points (plotly keeps them on the graph div), but
# the legend's marker-shape entries (no points).
DRAWN_JS = """() => {
    const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .find(g => (g.data || []).some(t => t.legendgroup === 'shapes'));
    return gd ? gd.data.filter(t => t.legendgroup !== 'shapes')
        .map(t => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)})) : null;
}"""


def _train(store: Store, name: str, width: int) -> str:
    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=width, hidden_size=width)
    raw["training"].update(max_steps=10, eval_every=10, device="cpu")
    # Created as running, so the server's supervisor never hands it to a worker as well.
    run = create_run(store, validate_config(raw), name=name, status="running")
    execute_on_one_thread(store, run.id)
    return run.id


def test_compare_measures_a_run_and_draws_the_frontier(app_server: Server, page: Any) -> None:
    store = Store(home=app_server.home)
    timed, untimed = _train(store, "timed", 8), _train(store, "untimed", 32)
    make_variant(store, timed, "int8")
    speed_table(store, timed, seconds=0.05)
    page.goto(f"{app_server.url}/compare?runs={timed},{untimed}")
    page.get_by_text("Accuracy, speed and size").wait_for()
    wait_idle(page)
    page.get_by_text(f"lmwb eval {untimed} --speed").wait_for()
    act(page, lambda: page.get_by_role("button", name="Measure", exact=True).click())
    page.get_by_text(re.compile(r"Measured untimed: 1 model on ")).wait_for(timeout=60_000)
    wait_idle(page)

    runs = [store.get_run(i) for i in (timed, untimed)]
    points = [p for r in runs for p in speed_points(r.id, r.name, r.summary[SUMMARY_KEY], teacher_ref(r.config))]
    flags = on_frontier(points, 32)  # the batch the view opens on
    front = sorted((round(p.speed(32), 3), p.value) for p, f in zip(points, flags, strict=True) if f)
    # The frontier line (and its legend entry) only where it joins two points or more.
    names = {"timed", "untimed"} | ({"Pareto frontier"} if len(front) > 1 else set())
    page.wait_for_function(f"() => {{ const d = ({DRAWN_JS})(); return d && d.length === {len(names)}; }}")
    drawn = {t["name"]: t for t in page.evaluate(DRAWN_JS)}
    assert set(drawn) == names
    assert len(drawn["timed"]["x"]) == 2 and len(drawn["untimed"]["x"]) == 1
    if len(front) > 1:
        line = drawn["Pareto frontier"]
        assert sorted((round(x, 3), y) for x, y in zip(line["x"], line["y"], strict=True)) == front
    assert not page.get_by_text("never measured").count()
    page.locator(".js-plotly-plot", has_text="marker shape").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "compare-frontier.png"))
