"""The Data page's augmentation preview (AppTest): a method and a share of words, rows shown
original | augmented with the changed words marked; the same seed shows the same rows, synonyms
come from the run picked."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core.augment.eda import MASK_WORD
from core.augment.sources import synonyms_from_run
from core.config import default_config
from core.store import Store
from tests.app.test_data_to_train import no_exception, open_app
from tests.trained_runs import train_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CELL = re.compile(r"<td>(.*?)</td>", re.DOTALL)


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def table(at: AppTest) -> list[dict[str, str]]:
    """The preview table's rows, each a dict by column header."""
    [html] = [m.value for m in at.markdown if "augment-preview" in m.value]
    heads = re.findall(r"<th>(.*?)</th>", html)
    cells = CELL.findall(html)
    return [dict(zip(heads, cells[i : i + len(heads)], strict=True)) for i in range(0, len(cells), len(heads))]


def table_rows(at: AppTest) -> list[tuple[str, str, str]]:
    """(label, original, augmented) cells of the preview table."""
    return [(r["label"], r["original"], r["augmented"]) for r in table(at)]


def words(cell: str, tag: str) -> list[tuple[str, bool]]:
    return [(re.sub(r"</?\w>", "", w), w.startswith(f"<{tag}>")) for w in cell.split(" ")]


def test_masking_marks_each_masked_word_and_follows_the_seed() -> None:
    at = open_app("data")
    at.selectbox(key="data_aug_method").set_value("mask").run()
    at.slider(key="data_aug_p").set_value(0.5).run()
    no_exception(at)
    rows = table_rows(at)
    assert len(rows) == 8 and all(label in ("positive", "negative") for label, _, _ in rows)
    for _, original, augmented in rows:
        left, right = words(original, "s"), words(augmented, "b")
        assert len(left) == len(right)
        masked = [i for i, (w, _) in enumerate(right) if w == MASK_WORD]
        assert masked and masked == [i for i, (_, changed) in enumerate(right) if changed]
        assert masked == [i for i, (_, changed) in enumerate(left) if changed]  # struck where masked
        assert len(masked) == max(1, int(0.5 * len(left)))
    at.number_input(key="data_aug_seed").set_value(1).run()
    assert table_rows(at) != rows
    at.number_input(key="data_aug_seed").set_value(0).run()
    assert table_rows(at) == rows
    at.selectbox(key="data_aug_method").set_value("eda").run()
    assert any("swaps and deletes words only" in c.value for c in at.caption)


def test_synonyms_come_from_the_run_picked(store: Store) -> None:
    raw = default_config("word_embeddings")
    raw["data"] = {"name": "sentiment"}
    raw["tokenizer"] = {"name": "word", "min_freq": 1}
    raw["model"] = {"name": "word2vec", "dim": 8}
    train_run(store, "sentiment vectors", raw, max_steps=20, eval_every=20, batch_size=256)
    at = open_app("data")
    at.selectbox(key="data_aug_method").set_value("synonyms").run()
    at.slider(key="data_aug_p").set_value(0.3).run()
    no_exception(at)
    table = synonyms_from_run("sentiment vectors", store)
    replaced = 0
    for _, original, augmented in table_rows(at):
        left, right = words(original, "s"), words(augmented, "b")
        assert len(left) == len(right)
        for (before, struck), (after, new) in zip(left, right, strict=True):
            assert struck == new
            if new:
                assert after in table(before), (before, after)
                replaced += 1
    assert replaced > 0
