"""The Explain page (Examples, Salience, Logit lens, Patching) and the Playground's salience and
side-by-side view, through AppTest on the whole app (so page links and page switches work).

Tiny runs are really trained once for the module, in their own workbench home.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.config import apply_overrides, default_config
from core.inspect.patching import DEMO
from core.metrics import METRICS
from core.store import Store
from tests.app.test_data_runs_compare_playground import tiny_trained_run
from tests.trained_runs import topics_classifier, train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-explain-home")
    store = Store(home=home)
    translation = default_config("translation")
    translation["data"]["n_examples"] = 100
    translation["task"]["eval_max_sentences"] = 4
    translation["model"].update(d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1)
    translation["training"].update(max_steps=10, eval_every=10, batch_size=16)
    gpt = apply_overrides(default_config("language_model"), {
        **DEMO.overrides, "data.n_sentences": 1000, "model.n_layers": 1, "model.d_model": 16, "model.d_ff": 32,
        "model.n_heads": 2, "training.max_steps": 10, "training.eval_every": 10})
    quiet = {"attention_snapshots": False}
    ids = {
        "lstm": train_run(store, "x-lstm", topics_classifier(
            {"name": "lstm", "embed_dim": 8, "hidden_size": 8}, 200, 20), **quiet),
        "cnn": train_run(store, "x-cnn", topics_classifier(
            {"name": "textcnn", "embed_dim": 8, "n_filters": 4}, 200, 20), **quiet),
        "translation": train_run(store, "x-reverse", translation, **quiet),
        "gpt": train_run(store, "x-gpt", gpt, tags=(DEMO.tag,), **quiet),
    }
    return home, ids


@pytest.fixture
def runs(trained_home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("LMWB_HOME", str(trained_home[0]))
    yield trained_home[1]


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.query_params.update(query)
    at.switch_page(str(page_path(page))).run()
    ok(at)
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def salience_html(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "lmwb-salience" in h.proto.body]


def test_explain_without_runs_offers_the_patching_demo(store: Store) -> None:
    at = open_page("explain")
    assert "No finished" in at.info[0].value
    at.button(key="explain.demo").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [run] = store.list_runs()
    assert run.status == "queued" and DEMO.tag in run.tags and run.arch == "transformer_decoder"
    assert at.query_params["run"] == run.id  # the Run page opened on it


def test_examples_view_filters_cells_and_explains_a_chosen_example(runs: dict[str, str]) -> None:
    lstm = runs["lstm"]
    at = open_page("explain", run=lstm)
    key = f"explain.{lstm}.examples"
    assert at.segmented_control(key=f"explain.{lstm}.view").value == "examples"
    assert "examples of the validation split" in at.caption[1].value
    matrix = at.dataframe(key=f"{key}.confusion").value
    table = next(d for d in at.dataframe if d.key and ".table." in d.key)
    assert len(table.value) == int(matrix.to_numpy().sum())
    at.segmented_control(key=f"{key}.outcome").set_value("wrong").run()
    table = next(d for d in at.dataframe if d.key and ".table." in d.key)
    assert not table.value["correct"].any()
    # Click the first wrong example: its salience and the way to Attention appear.
    at.session_state[table.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    ok(at)
    [shaded] = salience_html(at)
    text = table.value["text"].iloc[0]
    assert shaded.count("lmwb-tok") == len(text.split())
    assert any("Completeness" in c.value for c in at.caption)
    # One click opens it in the Salience view, with its text.
    at.button(key=f"{key}.detail.open").click().run()
    ok(at)
    assert at.segmented_control(key=f"explain.{lstm}.view").value == "salience"
    assert at.text_area(key=f"explain.{lstm}.text").value == text
    assert len(salience_html(at)) == 1
    # A confusion-matrix cell lists exactly its examples.
    at.segmented_control(key=f"explain.{lstm}.view").set_value("examples").run()
    labels = list(matrix.columns)
    at.session_state[f"{key}.confusion"] = {"selection": {"rows": [], "columns": [], "cells": [[0, labels[1]]]}}
    at.run()
    ok(at)
    table = next(d for d in at.dataframe if d.key and ".table." in d.key)
    assert len(table.value) == matrix.iloc[0, 1]
    assert "the confusion-matrix cell" in at.info[0].value
    # Another run of the task on the same examples: where they disagree.
    at.multiselect(key=f"{key}.others").set_value([runs["cnn"]]).run()
    ok(at)
    assert any("The runs differ on" in c.value for c in at.caption)


def test_salience_view_and_translation_examples(runs: dict[str, str]) -> None:
    lstm = runs["lstm"]
    at = open_page("explain", run=lstm, view="salience", text="the team won the final match")
    assert len(salience_html(at)) == 1 and any("Completeness" in c.value for c in at.caption)
    at.selectbox(key=f"explain.{lstm}.salience.method").set_value("grad_x_input")
    at.button[0].click().run()  # the form's Explain
    ok(at)
    assert "Gradient × input" in salience_html(at)[0] and not any("Completeness" in c.value for c in at.caption)
    at = open_page("explain", run=runs["translation"])
    assert at.segmented_control(key=f"explain.{runs['translation']}.view").options == ["Examples"]
    table = next(d for d in at.dataframe if d.key and ".table." in d.key)
    assert {"hypothesis", "bleu", "chrf"} <= set(table.value.columns)


def test_logit_lens_and_patching_views_of_a_gpt_run(runs: dict[str, str]) -> None:
    gpt = runs["gpt"]
    at = open_page("explain", run=gpt, view="lens", text="everyone knows the king")
    [figure] = at.get("plotly_chart")
    lens = at.dataframe[0].value
    assert list(lens.index) == ["embeddings", "after block 0"] and len(lens.columns) == 4
    at = open_page("explain", run=gpt, view="patching")  # a demo run: its prompts are filled in
    assert at.text_input(key=f"explain.{gpt}.patching.clean").value == DEMO.clean
    assert len(at.get("plotly_chart")) == 1 and "Logit difference 'his' − 'her'" in at.text[0].value
    at = open_page("explain", run=gpt, view="salience", text=DEMO.clean)  # the next token, or one asked for
    at.text_input(key=f"explain.{gpt}.salience.token").input("her")
    at.button[0].click().run()
    ok(at)
    assert "logit of next token 'her'" in at.text[0].value and len(salience_html(at)) == 1


def test_playground_salience_and_runs_side_by_side(runs: dict[str, str]) -> None:
    at = open_page("playground")
    at.selectbox(key="playground_run").set_value(runs["lstm"]).run()
    at.text_area(key="playground_text").input("the team won the final match").run()
    ok(at)
    assert len(salience_html(at)) == 1  # in its expander
    at.multiselect(key="playground.compare").set_value([runs["cnn"]]).run()
    at.text_area(key="playground.side.text").input("shares fell after the merger").run()
    ok(at)
    assert len(at.metric) == 2 and len(salience_html(at)) == 2
    assert [m.value for m in at.markdown if m.value.startswith("**x-")] == ["**x-lstm** · LSTM", "**x-cnn** · TextCNN"]


def test_summarisation_examples_show_their_scores_as_the_metric_catalogue_declares(store: Store) -> None:
    """Labels and formats of the scores come from core.metrics (no second copy in the view):
    the table's columns, the caption's figure and a chosen example's line (which asked for
    BLEU and chrF, which a summary has not, before)."""
    run = tiny_trained_run(store, "summarisation")
    at = open_page("explain", run=run.id)
    table = next(d for d in at.dataframe if d.key and ".table." in d.key)
    config = json.loads(table.proto.columns)
    for name in ("rougeL", "rouge1", "rouge2", "loss"):
        assert config[name]["label"] == METRICS[name].label
        assert config[name]["type_config"]["format"] == METRICS[name].fmt
    assert any(f"· {METRICS['rougeL'].label} " in c.value for c in at.caption)
    at.session_state[table.key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    ok(at)
    row = table.value.iloc[0]
    line = " · ".join(f"{METRICS[c].label} {METRICS[c].fmt % row[c]}" for c in ("rougeL", "rouge1", "rouge2", "loss"))
    assert any(line in m.value for m in at.markdown), line


def test_a_finished_run_without_a_checkpoint_is_listed_last_and_marked(store: Store) -> None:
    """The picker opens on a run it can explain; one whose checkpoint never came (stopped in its
    set-up) follows, its reason beside its name, instead of an error when picked by default."""
    from core.config import validate_config
    from core.runs import create_run

    good = tiny_trained_run(store, "classification")
    empty = create_run(store, validate_config(default_config("classification")), name="no-weights")
    store.set_status(empty.id, "stopped")  # the newest run, but there is nothing to load
    at = open_page("explain")
    picker = at.selectbox(key="explain.run")
    assert picker.value == good.id
    assert picker.options[-1].endswith("(no checkpoint)")
