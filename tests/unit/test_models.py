"""Architectures, heads and decoding: build from the registry, train a little, stay consistent.

Modules are imported directly (not via registry.load_components) so these tests do not depend on
components other people are still writing.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import core.models.cnn
import core.models.rnn
import core.models.transformer  # noqa: F401  (registers the architectures)
from core.decoding.sampling import generate, sample_next_token
from core.errors import ConfigError
from core.inspect.activations import hook_points, pattern_points, run_with_cache
from core.models.base import Backbone, evaluating
from core.models.heads import LanguageModel, SequenceClassifier, pool
from core.registry import MODELS

VOCAB, PAD, MAX_LEN = 23, 0, 16
MY_MODULES = {"core.models.rnn", "core.models.cnn", "core.models.transformer"}

# Small enough to train in a blink; dropout off so training and eval agree.
TINY: dict[str, dict[str, Any]] = {
    "transformer_encoder": {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "dropout": 0.0},
    "transformer_decoder": {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64},
    "rnn": {"embed_dim": 16, "hidden_size": 32, "dropout": 0.0},
    "lstm": {"embed_dim": 16, "hidden_size": 32, "dropout": 0.0},
    "gru": {"embed_dim": 16, "hidden_size": 32, "dropout": 0.0},
    "textcnn": {"embed_dim": 16, "kernel_sizes": [2, 3, 5], "n_filters": 16, "dropout": 0.0},
}

# Variants for padding invariance: every pooling and layout option that touches the mask.
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("transformer_encoder", {}),
    ("transformer_encoder", {"pooling": "mean", "positions": "learned"}),
    ("transformer_encoder", {"norm_first": False}),
    ("transformer_decoder", {}),
    ("transformer_decoder", {"pooling": "mean", "positions": "sinusoidal", "bias": True}),
    ("rnn", {"pooling": "mean"}),
    ("lstm", {}),
    ("lstm", {"bidirectional": True, "n_layers": 2}),
    ("lstm", {"bidirectional": True, "pooling": "max"}),
    ("gru", {"bidirectional": True, "pooling": "mean"}),
    ("gru", {"pooling": "max", "n_layers": 2}),
    ("textcnn", {}),
]


def build(name: str, **overrides: Any) -> Backbone:
    torch.manual_seed(0)
    comp = MODELS._items[name]
    return comp.factory({**TINY[name], **overrides}, vocab_size=VOCAB, pad_id=PAD, max_len=MAX_LEN)


def classifier(name: str, num_classes: int = 3, **overrides: Any) -> SequenceClassifier:
    backbone = build(name, **overrides)
    torch.manual_seed(1)
    return SequenceClassifier(backbone, num_classes, pooling=getattr(backbone, "pooling", None), dropout=0.0)


def padded_batch(lengths: list[int], total: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (len(lengths), total), generator=g)
    pad_mask = torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]
    return ids.masked_fill(pad_mask, PAD), pad_mask


def lm_archs() -> list[str]:
    return [n for n in TINY if "language_model" in MODELS._items[n].meta["tasks"]]


# -- registry ------------------------------------------------------------------------------------

def test_every_registered_architecture_is_covered() -> None:
    mine = {
        name for name, comp in MODELS._items.items()
        if getattr(comp.factory, "func", comp.factory).__module__ in MY_MODULES
    }
    assert mine == set(TINY)
    assert "classification" in MODELS._items["transformer_encoder"].meta["tasks"]
    assert "language_model" not in MODELS._items["transformer_encoder"].meta["tasks"]  # not causal
    assert set(lm_archs()) == {"transformer_decoder", "rnn", "lstm", "gru"}


def test_checks_explain_bad_combinations() -> None:
    enc = MODELS._items["transformer_encoder"]
    assert enc.check({"d_model": 130, "n_heads": 4}) == (
        "model.d_model (130) must be divisible by model.n_heads (4)"
    )
    with pytest.raises(ConfigError, match="divisible"):
        build("transformer_encoder", d_model=30, n_heads=4)
    lstm = MODELS._items["lstm"]
    p = {"tie_weights": True, "bidirectional": False, "embed_dim": 16, "hidden_size": 32}
    assert lstm.check(p) == "model.tie_weights needs model.embed_dim (16) equal to model.hidden_size (32)"
    assert "bidirectional" in lstm.check({**p, "bidirectional": True, "embed_dim": 32})
    with pytest.raises(ConfigError, match="unknown parameter"):
        build("gru", d_model=3)


# -- shapes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TINY))
def test_forward_with_padding_has_the_right_shapes(name: str) -> None:
    backbone = build(name)
    ids, pad_mask = padded_batch([9, 4, 1], 9)
    out = backbone(ids, pad_mask=pad_mask)
    extra = 1 if getattr(backbone, "has_cls", False) else 0
    assert out.hidden.shape == (3, 9 + extra, backbone.hidden_size)
    assert torch.isfinite(out.hidden).all()
    assert isinstance(backbone.token_embedding, nn.Embedding)
    assert backbone.token_embedding.weight.shape[0] == VOCAB
    logits = classifier(name)(ids, pad_mask)
    assert logits.shape == (3, 3)
    short = classifier(name)(ids[:, :1])  # shorter than the widest CNN kernel
    assert short.shape == (3, 3)


@pytest.mark.parametrize("name", ["transformer_encoder", "transformer_decoder"])
def test_attention_maps_one_per_layer(name: str) -> None:
    model = classifier(name).eval()
    ids, pad_mask = padded_batch([6, 3], 6)
    logits, cache = run_with_cache(model, ids, pad_mask, names=pattern_points(model))
    attentions = [seen for (seen,) in cache.values()]
    T = 7 if name == "transformer_encoder" else 6  # the encoder prepends [CLS]
    assert len(attentions) == TINY[name]["n_layers"]
    assert all(a.shape == (2, 2, T, T) for a in attentions)
    torch.testing.assert_close(logits, model(ids, pad_mask), atol=1e-5, rtol=1e-5)
    # Padding keys get no attention (row 1 has 3 real tokens, after [CLS] for the encoder).
    assert (attentions[0][1, :, :, T - 3 :] == 0).all()
    lm = LanguageModel(build("transformer_decoder"), VOCAB)
    lm_logits, lm_att = run_with_cache(lm, ids, names=lambda name: name.endswith("hook_pattern"))
    assert lm_logits.shape == (2, 6, VOCAB) and lm_att["backbone.blocks.0.attn.hook_pattern"][0].shape == (2, 2, 6, 6)


def test_rnn_has_no_attention_and_bidirectional_doubles_width() -> None:
    backbone = build("gru", bidirectional=True)
    assert backbone.hidden_size == 64 and not backbone.causal
    out = backbone(*padded_batch([5, 2], 5))
    assert not pattern_points(backbone) and list(hook_points(backbone)) == ["hook_embed"] and out.pooled.shape == (2, 64)


def test_bidirectional_last_is_forward_final_and_backward_first() -> None:
    backbone = build("lstm", bidirectional=True).eval()
    ids, pad_mask = padded_batch([6, 3], 6)
    out = backbone(ids, pad_mask=pad_mask)
    h = 32
    torch.testing.assert_close(out.pooled[1, :h], out.hidden[1, 2, :h])  # forward at the last token
    torch.testing.assert_close(out.pooled[1, h:], out.hidden[1, 0, h:])  # backward at the first
    assert (out.hidden[1, 3:] == 0).all()  # nothing at padding


@pytest.mark.parametrize("pooling", ["last", "max"])
def test_a_batch_without_padding_reads_as_if_packed(pooling: str) -> None:
    """A batch with no padding (one row, or rows of one length) skips packing: the same states."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    backbone = build("lstm", bidirectional=True, n_layers=2, pooling=pooling).eval()
    ids, pad_mask = padded_batch([5, 5], 5)
    assert not pad_mask.any()
    with torch.no_grad():
        out = backbone(ids, pad_mask=pad_mask)
        x = backbone.tokens(ids)
        packed, (h_n, _) = backbone.rnn(pack_padded_sequence(x, torch.tensor([5, 5]), batch_first=True))
        hidden, _ = pad_packed_sequence(packed, batch_first=True)
    torch.testing.assert_close(out.hidden, hidden)
    if pooling == "last":
        torch.testing.assert_close(out.pooled, torch.cat([h_n[-2], h_n[-1]], dim=-1))


