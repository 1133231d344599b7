"""Model export: a GPT run to a Hugging Face GPT2LMHeadModel folder, classifiers to ONNX; each
loaded back by its own library and compared with the workbench model on the same inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.cli import main
from core.config import default_config, validate_config
from core.runs import create_run, execute_run, load_trained

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def tiny_gpt(**model: Any) -> dict:
    raw = default_config("language_model")
    raw["data"] = {"name": "python_docs", "max_chars": 20_000}
    raw["task"] = {"name": "language_model", "context_length": 16, "sample_length": 12}
    raw["model"] = {"name": "transformer_decoder", "d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 32, **model}
    raw["training"] = {"max_steps": 6, "batch_size": 4, "eval_every": 6, "eval_max_batches": 1,
                       "attention_snapshots": False}
    return raw


def tiny_classifier(arch: str, **model: Any) -> dict:
    raw = default_config("classification")
    raw["data"] = {"name": "sentiment", "n_examples": 200}
    raw["task"] = {"name": "classification", "max_length": 24}
    sizes = {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32} if arch == "transformer_encoder" else \
        {"embed_dim": 8, "hidden_size": 8, "bidirectional": True, "pooling": "max", "n_layers": 2}
    raw["model"] = {"name": arch, **sizes, **model}
    raw["training"] = {"max_steps": 6, "batch_size": 8, "eval_every": 6, "eval_max_batches": 1,
                       "attention_snapshots": False}
    return raw


def trained_run(store, raw: dict, tokenizer: dict | None = None) -> str:
    if tokenizer:
        raw["tokenizer"] = tokenizer
    run = create_run(store, validate_config(raw))
    execute_run(store, run.id)
    return run.id


@pytest.mark.parametrize(
    ("model", "tokenizer"),
    [
        ({}, None),  # the default GPT: learned positions, tied, no biases; char tokenizer
        ({"positions": "sinusoidal", "tie_weights": False, "bias": True}, {"name": "bpe", "vocab_size": 300}),
        ({"tie_weights": False}, {"name": "word", "max_vocab": 200}),
    ],
)
def test_gpt_to_hugging_face_gives_the_same_logits(store, tmp_path: Path, capsys, model, tokenizer) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_id = trained_run(store, tiny_gpt(**model), tokenizer)
    out = tmp_path / "hf"
    assert main(["export", run_id, "--format", "hf", str(out)]) == 0
    assert "GPT2LMHeadModel" in capsys.readouterr().out
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    hf = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    assert type(hf).__name__ == "GPT2LMHeadModel"
    ours = load_trained(store, run_id)
    text = "import os\nfor x in range(3): print(x)"
    hf_tok = AutoTokenizer.from_pretrained(str(out))
    ids = ours.tokenizer.encode(text)[:16]
    assert hf_tok(text, add_special_tokens=False)["input_ids"][:16] == ids
    batch = torch.tensor([ids])
    with torch.no_grad():
        diff = (hf(input_ids=batch).logits - ours.model(batch)).abs().max().item()
    assert diff < 1e-4

    # A few steps leave the weights near their small init, where a wrong activation or layout
    # changes little: large random weights make every mapped piece count.
    from core.export.hf_gpt import export_hf

    torch.manual_seed(1)
    with torch.no_grad():
        for param in ours.model.parameters():
            param.normal_(0.0, 0.5)
    export_hf(ours, tmp_path / "hf-random", store.run_files(run_id))
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf-random")).eval()
    with torch.no_grad():
        theirs, mine = hf(input_ids=batch).logits, ours.model(batch)
    assert mine.abs().max() > 1.0  # far from the init's near-zero logits
    assert (theirs - mine).abs().max().item() < 1e-4


def test_gpt_settings_gpt2_cannot_express_are_refused(store, tmp_path: Path, capsys) -> None:
    run_id = trained_run(store, tiny_gpt(positions="sinusoidal", tie_weights=True))
    assert main(["export", run_id, "--format", "hf", str(tmp_path / "hf")]) == 2
    err = capsys.readouterr().err
    assert "model.tie_weights" in err and "model.positions" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "hf").exists()


@pytest.mark.parametrize(("arch", "model"), [("lstm", {}), ("transformer_encoder", {"pooling": "cls"}),
                                             ("gru", {"pooling": "last"})])
def test_classifier_to_onnx_matches_pytorch(store, tmp_path: Path, capsys, arch: str, model: dict) -> None:
    import onnxruntime as ort
    from transformers import AutoTokenizer

    run_id = trained_run(store, tiny_classifier(arch, **model))
    out = tmp_path / "onnx"
    assert main(["export", run_id, "--format", "onnx", str(out)]) == 0
    capsys.readouterr()
    meta = json.loads((out / "labels.json").read_text())
    ours = load_trained(store, run_id)
    assert meta["labels"] == ours.task.state["label_names"]
    # What a user of the folder does: tokenize with the written files, pad right, run the graph.
    texts = ["a gripping and funny film", "not good", "the plot was dull, the acting worse and the end too long"]
    tok = AutoTokenizer.from_pretrained(str(out))
    rows = [tok(t, add_special_tokens=False)["input_ids"][: meta["max_length"]] for t in texts]
    width = max(map(len, rows))
    ids = np.array([r + [meta["pad_id"]] * (width - len(r)) for r in rows], dtype=np.int64)
    pad = np.array([[i >= len(r) for i in range(width)] for r in rows])
    logits = ort.InferenceSession(str(out / "model.onnx")).run(None, {"ids": ids, "pad_mask": pad})[0]
    probs = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
    np.testing.assert_allclose(probs, ours.task.predict_proba(ours.model, texts), atol=1e-4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "rnosuch", "--format", "onnx", "{tmp}/o"], "no run"),
        (["export", "{lm}", "--format", "onnx", "{tmp}/o"], "--format onnx exports classification runs"),
        (["export", "{clf}", "--format", "hf", "{tmp}/o"], "--format hf exports language_model runs"),
        (["export", "{lm}", "--format", "hf", "{tmp}/full"], "not empty"),
        (["export", "{lm}", "--format", "hf", "{home}/x"], "inside the workbench home"),
        (["export", "{lm}", "--format", "hf", "{tmp}/a-file"], "is a file"),
    ],
)
def test_bad_model_exports_exit_2_with_one_line(store, tmp_path: Path, workbench_home: Path, capsys,
                                                 args: list[str], message: str) -> None:
    lm = create_run(store, validate_config(tiny_gpt()), name="lm")
    clf = create_run(store, validate_config(tiny_classifier("lstm")), name="clf")
    for key, run in (("{lm}", lm), ("{clf}", clf)):
        if key in args:  # trained only where the case needs a checkpoint
            execute_run(store, run.id)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "a-file").write_text("x")
    argv = [a.format(tmp=tmp_path, home=workbench_home, lm=lm.id, clf=clf.id) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "o").exists()


def test_unknown_format_is_refused_by_the_parser(capsys) -> None:
    assert main(["export", "x", "--format", "tflite", "out"]) == 2
    assert "invalid choice" in capsys.readouterr().err
