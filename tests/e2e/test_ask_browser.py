"""The Playground's Ask panel in a real browser: a folder with a planted answer is uploaded
through the folder picker (a .png inside it is left out by name), a question is asked, and the
answer ``core.asking.ask_passages`` gives for the same documents is highlighted in its passage,
above the start/end chart (the chosen span a band behind the bars) and the reader's unknown words. Screenshots go to ``test-artifacts/e2e/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.asking import ask_passages
from core.config import default_config, validate_config
from core.data.qa import news_item
from core.qa.retrieval import PASSAGE_OVERLAP, PASSAGE_WORDS, READ_PASSAGES, split_passages
from core.runs import create_run, load_trained
from core.store import Store
from tests.e2e.conftest import ARTIFACTS, Server, act, wait_idle
from tests.trained_runs import execute_on_one_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

OTHER = "Tides follow the moon . Glaciers carve valleys over thousands of years ."
NOTE = "Note : *draft* costs $5 and $6 , <b>unchecked</b> ."


def _train_reader(server: Server) -> str:
    """A small reader on news_qa, trained in this process into the server's store (~5 s)."""
    raw = default_config("qa")
    raw["data"] = {"name": "news_qa", "n_documents": 300}
    raw["training"].update(max_steps=150, eval_every=150, eval_max_batches=1, device="cpu")
    store = Store(home=server.home)
    # Created as running, so the server's supervisor never hands it to a worker as well.
    run = create_run(store, validate_config(raw), name="tiny-reader", status="running")
    execute_on_one_thread(store, run.id)
    return run.id


def test_ask_a_folder_and_see_the_answer_highlighted(app_server: Server, page: Any, tmp_path: Path) -> None:
    run_id = _train_reader(app_server)
    context, questions, _ = news_item(np.random.default_rng(7), 3, 0.0)
    question = questions[0]
    folder = tmp_path / "reports"
    (folder / "old").mkdir(parents=True)
    # A paragraph break, Markdown and HTML: shown as written, never as formatting.
    item = f"{context}\n\n{NOTE}\n"
    (folder / "item.txt").write_text(item)
    (folder / "old" / "sea.txt").write_text(OTHER + "\n")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    documents = {"reports/item.txt": item, "reports/old/sea.txt": OTHER + "\n"}
    passages = split_passages(documents, words=PASSAGE_WORDS, overlap=PASSAGE_OVERLAP)
    expected = ask_passages(load_trained(Store(home=app_server.home), run_id), question, passages,
                            k=READ_PASSAGES, top=READ_PASSAGES)
    assert expected and expected[0].passage.doc_id == "reports/item.txt"

    page.set_viewport_size({"width": 1400, "height": 1900})  # the whole panel in one screenshot
    page.goto(f"{app_server.url}/playground")
    page.get_by_role("heading", name="Playground", exact=True).wait_for()
    wait_idle(page, 60_000)
    page.get_by_text("Answer:").first.wait_for()  # the validation contexts answer the first question at once
    act(page, lambda: page.get_by_text("Documents you upload (.txt)").click())
    chooser = page.locator(".st-key-playground_ask_folder input[type=file]")
    assert chooser.get_attribute("webkitdirectory") is not None  # a folder picker
    act(page, lambda: chooser.set_input_files(str(folder)))
    page.get_by_text("reports/logo.png: not a .txt file").wait_for()
    box = page.locator(".st-key-playground_ask_question input")
    box.fill(question)
    act(page, lambda: box.press("Enter"))

    mark = page.locator(".lmwb-ask-passage mark")
    mark.wait_for()
    assert mark.inner_text() == expected[0].text
    shown = page.locator(".lmwb-ask-passage").inner_text()
    assert " ".join(expected[0].passage.text.split()) in " ".join(shown.split()) and NOTE in shown
    assert page.get_by_text("reports/item.txt", exact=True).count() >= 1  # the document named
    page.locator(".js-plotly-plot .barlayer").first.wait_for()  # the start/end chart drew
    page.get_by_text("unknown to this reader", exact=False).first.wait_for()  # what the reader cannot read
    page.get_by_text("Each passage is read on its own", exact=False).first.wait_for()
    # The chosen span: a band (a shape behind the bars) in the chart Chromium drew.
    assert page.locator(".js-plotly-plot .layer-below .shapelayer path").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "playground-ask.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.get_by_text("Answer:").first.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 0)")
    page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "playground-ask-answer.png"))

    # A passage made of words news_qa never taught the reader: the note says so and what to use instead.
    act(page, lambda: (box.fill("what do glaciers carve ?"), box.press("Enter")))
    warning = page.get_by_text("close to a guess", exact=False).first
    warning.wait_for()
    assert "model.name=hf_pretrained" in warning.inner_text()
    warning.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "playground-ask-unknown.png"))
