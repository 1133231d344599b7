"""A learner with no run of the kind a chapter reads gets one trained on a click, and the chapter
opens on it once it has finished."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.learn.chapters import CHAPTERS, STARTER_STEPS
from core.store import Store
from tests.learn_pages import open_page
from tests.trained_runs import execute_on_one_thread


def test_every_chapter_that_reads_a_run_can_start_one_it_reads() -> None:
    for chapter in CHAPTERS:
        if chapter.runs:
            config = chapter.starter()
            assert chapter.accepts(config.task, config.arch), chapter.name
            assert config["training"]["max_steps"] == STARTER_STEPS


def test_the_starter_run_is_queued_trained_and_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page("learn", tmp_path, monkeypatch, {"chapter": "recurrent"})
    assert any("reads a trained" in i.value for i in at.info)
    [button] = [b for b in at.button if b.key.endswith("recurrent.start")]
    button.click().run()
    store = Store(home=tmp_path)
    [run] = store.list_runs()
    assert run.status == "queued" and "learn" in run.tags and run.task == "classification"
    assert any("Training learn-recurrent" in i.value for i in at.info)
    execute_on_one_thread(store, run.id)  # what a worker does (this test runs with none)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["run"] == run.id and at.success and not at.error  # the chapter, computed on it
