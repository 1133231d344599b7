"""The Train page refuses what the CLI refuses, by the same checks: a run name with a control
character (the store's rule) and a data path that is no printable text (the config's rule)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.components.train_form import build_configs
from app.navigation import page_path
from core.config import default_config
from core.store import Store

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def test_a_run_name_with_an_escape_is_refused_and_nothing_is_queued(store: Store) -> None:
    at = AppTest.from_file(str(MAIN), default_timeout=30).run()
    at.switch_page(str(page_path("train"))).run()
    name = next(t for t in at.text_input if t.key.endswith(".name"))
    name.input("baseline\x1b[2J").run()
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["name 'baseline\\x1b[2J': an escape character (U+001B) at position 9; "
                                           "expected printable UTF-8 text (no control characters such as tabs, "
                                           "line feeds or escapes)"]
    assert store.list_runs() == []


def test_a_typed_path_with_a_control_character_is_a_problem_of_the_form() -> None:
    raw = default_config("classification")
    raw["data"] = {"name": "file", "path": "/data/reviews.csv", "label_names_file": "names\t.txt"}
    configs, problems = build_configs(raw, {"lstm": raw["model"]})
    assert configs == [] and problems == [
        "data.label_names_file = 'names\\t.txt': a tab (U+0009) at position 6; expected a file path of printable "
        "UTF-8 text (no control characters such as tabs, line feeds or escapes)"]
