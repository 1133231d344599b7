"""Low precision: bf16 autocast training on a CPU, int8 variants of a classifier (``lmwb quantize``,
``predict``/``eval --variant``, ``eval --speed``), each through the path a user takes."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from core.config import default_config, validate_config
from core.errors import ConfigError
from core.runs import create_run, execute_run
from tests.conftest import trained_tiny_classifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_classifier(precision: str, steps: int) -> dict[str, Any]:
    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=16, hidden_size=16)
    raw["training"].update(max_steps=steps, eval_every=steps, batch_size=16, precision=precision, log_every=10)
    raw["optimizer"]["lr"] = 0.01
    return raw


def test_bf16_on_a_cpu_with_bf16_instructions_trains_and_its_loss_falls(store: Any) -> None:
    from core.device import cpu_bf16_instructions

    if cpu_bf16_instructions() is None:
        pytest.skip("this processor has no bf16 instructions (the refusal is tested below)")
    run = create_run(store, validate_config(_tiny_classifier("bf16", 150)))
    execute_run(store, run.id)
    done = store.get_run(run.id)
    assert done.status == "completed" and done.summary["precision"] == "bf16"
    assert any("(bf16)" in e.message for e in store.events(run.id))  # the log says what ran
    loss = store.metrics(run.id, names="loss", split="train")["value"].tolist()
    assert len(loss) >= 4 and sum(loss[-3:]) / 3 < 0.8 * sum(loss[:3]) / 3, loss


def test_bf16_on_a_cpu_without_them_is_refused_naming_the_field(store: Any, monkeypatch: Any) -> None:
    import core.device

    monkeypatch.setattr(core.device, "cpu_bf16_instructions", lambda: None)
    run = create_run(store, validate_config(_tiny_classifier("bf16", 4)))
    with pytest.raises(ConfigError, match=r"training\.precision = 'bf16': this processor .* no bf16 instructions"):
        execute_run(store, run.id)
    assert store.get_run(run.id).status == "failed"


def test_lmwb_train_prints_the_precision_that_ran_on_its_device_line(capsys: Any, tmp_path: Any) -> None:
    from core.device import cpu_bf16_instructions

    if cpu_bf16_instructions() is None:
        pytest.skip("this processor has no bf16 instructions")
    sets = ["data.n_examples=100", "model.embed_dim=8", "model.hidden_size=8", "training.max_steps=3",
            "training.eval_every=3", "training.batch_size=16", "training.precision=bf16"]
    code, out, _ = _lmwb(capsys, "--home", str(tmp_path), "train", *[a for s in sets for a in ("--set", s)])
    assert code == 0
    device_line = next(line for line in out.splitlines() if line.startswith("device "))
    assert device_line.startswith("device cpu (") and "(bf16) |" in device_line, device_line


def test_fp16_on_a_cpu_is_refused_naming_the_field(store: Any, capsys: Any, tmp_path: Any) -> None:
    run = create_run(store, validate_config(_tiny_classifier("fp16", 4)))
    with pytest.raises(ConfigError, match=r"training\.precision = 'fp16': .*CUDA GPU only; expected auto or fp32"):
        execute_run(store, run.id)
    assert store.get_run(run.id).status == "failed"
    code, out, err = _lmwb(capsys, "--home", str(tmp_path), "train", "--set", "training.precision=fp16",
                           "--set", "training.max_steps=2")
    assert code == 2 and "training.precision" in err and "Traceback" not in out + err, err


def test_auto_stays_fp32_on_a_cpu() -> None:
    from core.strategies import choose_precision

    precision, note = choose_precision(torch.device("cpu"), "auto")
    assert precision.label == "fp32" and note is None


# -- int8 variants ---------------------------------------------------------------------------------
def _learnt_classifier(store: Any) -> Any:
    """A BiLSTM that has learnt the built-in reviews (about 0.9 on validation) in a few seconds."""
    raw = _tiny_classifier("fp32", 150)
    raw["data"]["n_examples"] = 1000
    raw["model"].update(embed_dim=32, hidden_size=32)
    run = create_run(store, validate_config(raw))
    execute_run(store, run.id)
    return store.get_run(run.id)


def _lmwb(capsys: Any, *argv: str) -> tuple[int, str, str]:
    from core.cli.main import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _classes(stdout: str) -> list[str]:
    return [line.split("\t")[0] for line in stdout.splitlines()]


def test_an_int8_variant_predicts_like_its_run_is_smaller_and_is_scored_on_the_same_rows(
        store: Any, capsys: Any) -> None:
    from core.runs import evaluation_data, load_trained

    run = _learnt_classifier(store)
    code, out, err = _lmwb(capsys, "quantize", run.id)
    assert code == 0 and "int8 variant of run" in out, err
    folder = store.run_files(run.id)
    graph = folder / "variants" / "int8" / "model.onnx"
    weights = folder / "checkpoints" / "best" / "model.safetensors"
    assert graph.stat().st_size < 0.5 * weights.stat().st_size  # int8 against fp32 weights

    # Held out: the validation rows, never trained on.
    texts = list(evaluation_data(load_trained(store, run.id), None)[1].validation.texts)
    assert len(texts) >= 100
    _, parent_out, _ = _lmwb(capsys, "predict", run.id, *texts)
    code, int8_out, err = _lmwb(capsys, "predict", run.id, "--variant", "int8", *texts)
    assert code == 0, err
    parent, int8 = _classes(parent_out), _classes(int8_out)
    assert len(parent) == len(int8) == len(texts)
    assert sum(a == b for a, b in zip(parent, int8, strict=True)) >= 0.95 * len(texts)
    assert len(set(parent)) == 2  # it learnt something: both classes are predicted

    # eval --variant: the same rows as the run (its confusion matrix counts them), both columns.
    code, out, err = _lmwb(capsys, "eval", run.id, "--variant", "int8", "--with-parent")
    assert code == 0, err
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    _, own, _ = _lmwb(capsys, "eval", run.id)
    own_accuracy = next(line.split()[1] for line in own.splitlines() if line.startswith("accuracy "))
    assert table["accuracy"][0] == own_accuracy and abs(float(table["accuracy"][1]) - float(own_accuracy)) <= 0.05
    counts = []
    for argv in (("eval", run.id), ("eval", run.id, "--variant", "int8")):
        _, shown, _ = _lmwb(capsys, *argv)
        rows = shown.split("columns: predicted):")[1].splitlines()[2:4]
        counts.append(sum(int(v) for row in rows for v in row.split()[1:]))
    assert counts[0] == counts[1] == len(texts)


def test_eval_speed_times_the_run_and_its_variant_and_keeps_the_figures(store: Any, capsys: Any) -> None:
    run = _learnt_classifier(store)
    assert _lmwb(capsys, "quantize", run.id)[0] == 0
    code, out, err = _lmwb(capsys, "eval", run.id, "--speed")
    assert code == 0, err
    speed = store.get_run(run.id).summary["speed"]
    rows = {row["variant"]: row for row in speed["rows"]}
    assert set(rows) == {"fp32", "int8"} and speed["processor"] in out
    assert rows["int8"]["bytes"] < rows["fp32"]["bytes"] and rows["int8"]["params"] == rows["fp32"]["params"] > 0
    for row in rows.values():
        assert row["examples_per_s_b1"] > 0 and row["examples_per_s_b32"] > 0 and 0.5 < row["value"] <= 1
        assert f"{row['variant']:8} {row['value']:>10.4f}" in out


def test_variants_that_do_not_exist_or_cannot_be_made_are_refused_by_name(store: Any, capsys: Any) -> None:
    raw = _tiny_classifier("fp32", 4)
    raw["model"] = {"name": "textcnn"}  # no ONNX graph for it (core.export.TAKES)
    textcnn = create_run(store, validate_config(raw), status="completed")
    code, _, err = _lmwb(capsys, "quantize", textcnn.id)
    assert code == 2 and "int8 variants are made from the run's ONNX graph" in err and "textcnn" in err
    lm = create_run(store, validate_config(default_config("language_model")), status="completed")
    code, _, err = _lmwb(capsys, "eval", lm.id, "--speed")
    assert code == 2 and f"--speed times classification runs and their variants; run {lm.id} is a language_model" in err

    run = trained_tiny_classifier(store)
    code, _, err = _lmwb(capsys, "predict", run.id, "--variant", "int8", "a fine film")
    assert code == 2 and f"run {run.id} has no variant 'int8' (it has none yet; make one with `lmwb quantize" in err
    code, _, err = _lmwb(capsys, "eval", run.id, "--variant", "int4")
    assert code == 2 and "invalid choice: 'int4'" in err
    from core.variants import load_variant

    with pytest.raises(Exception, match="unknown variant 'int4'"):
        load_variant(store, run.id, "int4")
