"""Hook points (core.models.hooks, core.inspect.activations), the logit lens and activation
patching, on tiny models built in-process (see tests/unit/test_attention_capture.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core import inspect as attn
from core.errors import WorkbenchError
from core.inspect.activations import caching, hook_points, patching, pattern_points, run_with_cache
from core.inspect.lens import logit_lens, next_tokens
from core.inspect.patching import patch_residual, patched_diff
from core.models.hooks import AttentionPoints
from core.models.multihead import MultiHeadAttention
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


@torch.no_grad()
def _softmax_patterns(model, **inputs) -> dict[str, list[torch.Tensor]]:
    """softmax(Q K^T / sqrt(d)) with the masks, written out here from the inputs each attention
    module received in a plain (fused) forward and its own weights: an independent reference for
    what capture reads at the pattern points. By kind, in the order the modules ran."""
    calls: list[tuple[str, MultiHeadAttention, tuple, dict]] = []
    named = [(n, m) for n, m in model.named_modules() if isinstance(m, MultiHeadAttention)]
    handles = [m.register_forward_pre_hook(lambda mod, args, kwargs, n=n: calls.append((n, mod, args, kwargs)),
                                           with_kwargs=True) for n, m in named]
    try:
        model(**inputs)
    finally:
        for h in handles:
            h.remove()
    found: dict[str, list[torch.Tensor]] = {}
    for name, m, (x,), kw in calls:
        kv = x if kw.get("kv") is None else kw["kv"]
        w, d = m.qkv.weight, m.d_model
        b = torch.zeros(3 * d) if m.qkv.bias is None else m.qkv.bias
        q = F.linear(x, w[:d], b[:d]).unflatten(-1, (m.n_heads, m.head_dim)).transpose(1, 2)
        k = F.linear(kv, w[d : 2 * d], b[d : 2 * d]).unflatten(-1, (m.n_heads, m.head_dim)).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / m.head_dim**0.5
        if kw.get("causal"):
            scores = scores.masked_fill(torch.ones(scores.shape[-2:], dtype=torch.bool).triu(1), float("-inf"))
        if kw.get("key_padding_mask") is not None:
            scores = scores.masked_fill(kw["key_padding_mask"][:, None, None, :], float("-inf"))
        kind = "encoder" if not name.startswith("decoder.") else "cross" if name.endswith("cross") else "decoder"
        found.setdefault(kind, []).append(scores.softmax(-1))
    return found


def test_hook_capture_equals_the_softmax_written_out(encoder, decoder, seq2seq) -> None:
    # Encoder, padded batch: every row of the batched capture, cropped to its real tokens.
    tok = encoder.task.tokenizer
    captures = attn.capture_batch(encoder, TEXTS)
    rows = [tok.encode(t) for t in TEXTS]
    ids = torch.full((len(rows), max(map(len, rows))), tok.pad_id)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    (expected,) = _softmax_patterns(encoder.model, ids=ids, pad_mask=ids == tok.pad_id).values()
    assert len(expected) == 2
    for b, cap in enumerate(captures):
        n = len(rows[b]) + 1  # + [CLS]
        np.testing.assert_allclose(cap.maps["encoder"].weights, np.stack([w[b, :, :n, :n] for w in expected]), atol=1e-6)
    # Causal decoder and the encoder-decoder's three kinds, the same way.
    cap = attn.capture_attention(decoder, TEXTS[1])
    (expected,) = _softmax_patterns(decoder.model, ids=torch.tensor([decoder.task.tokenizer.encode(TEXTS[1])])).values()
    np.testing.assert_allclose(cap.maps["decoder"].weights, np.stack([w[0] for w in expected]), atol=1e-6)
    cap = attn.capture_attention(seq2seq, "the cat sat", "sat cat the")
    tok = seq2seq.task.tokenizer
    expected = _softmax_patterns(seq2seq.model, src_ids=torch.tensor([tok.encode("the cat sat") + [tok.eos_id]]),
                                 src_pad_mask=None, tgt_ids=torch.tensor([[tok.bos_id, *tok.encode("sat cat the")]]))
    assert set(expected) == set(cap.maps) == {"encoder", "decoder", "cross"}
    for kind, weights in expected.items():
        np.testing.assert_allclose(cap.maps[kind].weights, np.stack([w[0] for w in weights]), atol=1e-6)


def _inputs(source, which: str) -> dict[str, torch.Tensor | None]:
    tok = source.task.tokenizer
    long, short = tok.encode(TEXTS[1]), tok.encode(TEXTS[0])
    ids = torch.tensor([long, short + [tok.pad_id] * (len(long) - len(short))])
    if which == "seq2seq":
        return {"src_ids": ids, "src_pad_mask": ids == tok.pad_id, "tgt_ids": ids[:, :5]}
    return {"ids": ids, "pad_mask": ids == tok.pad_id} if which == "encoder" else {"ids": ids[:1]}


@pytest.mark.parametrize("which", ["encoder", "decoder", "seq2seq"])
def test_fused_when_nothing_listens_explicit_when_a_hook_does_same_output(
        which: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """DESIGN principle 6: fused SDPA when nothing listens, explicit softmax when a hook asks for
    the pattern (in this thread), and the model's output is the same either way."""
    source = request.getfixturevalue(which)
    model, inputs = source.model, _inputs(source, which)
    explicit = []
    real = MultiHeadAttention._explicit
    monkeypatch.setattr(MultiHeadAttention, "_explicit", lambda self, *a: explicit.append(self) or real(self, *a))
    n_attention = sum(isinstance(m, MultiHeadAttention) for m in model.modules())
    with torch.no_grad():
        fused = model(**inputs)
        assert explicit == []
        listened, cache = run_with_cache(model, names=pattern_points(model), **inputs)
        assert len(explicit) == n_attention == len(cache)
        torch.testing.assert_close(listened, fused, atol=1e-5, rtol=1e-4)
        # A hook another thread (session) registered does not take this thread off the fused path.
        explicit.clear()
        with caching(model, pattern_points(model)) as seen:
            other = []
            thread = threading.Thread(target=lambda: other.append(model(**inputs)))
            thread.start()
            thread.join()
        assert explicit == [] and not any(seen.values())
        torch.testing.assert_close(other[0], fused)


