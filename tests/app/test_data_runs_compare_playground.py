"""Page tests (Streamlit AppTest) for Data, Runs, Compare and Playground, plus the pure helpers
behind them (charts, upload handling, the runs table).

Every test has its own workbench home (tests/conftest.py) and runs without worker processes.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from app.components import charts
from app.components import runs_table as runs_page
from app.components.uploads import save_upload, stored_uploads
from core.config import default_config, validate_config
from core.data import reading
from core.errors import DataError
from core.metrics import classification_metrics, scalars
from core.runs import create_run, execute_run
from core.store import Run, Store

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds per script run: generous, the CI box is shared


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def page(name: str) -> AppTest:
    return AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=TIMEOUT)


def charts_in(at: AppTest) -> list[Any]:
    return list(at.get("plotly_chart"))


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first st.dataframe holding these columns (display tables carry no key in AppTest)."""
    for frame in at.dataframe:
        if set(columns) <= set(frame.value.columns):
            return frame.value
    raise AssertionError(f"no table with columns {columns}")


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# -- stored runs without training ----------------------------------------------------------------
_CONFIGS: dict[str, dict[str, Any]] = {}


def _config(task: str) -> dict[str, Any]:
    if task not in _CONFIGS:  # validating is the slow part of making hundreds of runs
        _CONFIGS[task] = validate_config(default_config(task)).to_dict()
    return _CONFIGS[task]


def add_run(store: Store, task: str = "classification", *, seed: int = 0, name: str | None = None,
            lr: float = 1e-3, tags: tuple[str, ...] = ()) -> Run:
    """A completed run with metric series and a summary shaped like the trainer's."""
    config = _config(task)
    config = {**config, "optimizer": {**config["optimizer"], "lr": lr}}
    run = store.create_run(config, name=name, task=task, arch=config["model"]["name"],
                           status="completed", tags=tags)
    rng = np.random.default_rng(seed)
    steps = range(10, 110, 10)
    rows = [(s, "train", "loss", 2.0 / s**0.5 + rng.random() * 0.01, s * 0.05) for s in steps]
    if task == "classification":
        y = rng.integers(0, 2, 200)
        details = classification_metrics(y, np.clip(y * 0.6 + rng.random(200) * 0.5, 0, 1), ["neg", "pos"])
        val = {"loss": 0.5, **scalars(details)}
        data = {"train_examples": 3600, "val_examples": 400, "classes": 2}
        metric = "accuracy"
    else:
        details, val = {}, {"loss": 1.4, "perplexity": 4.05, "bits_per_char": 2.0}
        data = {"train_tokens": 800_000, "val_tokens": 90_000}
        metric = "loss"
    rows += [(s, "val", k, v, s * 0.05) for s in steps[4::5] for k, v in val.items()]
    store.log_metrics(run.id, rows)
    store.set_summary(run.id, {
        "val": val, "details": details, "metric": metric, "best": {"value": val[metric], "step": 100},
        "data": data, "duration_s": 5.0, "params": 12345,
    })
    return store.get_run(run.id)


def tiny_trained_run(store: Store, task: str) -> Run:
    """Really train a very small run on the CPU so it has a checkpoint."""
    raw = default_config(task)
    if task == "classification":
        raw["data"]["n_examples"] = 400
        raw["model"].update(embed_dim=16, hidden_size=16)
    elif task == "language_model":
        raw["data"] = {"name": "arithmetic", "n_examples": 300}
        raw["task"].update(context_length=16, sample_length=0)
        raw["model"].update(d_model=16, n_heads=2, d_ff=32, n_layers=1)
    elif task == "translation":  # the built-in reversal
        raw["data"]["n_examples"] = 300
        raw["task"]["eval_max_sentences"] = 8
        raw["model"].update(d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1)
    elif task == "summarisation":  # the built-in briefs
        raw["data"]["n_examples"] = 200
        raw["task"]["eval_max_sentences"] = 8
        raw["model"].update(d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1)
    elif task == "word_embeddings":  # planted king/queen-style sentences: known words to look up
        raw["data"] = {"name": "planted_relations", "n_sentences": 500}
        raw["tokenizer"] = {"name": "word", "min_freq": 1}
        raw["model"] = {"name": "word2vec", "dim": 8}
    else:  # masked_lm on the built-in sentiment sentences
        raw["data"]["n_examples"] = 300
        raw["task"]["max_length"] = 16
        raw["model"].update(d_model=16, n_heads=2, d_ff=32, n_layers=1)
    raw["training"].update(max_steps=10, eval_every=10, batch_size=16, device="cpu")
    run = create_run(store, validate_config(raw), name=f"tiny-{task}")
    execute_run(store, run.id)
    return store.get_run(run.id)


