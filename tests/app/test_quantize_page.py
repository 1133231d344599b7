"""Low precision on the pages through AppTest: the Run page's button makes the run's int8 variant
(the file the CLI makes, with its manifest), and the Playground then offers it and predicts with it."""

from __future__ import annotations

import pytest

from app.state import page_path
from core.metrics import metric_value
from core.runs import evaluate_file
from core.store import Store
from core.variants import SUMMARY_KEY, load_variant, stored_variants
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
    # Its own score beside the run's, kept when it was made: what `eval --variant int8 --with-parent` prints.
    for model in ("fp32", "int8"):
        expected = evaluate_file(load_variant(store, run.id, model), None).metrics["accuracy"]
        assert made["scores"][model]["accuracy"] == pytest.approx(expected)
    row = tables[0].iloc[0]
    assert row["val Accuracy: int8"] == metric_value("accuracy", made["scores"]["int8"]["accuracy"])
    assert row["val Accuracy: the run (fp32)"] == metric_value("accuracy", made["scores"]["fp32"]["accuracy"])
    assert made["bytes"] > 0.5 * made["parent_bytes"]  # an 8-wide model: the sentence on what stays fp32
    assert any(c.value.startswith("int8 saves little here") for c in at.caption)
    assert at.button(key="run.quantize.make").label == "Remake the int8 variant"

    # Measure: Compare's measurement, the figures kept with the run and shown in the panel.
    assert at.button(key="run.quantize.measure").label == "Measure"
    at.button(key="run.quantize.measure").click().run()
    assert not at.exception, [e.value for e in at.exception]
    speed = store.get_run(run.id).summary[SUMMARY_KEY]
    assert [r["variant"] for r in speed["rows"]] == ["fp32", "int8"] and speed["threads"] == 1
    assert any(s.value.startswith(f"Measured {run.name}: 2 models on ") for s in at.success)
    shown = next(d.value for d in at.dataframe if "model" in d.value.columns and "examples/s at batch 1" in d.value)
    assert shown["model"].tolist() == ["fp32", "int8"]
    assert at.button(key="run.quantize.measure").label == "Measure again"

    at.switch_page(str(page_path("playground"))).run()
    weights = at.segmented_control(key="playground.variant")
    assert weights.options == ["fp32", "int8"] and weights.value == "fp32"
    weights.set_value("int8").run()
    at.text_area(key="playground_text").input("not a good film at all").run()
    assert not at.exception, [e.value for e in at.exception]
    said = [m.value for m in at.markdown if m.value.startswith("Predicted class: **")]
    assert len(said) == 1 and said[0].endswith("%, int8 weights)"), said  # which weights said it
    # The graph has no gradients: no salience view is offered for it.
    assert not [e for e in at.expander if "alience" in e.label]

    weights.set_value("fp32").run()
    assert [m.value for m in at.markdown if m.value.startswith("Predicted class: **")][0].endswith("%, fp32 weights)")
    # Side by side: the run's own weights and its int8 variant, listed as "RUN (int8)".
    picker = at.multiselect(key="playground.compare")
    assert sum(o.endswith(" (int8)") for o in picker.options) == 1, picker.options
    picker.set_value([f"{run.id}@int8"]).run()
    at.text_area(key="playground.side.text").input("not a good film at all").run()
    assert not at.exception, [e.value for e in at.exception]
    heads = [m.value for m in at.markdown if m.value.startswith(f"**{run.name}**")]
    assert len(heads) == 2 and heads[1].startswith(f"**{run.name}** (int8) · "), heads
    assert [m.label for m in at.metric] == ["Predicted class", "Predicted class"]
