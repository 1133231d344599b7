"""``model.pooling: mean`` for hf_pretrained: a tiny BERT saved in the test, trained offline."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402

from core.config import validate_config  # noqa: E402
from core.errors import ConfigError  # noqa: E402
from core.inspect.activations import pattern_points, run_with_cache  # noqa: E402
from core.inspect.salience import explain  # noqa: E402
from core.models.hf import build_hf_classifier  # noqa: E402
from core.runs import create_run, execute_run, load_trained, predict_texts  # noqa: E402
from core.store import Store  # noqa: E402

WORDS = ["good", "great", "fine", "bad", "awful", "dull", "the", "a", "film", "plot", "was", "very"]


@pytest.fixture
def tiny_bert(tmp_path: Path) -> Path:
    """A 1-layer BERT and its WordPiece tokenizer, saved with save_pretrained."""
    folder = tmp_path / "tiny-bert"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def _reviews(path: Path, n: int = 240) -> Path:
    rng = random.Random(0)
    rows = ["sentence\tlabel"]
    for i in range(n):
        label = i % 2
        mood = rng.choice(["good", "great", "fine"] if label else ["bad", "awful", "dull"])
        filler = rng.sample(["the", "a", "film", "plot", "was", "very"], rng.randint(1, 5))
        rows.append(" ".join([*filler[:2], mood, *filler[2:]]) + f"\t{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_mean_pooling_ignores_padding_and_drops_the_pooler(tiny_bert: Path) -> None:
    model = build_hf_classifier({"model": str(tiny_bert), "pooling": "mean"}, num_classes=3).eval()
    names = [n for n, _ in model.named_parameters()]
    assert not [n for n in names if "pooler" in n], "mean pooling never reads the pooler"
    assert "head.1.weight" in names
    ids = torch.tensor([[2, 5, 6, 3, 0, 0], [2, 5, 6, 7, 8, 3]])
    with torch.no_grad():
        padded = model(ids, pad_mask=ids == 0)
        alone = model(ids[:1, :4])
        with_attention, cache = run_with_cache(model, ids, pad_mask=ids == 0, names=pattern_points(model))
    assert padded.shape == (2, 3)
    torch.testing.assert_close(padded[:1], alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded, with_attention, atol=1e-5, rtol=1e-5)
    assert list(cache) == ["attention.layers.0.hook_pattern"]
    assert cache["attention.layers.0.hook_pattern"][0].shape == (2, 2, 6, 6)
    assert model.hf.config._attn_implementation == "sdpa"  # eager for that call only
    # The default keeps the model's own head: [CLS] through the pooler.
    own = build_hf_classifier({"model": str(tiny_bert)}, num_classes=3)
    assert own.head is None and any("pooler" in n for n, _ in own.named_parameters())


@pytest.mark.usefixtures("one_torch_thread")
def test_a_mean_pooled_model_learns_and_reloads(tiny_bert: Path, tmp_path: Path, store: Store) -> None:
    data = _reviews(tmp_path / "reviews.tsv")
    raw = {"task": {"name": "classification", "max_length": 16},
           "data": {"name": "file", "path": str(data)},
           "tokenizer": "pretrained", "model": {"name": "hf_pretrained", "model": str(tiny_bert), "pooling": "mean"},
           "optimizer": {"name": "adamw", "lr": 3e-3},
           "training": {"max_steps": 120, "batch_size": 16, "eval_every": 60, "device": "cpu", "seed": 0}}
    run = create_run(store, validate_config(raw))
    result = execute_run(store, run.id)
    assert result.summary["val"]["accuracy"] >= 0.9, result.summary["val"]
    weights = store.run_dir(run.id) / "checkpoints" / "best" / "model.safetensors"
    with safe_open(str(weights), "pt") as f:
        keys = list(f.keys())
    assert "head.1.weight" in keys and not [k for k in keys if "pooler" in k]
    trained = load_trained(store, run.id)
    probs = predict_texts(trained, ["the film great", "a plot awful was"])
    assert probs[0]["1"] > 0.5 > probs[1]["1"], (probs, result.summary["val"])
    # Integrated gradients reach the embeddings through the mean as they do through [CLS].
    salience = explain(trained, "the film great", steps=64)
    assert salience.tokens == ["[CLS]", "the", "film", "great", "[SEP]"]
    assert salience.completeness is not None and salience.completeness.ok, salience.completeness


def test_pooling_is_for_classification_only(tiny_bert: Path) -> None:
    raw = {"task": {"name": "language_model"}, "tokenizer": "pretrained",
           "model": {"name": "hf_pretrained", "model": str(tiny_bert), "pooling": "mean"}}
    with pytest.raises(ConfigError, match="model.pooling must be cls"):
        validate_config(raw)
    with pytest.raises(ConfigError, match=r"model.pooling = 'max': invalid value; expected one of 'cls', 'mean'"):
        validate_config({"task": "classification", "tokenizer": "pretrained",
                         "model": {"name": "hf_pretrained", "model": str(tiny_bert), "pooling": "max"}})