# -- charts ---------------------------------------------------------------------------------------
def test_charts_build_figures_for_data_and_for_nothing() -> None:
    curves = pd.DataFrame({
        "run": ["a", "a", "b", "b"], "step": [1, 2, 1, 2], "split": ["train", "val", "train", "val"],
        "name": "loss", "value": [1.0, 0.9, 0.8, 0.7], "wall_time": [0.1, 0.2, 0.1, 0.2],
    })
    fig = charts.metric_curves_figure(curves, "loss")
    assert [t.line.dash for t in fig.data] == ["solid", "dash", "solid", "dash"]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color  # one colour per run
    figures = [
        fig,
        charts.metric_curves_figure(curves.iloc[0:0], "loss"),
        charts.metric_curves_figure(curves, "loss", x="epoch"),  # no epoch column: a note, no error
        charts.confusion_matrices_figure({"a": {"matrix": [[5, 1], [2, 7]], "labels": ["neg", "pos"]}}),
        charts.confusion_matrices_figure({}),
        charts.roc_figure({"a": {"pos": {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "auc": 0.8}}}),
        charts.roc_figure({"a": {}}),
        charts.parallel_coordinates_figure(
            pd.DataFrame({"model.name": ["lstm", "gru"], "optimizer.lr": [1e-3, 1e-2], "accuracy": [0.8, 0.7]}),
            "accuracy"),
        charts.label_balance_figure({"neg": 3, "pos": 5}),
        charts.length_histogram_figure([3, 5, 8, 13]),
        charts.probabilities_bar_figure({"neg": 0.2, "pos": 0.8}),
    ]
    for figure in figures:
        assert isinstance(figure, go.Figure)
        figure.to_json()  # serialisable: what st.plotly_chart needs


def test_class_names_are_plain_text_in_charts() -> None:
    fig = charts.probabilities_bar_figure({"<unk>": 0.25, "pos%{x}": 0.75})
    assert list(fig.data[0].y) == ["&lt;unk&gt;", "pos% {x}"]


def test_side_by_side_bars_keep_the_class_order() -> None:
    # Two runs' charts next to each other: the same row is the same class, whichever wins.
    left = charts.probabilities_bar_figure({"negative": 0.9, "positive": 0.1}, by_class=True)
    right = charts.probabilities_bar_figure({"negative": 0.2, "positive": 0.8}, by_class=True)
    assert list(left.data[0].y) == list(right.data[0].y) == ["positive", "negative"]  # drawn bottom-up
    assert list(charts.probabilities_bar_figure({"negative": 0.2, "positive": 0.8}).data[0].y)[-1] == "positive"
    assert 1 in left.layout.xaxis.tickvals