def test_run_with_cache_reads_every_point_by_default_or_a_filter(decoder) -> None:
    ids = torch.tensor([decoder.task.tokenizer.encode(TEXTS[0])])
    with torch.no_grad():
        logits, cache = run_with_cache(decoder.model, ids)
        torch.testing.assert_close(logits, decoder.model(ids))
        assert list(cache) == list(hook_points(decoder.model)) and all(len(v) == 1 for v in cache.values())
        _, resid = run_with_cache(decoder.model, ids, names=lambda name: name.endswith("hook_resid_post"))
    assert list(resid) == ["backbone.blocks.0.hook_resid_post", "backbone.blocks.1.hook_resid_post"]
    torch.testing.assert_close(resid["backbone.blocks.1.hook_resid_post"][0], cache["backbone.blocks.1.hook_resid_post"][0])


def test_attention_points_for_models_that_compute_weights_themselves() -> None:
    points = AttentionPoints(encoder=2, cross=1)
    assert list(hook_points(points)) == ["encoder.0.hook_pattern", "encoder.1.hook_pattern", "cross.0.hook_pattern"]
    assert not points.hooked
    w = torch.rand(1, 2, 3, 3)
    with caching(points, ["encoder.1.hook_pattern"]) as seen:
        assert points.hooked
        points.show(encoder=[w, 2 * w], cross=[w])
    assert len(seen["encoder.1.hook_pattern"]) == 1 and torch.equal(seen["encoder.1.hook_pattern"][0], 2 * w)
    with pytest.raises(WorkbenchError, match="returned 1 encoder attention layers; its config names 2"):
        points.show(encoder=[w])


def test_no_attention_flag_in_any_forward() -> None:
    """Hook points are the only way to look inside: no forward takes a flag for it, and only the
    Hugging Face wrappers ask transformers for its attentions (for their hook points)."""
    repo = Path(__file__).resolve().parents[2]
    flag, hf_flag = "return_" + "attention", "output_" + "attentions"
    found, hf_found = [], []
    for folder in ("core", "app", "pages", "tests", "bench"):
        for path in (repo / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            rel = path.relative_to(repo).as_posix()
            found += [rel] * (flag in text)
            hf_found += [rel] * (hf_flag in text)
    assert found == []
    assert set(hf_found) <= {"core/models/hf.py", "core/models/hf_generative.py", "core/models/hf_reader.py",
                             "core/models/hooks.py"}, hf_found


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
