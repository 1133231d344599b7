"""The main flow in a real browser: Home -> Train (Quick) -> live Run chart -> a second run ->
Compare both in the metric table -> Explain: the first run's Examples, a wrong prediction
clicked, its salience.

Runs against ``streamlit run app/main.py`` with real worker processes (see conftest.py), so it
also covers the supervisor, the queue and the live fragment. Screenshots go to
``test-artifacts/e2e/`` (git-ignored) for a human look after a CI run.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core import sweep as sw
from core.config import default_config, validate_config
from core.runs import create_run
from core.store import Store
from tests.e2e.conftest import (
    ARTIFACTS,
    LOSS_POINTS_JS,
    Server,
    act,
    arm_rerun_watch,
    click_sidebar_link,
    wait_idle,
    wait_rerun,
)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

RUN_DONE_MS = 120_000  # a Quick run trains in 5-15 s on 2 busy cores; generous for CI
# Steps typed into the form: enough for a live loss curve (a point every 10 steps) and two
# evaluations; the flow checks watching and comparing, not accuracy (Quick's 300: 3x the time).
RUN_STEPS = 100
CHART_MS = 60_000


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_page(page: Page, title: str, heading: str) -> None:
    click_sidebar_link(page, title)
    page.get_by_role("heading", name=heading, exact=True).wait_for()
    wait_idle(page)


def choose_option(page: Page, box: Locator, option: Locator) -> None:
    """Open a selectbox / multiselect (unless its list is open already) and pick ``option``. A
    rerun still arriving on a loaded machine can close the list just opened, before or while the
    option is clicked: open it again and click again."""
    for _ in range(4):
        if not page.get_by_role("listbox").is_visible():
            box.click()
        try:
            option.wait_for(state="visible", timeout=10_000)
            arm_rerun_watch(page)
            option.click(timeout=5_000)
        except Exception:  # playwright's TimeoutError: the list closed (the option left the page)
            wait_idle(page)
            continue
        wait_rerun(page, 30_000)
        return
    raise AssertionError(f"could not pick {option} after opening its list four times")


def remove_chosen(page: Page, keep: str | None = None) -> None:
    """Remove every chosen value of the page's multiselect(s) but ``keep``, one rerun each."""
    while True:
        buttons = page.get_by_role("group", name="Selected values").get_by_role("button").all()
        extra = [b for b in buttons if b.get_attribute("aria-label") != f"Remove {keep}"]
        if not extra:
            return
        act(page, extra[0].click)


def start_quick_run(page: Page, arch: str, name: str) -> str:
    """On the Train page: Quick preset, ``RUN_STEPS`` steps, only ``arch`` (as the picker shows it),
    run name ``name``; Start. Returns the id."""
    quick = page.get_by_role("radio", name=re.compile(r"^Quick"))
    if quick.get_attribute("aria-checked") != "true":
        act(page, quick.click)  # new widget keys: wait, or typing goes to the old widgets
    steps = page.get_by_role("spinbutton", name="Steps", exact=True)
    if steps.input_value() != str(RUN_STEPS):  # the form remembers it for the second run
        steps.fill(str(RUN_STEPS))
        act(page, lambda: steps.press("Enter"))
    # Keep only ``arch`` among the chosen architectures (the form remembers the last choice).
    remove_chosen(page, keep=arch)
    if page.get_by_role("button", name=f"Remove {arch}", exact=True).count() == 0:
        choose_option(page, page.get_by_role("combobox", name="Architecture"),
                      page.get_by_role("option", name=arch, exact=True))
        page.keyboard.press("Escape")
    name_box = page.get_by_role("textbox", name="Run name (optional)")
    name_box.fill(name)
    act(page, lambda: name_box.press("Enter"))  # Streamlit takes the text on Enter or blur
    start = page.get_by_role("button", name="Start", exact=True)
    assert start.is_enabled(), "Start is disabled: the form reports a problem"
    start.click()
    page.wait_for_url(re.compile(r"/run\?run=r[0-9a-f]+"), timeout=30_000)
    run_id = re.search(r"run=(r[0-9a-f]+)", page.url)
    assert run_id, page.url
    page.get_by_role("heading", name=name).wait_for()
    return run_id.group(1)


def wait_completed(page: Page) -> None:
    """Wait for the run's status badge (st.badge: icon ligature + status) to read completed."""
    badge = page.locator(".stMarkdownBadge", has_text=re.compile(r"\bcompleted$"))
    badge.filter(visible=True).first.wait_for(timeout=RUN_DONE_MS)
    wait_idle(page)