def test_comparison_figures_put_every_run_in_one_chart() -> None:
    matrices = {name: {"matrix": [[5, 1], [2, 7]], "labels": ["neg", "pos"]} for name in ("a", "b", "c", "d")}
    fig = charts.confusion_matrices_figure(matrices)
    assert len(fig.data) == 4 and [a.text for a in fig.layout.annotations] == ["a", "b", "c", "d"]
    assert fig.data[3].xaxis == "x4" and fig.layout.height > 500  # wrapped onto a second row
    curve = {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "auc": 0.8}
    fig = charts.roc_figure({"a": {"pos": curve}, "b": {"x": curve, "y": curve}}, colors={"a": "red", "b": "blue"})
    lines = [t for t in fig.data if t.name != "chance"]
    assert [t.line.color for t in lines] == ["red", "blue", "blue"]
    assert [t.line.dash for t in lines] == ["solid", "solid", "dash"] and lines[0].name == "a · pos (AUC 0.800)"
    # Three runs with long names: each matrix's title is cut to its third of the width.
    long = {f"transformer_encoder-with-a-long-name-{i}": matrices["a"] for i in range(3)}
    titles = [a.text for a in charts.confusion_matrices_figure(long).layout.annotations]
    assert all(len(t) <= 30 for t in titles) and titles[0].endswith("…")
    # Eight differing parameters: axis names lose their section and slant, so none overlap.
    params = pd.DataFrame({f"model.p{i}": [1, 2, 3] for i in range(8)} | {"optimizer.lr": [1e-3, 2e-3, 3e-3],
                          "Accuracy": [0.5, 0.6, 0.7]})
    fig = charts.parallel_coordinates_figure(params, "Accuracy")
    assert fig.data[0].labelangle == -30 and [d.label for d in fig.data[0].dimensions][:2] == ["p0", "p1"]


# -- Data page --------------------------------------------------------------------------------------
GOOD_CSV = "text,label\n" + "".join(
    f"review {i} was {'great' if i % 2 else 'dull'},{'pos' if i % 2 else 'neg'}\n" for i in range(40)
)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("empty.csv", b"", "file is empty"),
    ("ragged.csv", b"text,label\nok,pos\nnot,ok,here\n", "ragged.csv, line 3: row has 3 fields"),
    ("latin1.csv", b"text,label\ncaf\xe9,pos\n", "latin1.csv, line 2: not valid UTF-8"),
    ("broken.csv.gz", b"\x1f\x8b\x08not really gzip", "not a valid gzip file"),
    ("header_only.tsv", b"text\tlabel\n", "has a header but no data rows"),
])
@pytest.mark.faults
def test_save_upload_refuses_bad_files_and_keeps_stored_ones(
    workbench_home: Path, name: str, content: bytes, expected: str
) -> None:
    kept = save_upload(name, GOOD_CSV.encode())  # a good file of the same name first
    with pytest.raises(DataError) as info:
        save_upload(name, content)
    message = str(info.value)
    assert expected in message and ".incoming" not in message  # names the upload, not a temp path
    assert kept.read_bytes() == GOOD_CSV.encode()  # nothing already stored is lost
    assert stored_uploads() == [kept.name]  # no half-written or staging file left


@pytest.mark.faults
def test_save_upload_size_limit_and_safe_names(workbench_home: Path) -> None:
    with pytest.raises(DataError, match="over the 0.0001 MB upload limit"):
        save_upload("big.csv", GOOD_CSV.encode(), max_mb=0.0001)
    uploads = workbench_home / "uploads"
    outside = save_upload("../../../etc/passwd.csv", GOOD_CSV.encode())
    assert outside.parent == uploads.resolve() and outside.name == "passwd.csv"
    windows = save_upload(r"C:\Users\me\my data.csv.gz", gzip.compress(GOOD_CSV.encode()))
    assert windows.parent == uploads.resolve() and windows.name == "my_data.csv.gz"
    again = save_upload("passwd.csv", GOOD_CSV.encode())  # same bytes: same file
    other = save_upload("passwd.csv", GOOD_CSV.replace("review", "film").encode())
    assert again == outside and other.name == "passwd-2.csv"
    assert outside.read_bytes() == GOOD_CSV.encode()


