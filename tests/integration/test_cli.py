"""The `lmwb` command line end to end (in-process, against a temporary store)."""

from __future__ import annotations

import csv
import json
import re
import shlex
from pathlib import Path

import pytest

from core.cli import main
from core.config import default_config, validate_config
from core.reproduce import changed_settings, reproduce_command, short_command


def _train(capsys, *extra: str) -> str:
    code = main([
        "train", "--task", "classification", "--name", "cli-run",
        "--set", "data.n_examples=600", "--set", "model.hidden_size=32", "--set", "model.embed_dim=32",
        "--set", "training.max_steps=20", "--set", "training.eval_every=10", *extra,
    ])
    assert code == 0
    return capsys.readouterr().out


def test_train_list_show_predict_export_delete(capsys, tmp_path) -> None:
    out = _train(capsys)
    assert "completed at step 20" in out and "eval step 10" in out
    assert main(["runs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "cli-run" in listing and "completed" in listing

    assert main(["runs", "show", "cli-run"]) == 0
    shown = capsys.readouterr().out
    doc = json.loads(shown)  # nothing but JSON on stdout
    assert doc["status"] == "completed" and doc["reproduce"].startswith("lmwb train --task classification")
    # The notes the start printed (here: where the validation rows came from) are kept.
    notes = [line.removeprefix("note: ") for line in out.splitlines() if line.startswith("note: ")]
    assert notes and doc["notes"] == notes

    assert main(["predict", "cli-run", "what a great film", "dull and boring"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[0] in ("positive", "negative")

    csv_path = tmp_path / "m.csv"
    assert main(["runs", "export", "cli-run", "-o", str(csv_path)]) == 0
    assert csv_path.read_text().startswith("step,split,name,value,wall_time")

    assert main(["runs", "delete", "cli-run"]) == 0
    capsys.readouterr()
    assert main(["runs", "show", "cli-run"]) == 2
    assert "no run" in capsys.readouterr().err


def test_generate_from_language_model(capsys) -> None:
    code = main([
        "train", "--task", "language_model", "--name", "lm",
        "--set", "data.name=arithmetic", "--set", "model.d_model=32", "--set", "model.n_heads=2",
        "--set", "model.n_layers=1", "--set", "model.d_ff=64", "--set", "training.max_steps=20",
        "--set", "training.eval_every=20", "--set", "task.sample_length=10",
    ])
    assert code == 0
    capsys.readouterr()
    assert main(["generate", "lm", "--prompt", "12+", "--max-tokens", "8", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("12+")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "model.hidden_size=-1"], "model.hidden_size = -1"),
        (["--set", "optimizer.lr=fast"], "optimizer.lr = 'fast'"),
        (["--set", "model.name=nosuch"], "unknown architecture"),
        (["--set", "hidden_size=3"], "section.key"),
        (["--config", "/nonexistent/run.yaml"], "file not found"),
    ],
)
def test_bad_input_gives_readable_errors(capsys, args: list[str], message: str) -> None:
    code = main(["train", "--task", "classification", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_bad_data_file_fails_run_with_file_and_line(capsys, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine movie,1\nragged,row,here\n")
    code = main(["train", "--task", "classification", "--set", "data.name=file", "--set", f"data.path={bad}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "line 3" in err


@pytest.mark.parametrize(("task", "overrides"), [
    ("classification", {}),  # the word tokenizer's pattern \w+|[^\w\s]: a pipe and a glob to a shell
    ("classification", {"tokenizer.pattern": "[^ ]+", "training.seed": 7}),  # YAML would read a list
    ("language_model", {"task.sample_prompt": "it's \"fine\" | true"}),
])
def test_reproduce_command_round_trips_through_a_shell(task: str, overrides: dict[str, object]) -> None:
    import shlex

    from core.config import apply_overrides

    config = validate_config(apply_overrides(default_config(task), overrides))
    command = reproduce_command(config.to_dict())
    assert command.startswith(f"lmwb train --set task.name={task}")
    words = shlex.split(command)  # what bash hands the program
    assert words[:2] == ["lmwb", "train"] and words[2::2] == ["--set"] * (len(words[2:]) // 2)
    rebuilt = validate_config(apply_overrides({}, words[3::2]))
    assert rebuilt.to_dict() == config.to_dict()


@pytest.mark.parametrize(("task", "overrides"), [
    ("classification", {}),
    ("classification", {"model.name": "gru", "model.bidirectional": True, "tokenizer.pattern": "[^ ]+",
                        "optimizer.lr": 1e-3, "training.eval_max_batches": None}),
    ("classification", {"model.name": "textcnn", "model.kernel_sizes": [2, 3]}),
    ("language_model", {"task.sample_prompt": "it's \"fine\" | true", "optimizer.name": "sgd"}),
])
def test_the_short_command_names_only_what_differs_and_round_trips(
    capsys, task: str, overrides: dict[str, object]
) -> None:
    """``lmwb train --task T`` plus only the changed settings: what the pages show first. Run by
    the CLI itself, it trains the same config."""
    from core.config import apply_overrides

    config = validate_config(apply_overrides(default_config(task), overrides))
    command = short_command(config.to_dict())
    words = shlex.split(command)
    assert words[:4] == ["lmwb", "train", "--task", task]
    changed = [w.split("=", 1)[0] for w in words[5::2]]
    assert set(changed) == set(changed_settings(config.to_dict()))
    assert set(changed) <= set(overrides) | {k.split(".")[0] + ".name" for k in overrides}
    rebuilt = validate_config(apply_overrides(default_config(task), words[5::2]))
    assert rebuilt.to_dict() == config.to_dict()


def test_data_list_and_params(capsys) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "sentiment" in out and "python_docs" in out
    lines = out.splitlines()  # every description starts under its header, whatever a task list's length
    where = lines[0].index("description")
    assert all(line[where - 2:where] == "  " and line[where] != " " for line in lines[1:]), out
    assert main(["params", "model", "lstm"]) == 0
    assert "model.hidden_size" in capsys.readouterr().out


def test_eval_on_a_file_and_resume_queue_errors(capsys, tmp_path) -> None:
    _train(capsys)
    data = tmp_path / "eval.tsv"
    data.write_text("label\tsentence\npositive\ta wonderful, moving film\nnegative\tdull and not funny\n")
    assert main(["eval", "cli-run", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "confusion matrix" in out

    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("label\tsentence\nneutral\tit exists\nangry\tgrr\n")
    assert main(["eval", "cli-run", "--data", str(unknown)]) == 2
    assert "not seen in training" in capsys.readouterr().err

    assert main(["resume", "cli-run"]) == 2  # completed runs are not resumed by accident
    assert "already completed" in capsys.readouterr().err


def test_eval_without_a_file_scores_the_runs_validation_split(capsys, tmp_path) -> None:
    _train(capsys)
    assert main(["eval", "cli-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scored on the run's validation split")
    accuracy = float(re.search(r"^accuracy\s+([0-9.]+)$", out, re.M).group(1))
    # The same split, example by example (the Explain page's table), counted here.
    examples = tmp_path / "examples.csv"
    assert main(["eval", "cli-run", "--examples", str(examples)]) == 0
    with examples.open(newline="") as f:
        right = [row["correct"] == "True" for row in csv.DictReader(f)]
    # eval prints accuracy as the catalogue declares it (3 decimals).
    assert len(right) > 20 and accuracy == pytest.approx(sum(right) / len(right), abs=5e-4)
    # Column flags describe a file: without one they are refused, naming them.
    assert main(["eval", "cli-run", "--text-column", "sentence"]) == 2
    assert "--text-column describe the columns of a --data file" in capsys.readouterr().err


def test_embeddings_project_writes_the_playground_map(capsys, tmp_path) -> None:
    code = main([
        "train", "--task", "word_embeddings", "--name", "vectors", "--set", "data.name=planted_relations",
        "--set", "data.n_sentences=500", "--set", "tokenizer.min_freq=1", "--set", "model.dim=8",
        "--set", "training.max_steps=10", "--set", "training.eval_every=10", "--set", "training.batch_size=64",
    ])
    assert code == 0
    capsys.readouterr()
    assert main(["embeddings", "vectors", "project", "king", "queen", "man", "woman", "nosuch"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "word,x,y" and [line.split(",")[0] for line in lines[1:]] == ["king", "queen", "man", "woman"]

    out = tmp_path / "map.csv"
    assert main(["embeddings", "vectors", "project", "--method", "tsne", "-o", str(out)]) == 0
    assert "(tsne)" in capsys.readouterr().out
    rows = out.read_text().strip().splitlines()
    assert rows[0] == "word,x,y" and len(rows) > 20 and "<pad>" not in out.read_text()

    assert main(["embeddings", "vectors", "project", "nosuch", "missing"]) == 2
    assert "at least 3 known words" in capsys.readouterr().err


# -- bad input: refused by name, nothing stored is lost, no traceback --------------------------
@pytest.mark.parametrize(("argv", "flag"), [
    (["generate", "x", "--top-p", "1.5"], "--top-p"),
    (["generate", "x", "--temperature", "nan"], "--temperature"),
    (["generate", "x", "--seed", "99999999999999999999"], "--seed"),
    (["generate", "x", "--max-tokens", "0"], "--max-new-tokens/--max-tokens"),
    (["runs", "list", "--limit", "0"], "--limit"),
    (["worker", "--poll", "inf"], "--poll"),
    (["ui", "--port", "99999"], "--port"),
    (["sweep", "start", "s", "--workers", "-1"], "--workers"),
    (["embeddings", "x", "neighbours", "the", "-k", "0"], "--top/-k"),
    (["fill-mask", "x", "a [MASK]", "--guesses", "1001"], "--guesses/-k"),
])
def test_bad_flags_are_refused_by_name(capsys, argv: list[str], flag: str) -> None:
    assert main(argv) == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_bad_files_and_values_are_errors_not_tracebacks(capsys, tmp_path, monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # predict with nothing piped in
    binary = tmp_path / "space.yaml"
    binary.write_bytes(bytes(range(256)))
    typo = tmp_path / "sweep.yaml"
    typo.write_text("methd: grid\nspace:\n  optimizer.lr: {low: 0.001, high: 0.01}\n")
    cases = [
        (["train", "--config", str(tmp_path)], "--config = "),  # a folder
        (["sweep", "create", "--space", str(binary)], "not text"),
        (["sweep", "create", "--space", str(typo)], "methd"),
        (["train", "--set", "task.name=[a]", "--queue"], "task.name"),
        (["train", "--name", "r0123abcd", "--queue"], "looks like a run id"),
        (["predict", "nothing"], "no text given"),
        (["runs", "list", "--task", "bogus"], "--task"),
        (["--store", "mysql://nobody@localhost/x", "runs", "list"], "cannot be opened"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        assert expected in capsys.readouterr().err, argv


def test_outputs_never_overwrite_the_workbench_home(capsys, workbench_home) -> None:
    _train(capsys)
    store_file = workbench_home / "store.db"
    assert main(["runs", "export", "cli-run", "-o", str(store_file)]) == 2
    assert "inside the workbench home" in capsys.readouterr().err
    assert store_file.read_bytes().startswith(b"SQLite format 3")  # not overwritten by a CSV
    assert main(["runs", "export", "cli-run", "-o", str(workbench_home.parent / "missing" / "m.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["runs", "list"]) == 0 and "cli-run" in capsys.readouterr().out


README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow
def test_the_readme_tour_classifier_gets_its_examples_right(capsys) -> None:
    """The README's first tour step as written: the default classification run, then the two
    predictions it shows (read from the README, so the text and the test cannot drift)."""
    text = README.read_text()
    predict = re.search(r"lmwb predict <RUN> (.+)\n", text)
    assert predict, "no `lmwb predict <RUN> ...` line in the README"
    sentences = shlex.split(predict.group(1))
    shown = re.findall(r"^\s*# (negative|positive)\s+\(.*\)\s+(.+)$", text, flags=re.MULTILINE)
    expected = {sentence: label for label, sentence in shown}
    assert set(sentences) <= set(expected), (sentences, shown)

    assert main(["train", "--task", "classification", "--name", "tour"]) == 0
    capsys.readouterr()
    assert main(["predict", "tour", *sentences]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    got = {line.split("\t")[2]: line.split("\t")[0] for line in lines}
    assert got == {s: expected[s] for s in sentences}, lines
