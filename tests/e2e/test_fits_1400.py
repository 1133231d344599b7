"""Every screen fits 1400 px, in a real browser: on the Run page of a summarisation run, Compare
with runs of four tasks, the Sweeps page, the Runs page and the Explain page's examples of a
small classifier, no widget label, metric label, tab or table header
is cut or shortened with an ellipsis, and no table needs scrolling sideways. On Compare, a click
on a run's legend entry hides all of that run's lines, and they stay hidden when the chart is
redrawn (another smoothing).

The runs are written straight into the store (tests/seed_runs.py), none trained but one tiny
classifier (the Explain page reads its checkpoint), and the server has no workers: the pages
only read.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from core.config import default_config, validate_config
from core.runs import create_run
from core.store import Run, Store
from tests.e2e.conftest import (
    ARTIFACTS,
    Server,
    act,
    launch_browser,
    playwright_missing,
    start_server,
    stop_server,
    wait_idle,
)
from tests.seed_runs import seed_run
from tests.trained_runs import execute_on_one_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

WIDTH = 1400
# What a person reads to find their way: if one of these is cut, the page does not fit.
LABELS = ", ".join((
    '[data-testid="stWidgetLabel"]', '[data-testid="stMetricLabel"]', '[data-testid="stTab"]',
    '[data-testid="stTable"] th', '[data-testid="stRadio"] label', '[data-testid="stCheckbox"] label',
    '[data-testid="stExpander"] summary', '[data-testid="stHeading"]', '[data-testid="stButton"] button',
))
# Every label cut (its text wider than a box that hides the rest) or ending in an ellipsis, and
# every table wider than its frame: a grid's scroller (st.dataframe paints on a canvas, over a
# scrolling div as wide as its columns) or a static table's frame.
PROBLEMS_JS = """(labels) => {
    const main = document.querySelector('[data-testid="stMain"]');
    const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
    const text = el => (el.innerText || el.textContent || '').trim();
    const problems = [];
    const seen = new Set();  // a label inside two of the selectors is reported once
    for (const box of main.querySelectorAll(labels)) {
        if (!shown(box)) continue;
        for (const el of [box, ...box.querySelectorAll('*')]) {
            if (!shown(el) || !text(el) || seen.has(el)) continue;
            const style = getComputedStyle(el);
            const hides = style.overflowX !== 'visible' || style.textOverflow === 'ellipsis';
            if (hides && el.scrollWidth > el.clientWidth + 1) {
                problems.push(`cut: "${text(el)}" (${el.scrollWidth} px in ${el.clientWidth} px)`);
                box.querySelectorAll('*').forEach(child => seen.add(child));
                seen.add(el);
                break;
            }
            if (el.children.length === 0 && /(\\u2026|\\.\\.\\.)$/.test(text(el))) {
                problems.push(`shortened: "${text(el)}"`);
                seen.add(el);
                break;
            }
        }
    }
    for (const el of main.querySelectorAll('.dvn-scroller, [data-testid="stTable"]')) {
        if (shown(el) && el.scrollWidth > el.clientWidth + 1) {
            const frame = el.closest('[data-testid="stDataFrame"], [data-testid="stTable"]');
            const head = frame ? text(frame).split('\\n')[0].slice(0, 60) : '';
            problems.push(`scrolls sideways: ${el.scrollWidth} px in ${el.clientWidth} px (${head})`);
        }
    }
    return problems;
}"""
# The traces of the chart titled ``title``: [legend group, visible, first y values].
TRACES_JS = """(title) => {
    const gd = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .find(g => (((g._fullLayout || {}).title || {}).text || '').replace(/<[^>]*>/g, '') === title);
    return gd ? gd._fullData.map(t => [t.legendgroup, t.visible, Array.from(t.y || []).slice(0, 5)]) : null;
}"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Run]]]:
    """A server over a store holding finished runs of four tasks (two classifiers)."""
    reason = playwright_missing()
    if reason:
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("lmwb-fits-home")
    store = Store(home=home)
    try:
        runs = {name: seed_run(store, task, name, seed=i) for i, (task, name) in enumerate((
            ("classification", "clf-a"), ("classification", "clf-b"), ("language_model", "lm"),
            ("translation", "mt"), ("summarisation", "summ")))}
        runs["tiny"] = train_tiny_classifier(store)
    finally:
        store.close()
    server = start_server(home, env={"LMWB_NO_WORKERS": "1"})
    try:
        yield server, runs
    finally:
        stop_server(server)


def train_tiny_classifier(store: Store) -> Run:
    """A few steps of a small bag-of-embeddings classifier on the built-in set (a second or two)."""
    raw = default_config("classification")
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["data"] = {"name": raw["data"]["name"], "n_examples": 200}
    raw["training"].update(max_steps=4, eval_every=4, batch_size=8, device="cpu")
    run = create_run(store, validate_config(raw), name="tiny-classifier", status="running")
    execute_on_one_thread(store, run.id)
    return store.get_run(run.id)


