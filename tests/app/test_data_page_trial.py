"""The Data page as the newcomer trial read it: captions that count right, an uploader that lets
go of a file once another is chosen, a file that cannot train not offered on Train, messages in
this page's words, and no Streamlit warning for the tokenizer box (AppTest)."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.elements.lib import policies
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.store import Store
from tests.app.test_data_to_train import no_exception, open_app

TWO_COLUMNS = "".join(f"{'a fine warm film' if i % 2 else 'a dull cold mess'} {i},{'pos' if i % 2 else 'neg'}\n"
                      for i in range(40))


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_the_built_in_set_s_captions_count_what_they_measured() -> None:
    at = open_app("data")
    # 3,600 training reviews, 2,000 of them measured: said as a sample, not as all of them.
    assert any("Lengths of the first 2,000 of the 3,600 training examples" in c for c in captions(at))
    notes = [c for c in captions(at) if "labels flipped on purpose" in c]
    assert notes and not notes[0].startswith("·")  # a note of its own, no stray separator


def test_a_file_that_cannot_train_lets_go_and_is_not_offered_on_train(store: Store) -> None:
    at = open_app("data")
    at.radio(key="data_source").set_value("Your file").run()
    at.file_uploader(key="data_upload").set_value(("onecol.csv", b"text\nhello there\nfine film\n", "text/csv")).run()
    no_exception(at)
    assert any("1 column ·" in c for c in captions(at)) and not any("1 columns" in c for c in captions(at))
    assert any("one column only" in e.value for e in at.error)
    (store.home / "uploads" / "two.csv").write_text(TWO_COLUMNS)
    at.run()
    at.selectbox(key="data_file").set_value("two.csv").run()
    no_exception(at)
    # The uploader is a new, empty one: the refused file's chip no longer sits above two.csv.
    uploaders = list(at.get("file_uploader"))
    assert [u.key for u in uploaders] == ["data_upload.1"] and not uploaders[0].value
    assert not any("one column only" in e.value for e in at.error)
    at.switch_page(str(page_path("train"))).run()
    no_exception(at)
    [dataset] = [s for s in at.selectbox if s.label == "Dataset"]
    offered = [dataset.format_func(o) for o in dataset.options] if callable(getattr(dataset, "format_func", None)) \
        else list(dataset.options)
    assert any("two.csv" in o for o in offered) and not any("onecol.csv" in o for o in offered), offered


def test_the_hub_offline_message_points_at_this_page_s_own_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = open_app("data")
    at.radio(key="data_source").set_value("Hugging Face dataset").run()
    at.text_input(key="data_hf_ref").input("imdb").run()
    no_exception(at)
    [message] = [e.value for e in at.error if "Hugging Face hub" in e.value]
    assert "Source *Your file* above" in message and "**Folder or hub name** above" in message
    assert "Train page" not in message


def test_the_tokenizer_box_kept_across_pages_has_no_default_beside_its_state(
        monkeypatch: pytest.MonkeyPatch) -> None:
    warnings: list[Any] = []
    # AppTest runs without Streamlit's runtime, where the warning is never checked: as a server would.
    monkeypatch.setattr(policies.runtime, "exists", lambda: True)
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda *a, **k: warnings.append(a))
    at = open_app("data")
    at.switch_page(str(page_path("train"))).run()
    at.switch_page(str(page_path("data"))).run()  # the page puts its kept choices back, the tokenizer's among them
    no_exception(at)
    assert at.selectbox(key="data_tok").value == "word"
    assert not [w for w in warnings if "data_tok" in str(w)], warnings
