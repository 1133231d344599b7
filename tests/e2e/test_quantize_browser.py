"""Low precision in a real browser: the Run page's *Low precision* panel makes a finished
classifier's int8 variant, and the Playground then predicts with it. Screenshots go to
``test-artifacts/e2e/``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.config import default_config, validate_config
from core.runs import create_run
from core.store import Store
from tests.e2e.conftest import ARTIFACTS, Server, act, wait_idle
from tests.trained_runs import execute_on_one_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _train(server: Server) -> str:
    """A small classifier on the built-in reviews, trained in this process into the server's store."""
    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=16, hidden_size=16)
    raw["training"].update(max_steps=10, eval_every=10, device="cpu")
    store = Store(home=server.home)
    # Created as running, so the server's supervisor never hands it to a worker as well.
    run = create_run(store, validate_config(raw), name="tiny-to-quantize", status="running")
    execute_on_one_thread(store, run.id)
    return run.id


def test_quantise_on_the_run_page_then_predict_with_int8_in_the_playground(app_server: Server, page: Any) -> None:
    run_id = _train(app_server)
    page.goto(f"{app_server.url}/run?run={run_id}")
    page.get_by_role("heading", name="Run", exact=True).wait_for()
    wait_idle(page)
    panel = page.locator('[data-testid="stExpander"]', has=page.get_by_text("Low precision", exact=True))
    act(page, lambda: panel.locator("summary").click())
    act(page, lambda: page.get_by_role("button", name="Make an int8 variant").click())
    page.get_by_text(re.compile(rf"int8 variant of run {run_id} \(best checkpoint\)")).wait_for()
    assert (Store(home=app_server.home).run_files(run_id) / "variants" / "int8" / "model.onnx").is_file()
    page.screenshot(path=str(ARTIFACTS / "quantize-run-page.png"), full_page=True)

    page.goto(f"{app_server.url}/playground")
    wait_idle(page)
    act(page, page.get_by_test_id("stButtonGroup").get_by_text("int8", exact=True).click)
    box = page.get_by_role("textbox", name="Text to classify")
    box.fill("not a good film at all")
    act(page, lambda: box.press("Control+Enter"))
    page.get_by_text(re.compile(r"Predicted class: (positive|negative)")).wait_for()
    page.screenshot(path=str(ARTIFACTS / "quantize-playground.png"), full_page=True)
