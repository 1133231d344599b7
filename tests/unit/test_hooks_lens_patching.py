"""Hook points (core.models.hooks, core.inspect.activations), the logit lens and activation
patching, on tiny models built in-process (see tests/unit/test_attention_capture.py)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core import inspect as attn
from core.errors import WorkbenchError
from core.inspect.activations import caching, hook_points, patching
from core.inspect.lens import logit_lens, next_tokens
from core.inspect.patching import patch_residual, patched_diff
from tests.unit import test_attention_capture as base
from tests.unit.test_attention_capture import TEXTS, make_source, one_thread  # noqa: F401  (autouse)


@pytest.fixture(scope="module")
def encoder():
    return base.encoder.__wrapped__()


@pytest.fixture(scope="module")
def decoder():
    return base.decoder.__wrapped__()


@pytest.fixture(scope="module")
def seq2seq():
    return base.seq2seq.__wrapped__()


POINTS = ("hook_resid_pre", "attn.hook_pattern", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post")


def test_every_block_has_the_named_points(encoder, decoder, seq2seq) -> None:
    for source, prefix, n in ((encoder, "backbone.blocks", 2), (decoder, "backbone.blocks", 2)):
        names = set(hook_points(source.model))
        assert {f"{prefix}.{i}.{p}" for i in range(n) for p in POINTS} <= names
    names = set(hook_points(seq2seq.model))
    assert {"encoder.blocks.1.hook_resid_post", "decoder.blocks.0.cross.hook_pattern",
            "decoder.blocks.1.hook_cross_out"} <= names
    # Identity modules: no parameter, so checkpoints are unchanged.
    assert not any(p.requires_grad for m in hook_points(decoder.model).values() for p in m.parameters())


def _explicit_patterns(block_attns, resid_pre, ln, **mask) -> list[torch.Tensor]:
    """The old explicit path: each block's attention module asked for its weights."""
    return [a(ln_(x), return_attention=True, **mask)[1] for a, ln_, x in zip(block_attns, ln, resid_pre, strict=True)]


def test_hook_capture_equals_the_old_explicit_path(encoder, decoder, seq2seq) -> None:
    # Encoder, padded batch: capture (hooks) vs MultiHeadAttention(return_attention=True) per block.
    tok = encoder.task.tokenizer
    captures = attn.capture_batch(encoder, TEXTS)
    rows = [tok.encode(t) for t in TEXTS]
    ids = torch.full((len(rows), max(map(len, rows))), tok.pad_id)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    pad = ids == tok.pad_id
    blocks = encoder.model.backbone.blocks
    with torch.no_grad(), caching(encoder.model, [f"backbone.blocks.{i}.hook_resid_pre" for i in range(2)]) as seen:
        encoder.model(ids=ids, pad_mask=pad)
        cls_pad = torch.cat([pad.new_zeros(len(rows), 1), pad], dim=1)  # the [CLS] slot is never padding
        old = _explicit_patterns([b.attn for b in blocks], [seen[k][0] for k in seen], [b.ln1 for b in blocks],
                                 key_padding_mask=cls_pad)
    for b, cap in enumerate(captures):
        n = len(rows[b]) + 1
        expected = np.stack([w[b, :, :n, :n].numpy() for w in old])
        np.testing.assert_allclose(cap.maps["encoder"].weights, expected, atol=1e-6)
    # Causal decoder and the encoder-decoder's three kinds, the same way.
    cap = attn.capture_attention(decoder, TEXTS[1])
    blocks = decoder.model.backbone.blocks
    ids = torch.tensor([decoder.task.tokenizer.encode(TEXTS[1])])
    with torch.no_grad(), caching(decoder.model, [f"backbone.blocks.{i}.hook_resid_pre" for i in range(2)]) as seen:
        decoder.model(ids=ids)
        old = _explicit_patterns([b.attn for b in blocks], [seen[k][0] for k in seen], [b.ln1 for b in blocks], causal=True)
    np.testing.assert_allclose(cap.maps["decoder"].weights, np.stack([w[0].numpy() for w in old]), atol=1e-6)
    cap = attn.capture_attention(seq2seq, "the cat sat", "sat cat the")
    with torch.no_grad():
        tok = seq2seq.task.tokenizer
        src = torch.tensor([tok.encode("the cat sat") + [tok.eos_id]])
        _, old_maps = seq2seq.model(src_ids=src, src_pad_mask=None, tgt_ids=torch.tensor([[tok.bos_id, *tok.encode("sat cat the")]]),
                                    return_attention=True)
    for kind in ("encoder", "decoder", "cross"):
        np.testing.assert_allclose(cap.maps[kind].weights, np.stack([w[0].numpy() for w in old_maps[kind]]), atol=1e-6)