def test_data_page_builtin_preview_and_use_in_train() -> None:
    at = page("data").run()
    no_exception(at)
    assert len(charts_in(at)) == 2  # label balance + token lengths
    tokens = frame_with(at, "token", "id")
    assert list(tokens.columns) == ["token", "id"] and len(tokens) > 0
    at.text_input(key="data_try:builtin:sentiment:classification").input("not good at all").run()
    assert len(frame_with(at, "token", "id")) == 4  # word tokenizer: 4 words
    at.button(key="data_use").click().run()
    assert at.session_state["train_data"] == {"task": "classification", "data": {"name": "sentiment"}}
    assert any("will start from this data: Classification, Sentiment reviews." in m.value for m in at.success)
    at.radio(key="data_task").set_value("language_model").run()
    no_exception(at)
    # The sentence to try is the new data's own first example, not the last task's sentence.
    (sentence,) = [t.value for t in at.text_input if t.label == "Try a sentence"]
    assert sentence != "not good at all" and sentence
    at.selectbox(key="data_tok").set_value("bpe").run()  # a tokenizer with other params
    no_exception(at)
    assert frame_with(at, "token", "id")["id"].notna().all()
    # Translation data shows as source -> target pairs, counted in pairs.
    at.radio(key="data_task").set_value("translation").run()
    no_exception(at)
    pairs = frame_with(at, "source", "target")
    assert len(pairs) > 0 and pairs["target"].map(bool).all()
    assert any(m.label == "Training pairs" for m in at.metric)


def test_data_page_previews_a_stored_file_and_hands_it_to_train(workbench_home: Path) -> None:
    uploads = workbench_home / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "reviews.csv").write_text(GOOD_CSV.replace("text,label", "review,sentiment"))
    at = page("data").run()
    at.radio(key="data_source").set_value("Your file").run()
    no_exception(at)
    assert at.selectbox(key="data_file").value == "reviews.csv"
    assert len(at.dataframe[0].value) == 40  # the rows preview
    assert at.selectbox(key="data_text_col:reviews.csv").value == "review"  # detected columns
    assert at.selectbox(key="data_label_col:reviews.csv").value == "sentiment"
    assert len(charts_in(at)) == 2
    at.button(key="data_use").click().run()
    assert at.session_state["train_data"] == {"task": "classification", "data": {
        "name": "file", "path": str((uploads / "reviews.csv").resolve()),
        "text_column": "review", "label_column": "sentiment",
    }}


@pytest.mark.faults
def test_data_page_bad_uploads_show_errors_not_tracebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_FILE_MB", 0.0006)  # 600 bytes: GOOD_CSV is over it
    assert len(GOOD_CSV) > 600
    at = page("data").run()
    at.radio(key="data_source").set_value("Your file").run()
    # The uploader by place: a refused upload empties it under a new key (tests/app/test_first_ten_minutes.py).
    at.file_uploader[0].set_value(("ragged.csv", b"text,label\na,b\nc,d,e\n", "text/csv")).run()
    no_exception(at)
    assert "ragged.csv, line 3" in at.error[0].value
    one_class = "text,label\n" + "".join(f"sentence {i},pos\n" for i in range(20))
    at.file_uploader[0].set_value(("one_class.csv", one_class.encode(), "text/csv")).run()
    no_exception(at)
    assert any("single class" in e.value for e in at.error)  # stored, but refused for classification
    at.file_uploader[0].set_value(("big.csv", GOOD_CSV.encode(), "text/csv")).run()
    no_exception(at)
    assert any("big.csv" in e.value and "limit" in e.value for e in at.error)


# -- Runs page -------------------------------------------------------------------------------------
def test_runs_page_empty_store() -> None:
    at = page("runs").run()
    no_exception(at)
    assert "No runs yet" in at.info[0].value


