"""The Data page's augmentation preview (AppTest): a method and a share of words, rows shown
original | augmented with the changed words marked; the same seed shows the same rows, synonyms
come from the run picked."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from core.augment.eda import MASK_WORD
from core.augment.settings import METHOD_TABLE
from core.augment.settings import method as declared_method
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
    table_ = synonyms_from_run("sentiment vectors", store)
    replaced = 0
    for _, original, augmented in table_rows(at):
        left, right = words(original, "s"), words(augmented, "b")
        assert len(left) == len(right)
        for (before, struck), (after, new) in zip(left, right, strict=True):
            assert struck == new
            if new:
                assert after in table_(before), (before, after)
                replaced += 1
    assert replaced > 0
    for row in table(at):  # each replacement named with its cosine in the run's vectors
        pairs = re.findall(r"(\S+) → (\S+) (-?[\d.]+)", row["synonyms (cosine)"])
        assert len(pairs) == sum(new for _, new in words(row["augmented"], "b"))
        assert all(f"{table_.similarity(a, b):.2f}" == cos and b in table_(a) for a, b, cos in pairs)
        assert row["operation"] == ("replace" if pairs else "unchanged")


def plain(cell: str) -> list[str]:
    return re.sub(r"</?\w>", "", cell).split()


def test_each_row_names_its_operation_and_unchanged_rows_say_why() -> None:
    at = open_app("data")
    method = at.selectbox(key="data_aug_method")
    assert list(method.options) == [m.label for m in METHOD_TABLE if m.name != "none"]  # no raw names
    method.set_value("eda").run()
    at.number_input(key="data_aug_rows").set_value(30).run()
    no_exception(at)
    assert any(c.value == declared_method("eda").description for c in at.caption)
    rows = table(at)
    ops = Counter(r["operation"] for r in rows)
    assert set(ops) <= {"swap", "delete", "unchanged"} and ops["swap"] and ops["delete"], ops
    for r in rows:
        before, after = plain(r["original"]), plain(r["augmented"])
        if r["operation"] == "swap":  # the same words, moved: not two replacements
            assert Counter(before) == Counter(after) and before != after
        elif r["operation"] == "delete":
            assert len(after) < len(before)
        else:
            assert before == after
    unchanged = [r["row"] for r in rows if r["operation"] == "unchanged"]
    [said] = [c.value for c in at.caption if c.value.startswith("Left as they were")] or [""]
    named = [n for group in re.findall(r"rows? ([\d, ]+): ", said) for n in group.split(", ")]
    assert sorted(map(int, named)) == [int(n) for n in unchanged]
    # The built-in set flips some labels on purpose: the preview says so.
    assert any("noisy on purpose" in c.value and "flipped" in c.value for c in at.caption)
    assert unchanged, "expected a row left as it was at p 0.1 over 30 rows (deletion draws none)"
