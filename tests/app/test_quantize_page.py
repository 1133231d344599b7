"""Low precision on the pages through AppTest: the Run page's button makes the run's int8 variant
(the file the CLI makes, with its manifest), and the Playground then offers it and predicts with it."""

from __future__ import annotations

import pytest

from app.state import page_path
from core.store import Store
from core.variants import stored_variants
from tests.app.test_home_train_run import open_page
from tests.conftest import trained_tiny_classifier


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


@pytest.mark.usefixtures("one_torch_thread")
def test_the_run_page_makes_an_int8_variant_and_the_playground_predicts_with_it(store: Store) -> None:
    run = trained_tiny_classifier(store)
    at = open_page("run", run=run.id)
    assert not stored_variants(store, run.id)
    at.button(key="run.quantize.make").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("int8 variant of run" in s.value for s in at.success), [e.value for e in at.error]
    made = stored_variants(store, run.id)["int8"]
    assert made["bytes"] > 0 and (store.run_files(run.id) / "variants" / "int8" / "model.onnx").is_file()
    tables = [d.value for d in at.dataframe if "variant" in d.value.columns]
    assert [t["variant"].tolist() for t in tables] == [["int8"]]

    at.switch_page(str(page_path("playground"))).run()
    weights = at.segmented_control(key="playground.variant")
    assert weights.options == ["fp32", "int8"] and weights.value == "fp32"
    weights.set_value("int8").run()
    at.text_area(key="playground_text").input("not a good film at all").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.value.startswith("Predicted class: **") for m in at.markdown)
    # The graph has no gradients: no salience view is offered for it.
    assert not [e for e in at.expander if "alience" in e.label]
