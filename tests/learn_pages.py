"""Opening the app on a page with an address, as a link would: shared by the Learn tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path

MAIN = Path(__file__).resolve().parents[1] / "app" / "main.py"


def open_page(page: str, home: Path, monkeypatch: pytest.MonkeyPatch, query: dict[str, str]) -> AppTest:
    """The app on the workbench at ``home`` (no workers), switched to ``page`` with ``query`` in
    its address; no exception on the way."""
    monkeypatch.setenv("LMWB_HOME", str(home))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.query_params.update(query)
    at.switch_page(str(page_path(page))).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
