"""Home, Train and Run pages through Streamlit's AppTest (no browser, no training).

Every test drives the real entrypoint (app/main.py) and switches pages the way the sidebar
does. ``LMWB_NO_WORKERS=1`` makes the app's supervisor a no-op, so a queued run stays queued
and nothing trains inside the test; the conftest points ``LMWB_HOME`` at a fresh folder.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.config import apply_overrides, default_config, tuned_settings, validate_config
from core.runs import create_run
from core.store import Run, Store
from core.throughput import LABEL as THROUGHPUT_LABEL

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
TIMEOUT = 30


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def open_page(page: str | None = None, **query: str) -> AppTest:
    """Start the app and open ``page`` (home when None), with optional query parameters."""
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    if page is not None:
        at.query_params.update(query)
        at.switch_page(str(page_path(page))).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wkey(at: AppTest, rest: str) -> str:
    """The key of a Train form widget (keys carry a generation, bumped by presets)."""
    return f"train.w{at.session_state['train.form']['gen']}.{rest}"


def plotly_charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def make_run(store: Store, task: str = "classification", status: str = "running", **overrides) -> Run:
    config = validate_config(apply_overrides(default_config(task), overrides))
    run = create_run(store, config, status=status)
    loss_rows = [(s, "train", "loss", 1.0 / s, s * 0.1) for s in range(10, 60, 10)]
    lr_rows = [(s, "train", "lr", 1e-3, s * 0.1) for s in range(10, 60, 10)]
    metric = "accuracy" if task == "classification" else "perplexity"
    val_rows = [(s, "val", "loss", 1.2 / s, s * 0.1) for s in (25, 50)]
    val_rows += [(s, "val", metric, 0.5 + s / 100, s * 0.1) for s in (25, 50)]
    store.log_metrics(run.id, loss_rows + lr_rows + val_rows)
    store.set_progress(run.id, {
        "step": 50, "max_steps": 300, "fraction": 50 / 300, "tokens_per_s": 12345.0,
        "eta_s": 42.0, "elapsed_s": 8.0, "train_loss": 0.02,
    })
    summary = {"val": {"loss": 0.024, metric: 1.0}, "best": {"value": 0.024, "step": 50}, "metric": "loss"}
    if task == "language_model":
        summary["sample"] = "def hello():\n    return 'world'"
    if task == "translation":
        summary["details"] = {"decoding": "greedy", "translations": [
            {"source": "a b c", "reference": "c b a", "hypothesis": "c b b"},
            {"source": "d e", "reference": "e d", "hypothesis": "e d"},
        ]}
    store.set_summary(run.id, summary)
    return run


# -- rendering -----------------------------------------------------------------------------------
@pytest.mark.parametrize("page", [None, "train", "run"])
def test_pages_render_on_an_empty_store(page: str | None) -> None:
    at = open_page(page)
    assert not at.error
    if page == "run":
        assert any("No runs yet" in i.value for i in at.info)


def test_pages_render_with_runs_of_every_kind(store: Store) -> None:
    make_run(store, "classification", status="completed")
    make_run(store, "language_model", status="running")
    failed = make_run(store, "classification", status="failed")
    store.update_run(failed.id, error="data.path = 'x.csv': file not found")
    for page in (None, "train", "run"):
        open_page(page)
    home = open_page()
    [recent] = [f.value for f in home.dataframe if "status" in f.value.columns]
    assert sorted(recent["status"]) == ["completed", "failed", "running"]
    at = open_page("run", run=failed.id)
    assert any("file not found" in e.value for e in at.error)  # the run's error, readable
    assert [b.label for b in at.button if b.label == "Resume"]


def test_sidebar_shows_device_store_and_counts(store: Store) -> None:
    make_run(store, status="running")
    create_run(store, validate_config(default_config("classification")))  # queued
    at = open_page()
    text = " ".join(m.value for m in at.sidebar.markdown)
    assert "Device:" in text and "1 running" in text and "1 queued" in text
    # The store's kind in words; its location only inside the expander (asked for, not shown).
    [where] = [e for e in at.sidebar.expander if e.label.startswith("Store:")]
    assert where.label == "Store: SQLite file"
    assert any("store.db" in c.value for c in where.code)
    assert not any("store.db" in c.value for c in [*at.sidebar.caption, *at.sidebar.markdown])


# -- train ---------------------------------------------------------------------------------------
def test_train_start_queues_a_valid_run_and_opens_the_run_page(store: Store) -> None:
    at = open_page("train")
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    [run] = store.list_runs()
    assert run.status == "queued"
    validate_config(run.config)  # what the form produced is a complete, valid config
    # The form starts from the task's defaults, including its settings for default components.
    expected = validate_config(default_config("classification")).to_dict()
    assert run.config == expected
    assert at.query_params["run"] == run.id  # landed on the Run page for that run
    assert at.session_state["lmwb.last_runs"] == [run.id]


def test_train_form_reads_like_a_form() -> None:
    """Labels from the declarations, essentials first and the rest under Advanced, a learning
    rate typed in scientific notation, and a command line with only what differs."""
    at = open_page("train")
    lr = at.number_input(key=wkey(at, "optimizer.adamw.lr"))
    assert lr.label == "Learning rate" and lr.proto.format == "%.2e"  # no slider over 1e-6..10
    assert at.number_input(key=wkey(at, "model.lstm.hidden_size")).label == "Hidden size"
    labels = {w.label for kind in ("number_input", "selectbox", "toggle", "text_input") for w in at.get(kind)}
    assert not {"max_vocab", "weight_decay", "eval_max_batches", "max_minutes"} & labels  # no raw names
    advanced = [e for e in at.expander if e.label.startswith("Advanced")]
    assert advanced and any("Weight decay" in {w.label for w in e.get("number_input")} for e in advanced)
    optional = at.checkbox(key=wkey(at, "training.max_minutes.none"))
    assert optional.label == "no limit" and optional.value  # under its field, not "max_minutes: no limit"
    assert at.number_input(key=wkey(at, "training.max_minutes")).label == "Time limit (min)"
    [command] = [c.value for c in at.code if c.value.startswith("lmwb train --task")]
    assert command == "lmwb train --task classification"  # nothing differs yet
    at.number_input(key=wkey(at, "model.lstm.hidden_size")).set_value(96).run()
    [command] = [c.value for c in at.code if c.value.startswith("lmwb train --task")]
    assert command == "lmwb train --task classification --set model.hidden_size=96"


def test_train_widgets_and_presets_set_the_config(store: Store) -> None:
    at = open_page("train")
    at.number_input(key=wkey(at, "model.lstm.hidden_size")).set_value(32).run()
    at.segmented_control(key="train.preset").set_value("Quick (under a minute on CPU)").run()
    assert at.number_input(key=wkey(at, "training.max_steps")).value == 300
    at.number_input(key=wkey(at, "training.max_steps")).set_value(77).run()
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    [run] = store.list_runs()
    assert run.config["training"]["max_steps"] == 77
    # the preset reset the earlier edit
    assert run.config["model"]["hidden_size"] == default_config("classification")["model"]["hidden_size"] != 32
    assert run.config["model"]["bidirectional"] == default_config("classification")["model"].get("bidirectional", False)


def test_train_language_model_task(store: Store) -> None:
    at = open_page("train")
    at.selectbox(key="train.task").set_value("language_model").run()
    assert not at.exception and not at.error
    assert at.multiselect(key=wkey(at, "archs")).value == ["transformer_decoder"]
    assert at.selectbox(key=wkey(at, "data")).value == "python_docs"
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    [run] = store.list_runs()
    assert run.task == "language_model" and run.config["tokenizer"]["name"] == "char"


def test_train_race_queues_one_run_per_architecture_with_the_same_budget(store: Store) -> None:
    at = open_page("train")
    at.multiselect(key=wkey(at, "archs")).set_value(["lstm", "gru", "textcnn"]).run()
    # Like for like: the task's tuned model settings (a BiLSTM with max pooling) apply to the GRU.
    assert at.toggle(key=wkey(at, "model.gru.bidirectional")).value is True
    assert at.selectbox(key=wkey(at, "model.gru.pooling")).value == "max"
    [start] = [b for b in at.button if b.label == "Start race"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = store.list_runs()
    assert sorted(r.arch for r in runs) == ["gru", "lstm", "textcnn"]
    tags = {t for r in runs for t in r.tags if t.startswith("race-")}
    assert len(tags) == 1 and all(tags <= set(r.tags) for r in runs)
    assert len({(r.config["training"]["max_steps"], r.config["training"]["seed"]) for r in runs}) == 1


def test_invalid_combination_shows_an_error_not_an_exception(store: Store) -> None:
    at = open_page("train")
    at.multiselect(key=wkey(at, "archs")).set_value(["transformer_encoder"]).run()
    at.number_input(key=wkey(at, "model.transformer_encoder.d_model")).set_value(130).run()  # n_heads 4
    assert not at.exception
    assert any("divisible" in e.value for e in at.error)
    [start] = [b for b in at.button if b.label == "Start"]
    assert start.disabled
    assert store.list_runs() == []


def test_bad_tokenizer_pattern_is_caught_before_start(store: Store) -> None:
    at = open_page("train")
    at.text_input(key=wkey(at, "tokenizer.word.pattern")).input("([").run()
    assert not at.exception
    assert any("tokenizer.pattern" in e.value and "regular expression" in e.value for e in at.error)
    assert next(b for b in at.button if b.label == "Start").disabled
    assert store.list_runs() == []


def test_bad_list_value_shows_an_error(store: Store) -> None:
    at = open_page("train")
    at.multiselect(key=wkey(at, "archs")).set_value(["textcnn"]).run()
    at.text_input(key=wkey(at, "model.textcnn.kernel_sizes")).input("3, x").run()
    assert not at.exception
    assert any("kernel_sizes" in e.value for e in at.error)


def test_uploaded_files_are_offered_as_data(store: Store) -> None:
    uploads = store.home / "uploads"
    uploads.mkdir()
    (uploads / "reviews.csv").write_text("text,label\ngood film,pos\nbad film,neg\n" * 20)
    at = open_page("train")
    at.selectbox(key=wkey(at, "data")).set_value("upload: reviews.csv").run()
    assert not at.exception
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    [run] = store.list_runs()
    assert run.config["data"]["name"] == "file"
    assert Path(run.config["data"]["path"]) == (uploads / "reviews.csv").resolve()


def test_train_starts_from_the_data_page_choice(store: Store) -> None:
    uploads = store.home / "uploads"
    uploads.mkdir()
    (uploads / "notes.csv").write_text("body,kind\ngood film,pos\nbad film,neg\n" * 20)
    at = open_page("train")
    # What the Data page's "Use this data in Train" leaves: another task's built-in dataset...
    at.session_state["train_data"] = {"task": "language_model", "data": {"name": "python_docs"}}
    at.run()
    assert not at.exception and "train_data" not in at.session_state  # taken once
    assert at.selectbox(key="train.task").value == "language_model"
    assert at.selectbox(key=wkey(at, "data")).value == "python_docs"
    # ...or an uploaded file with the columns picked there.
    at.session_state["train_data"] = {"task": "classification", "data": {
        "name": "file", "path": str(uploads / "notes.csv"), "text_column": "body", "label_column": "kind"}}
    at.run()
    assert at.selectbox(key="train.task").value == "classification"
    assert at.selectbox(key=wkey(at, "data")).value == "upload: notes.csv"
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    [run] = store.list_runs()
    assert run.config["data"]["text_column"] == "body" and run.config["data"]["label_column"] == "kind"


# -- home ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("button", "archs"),
    [("demo.0", ["transformer_decoder"]), ("demo.1", ["lstm", "transformer_encoder"]),
     ("demo.2", ["transformer_seq2seq"]), ("demo.3", ["transformer_decoder"])],
)
def test_home_demo_queues_runs_and_opens_the_run_page(store: Store, button: str, archs: list[str]) -> None:
    at = open_page()
    at.button(key=button).click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = store.list_runs()
    assert sorted(r.arch for r in runs) == archs
    assert all(r.status == "queued" for r in runs)
    if len(runs) > 1:  # a race: one shared tag
        assert len({t for r in runs for t in r.tags if t.startswith("race-")}) == 1
    for run in runs:  # each entrant has the task's tuned model settings it can take
        tuned = tuned_settings(run.task, "model", run.arch)
        assert {k: run.config["model"][k] for k in tuned} == tuned
    assert at.query_params["run"] in {r.id for r in runs}


# -- run -----------------------------------------------------------------------------------------
def test_run_page_shows_progress_charts_and_stop_requests_a_stop(store: Store) -> None:
    run = make_run(store, "classification", status="running")
    at = open_page("run", run=run.id)
    assert not at.error
    [progress] = at.get("progress")
    assert "step 50 / 300" in progress.proto.text
    # The run asked for 500 steps; the bar ends at 300, and says why (core.budget's epoch cap).
    assert "(Steps 500, cut to 20 passes over the training data: Max epochs)" in progress.proto.text
    assert len(plotly_charts(at)) >= 3  # loss, learning rate, val accuracy
    assert any(m.label == THROUGHPUT_LABEL and m.value == "12,345" for m in at.metric)
    [stop] = [b for b in at.button if b.label == "Stop"]
    stop.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.get_run(run.id).stop_requested
    # Who asked, in the run's log, before anything the trainer writes about the stop.
    assert [e.message for e in store.events(run.id)][-1].startswith("stop requested by the Stop button of the Run page")


def test_run_page_draws_the_gradient_norm_only_when_the_run_logged_it(store: Store) -> None:
    plain = make_run(store, "classification", status="completed")
    logged = make_run(store, "classification", status="completed", **{"training.log_grad_norm": True})
    store.log_metrics(logged.id, [(s, "train", "grad_norm", 2.0 / s, s * 0.1) for s in range(10, 60, 10)])

    def titles(run: Run) -> list[str]:
        at = open_page("run", run=run.id)
        assert not at.error
        return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in plotly_charts(at)]

    assert "Gradient norm (before clipping)" not in titles(plain)
    [chart] = [c for c in plotly_charts(open_page("run", run=logged.id))
               if "Gradient norm" in json.loads(c.proto.spec)["layout"]["title"]["text"]]
    [trace] = json.loads(chart.proto.spec)["data"]
    y = trace["y"]  # plotly sends arrays as base64 typed arrays
    drawn = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]) if isinstance(y, dict) else y
    assert list(drawn) == pytest.approx([2.0 / s for s in range(10, 60, 10)])  # the stored values, drawn


def test_run_page_metric_cards_read_the_metric_catalogue(store: Store) -> None:
    run = make_run(store, "translation", status="completed")
    store.set_summary(run.id, {"val": {"loss": 1.23456, "bleu": 27.3456}, "best": {"value": 27.3456, "step": 50},
                               "metric": "bleu"})
    at = open_page("run", run=run.id)
    cards = {m.label: m.value for m in at.metric}
    # One label per metric ("Best val BLEU" beside "val BLEU", not "Best val bleu"), in its format.
    assert cards["Best val BLEU"] == "27.35" and cards["val BLEU"] == "27.35", cards


def test_run_page_shows_the_sample_of_a_language_model(store: Store) -> None:
    run = make_run(store, "language_model", status="completed")
    at = open_page("run", run=run.id)
    assert any("return 'world'" in c.value for c in at.code)


def test_run_page_shows_sample_translations(store: Store) -> None:
    run = make_run(store, "translation", status="completed")
    at = open_page("run", run=run.id)
    assert any("Sample translations" in m.value and "greedy" in m.value for m in at.markdown)
    [table] = [t.value for t in at.table if "hypothesis" in t.value.columns]  # a static table: text wraps
    assert table["hypothesis"].tolist() == ["c b b", "e d"]


def test_run_page_overlays_a_race(store: Store) -> None:
    runs = [make_run(store, "classification", status="completed", **{"model.name": arch}) for arch in ("lstm", "gru")]
    for r in runs:
        store.set_tags(r.id, ["race-abc123"])
    # The demo's question: which learns negation faster? (gru reaches 80% at step 50, lstm never)
    store.log_metrics(runs[0].id, [(25, "val", "negation_accuracy", 0.6, 1.0), (50, "val", "negation_accuracy", 0.7, 2.0)])
    store.log_metrics(runs[1].id, [(25, "val", "negation_accuracy", 0.7, 1.0), (50, "val", "negation_accuracy", 0.85, 2.0)])
    at = open_page("run", run=runs[0].id)
    assert any("Race abc123" in s.value for s in at.subheader)
    [loss_chart] = [c for c in plotly_charts(at) if '"Loss"' in c.proto.spec][:1]
    assert runs[0].name in loss_chart.proto.spec and runs[1].name in loss_chart.proto.spec
    assert any("Same data Sentiment reviews, 500 steps, batch 32, seed 0" in c.value for c in at.caption)
    # The settings that differ, above the chart: the architecture and what the GRU left at its
    # own defaults (make_run switches components the CLI's way).
    diff = next(f.value for f in at.dataframe if f.value.index.name == "setting")
    assert list(diff.columns) == [runs[0].name, runs[1].name]
    # Each setting by the title the Train form gives it; the architecture in words.
    assert diff.loc["Architecture", runs[0].name] == "LSTM" and diff.loc["Architecture", runs[1].name] == "GRU"
    assert {"Bidirectional", "Pooling"} <= set(diff.index) and "Steps" not in diff.index
    assert any(s.value.endswith("LSTM vs GRU") for s in at.subheader)
    # The LSTM has completed without reaching the mark: it never will.
    assert any("First to 80% accuracy on negations: **GRU** at step 50." in m.value
               and "LSTM never reached it: it completed" in m.value for m in at.markdown)
    assert any('"val Accuracy on negations"' in c.proto.spec for c in plotly_charts(at))


def test_run_page_of_a_run_that_failed_before_any_step(store: Store) -> None:
    run = create_run(store, validate_config(default_config("classification")), status="queued")
    store.set_status(run.id, "failed", error="tokenizer.pattern = '([': not a regular expression")
    at = open_page("run", run=run.id)
    assert any("No metrics" in i.value for i in at.info)
    assert not plotly_charts(at)  # no empty charts waiting for points that never come


def test_run_page_falls_back_for_an_unknown_run(store: Store) -> None:
    run = make_run(store, status="completed")
    at = open_page("run", run="nope")
    assert any("no run" in w.value for w in at.warning)
    assert at.query_params["run"] == run.id


def test_resume_requeues_a_stopped_run(store: Store) -> None:
    run = make_run(store, status="stopped")
    at = open_page("run", run=run.id)
    [resume] = [b for b in at.button if b.label == "Resume"]
    resume.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.get_run(run.id).status == "queued"


def test_a_pretrained_architecture_brings_its_tokenizer_and_learning_rate(store: Store) -> None:
    at = open_page("train")
    task_lr = at.number_input(key=wkey(at, "optimizer.adamw.lr")).value
    at.multiselect(key=wkey(at, "archs")).set_value(["hf_pretrained"]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key=wkey(at, "tokenizer")).value == "pretrained"
    assert at.number_input(key=wkey(at, "optimizer.adamw.lr")).value == 1e-4
    # Back to a model trained from scratch: the task's own tokenizer and learning rate again.
    at.multiselect(key=wkey(at, "archs")).set_value(["lstm"]).run()
    assert at.selectbox(key=wkey(at, "tokenizer")).value == default_config("classification")["tokenizer"]["name"]
    assert at.number_input(key=wkey(at, "optimizer.adamw.lr")).value == task_lr
    # A rate the user typed is theirs: changing the architecture keeps it.
    at.number_input(key=wkey(at, "optimizer.adamw.lr")).set_value(2e-3).run()
    at.multiselect(key=wkey(at, "archs")).set_value(["hf_pretrained"]).run()
    assert at.number_input(key=wkey(at, "optimizer.adamw.lr")).value == 2e-3
    assert at.selectbox(key=wkey(at, "tokenizer")).value == "pretrained"
    assert any("Pretrained (Hugging Face)** brings its own settings, set below: Tokenizer pretrained" in c.value
               for c in at.caption)


def test_a_race_of_a_pretrained_and_a_from_scratch_model_gives_each_its_settings(store: Store) -> None:
    at = open_page("train")
    at.multiselect(key=wkey(at, "archs")).set_value(["lstm", "hf_pretrained"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Pretrained (Hugging Face)** uses Tokenizer pretrained, Learning rate 0.0001" in c.value for c in at.caption)
    [start] = [b for b in at.button if b.label == "Start race"]
    start.click().run()
    runs = {r.arch: r for r in store.list_runs()}
    assert runs["hf_pretrained"].config["tokenizer"]["name"] == "pretrained"
    assert runs["hf_pretrained"].config["optimizer"]["lr"] == 1e-4
    lstm = runs["lstm"].config
    assert lstm["tokenizer"]["name"] == "word" and lstm["optimizer"]["lr"] == tuned_settings("classification", "optimizer", "adamw")["lr"]


def test_run_page_progress_names_no_cut_when_the_budget_was_not_cut(store: Store) -> None:
    run = make_run(store, "classification", status="running", **{"training.max_steps": 300})
    [progress] = open_page("run", run=run.id).get("progress")
    assert progress.proto.text == "step 50 / 300"