def grid_rows(table: Locator, timeout_s: float = 30.0) -> list[list[str]]:
    """The body rows of an st.dataframe as cell texts (index first).

    The grid paints on a canvas; the text lives in its accessible mirror (a hidden
    ``table[role=grid]``), which appears shortly after the first paint.
    """
    read = "el => Array.from(el.querySelectorAll('table[role=grid] tbody tr'), tr => Array.from(tr.cells, c => c.textContent.trim()))"
    deadline = time.monotonic() + timeout_s
    while True:
        rows = table.evaluate(read)
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_train_watch_and_compare(page: Page, app_url: str, app_server: Server) -> None:
    # Home
    page.goto(app_url)
    page.get_by_role("heading", name="LM Workbench", exact=True).wait_for()
    wait_idle(page)
    assert page.get_by_role("heading", name="One-click demos").is_visible()
    shot(page, "01-home")

    # Train a quick LSTM; the Run page opens on it and draws the loss live.
    open_page(page, "Train", "Train")
    first = start_quick_run(page, "LSTM", "e2e-lstm")
    page.wait_for_function(LOSS_POINTS_JS, arg=2, timeout=CHART_MS)
    shot(page, "02-run-live")
    wait_completed(page)
    assert page.get_by_text(f"id {first}").is_visible()
    assert Store(home=app_server.home).get_run(first).config["training"]["max_steps"] == RUN_STEPS  # as typed
    shot(page, "03-run-completed")

    # A second run with another architecture.
    open_page(page, "Train", "Train")
    second = start_quick_run(page, "TextCNN", "e2e-textcnn")
    assert second != first
    wait_completed(page)
    shot(page, "04-run2-completed")

    # Compare: choose both runs explicitly, then the metric table lists them.
    open_page(page, "Compare", "Compare runs")
    picker = page.get_by_role("combobox", name="Runs")
    remove_chosen(page)  # whatever the page preselected
    for run_id in (first, second):
        choose_option(page, picker, page.get_by_role("option", name=re.compile(re.escape(run_id))))
    page.keyboard.press("Escape")
    wait_idle(page)
    for run_id in (first, second):
        assert page.get_by_role("button", name=re.compile(rf"^Remove .*{run_id}")).count() == 1
    page.get_by_role("heading", name="Metrics (validation)").wait_for()
    table = page.get_by_test_id("stDataFrame")
    table.wait_for()
    table.scroll_into_view_if_needed()
    rows = grid_rows(table)
    assert len(rows) == 2, rows
    for name, run_id in (("e2e-lstm", first), ("e2e-textcnn", second)):
        row = next((r for r in rows if r[0] == name), None)  # runs go by their names
        assert row is not None, f"no row for {name} ({run_id}) in {rows}"
        assert 0.0 <= float(row[1]) <= 1.0, f"accuracy of {name}: {row}"  # a real score
    shot(page, "05-compare")

    # Runs: tick three rows, then Compare them in one click.
    third = finished_run(app_server, "e2e-stored")
    open_page(page, "Runs", "Runs")
    table = page.get_by_test_id("stDataFrame").first
    table.wait_for()
    shown = grid_rows(table)
    assert len(shown) == 3 and not any(cell == "None" for row in shown for cell in row), shown  # blanks are blank
    for i in range(3):
        tick_row(page, table, i)
    compare = page.get_by_role("button", name="Compare 3 selected")
    compare.wait_for()
    compare.click()
    page.get_by_role("heading", name="Compare runs", exact=True).wait_for()
    wait_idle(page)
    for run_id in (first, second, third):
        assert page.get_by_role("button", name=re.compile(rf"^Remove .*{run_id}")).count() == 1
    shot(page, "06-runs-to-compare")

    # Explain the LSTM: its Examples, filtered to wrong predictions; click one, see its salience.
    open_page(page, "Explain", "Explain")
    choose_option(page, page.get_by_role("combobox", name="Run"),
                  page.get_by_role("option", name=re.compile(re.escape(first))))
    page.get_by_text(re.compile(r"examples of the validation split")).wait_for()
    wait_idle(page)
    act(page, page.get_by_test_id("stButtonGroup").get_by_text("wrong", exact=True).click)
    examples = page.get_by_test_id("stDataFrame").nth(2)  # after the confusion matrix and the slices
    examples.scroll_into_view_if_needed()
    wrong = grid_rows(examples)
    assert wrong and all(row[4] == "false" for row in wrong), wrong[:3]  # the "correct" column
    box = examples.bounding_box()
    assert box is not None
    # Row 1's selection marker: the grid's first column, one header row (35 px) down.
    act(page, lambda: page.mouse.click(box["x"] + 12, box["y"] + 35 + 17))
    shaded = page.locator(".lmwb-salience")
    shaded.wait_for()
    assert shaded.locator(".lmwb-tok").count() >= 1
    assert page.get_by_text(re.compile(r"^Completeness: the attributions sum to")).is_visible()
    shot(page, "06-explain-salience")