def test_runs_page_table_actions_and_delete(store: Store) -> None:
    first = add_run(store, name="alpha", tags=("baseline",))
    second = add_run(store, "language_model", seed=1, name="beta")
    at = page("runs").run()
    no_exception(at)
    assert "accuracy" not in at.dataframe(key="runs_table").value.columns  # behind "More columns"
    at.multiselect(key="runs_more_columns").set_value(["accuracy", "perplexity"]).run()
    table = at.dataframe(key="runs_table").value
    assert set(table["name"]) == {"alpha", "beta"}
    assert float(table.set_index("name").loc["alpha", "accuracy"]) == pytest.approx(first.summary["val"]["accuracy"], abs=1e-3)
    assert float(table.set_index("name").loc["beta", "perplexity"]) == pytest.approx(4.05)
    # What a run lacks is an empty cell (st.dataframe would write "None"): beta has no accuracy.
    assert table.set_index("name").loc["beta", "accuracy"] == "" and not table.isna().any().any()
    assert "lmwb train" in at.code[0].value

    at.text_input(key="runs_f_text").input("alp").run()
    assert list(at.dataframe(key="runs_table").value["name"]) == ["alpha"]
    at.text_input(key="runs_f_text").input("nothing like it").run()
    assert at.selectbox(key="runs_selected__empty").value == "(no run matches the filters)"
    at.text_input(key="runs_f_text").input("").run()

    at.selectbox(key="runs_selected").set_value(second.id).run()
    at.text_input(key=f"runs_name_{second.id}").input("alpha").run()  # taken by the other run
    at.button(key="runs_rename").click().run()
    assert any("already used" in e.value for e in at.error) and store.get_run(second.id).name == "beta"
    at.text_input(key=f"runs_name_{second.id}").input("beta-renamed").run()
    at.button(key="runs_rename").click().run()
    no_exception(at)
    assert store.get_run(second.id).name == "beta-renamed"

    at.selectbox(key="runs_selected").set_value(first.id).run()
    at.button(key="runs_delete").click().run()
    assert "cannot be undone" in at.warning[0].value
    at.button(key="runs_delete_yes").click().run()
    no_exception(at)
    assert [r.id for r in store.list_runs()] == [second.id]
    assert list(at.dataframe(key="runs_table").value["name"]) == ["beta-renamed"]
    assert "Deleted alpha" in at.success[0].value


def test_numbers_show_as_aligned_text_that_sorts_as_numbers() -> None:
    values = pd.Series([0.003, 0.0005, None, 12.5, 1e-5, 0.1])
    text = runs_page.aligned_text(values, "%.6f")
    assert text[2] == "" and len({len(t) for t in text if t}) == 1  # one width: aligned
    order = sorted(range(len(values)), key=lambda i: text[i])  # the grid sorts text
    assert [values[i] for i in order if text[i]] == sorted(v for v in values if pd.notna(v))


def test_runs_table_filters() -> None:
    stamp = time.time()
    runs = [
        Run(id="r1", name="lstm-a", task="classification", arch="lstm", config={}, status="completed",
            created_at=stamp, tags=["x"]),
        Run(id="r2", name="gpt-b", task="language_model", arch="transformer_decoder", config={},
            status="failed", created_at=stamp),
    ]
    table = runs_page.runs_table(runs)
    assert list(runs_page.filter_table(table, statuses=["failed"])["id"]) == ["r2"]
    assert list(runs_page.filter_table(table, tags=["x"])["id"]) == ["r1"]
    assert list(runs_page.filter_table(table, text="TRANSFORMER")["id"]) == ["r2"]
    assert len(runs_page.filter_table(table, archs=["lstm"], tasks=["language_model"])) == 0


