"""Distillation in a real browser: a finished classifier is picked as the teacher under the Train
form's task section, Start queues the student, and its Run page says where it learned from and,
once the server's worker has trained it, shows the teacher's scores beside its own. Screenshots
go to ``test-artifacts/e2e/``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.config import default_config, validate_config
from core.runs import create_run
from core.store import Store
from tests.e2e.conftest import ARTIFACTS, Server, act, wait_idle
from tests.e2e.test_main_flow import choose_option, grid_rows, wait_completed
from tests.trained_runs import execute_on_one_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
STEPS = 20  # the student: a few steps show the page; the integration test checks what it learns


def _train_teacher(server: Server) -> str:
    """A small classifier on the built-in reviews, trained in this process into the server's store."""
    raw = default_config("classification")
    raw["data"]["n_examples"] = 400
    raw["model"].update(embed_dim=16, hidden_size=16)
    raw["training"].update(max_steps=30, eval_every=30, device="cpu")
    store = Store(home=server.home)
    # Created as running, so the server's supervisor never hands it to a worker as well.
    run = create_run(store, validate_config(raw), name="tiny-teacher", status="running")
    execute_on_one_thread(store, run.id)
    return run.id


def test_pick_a_teacher_on_the_train_page_and_see_it_on_the_run_page(app_server: Server, page: Any) -> None:
    teacher = _train_teacher(app_server)
    page.goto(f"{app_server.url}/train")
    page.get_by_role("heading", name="Train", exact=True).wait_for()
    wait_idle(page)
    steps = page.get_by_role("spinbutton", name="Steps", exact=True)
    steps.fill(str(STEPS))
    act(page, lambda: steps.press("Enter"))
    # The picker sits under the task section's "Advanced", with the other loss knobs.
    advanced = page.locator('[data-testid="stExpander"]', has=page.get_by_text("Teacher run", exact=True))
    act(page, lambda: advanced.locator("summary").click())
    choose_option(page, page.get_by_role("combobox", name="Teacher run"),
                  page.get_by_role("option", name=re.compile(re.escape(teacher))))
    page.screenshot(path=str(ARTIFACTS / "distill-train-teacher.png"), full_page=True)
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(r"/run\?run=r[0-9a-f]+"), timeout=30_000)
    student = re.search(r"run=(r[0-9a-f]+)", page.url)
    assert student, page.url
    assert Store(home=app_server.home).get_run(student.group(1)).config["task"]["teacher"] == teacher
    page.get_by_text(re.compile(rf"Distilled from tiny-teacher \({teacher}\): α 0\.5, T 2")).wait_for()
    wait_completed(page)
    table = page.locator('[data-testid="stDataFrame"]', has_text="teacher: tiny-teacher")
    rows = grid_rows(table.first)
    assert [r[0] for r in rows][:1] == ["teacher: tiny-teacher"], rows
    page.screenshot(path=str(ARTIFACTS / "distill-run-page.png"), full_page=True)