def test_hooks_act_only_in_their_own_thread(decoder) -> None:
    model = decoder.model
    ids = torch.tensor([decoder.task.tokenizer.encode(TEXTS[0])])
    with torch.no_grad():
        reference = model(ids=ids)
    other: list[torch.Tensor] = []
    zero = {"backbone.blocks.0.hook_resid_post": lambda t: torch.zeros_like(t)}
    with torch.no_grad(), patching(model, zero):
        patched = model(ids=ids)
        thread = threading.Thread(target=lambda: other.append(model(ids=ids)))
        thread.start()
        thread.join()
    assert not torch.allclose(patched, reference)  # the patch acts here...
    torch.testing.assert_close(other[0], reference)  # ...and never in another session's thread
    assert not any(p._forward_hooks for p in hook_points(model).values())  # and is gone afterwards
    with pytest.raises(WorkbenchError, match="no hook point"), caching(model, ["backbone.blocks.9.hook_resid_pre"]):
        pass


def test_logit_lens_last_layer_is_the_models_prediction(decoder) -> None:
    lens = logit_lens(decoder, TEXTS[1])
    ids = torch.tensor([decoder.task.tokenizer.encode(TEXTS[1])])
    with torch.no_grad():
        probs = decoder.model(ids=ids)[0].softmax(-1)
    top_p, top_i = probs.max(-1)
    tok = decoder.task.tokenizer
    assert lens.layers == ["embeddings", "after block 0", "after block 1"]
    assert lens.top_tokens[-1] == [attn.display_token(tok.id_to_token(int(i))) for i in top_i]
    np.testing.assert_allclose(lens.top_probs[-1], top_p.numpy(), rtol=1e-5)
    np.testing.assert_allclose(lens.final_probs[-1], top_p.numpy(), rtol=1e-5)
    assert next_tokens(decoder, TEXTS[1], k=1)[0][0] == lens.top_tokens[-1][-1]
    with pytest.raises(WorkbenchError, match="GPT-style"):
        logit_lens(_rnn_language_model(), "the cat")


def _rnn_language_model():
    return make_source("language_model", {"name": "lstm", "embed_dim": 8, "hidden_size": 8}, steps=0,
                       context_length=8, sample_length=0)


def test_patching_the_full_residual_restores_the_clean_difference(decoder) -> None:
    clean, corrupt = "the cat sat on the mat", "the dog sat on the mat"
    result = patch_residual(decoder, clean, corrupt, answer="barn", wrong="far")
    assert result.restored.shape == (3, 6) and result.layers[-1] == "after block 1"
    from core.inspect.lens import gpt_parts

    parts = gpt_parts(decoder)
    tok = decoder.task.tokenizer
    x_clean, x_corrupt = (torch.tensor([tok.encode(t)]) for t in (clean, corrupt))
    answer, wrong = tok.encode("barn")[0], tok.encode("far")[0]
    for site, _ in parts.sites():
        with torch.no_grad(), caching(decoder.model, [site]) as seen:
            decoder.model(ids=x_clean)
        diff = patched_diff(parts, x_corrupt, site, seen[site][0], range(6), answer, wrong)
        assert diff == pytest.approx(result.clean_diff, abs=1e-5)
    # Positions the two prompts share carry nothing before the first differing token is read.
    np.testing.assert_allclose(result.restored[0, [0, 2, 3, 4]], 0.0, atol=1e-5)
    np.testing.assert_allclose(result.restored[-1, :-1], 0.0, atol=1e-5)  # only the last position is read out
    np.testing.assert_allclose(result.restored[-1, -1], 1.0, atol=1e-5)
    with pytest.raises(WorkbenchError, match="equally long"):
        patch_residual(decoder, "the cat", "the big cat")