def test_runs_page_with_200_runs_queries_the_store_once_per_render(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How fast it renders is bench/ui_latency.py's (b), in a real browser.
    for i in range(200):
        add_run(store, "classification" if i % 2 else "language_model", seed=i, name=f"run-{i:03d}")
    calls: dict[str, int] = {}

    def counting(name: str) -> Any:
        original = getattr(Store, name)

        def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
            calls[name] = calls.get(name, 0) + 1
            return original(self, *args, **kwargs)

        return wrapper

    for name in ("list_runs", "get_run", "metrics"):
        monkeypatch.setattr(Store, name, counting(name))
    at = page("runs")
    at.run()
    at.run()
    no_exception(at)
    assert len(at.dataframe(key="runs_table").value) == 200
    assert calls == {"list_runs": 2}  # one query per render, none per run


# -- Compare page ------------------------------------------------------------------------------------
def test_compare_page_empty_store() -> None:
    at = page("compare").run()
    no_exception(at)
    assert "No runs yet" in at.info[0].value


def test_compare_page_two_runs(store: Store) -> None:
    a = add_run(store, seed=1, name="small-lr", lr=1e-4)
    b = add_run(store, seed=2, name="big-lr", lr=1e-2)
    at = page("compare").run()
    no_exception(at)
    assert sorted(at.multiselect(key="compare_runs").value) == sorted([a.id, b.id])
    table = frame_with(at, "Accuracy")
    # the task's headline metrics; every declared one on request, binary and macro F1 apart
    assert len(table) == 2 and {"Accuracy", "F1 (macro)", "ROC-AUC"} <= set(table.columns)
    at.toggle(key="compare_every.classification").set_value(True).run()
    every = next(f.value for f in at.dataframe if "Accuracy" in f.value.index)  # one row a metric
    assert {"F1 (binary)", "F1 (macro)", "PR-AUC"} <= set(every.index) and len(every.columns) == 2
    # curves + the open tab: confusion matrices and ROC curves, every run in one chart each
    assert [c.key for c in charts_in(at)] == ["compare_curves.classification", "compare_confusion", "compare_roc"]
    assert [t.label for t in at.tabs] == ["Confusion matrices and ROC", "Hyperparameters vs metric"]
    at.session_state["compare_tabs"] = "Hyperparameters vs metric"
    at.run()
    no_exception(at)
    assert [c.key for c in charts_in(at)] == ["compare_curves.classification", "compare_parcoords"]
    for x in ("epoch", "wall_time"):
        at.radio(key="compare_x").set_value(x).run()
        no_exception(at)
    at.selectbox(key="compare_metric.classification").set_value("accuracy").run()
    no_exception(at)


def test_compare_page_mixed_tasks(store: Store) -> None:
    lm = add_run(store, "language_model", name="lm")
    a = add_run(store, name="clf-a", seed=1)
    b = add_run(store, name="clf-b", seed=2)
    at = page("compare").run()
    no_exception(at)
    # It starts from runs that can be compared: the newest run's task and data.
    assert at.multiselect(key="compare_runs").value == [b.id, a.id]
    assert not at.warning
    at.multiselect(key="compare_runs").set_value([b.id, a.id, lm.id]).run()
    no_exception(at)
    assert any("differ in tasks (Classification, Language model)" in w.value for w in at.warning)
    # A table per task (tests/app/test_compare_tasks.py checks the charts).
    assert "Perplexity" not in frame_with(at, "Accuracy").columns
    assert {"Perplexity", "Bits per character"} <= set(frame_with(at, "Perplexity").columns)
    # Legends and rows name runs by their names, not "name · arch · status · id".
    assert list(frame_with(at, "Accuracy").index) == ["clf-b", "clf-a"]
    assert list(frame_with(at, "Perplexity").index) == ["lm"]


def test_compare_warns_when_some_runs_score_bleu_lowercased(store: Store) -> None:
    runs = [add_run(store, name=f"mt-{case}", seed=i) for i, case in enumerate(("cased", "lowercased"))]
    for run, case in zip(runs, ("cased", "lowercased"), strict=True):
        store.set_summary(run.id, {**run.summary, "details": {"bleu_case": case}})
    at = page("compare").run()
    no_exception(at)
    assert any("BLEU (lowercased)" in w.value for w in at.warning)
    at.multiselect(key="compare_runs").set_value([runs[0].id]).run()
    assert not any("BLEU" in w.value for w in at.warning)  # one way of scoring: nothing to say


def test_compare_marks_the_best_only_among_runs_of_the_same_task() -> None:
    from pages.compare import highlight_best

    table = pd.DataFrame({"Accuracy": [0.9, 0.8, None], "Loss": [0.3, 0.2, 1.5]}, index=["a", "b", "lm"])
    styler = highlight_best(table, ["clf", "clf", "lm"])
    styler._compute()
    bold = sorted((table.index[r], table.columns[c]) for (r, c), css in styler.ctx.items()
                  if ("font-weight", "bold") in css)
    # a's accuracy and b's loss; the language model's loss is alone in its group: no best.
    assert bold == [("a", "Accuracy"), ("b", "Loss")]


def test_runs_page_sends_the_ticked_runs_to_compare(store: Store) -> None:
    from app.state import COMPARE_HANDOFF_KEY

    runs = [add_run(store, name=f"r{i}", seed=i) for i in range(4)]
    at = page("runs").run()
    table = at.dataframe(key="runs_table").value
    assert list(table.columns[:4]) == ["name", "status", "best", "metric"]  # best without scrolling
    assert at.button(key="runs_compare").disabled  # nothing ticked yet
    # What "Compare N selected" hands over (AppTest cannot tick grid rows; the browser test does).
    at = page("compare")
    at.session_state[COMPARE_HANDOFF_KEY] = [runs[0].id, runs[2].id, runs[3].id]
    at.run()
    no_exception(at)
    assert at.multiselect(key="compare_runs").value == [runs[0].id, runs[2].id, runs[3].id]


# -- Playground page ---------------------------------------------------------------------------------
@pytest.fixture
def trained(store: Store, request: pytest.FixtureRequest) -> Iterator[Run]:
    yield tiny_trained_run(store, request.param)


def test_playground_empty_store() -> None:
    at = page("playground").run()
    no_exception(at)
    assert "No finished runs" in at.info[0].value


@pytest.mark.parametrize("trained", ["classification"], indirect=True)
def test_playground_classifies_text(trained: Run) -> None:
    assert trained.status == "completed"
    at = page("playground").run()
    no_exception(at)
    assert not charts_in(at)
    at.text_area(key="playground_text").input("a moving, wonderful film").run()
    no_exception(at)
    assert len(charts_in(at)) == 1
    assert "Predicted class" in at.markdown[0].value
    assert not at.info  # every word known
    assert trained.arch == "lstm" and not [e for e in at.expander if e.label == "Attention"]  # none to show
    at.text_area(key="playground_text").input("a flabbergasting zorblax film").run()
    assert any("2 of 4 words are not in this run's vocabulary" in i.value and "“zorblax”" in i.value
               for i in at.info)


def test_an_empty_translation_is_explained() -> None:
    from app.components.input_notes import empty_translation_note

    run = Run(id="r1", name="rev", task="translation", arch="transformer_seq2seq", config={},
              status="completed", created_at=0.0, summary={"step": 40, "val": {"bleu": 0.7}})
    assert empty_translation_note(run, ["c b a", "d e"]) is None
    note = empty_translation_note(run, ["", "d e", " "])
    assert note.startswith("2 of 3 translations are empty") and "end-of-sentence" in note
    assert "40 steps" in note and "BLEU 0.7" in note


@pytest.mark.parametrize("trained", ["language_model"], indirect=True)
def test_playground_generates_text(trained: Run) -> None:
    at = page("playground").run()
    no_exception(at)
    at.text_area(key="playground_prompt").input("12+3").run()
    at.number_input(key="playground.seed").set_value(7).run()
    at.button(key="playground_generate").click().run()
    no_exception(at)
    assert not at.error
    assert at.code[0].value.startswith("12+3")
    assert [e for e in at.expander if e.label == "Attention"]  # a GPT has attention to show


@pytest.mark.parametrize("trained", ["translation"], indirect=True)
def test_playground_translates_lines(trained: Run) -> None:
    at = page("playground").run()
    no_exception(at)
    source = at.text_area(key="playground_source")
    assert source.value.strip(), "prefilled with validation sources"
    source.input("a b c\n\nd e f g").run()
    at.number_input(key="playground.beam_size").set_value(3).run()
    at.button(key="playground_translate").click().run()
    no_exception(at)
    assert not at.error
    table = frame_with(at, "source", "translation")
    assert table["source"].tolist() == ["a b c", "d e f g"] and table["translation"].map(bool).all()
    assert len(charts_in(at)) == 1  # cross-attention of the first line
    assert not at.toggle  # no single token embedding to explore in a translation model


@pytest.mark.parametrize("trained", ["summarisation"], indirect=True)
def test_playground_summarises_a_pasted_text(trained: Run) -> None:
    at = page("playground").run()
    no_exception(at)
    document = at.text_area(key="playground_document")
    assert document.value.strip(), "prefilled with a validation document"
    pasted = "the match was won by nina .\n\nit happened on friday . the match was held in lima .\n"
    document.input(pasted).run()
    # The length controls reach the decoder: even a barely trained model says at least six
    # words, none of them twice (no-repeat 1-grams).
    at.number_input(key="playground.min_output_tokens").set_value(6).run()
    at.number_input(key="playground.no_repeat_ngram").set_value(1).run()
    at.button(key="playground_summarise").click().run()
    no_exception(at)
    assert not at.error
    words = at.code[0].value.split()
    assert len(words) >= 6 and len(set(words)) == len(words), words
    assert len(charts_in(at)) == 1  # the cross-attention of document and summary
    assert not at.toggle  # two sides, no single token embedding to explore


def test_playground_run_without_checkpoint_is_a_readable_error(store: Store) -> None:
    add_run(store, name="no-weights")
    at = page("playground").run()
    no_exception(at)
    assert "no checkpoint" in at.error[0].value


@pytest.mark.parametrize("trained", ["word_embeddings"], indirect=True)
def test_playground_word_vectors_neighbours_errors_and_map(trained: Run) -> None:
    at = page("playground").run()
    no_exception(at)
    assert "cannot try" not in " ".join(i.value for i in at.info)
    assert len(charts_in(at)) == 1, "the map of the most frequent words is drawn at once (PCA)"
    at.text_input(key="playground_emb_word").input("King").run()  # case-folded like the CLI
    at.number_input(key="playground_emb_k").set_value(4).run()
    no_exception(at)
    assert not at.error
    table = frame_with(at, "word", "cosine")
    assert len(table) == 4 and "king" not in table["word"].tolist()
    assert table["cosine"].is_monotonic_decreasing and table["cosine"].between(-1.0001, 1.0001).all()

    at.text_input(key="playground_emb_word").input("zyzzyva").run()
    no_exception(at)
    assert "'zyzzyva' is not in the vocabulary" in at.error[0].value

    for name, word in (("a", "man"), ("b", "woman"), ("c", "qwertyuiop")):
        at.text_input(key=f"playground_emb_analogy_{name}").input(word)
    at.text_input(key="playground_emb_sim_a").input("king")
    at.text_input(key="playground_emb_sim_b").input("queen").run()
    no_exception(at)
    assert any("'qwertyuiop'" in e.value for e in at.error)
    assert "king and queen" in at.metric[0].label

    at.radio(key="playground_emb_method").set_value("t-SNE").run()
    at.radio(key="playground_emb_source").set_value("Words I type").run()
    at.text_area(key="playground_emb_words").input("king queen man woman Paris nosuchword").run()
    no_exception(at)
    assert "nosuchword" in at.warning[0].value and "paris" not in at.warning[0].value.lower()
    (chart,) = charts_in(at)
    assert "t-SNE of 5 words" in chart.proto.spec
    assert at.get("download_button"), "the word2vec export is offered"


@pytest.mark.parametrize("trained", ["classification"], indirect=True)
def test_playground_token_embedding_of_any_run_behind_a_toggle(trained: Run) -> None:
    at = page("playground").run()
    assert not charts_in(at)
    at.toggle(key="playground_embedding").set_value(True).run()
    no_exception(at)
    assert len(charts_in(at)) == 1  # the map of the classifier's token embedding
    at.text_input(key="playground_emb_word").input("film").run()
    no_exception(at)
    assert len(frame_with(at, "word", "cosine")) == 10


@pytest.mark.parametrize("trained", ["masked_lm"], indirect=True)
def test_playground_fills_the_mask_and_explains_a_missing_one(trained: Run) -> None:
    at = page("playground").run()
    no_exception(at)
    assert "[MASK]" in at.caption[-1].value
    at.number_input(key="playground.guesses").set_value(3).run()
    at.text_input(key="playground_masked").input("the film was [MASK] and [mask] .").run()
    no_exception(at)
    assert not at.error
    tables = [f.value for f in at.dataframe if "probability" in f.value.columns]
    assert len(tables) == 2 and all(len(t) == 3 for t in tables)
    assert tables[0]["probability"].is_monotonic_decreasing and tables[0]["probability"].sum() <= 1.0

    at.text_input(key="playground_masked").input("the film was good").run()
    no_exception(at)
    assert "no mask" in at.error[0].value
    assert not [f for f in at.dataframe if "probability" in f.value.columns]
