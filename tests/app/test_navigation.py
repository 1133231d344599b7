"""The one page declaration (app/navigation.py): navigation, page_path and a missing page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import navigation
from app.navigation import PAGES, PAGES_DIR, MissingPagesError, check_pages, page_path

MAIN = Path(navigation.__file__).resolve().parent / "main.py"


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def test_every_declared_page_has_its_file_and_nothing_else_is_a_page() -> None:
    check_pages()
    assert {p.name for p in PAGES_DIR.glob("*.py") if p.name != "__init__.py"} == {s.file for s in PAGES}
    assert len({s.url_path for s in PAGES}) == len({s.title for s in PAGES}) == len(PAGES)
    assert page_path("run") == PAGES_DIR / "run.py"
    with pytest.raises(KeyError, match="no page 'nope'"):
        page_path("nope")


def test_navigation_registers_every_declared_page() -> None:
    at = AppTest.from_file(str(MAIN), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == PAGES[0].heading  # the first page is the default
    for spec in PAGES:
        at.switch_page(str(page_path(spec.name)))  # ValueError for a file st.navigation did not register


def test_a_missing_page_file_stops_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for spec in PAGES:
        if spec.name != "sweeps":
            shutil.copy(PAGES_DIR / spec.file, tmp_path / spec.file)
    with pytest.raises(MissingPagesError, match=r"1 page file\(s\) missing .*\(sweeps.py\)"):
        check_pages(tmp_path)
    monkeypatch.setattr(navigation, "PAGES_DIR", tmp_path)
    at = AppTest.from_file(str(MAIN), default_timeout=30).run()
    assert at.exception and "sweeps.py" in at.exception[0].value
