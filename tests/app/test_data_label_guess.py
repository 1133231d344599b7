"""The Data page's guess of the label column (issue 26): a column with a new value on every row
(an id) is never the label while another column repeats a few values; when the text picker takes
the label column, the label moves to the next best column and the page says so; its errors name
the page's pickers, not config keys; and the person's choices survive a visit to another page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.data.columns import guess_label, rank_label_columns

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "app" / "main.py"
TIMEOUT = 60
WORDS = ("warm", "dull", "long", "bright", "slow", "odd", "kind", "loud")
# What a newcomer uploaded: an id, a free-text comment, a mood; no header name says "label".
REVIEWS = "id,comment,mood\n" + "".join(
    f"{i},I watched it on day {i} and found it {WORDS[i % 8]} and {WORDS[(i * 3) % 8]} throughout,"
    f"{'happy' if i % 2 else 'sad'}\n" for i in range(40))
TEXT, LABEL = "data_text_col:my_reviews.csv", "data_label_col:my_reviews.csv"


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def rows(header: str, lines: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    columns = header.split(",")
    return columns, [dict(zip(columns, line.split(","), strict=True)) for line in lines]


def test_the_label_guess_skips_ids_constants_and_free_text() -> None:
    columns, table = rows("id,stars,country,source,review", [
        f"{i},{1 + i % 5},{('fr', 'de', 'it', 'es', 'nl', 'pl', 'se')[i % 7]},web,"
        f"a review of some length that says a few things number {i}" for i in range(60)])
    # stars: 5 values in 60 rows, the fewest that vary; id is unique, source constant, review free text
    assert guess_label(columns, table) == "stars"
    assert [c for c, plausible in rank_label_columns(columns, table) if plausible] == ["stars", "country"]
    assert guess_label(columns, table, exclude=["stars"]) == "country"
    assert guess_label(columns, table, exclude=["stars", "country"]) is None
    # Numbers as ids stay ids, words as labels stay labels, whichever comes first in the file.
    columns, table = rows("label_id,tag", [f"{100 + i},{'yes' if i % 3 else 'no'}" for i in range(30)])
    assert guess_label(columns, table) == "tag"


def test_an_uploaded_file_with_an_id_column_gets_its_mood_as_label(workbench_home: Path) -> None:
    uploads = workbench_home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "my_reviews.csv").write_text(REVIEWS)
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.switch_page(str(page_path("data"))).run()
    at.radio(key="data_source").set_value("Your file").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert (at.selectbox(key=TEXT).value, at.selectbox(key=LABEL).value) == ("comment", "mood")
    assert len(at.get("plotly_chart")) == 2  # the label balance and the lengths: the page goes on

    # The text picker takes the label column: the label moves, and the page says where.
    at.selectbox(key=TEXT).set_value("mood").run()
    assert not at.exception
    assert at.selectbox(key=LABEL).value == "id"  # comment is free text: id is all that is left
    assert any("Label column moved to *id*" in i.value for i in at.info), [i.value for i in at.info]
    (error,) = [e.value for e in at.error]
    assert "pick another **Label column**" in error or "pick another **Text column**" in error, error
    assert "data." not in error and "validation_path" not in error, error

    # Back to comment as the text; the label moves back only when asked, then the page works.
    at.selectbox(key=TEXT).set_value("comment").run()
    assert at.selectbox(key=LABEL).value == "id" and at.error
    at.selectbox(key=LABEL).set_value("mood").run()
    assert not at.error, [e.value for e in at.error]

    # Another page and back: the file and its columns are as the person left them.
    at.switch_page(str(page_path("train"))).run()
    at.switch_page(str(page_path("data"))).run()
    assert not at.exception
    assert at.radio(key="data_source").value == "Your file"
    assert at.selectbox(key="data_file").value == "my_reviews.csv"
    assert (at.selectbox(key=TEXT).value, at.selectbox(key=LABEL).value) == ("comment", "mood")
    assert not at.error, [e.value for e in at.error]