# -- training ------------------------------------------------------------------------------------

def _train(model: nn.Module, loss_fn: Any, steps: int = 30, lr: float = 1e-2) -> tuple[float, float]:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = loss_fn(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


@pytest.mark.parametrize("name", list(TINY))
def test_classifier_memorises_a_small_batch(name: str) -> None:
    model = classifier(name)
    ids, pad_mask = padded_batch([8, 5, 3, 8, 2, 6, 7, 4], 8, seed=3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    first, last = _train(model, lambda m: F.cross_entropy(m(ids, pad_mask), labels))
    assert first == pytest.approx(math.log(3), abs=0.3)  # small initial logits
    assert last < 0.3 * first


@pytest.mark.parametrize("name", lm_archs())
def test_language_model_memorises_a_small_batch(name: str) -> None:
    torch.manual_seed(0)
    tie = name == "transformer_decoder"
    model = LanguageModel(build(name), VOCAB, tie_weights=tie)
    data = torch.randint(1, VOCAB, (4, 13), generator=torch.Generator().manual_seed(5))
    x, y = data[:, :-1], data[:, 1:]
    first, last = _train(model, lambda m: F.cross_entropy(m(x).reshape(-1, VOCAB), y.reshape(-1)))
    assert first == pytest.approx(math.log(VOCAB), abs=0.3)
    assert last < 0.6 * first


# -- consistency ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=[f"{n}-{o}" for n, o in VARIANTS])
def test_padding_does_not_change_logits(name: str, overrides: dict[str, Any]) -> None:
    model = classifier(name, **overrides).eval()
    lengths = [7, 3, 1]
    ids, pad_mask = padded_batch(lengths, 7)
    more_ids = F.pad(ids, (0, 5), value=PAD)  # same tokens, 5 more pads each
    more_mask = F.pad(pad_mask, (0, 5), value=True)
    with torch.no_grad():
        torch.testing.assert_close(model(ids, pad_mask), model(more_ids, more_mask), atol=1e-5, rtol=1e-4)
        # A sequence alone, unpadded, matches its padded self too.
        torch.testing.assert_close(model(ids[1:2, :3]), model(ids[1:2], pad_mask[1:2]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", lm_archs())
def test_language_models_do_not_see_the_future(name: str) -> None:
    model = LanguageModel(build(name), VOCAB).eval()
    a = torch.randint(1, VOCAB, (1, 10))
    b = a.clone()
    b[:, 6:] = (b[:, 6:] + 1) % VOCAB
    torch.testing.assert_close(model(a)[:, :6], model(b)[:, :6])


def test_all_padding_row_stays_finite() -> None:
    for name in TINY:
        ids = torch.zeros(2, 5, dtype=torch.long)
        pad_mask = torch.ones(2, 5, dtype=torch.bool)
        pad_mask[1, :2] = False
        assert torch.isfinite(classifier(name)(ids, pad_mask)).all(), name


# -- heads ---------------------------------------------------------------------------------------

def test_weight_tying_shares_the_parameter() -> None:
    backbone = build("transformer_decoder")
    model = LanguageModel(backbone, VOCAB, tie_weights=True)
    assert model.lm_head.weight is backbone.token_embedding.weight
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in backbone.parameters())
    untied = LanguageModel(build("transformer_decoder"), VOCAB, tie_weights=False)
    assert untied.lm_head.weight is not untied.backbone.token_embedding.weight
    rnn = LanguageModel(build("gru", embed_dim=32), VOCAB, tie_weights=True)
    assert rnn.lm_head.weight is rnn.backbone.token_embedding.weight


def test_heads_reject_impossible_setups() -> None:
    with pytest.raises(ValueError, match="embedding size \\(16\\) to equal the hidden size \\(32\\)"):
        LanguageModel(build("lstm"), VOCAB, tie_weights=True)
    with pytest.raises(ValueError, match="23 tokens but the vocabulary has 30"):
        LanguageModel(build("transformer_decoder"), 30, tie_weights=True)
    with pytest.raises(ValueError, match="not causal"):
        LanguageModel(build("lstm", bidirectional=True), VOCAB)
    with pytest.raises(ValueError, match="differs from the backbone's pooling 'cls'"):
        SequenceClassifier(build("transformer_encoder"), 2, pooling="mean")
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(build("textcnn"), 2, pooling="median")
    # TextCNN pools internally, so whatever pooling the task passes is fine.
    assert SequenceClassifier(build("textcnn"), 2, pooling="mean").pooling == "mean"


def test_pool_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0], [5.0], [-9.0]], [[2.0], [-3.0], [7.0]]])
    mask = torch.tensor([[False, False, True], [True, False, False]])  # right and left padding
    assert pool(hidden, mask, "mean").flatten().tolist() == [3.0, 2.0]
    assert pool(hidden, mask, "max").flatten().tolist() == [5.0, 7.0]
    assert pool(hidden, mask, "last").flatten().tolist() == [5.0, 7.0]
    assert pool(hidden, mask, "cls").flatten().tolist() == [1.0, 2.0]
    assert pool(hidden, None, "last").flatten().tolist() == [-9.0, 7.0]
    all_pad = torch.ones(2, 3, dtype=torch.bool)
    for how in ("mean", "max", "last"):
        assert torch.isfinite(pool(hidden, all_pad, how)).all()
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool(hidden, None, "median")


