"""MultiHeadAttention: fused SDPA and explicit softmax (a hook at ``hook_pattern``) agree; masks
behave; embeddings."""

from __future__ import annotations

import math

import pytest
import torch

from core.inspect.activations import run_with_cache
from core.models.embeddings import PositionalEncoding, TokenEmbedding, sinusoidal_table
from core.models.multihead import MultiHeadAttention

B, T, S, D, H = 3, 7, 5, 16, 4


@pytest.fixture
def attn() -> MultiHeadAttention:
    torch.manual_seed(0)
    return MultiHeadAttention(D, H, dropout=0.0).eval()


def _pad_mask(lengths: list[int], total: int) -> torch.Tensor:
    return torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]


def _explicit(attn: MultiHeadAttention, x: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """The output with a hook listening at the pattern point (the explicit path), and the weights."""
    out, cache = run_with_cache(attn, x, names=["hook_pattern"], **kwargs)
    (weights,) = cache["hook_pattern"]
    return out, weights


# (uses kv, key padding lengths or None, causal)
CASES = {
    "plain": (False, None, False),
    "padding": (False, [7, 4, 1], False),
    "causal": (False, None, True),
    "causal+padding": (False, [7, 4, 1], True),
    "cross": (True, None, False),
    "cross+padding": (True, [5, 2, 3], False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_sdpa_and_explicit_paths_agree(attn: MultiHeadAttention, case: str) -> None:
    cross, lengths, causal = CASES[case]
    x = torch.randn(B, T, D)
    kv = torch.randn(B, S, D) if cross else None
    mask = _pad_mask(lengths, S if cross else T) if lengths else None
    fast = attn(x, kv=kv, key_padding_mask=mask, causal=causal)
    slow, weights = _explicit(attn, x, kv=kv, key_padding_mask=mask, causal=causal)
    assert weights.shape == (B, H, T, S if cross else T)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, H, T))
    if mask is not None:  # padding keys get exactly zero weight
        assert (weights.masked_select(mask[:, None, None, :].expand_as(weights)) == 0).all()
    if causal:  # the future gets exactly zero weight
        upper = torch.ones(T, T, dtype=torch.bool).triu(1)
        assert (weights[..., upper] == 0).all()


def test_causal_output_ignores_the_future(attn: MultiHeadAttention) -> None:
    x = torch.randn(1, T, D)
    y = x.clone()
    y[:, 4:] = torch.randn(1, T - 4, D)
    a = attn(x, causal=True)
    b = attn(y, causal=True)
    torch.testing.assert_close(a[:, :4], b[:, :4])


@pytest.mark.parametrize("causal", [False, True])
def test_fully_masked_rows_give_zeros_not_nan(attn: MultiHeadAttention, causal: bool) -> None:
    x = torch.randn(2, T, D, requires_grad=True)
    # Row 0 is all padding; row 1 is left-padded, so under causal its first queries see nothing.
    mask = torch.zeros(2, T, dtype=torch.bool)
    mask[0] = True
    mask[1, :3] = True
    for explicit in (False, True):
        if explicit:
            out, weights = _explicit(attn, x, key_padding_mask=mask, causal=causal)
        else:
            out, weights = attn(x, key_padding_mask=mask, causal=causal), None
        assert torch.isfinite(out).all()
        out.sum().backward()
        assert torch.isfinite(x.grad).all()
        x.grad = None
        if weights is not None:
            assert torch.isfinite(weights).all()
            assert (weights[0] == 0).all()
            if causal:
                assert (weights[1, :, :3] == 0).all()
    fast = attn(x, key_padding_mask=mask, causal=causal)
    slow, _ = _explicit(attn, x, key_padding_mask=mask, causal=causal)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_training_mode_with_dropout_runs_both_paths() -> None:
    attn = MultiHeadAttention(D, H, dropout=0.5).train()
    x = torch.randn(B, T, D)
    mask = _pad_mask([7, 4, 1], T)
    for out in (attn(x, key_padding_mask=mask), _explicit(attn, x, key_padding_mask=mask)[0]):
        assert out.shape == (B, T, D) and torch.isfinite(out).all()


def test_heads_must_divide_width() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 4, 0.0)


def test_no_bias_option() -> None:
    attn = MultiHeadAttention(D, H, 0.0, bias=False)
    assert attn.qkv.bias is None and attn.proj.bias is None
    out = attn(torch.randn(1, 3, D), kv=torch.randn(1, 2, D))
    assert out.shape == (1, 3, D)


# -- embeddings --------------------------------------------------------------------------------

def test_sinusoidal_table_matches_formula() -> None:
    table = sinusoidal_table(10, 6)
    pos, i = 3, 1  # channel pair 1: sin at 2, cos at 3
    angle = pos / 10000 ** (2 * i / 6)
    assert table[pos, 2].item() == pytest.approx(math.sin(angle), abs=1e-6)
    assert table[pos, 3].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert sinusoidal_table(4, 5).shape == (4, 5)  # odd widths work


@pytest.mark.parametrize("kind", ["sinusoidal", "learned"])
def test_positional_encoding(kind: str) -> None:
    pe = PositionalEncoding(kind, 8, max_len=6)
    x = torch.zeros(2, 4, 8)
    out = pe(x)
    assert out.shape == (2, 4, 8)
    assert not torch.equal(out[:, 0], out[:, 1])  # positions are distinguishable
    assert ("table" in dict(pe.named_buffers())) == (kind == "sinusoidal")
    assert "table" not in pe.state_dict()  # derived, not saved
    with pytest.raises(ValueError, match="longer than the 6"):
        pe(torch.zeros(1, 7, 8))


def test_token_embedding_pad_and_pretrained_vectors() -> None:
    emb = TokenEmbedding(10, 4, pad_id=0)
    assert emb.embedding.padding_idx == 0
    assert TokenEmbedding(10, 4, pad_id=-1).embedding.padding_idx is None
    vectors = torch.randn(10, 4)
    emb.load_vectors(vectors)
    torch.testing.assert_close(emb(torch.tensor([[3]]))[0, 0], vectors[3])
    assert emb.embedding.weight.requires_grad  # task.freeze decides, not the loader
    with pytest.raises(ValueError, match="shape"):
        emb.load_vectors(torch.randn(9, 4))