def finished_run(server: Server, name: str) -> str:
    """A completed classification run written straight into the server's store (no training)."""
    store = Store(home=server.home)
    run = create_run(store, validate_config(default_config("classification")), name=name, status="completed")
    store.set_summary(run.id, {"val": {"accuracy": 0.5, "loss": 0.7}, "metric": "accuracy",
                               "best": {"value": 0.5, "step": 10}})
    store.log_metrics(run.id, [(10, "train", "loss", 0.7, 1.0), (10, "val", "accuracy", 0.5, 1.0)])
    return run.id


def tick_row(page: Page, table: Locator, index: int) -> None:
    """Tick row ``index`` of a selectable st.dataframe: its checkbox is drawn on the canvas, in
    the first column (rows are 35 px under a 35 px header)."""
    box = table.bounding_box()
    assert box is not None
    act(page, lambda: page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 * index + 17))


def test_a_finished_sweep_shows_no_stop(page: Page, app_server: Server) -> None:
    """The Watch view notices a sweep that finishes while it is open: status, picker and buttons."""
    store = Store(home=app_server.home)
    raw = default_config("classification")
    raw["training"] = {"max_steps": 60, "eval_every": 30, "eval_max_batches": 2}  # a few seconds a trial
    spec = sw.build_spec(raw, {"optimizer.lr": {"choices": [1e-3, 3e-3, 1e-2]}}, method="grid")
    sweep = sw.create_sweep(store, spec, name="e2e-sweep")
    sw.start_sweep(store, sweep.id)  # the app's workers train its two trials, like queued runs
    page.goto(f"{app_server.url}/sweeps?sweep={sweep.id}")
    page.get_by_role("heading", name="Sweeps", exact=True).wait_for()
    wait_idle(page)
    page.get_by_role("radio", name="Watch").check()
    page.get_by_role("button", name="Stop sweep").wait_for()
    # The sweep finishes while the view is open: the next poll closes it.
    page.get_by_role("button", name="Stop sweep").wait_for(state="detached", timeout=120_000)
    wait_idle(page)
    assert page.locator('[data-testid="stMetricValue"]', has_text="completed").count() == 1
    picker = page.locator('[data-testid="stSelectbox"]').first.evaluate(
        "el => el.textContent + ' ' + Array.from(el.querySelectorAll('input')).map(i => i.value || i.placeholder).join(' ')")
    assert sweep.id in picker and "running" not in picker, picker  # the picker never says a stale status
    assert page.get_by_role("button", name="Resume sweep").count() == 0  # completed: nothing to resume
    shot(page, "07-sweep-finished")


def test_a_page_opened_by_its_url_loads_with_no_404_and_home_opens_home(page: Page, app_server: Server) -> None:
    """A bookmark or a reload of a page: no request answers 404 (Streamlit's frontend asks
    <page>/_stcore/health and host-config first unless told the root: app/serve.py), and /home,
    the Home page's declared path, opens Home (Streamlit serves the default page at / only)."""
    not_found: list[str] = []
    page.on("response", lambda response: not_found.append(response.url) if response.status == 404 else None)
    for path, heading, url in (("/data", "Data", "/data"), ("/home?from=bookmark", "LM Workbench", "/?from=bookmark"),
                               ("/", "LM Workbench", "/")):
        page.goto(app_server.url + path)
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        wait_idle(page)
        assert page.url == app_server.url + url, (path, page.url)
        assert page.get_by_text("Page not found").count() == 0, path
    assert not_found == []


def test_a_refused_upload_leaves_no_file_chip(page: Page, app_server: Server, tmp_path: Path) -> None:
    """The uploader is emptied (a new widget key) when the Data page refuses a file; the reason
    stays under it."""
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,label\na,b\nc,d,e\n")
    page.goto(f"{app_server.url}/data")
    page.get_by_role("heading", name="Data", exact=True).wait_for()
    wait_idle(page)
    act(page, lambda: page.get_by_text("Your file", exact=True).click())
    page.locator('[data-testid="stFileUploader"] input[type=file]').set_input_files(str(ragged))
    page.get_by_text("Upload refused. ragged.csv, line 3").wait_for()
    wait_idle(page)
    assert page.locator('[data-testid="stFileChip"]').count() == 0
