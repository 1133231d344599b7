"""Error analysis (core.examples) against the task's own evaluation, and the CLI verbs
that look inside: ``lmwb eval --examples``, ``explain``, ``lens``, ``patch``.

Tiny runs are really trained once for the module, in their own workbench home.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sacrebleu
import torch

from core import examples as ex
from core.cli import main
from core.config import apply_overrides, default_config
from core.inspect.patching import DEMO
from core.runs import evaluate_file, load_trained
from core.store import Store
from core.train import build_task, load_dataset
from tests.trained_runs import topics_classifier, train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-examples-home")
    store = Store(home=home)
    translation = default_config("translation")
    translation["data"]["n_examples"] = 300
    translation["task"]["eval_max_sentences"] = 8
    translation["model"].update(d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1)
    translation["training"].update(max_steps=120, eval_every=120, batch_size=32)
    demo = apply_overrides(default_config("language_model"), {
        **DEMO.overrides, "data.n_sentences": 2000, "model.n_layers": 1, "model.d_model": 32, "model.d_ff": 64,
        "training.max_steps": 60, "training.eval_every": 60})
    ids = {
        "lstm": train_run(store, "ex-lstm", topics_classifier(
            {"name": "lstm", "embed_dim": 16, "hidden_size": 16}, 300, 30)),
        "cnn": train_run(store, "ex-cnn", topics_classifier(
            {"name": "textcnn", "embed_dim": 16, "n_filters": 8}, 300, 30)),
        "translation": train_run(store, "ex-reverse", translation),
        "gpt": train_run(store, "ex-gpt", demo, tags=(DEMO.tag,)),
    }
    return home, ids


@pytest.fixture
def runs(home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("LMWB_HOME", str(home[0]))
    yield home[1]


def test_examples_table_equals_the_confusion_matrix(runs: dict[str, str], tmp_path: Path) -> None:
    store = Store()
    trained = load_trained(store, runs["lstm"])
    examples = ex.example_table(trained)
    task = build_task(trained.config, trained.tokenizer, trained.task.state, torch.device("cpu"))
    task.set_data(load_dataset(trained.config))
    result = task.evaluate(trained.model, None, 16)  # the trainer's evaluation, batched by length
    matrix = np.asarray(result.details["confusion_matrix"]["matrix"])
    assert result.details["confusion_matrix"]["labels"] == examples.labels
    np.testing.assert_array_equal(ex.confusion(examples).to_numpy(), matrix)
    assert examples.table["correct"].mean() == pytest.approx(result.metrics["accuracy"])
    assert examples.table["loss"].mean() == pytest.approx(result.metrics["loss"], rel=1e-4)
    # A confusion-matrix cell's examples are exactly that many rows.
    for i, true in enumerate(examples.labels):
        for j, pred in enumerate(examples.labels):
            assert len(ex.filter_examples(examples, labels=[true], predictions=[pred])) == matrix[i, j]
    # Slices: the length buckets partition the examples; a label's accuracy is its recall.
    table = ex.slices(examples)
    assert table[table["slice"] == "length"]["examples"].sum() == len(examples.table)
    recall = {name: v["recall"] for name, v in result.details["per_class"].items()}
    for row in table[table["slice"] == "label"].itertuples():
        assert row.accuracy == pytest.approx(recall[row.value])
    wrong = ex.filter_examples(examples, outcome="wrong", sort="confidence")
    assert not wrong["correct"].any() and wrong["confidence"].is_monotonic_decreasing
    # A data file (what lmwb eval --data reads) gives the same agreement with evaluate_file.
    path = tmp_path / "eval.tsv"
    pd.DataFrame({"text": examples.table["text"][:25], "label": examples.table["label"][:25]}).to_csv(path, sep="\t", index=False)
    on_file = ex.example_table(trained, path)
    scored = evaluate_file(trained, path)
    np.testing.assert_array_equal(ex.confusion(on_file).to_numpy(), scored.details["confusion_matrix"]["matrix"])


def test_sentence_bleu_agrees_with_sacrebleu(runs: dict[str, str], tmp_path: Path) -> None:
    trained = load_trained(Store(), runs["translation"])
    examples = ex.example_table(trained)
    df = examples.table
    expected = [sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(df["hypothesis"], df["reference"], strict=True)]
    np.testing.assert_allclose(df["bleu"], expected)
    assert df["bleu"].max() > 0 and df["bleu"].min() < 100  # scores worth comparing
    assert df["bleu"].mean() == pytest.approx(np.mean(expected))
    chrf = [sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(df["hypothesis"], df["reference"], strict=True)]
    np.testing.assert_allclose(df["chrf"], chrf)
    assert (df["loss"] > 0).all() and df["length"].min() >= 1
    # On a file: exact matches and the "all" slice's BLEU are the evaluation's own metrics.
    path = tmp_path / "pairs.tsv"
    df[["source", "reference"]][:20].rename(columns={"reference": "target"}).to_csv(path, sep="\t", index=False)
    on_file = ex.example_table(trained, path)
    metrics = evaluate_file(trained, path).metrics
    assert on_file.table["correct"].mean() == pytest.approx(metrics["exact_match"])
    assert ex.slices(on_file).iloc[0]["bleu"] == pytest.approx(metrics["bleu"])


def test_runs_disagree_on_some_examples(runs: dict[str, str]) -> None:
    store = Store()
    a, b = (ex.example_table(load_trained(store, runs[k])) for k in ("lstm", "cnn"))
    found = ex.disagreement({"lstm": a, "cnn": b})
    differ = (a.table["prediction"] != b.table["prediction"]).sum()
    assert found.total == len(a.table) and found.disagree == differ == len(found.rows) == found.counts["examples"].sum()
    assert (found.rows["prediction · lstm"] != found.rows["prediction · cnn"]).all()
    with pytest.raises(Exception, match="same examples"):
        ex.disagreement({"lstm": a, "reverse": ex.example_table(load_trained(store, runs["translation"]))})


def test_cli_eval_examples_explain_lens_patch(runs: dict[str, str], tmp_path: Path, capsys) -> None:
    out = tmp_path / "examples.csv"
    assert main(["eval", "ex-lstm", "--examples", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "examples of the validation split written to" in printed and "accuracy" in printed
    lines = printed.splitlines()
    assert lines[1].startswith("all examples ") and lines[2].startswith("length ")
    written = pd.read_csv(out, index_col="example")
    expected = ex.example_table(load_trained(Store(), runs["lstm"])).table
    pd.testing.assert_frame_equal(written, expected.rename_axis("example"), check_dtype=False)

    assert main(["explain", "ex-lstm", "the team won the final match", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["tokens"]) == len(doc["scores"]) == 6 and doc["completeness"]["ok"]
    assert main(["explain", "ex-lstm", "shares fell", "--method", "grad_x_input", "--target", "arts"]) == 0
    table = capsys.readouterr().out
    assert "logit of class 'arts'" in table and "shares" in table and "Completeness" not in table
    assert main(["explain", "ex-lstm", "shares fell", "--method", "lime"]) == 2  # argparse names the choices
    assert main(["explain", "ex-lstm", "shares fell", "--target", "weather"]) == 2
    assert "not a class of this run" in capsys.readouterr().err

    assert main(["lens", "ex-gpt", DEMO.clean]) == 0
    lens = capsys.readouterr().out.splitlines()
    assert lens[-1].startswith("after block 0") and "embeddings" in lens[-2]
    assert main(["patch", "ex-gpt", "--clean", DEMO.clean, "--corrupt", DEMO.corrupt,
                 "--answer", DEMO.answer, "--wrong", DEMO.wrong, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"] == ["embeddings", "after block 0"] and len(doc["restored"][0]) == 5
    assert doc["restored"][0][3] == pytest.approx(1.0, abs=1e-4)  # the noun carries the pronoun in the embeddings
    assert main(["patch", "ex-gpt", "--clean", "the king", "--corrupt", "the king said"]) == 2
    assert "equally long" in capsys.readouterr().err
    assert main(["lens", "ex-lstm", "the"]) == 2