def test_gpt2_initialisation() -> None:
    torch.manual_seed(0)
    comp = MODELS._items["transformer_decoder"]
    backbone = comp.factory({"d_model": 64, "n_layers": 4, "d_ff": 256}, vocab_size=VOCAB, pad_id=PAD, max_len=8)
    block = backbone.blocks[0]
    assert block.attn.qkv.bias is None and block.ln1.bias is None  # bias=False, like nanoGPT
    assert block.mlp.fc.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert block.mlp.proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(8), rel=0.1)
    assert block.attn.proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(8), rel=0.1)


# -- decoding ------------------------------------------------------------------------------------

def test_greedy_temperature_zero_and_top_k_one_agree() -> None:
    logits = torch.randn(5, 11)
    argmax = logits.argmax(-1)
    assert torch.equal(sample_next_token(logits, greedy=True), argmax)
    assert torch.equal(sample_next_token(logits, temperature=0.0), argmax)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next_token(logits, top_k=1, generator=g), argmax)


def test_top_k_and_top_p_filter_the_tail() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log().expand(400, 4)
    g = torch.Generator().manual_seed(0)
    assert set(sample_next_token(logits, top_p=0.7, generator=g).tolist()) == {0, 1}
    assert set(sample_next_token(logits, top_p=0.5, generator=g).tolist()) == {0}
    assert set(sample_next_token(logits, top_k=3, generator=g).tolist()) == {0, 1, 2}
    assert set(sample_next_token(logits, generator=g).tolist()) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="top_p"):
        sample_next_token(logits, top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        sample_next_token(logits, temperature=-1.0)


class _Recorder(nn.Module):
    """A stand-in LM: fixed random logits from the last token; remembers input lengths."""

    def __init__(self, eos: int | None = None) -> None:
        super().__init__()
        self.table = nn.Embedding(VOCAB, VOCAB)
        self.eos = eos
        self.seen: list[int] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        self.seen.append(ids.shape[1])
        logits = self.table(ids)
        if self.eos is not None:
            logits[..., self.eos] = 100.0
        return logits


def test_generate_crops_context_and_counts_tokens() -> None:
    model = _Recorder().train()
    prompt = torch.randint(VOCAB, (2, 3))
    out = generate(model, prompt, 10, context_length=5, greedy=True)
    assert out.shape == (2, 13) and torch.equal(out[:, :3], prompt)
    assert model.seen == [3, 4, 5, 5, 5, 5, 5, 5, 5, 5]
    assert model.training  # mode restored
    assert generate(model, prompt, 0, context_length=5).shape == (2, 3)


def test_generate_stops_at_eos_and_is_reproducible() -> None:
    out = generate(_Recorder(eos=4), torch.ones(2, 2, dtype=torch.long), 10, context_length=8, eos_id=4)
    assert out.shape == (2, 3) and (out[:, -1] == 4).all()

    model = LanguageModel(build("gru"), VOCAB)
    prompt = torch.randint(1, VOCAB, (1, 4))

    def sample(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return generate(model, prompt, 20, context_length=8, temperature=1.5, top_p=0.95, generator=g)

    assert torch.equal(sample(7), sample(7))
    assert not torch.equal(sample(7), sample(8))


@pytest.mark.parametrize("was_training", [True, False])
def test_evaluating_restores_the_mode_even_when_the_block_raises(was_training: bool) -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train(was_training)
    with evaluating(model) as inside:
        assert inside is model and not model.training and not model[1].training
    assert model.training is was_training and model[1].training is was_training
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        assert not model.training
        raise RuntimeError("boom")
    assert model.training is was_training and model[1].training is was_training