@pytest.fixture(scope="module")
def browser_page(seeded: tuple[Server, dict[str, Run]]) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            tab = browser.new_context(viewport={"width": WIDTH, "height": 1000}).new_page()
            tab.set_default_timeout(60_000)
            yield tab
        finally:
            browser.close()


def problems(page: Page, name: str) -> list[str]:
    wait_idle(page)
    time.sleep(0.5)  # grids size their columns just after they first paint
    found = page.evaluate(PROBLEMS_JS, LABELS)
    if found:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"FAILED-fits-{name}.png"))
    return found


def test_run_page_of_a_summarisation_run_fits(browser_page: Page, seeded: tuple[Server, dict[str, Run]]) -> None:
    server, runs = seeded
    page = browser_page
    page.goto(f"{server.url}/run?run={runs['summ'].id}")
    table = page.get_by_test_id("stTable")
    table.wait_for()
    page.get_by_text("Loss", exact=True).first.wait_for()
    assert problems(page, "run") == []
    # Source, reference and the model's output side by side, each wrapped within the page.
    headers = table.locator("th").all_inner_texts()
    assert [h.strip() for h in headers] == ["source", "reference", "hypothesis"]
    right = page.get_by_test_id("stMain").bounding_box()
    box = table.locator("th").last.bounding_box()
    assert right is not None and box is not None and box["x"] + box["width"] <= right["x"] + right["width"]


def test_compare_with_four_tasks_fits_and_a_legend_click_hides_a_run(
    browser_page: Page, seeded: tuple[Server, dict[str, Run]],
) -> None:
    server, runs = seeded
    page = browser_page
    page.goto(f"{server.url}/compare?runs=" + ",".join(r.id for r in runs.values()))
    for task in ("Classification", "Language model", "Translation", "Summarisation"):
        page.get_by_role("heading", name=task, exact=False).first.wait_for()
    page.get_by_test_id("stDataFrame").nth(3).wait_for()
    assert problems(page, "compare") == []

    # One click on clf-a's entry hides its lines; the page then redraws with clf-a hidden.
    title = "Classification: Loss"
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text=title))
    chart.scroll_into_view_if_needed()
    page.wait_for_function(f"() => ({TRACES_JS})({title!r}) !== null")
    entry = chart.locator(".legend .traces", has_text="clf-a · train").locator(".legendtoggle")
    for _ in range(3):  # on a loaded machine a late rerun can redraw the chart under the first click
        act(page, entry.click)
        if only_hidden(page, title) == "clf-a":
            break
        wait_idle(page)
    assert only_hidden(page, title) == "clf-a"

    # Smoothing redraws every chart with new values (a new chart each time): clf-a stays hidden,
    # its faint raw lines too.
    before = page.evaluate(TRACES_JS, title)
    slider = page.get_by_test_id("stSlider").get_by_role("slider")
    for _ in range(3):
        act(page, lambda: slider.press("ArrowRight"))
    after = page.evaluate(TRACES_JS, title)
    assert len(after) == 2 * len(before)  # each line over its raw values
    assert only_hidden(page, title) == "clf-a"
    # and a second click on its greyed entry shows it again
    entry = chart.locator(".legend .traces", has_text="clf-a · train").locator(".legendtoggle")
    act(page, entry.click)
    assert only_hidden(page, title) == ""


def only_hidden(page: Page, title: str) -> str:
    """The one run whose lines are all hidden on the chart ``title`` ("" for none), checking no
    other run has a hidden line."""
    traces = page.evaluate(TRACES_JS, title)
    hidden = {run for run, visible, _ in traces if visible == "legendonly"}
    shown = {run for run, visible, _ in traces if visible is True}
    assert not hidden & shown and len(hidden) <= 1, traces
    return next(iter(hidden), "")


def test_sweeps_page_fits(browser_page: Page, seeded: tuple[Server, dict[str, Run]]) -> None:
    server, _ = seeded
    page = browser_page
    page.goto(f"{server.url}/sweeps")
    page.get_by_text("Parameters to sweep").wait_for()
    assert problems(page, "sweeps") == []


def test_runs_page_fits(browser_page: Page, seeded: tuple[Server, dict[str, Run]]) -> None:
    """The first columns tell runs apart (name, status, best and its metric, task, architecture,
    created), each wide enough for its values; the rest wait behind "More columns"."""
    server, _ = seeded
    page = browser_page
    page.goto(f"{server.url}/runs")
    page.get_by_test_id("stDataFrame").first.wait_for()
    page.get_by_text("More columns").wait_for()
    assert problems(page, "runs") == []


def test_explain_examples_fit(browser_page: Page, seeded: tuple[Server, dict[str, Run]]) -> None:
    """The examples table fits its frame: the text column takes a medium width (a row click shows
    it whole), so the scores and the confidence (bar and percentage) stay on screen."""
    server, runs = seeded
    page = browser_page
    page.goto(f"{server.url}/explain?run={runs['tiny'].id}&view=examples")
    page.get_by_text("Confusion matrix").wait_for()
    page.get_by_test_id("stDataFrame").nth(2).wait_for()
    assert problems(page, "explain") == []
