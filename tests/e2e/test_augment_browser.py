"""The Data page's augmentation preview in a real browser: masking half the words of the
built-in reviews shows each row original | augmented, masked words bold and struck where they
were. A screenshot goes to ``test-artifacts/e2e/``."""

from __future__ import annotations

from typing import Any

import pytest

from core.augment.settings import method_label
from tests.e2e.conftest import ARTIFACTS, Server, wait_idle
from tests.e2e.test_main_flow import choose_option

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_the_data_page_previews_masked_rows(app_server: Server, page: Any) -> None:
    page.goto(f"{app_server.url}/data")
    page.get_by_role("heading", name="Augmentation").wait_for()
    wait_idle(page)
    choose_option(page, page.get_by_role("combobox", name="Augmentation"),
                  page.get_by_role("option", name=method_label("mask"), exact=True))
    wait_idle(page)
    table = page.locator("table.augment-preview")
    table.wait_for()
    rows = table.locator("tbody tr")
    assert rows.count() == 8
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")  # row | label | operation | original | augmented
        assert cells.nth(2).inner_text() == "mask"
        original, augmented = cells.nth(3), cells.nth(4)
        masked = augmented.locator("b").all_inner_texts()
        assert masked and set(masked) == {"[MASK]"}
        assert original.locator("s").count() == len(masked)  # each masked word struck in the original
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "data-augment-preview.png"), full_page=True)
