"""The Attention page and the attention embeds (Run view, Playground) through AppTest.

One tiny Transformer run (and one LSTM run) are really trained once for the module, in their
own workbench home; each test points ``LMWB_HOME`` there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from app.components import attention_view as view
from app.components import bertviz
from app.navigation import page_path
from core import inspect as attn
from core.config import default_config, validate_config
from core.runs import create_run, execute_run
from core.store import Store
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

TIMEOUT = 60


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def train(store: Store, name: str, model: dict[str, Any], task: str = "classification") -> str:
    raw = default_config(task)
    raw["model"] = model
    if task == "classification":
        raw["data"] = {"name": "topics", "n_examples": 200}
        raw["task"] = {"name": "classification", "max_length": 24}
    else:
        raw["data"] = {"name": "reverse", "n_examples": 200, "max_length": 6}
        raw["task"] = {"name": "translation", "eval_max_sentences": 8}
    raw["training"] = {"max_steps": 20, "batch_size": 16, "eval_every": 10, "eval_max_batches": 1, "device": "cpu"}
    run = create_run(store, validate_config(raw), name=name)
    execute_run(store, run.id)
    return run.id


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-attention-home")
    store = Store(home=home)
    ids = {
        "lstm": train(store, "tiny-lstm", {"name": "lstm", "embed_dim": 8, "hidden_size": 8}),
        "transformer": train(store, "tiny-transformer", {
            "name": "transformer_encoder", "d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64}),
        "translation": train(store, "tiny-seq2seq", {
            "name": "transformer_seq2seq", "d_model": 16, "n_heads": 2, "encoder_layers": 1, "decoder_layers": 1,
            "d_ff": 32}, task="translation"),
    }
    return home, ids


@pytest.fixture
def runs(trained_home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    home, ids = trained_home
    monkeypatch.setenv("LMWB_HOME", str(home))
    yield ids


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(page_path(name)), default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def charts(at: AppTest) -> list[Any]:
    return list(at.get("plotly_chart"))


def title(chart: Any) -> str:
    return json.loads(chart.proto.spec)["layout"]["title"]["text"]


def iframes(at: AppTest) -> list[Any]:
    return list(at.get("iframe"))


def test_attention_page_on_an_empty_store() -> None:
    at = page("attention")
    no_exception(at)
    assert "No trained runs yet" in at.info[0].value


def test_attention_page_shows_every_view_of_a_transformer(runs: dict[str, str]) -> None:
    at = page("attention", run=runs["transformer"])
    no_exception(at)
    assert not at.error
    assert at.metric[0].label == "Predicted class"
    docs = iframes(at)
    assert len(docs) == 1 and "define('d3'" in docs[0].proto.srcdoc  # bertviz, assets inlined
    assert bertviz.external_script_urls(docs[0].proto.srcdoc) == []
    # Only the open tab is drawn; each tab draws its own views when opened.
    assert len(charts(at)) == 1 and "mean of heads" in charts(at)[0].proto.spec
    tabs_key = f"attention.{runs['transformer']}.tabs"
    for tab, n_charts, marker in (("All heads", 1, "all heads"), ("Head summary", 2, "per head"),
                                  ("Evolution", 1, "Step 20")):
        at.session_state[tabs_key] = tab
        at.run()
        no_exception(at)
        assert len(charts(at)) == n_charts and marker in charts(at)[0].proto.spec, tab
    at.session_state[tabs_key] = "Export"
    at.run()
    assert [b.label for b in at.get("download_button")] == ["bertviz head view (HTML)", "Heatmap (HTML)", "Weights (JSON)"]
    # A new input, cut to 6 tokens: a visible note, and views of the new tokens.
    at.text_area(key=f"attention.{runs['transformer']}.text").input("science news " * 10)
    at.number_input(key="attention.max_tokens").set_value(6)
    at.button(key="attention.show").click().run()
    no_exception(at)
    assert any("truncated" in w.value for w in at.warning)
    # The model view and a single head are one click away.
    at.button_group(key=f"attention.{runs['transformer']}.bertviz").set_value("model").run()
    at.selectbox(key=f"attention.{runs['transformer']}.head.encoder").set_value(1).run()
    no_exception(at)
    assert len(iframes(at)) == 1 and "DETAIL_WIDTH" in iframes(at)[0].proto.srcdoc  # model_view.js


def test_attention_page_shows_a_translation_with_its_alignment(runs: dict[str, str]) -> None:
    run_id = runs["translation"]
    at = page("attention", run=run_id)
    no_exception(at)
    assert at.markdown[0].value == "**Translation**"  # the model's own output, next to the views
    assert title(charts(at)[0]) == "Alignment · mean of layers and heads"  # the first tab
    # Encoder, decoder and cross-attention: one picker, cross first; bertviz's encoder-decoder form.
    assert at.selectbox(key=f"attention.{run_id}.kind").value == "cross"
    doc = iframes(at)[0].proto.srcdoc
    assert 'Attention: <select id="filter">' in doc
    # bertviz's own picker opens on the same attention as the page's (cross: its third).
    assert '<option value="2" selected>Cross' in doc and '"default_filter": "2"' in doc
    at.selectbox(key=f"attention.{run_id}.kind").set_value("encoder").run()
    assert '"default_filter": "0"' in iframes(at)[0].proto.srcdoc
    # A given target: the alignment of the reference, its rows the target tokens produced.
    at.text_input(key=f"attention.{run_id}.target").input("c b a")
    at.text_area(key=f"attention.{run_id}.text").input("a b c")
    at.button(key="attention.show").click().run()
    no_exception(at)
    spec = charts(at)[0].proto.spec
    assert "Alignment" in spec and "&lt;eos&gt;" in spec


def test_attention_page_explains_models_without_attention(runs: dict[str, str]) -> None:
    at = page("attention", run=runs["lstm"])
    no_exception(at)
    assert any("no attention" in i.value for i in at.info)
    assert not iframes(at)


def test_run_view_and_playground_embed_attention(runs: dict[str, str]) -> None:
    run_id = runs["transformer"]
    at = page("run", run=run_id)
    no_exception(at)
    assert any(e.label == "Attention over training" for e in at.expander)
    assert at.select_slider(key="run.attention.step").value == 20
    at = page("playground")
    at.selectbox(key="playground_run").set_value(run_id).run()
    at.text_area(key="playground_text").input("science and sports").run()
    no_exception(at)
    assert any(e.label == "Attention" for e in at.expander)
    assert len(charts(at)) == 2  # class probabilities + the attention heatmap


def test_figures_label_tokens_and_hover_weights(runs: dict[str, str]) -> None:
    from core.runs import load_trained

    trained = load_trained(Store(), runs["transformer"])
    capture = attn.capture_attention(trained, "qqqzzz qqqzzz")  # unknown words: <unk> twice
    maps = capture.maps["encoder"]
    heat = view.attention_heatmap(maps, 1, None)
    # Positions on the axes (repeated tokens stay apart), tokens as escaped tick text.
    assert list(heat.data[0].x) == [0, 1, 2] and list(heat.layout.xaxis.ticktext) == ["[CLS]", "&lt;unk&gt;", "&lt;unk&gt;"]
    assert "weight %{z:.3f}" in heat.data[0].hovertemplate and heat.data[0].text[1][2] == "1 &lt;unk&gt; → 2 &lt;unk&gt;"
    # Tick labels are not measured for overflow; a short axis may still lay its labels flat.
    assert heat.layout.xaxis.ticklabeloverflow == "allow" and heat.layout.yaxis.ticklabeloverflow == "allow"
    assert heat.layout.xaxis.tickangle is None and list(heat.layout.xaxis.autotickangles) == [0, 90]
    # A long input: upright key labels and margins set from the labels, not measured by plotly.
    long_maps = attn.capture_attention(trained, " ".join(["qqqzzz"] * 30)).maps["encoder"]
    assert len(long_maps.key_tokens) > 24
    long_heat = view.attention_heatmap(long_maps, 1, None)
    assert long_heat.layout.xaxis.tickangle == 90 and long_heat.layout.xaxis.automargin is False
    assert long_heat.layout.margin.b == 50 + 7 * len("<unk>")
    grid = view.heads_grid(maps, 0)
    assert len(grid.data) == maps.n_heads
    # The all-heads grid names its tokens: queries on the first column, keys under every head.
    assert list(grid.layout.yaxis.ticktext) == ["[CLS]", "&lt;unk&gt;", "&lt;unk&gt;"]
    assert all(list(grid.layout[f"xaxis{i if i > 1 else ''}"].ticktext) == ["[CLS]", "&lt;unk&gt;", "&lt;unk&gt;"]
               for i in range(1, maps.n_heads + 1))
    summary = view.head_summary_figure(attn.head_summary(maps), "entropy")
    assert summary.data[0].z is not None and len(summary.data[0].z) == maps.n_layers


def test_head_summary_names_what_heads_do() -> None:
    """A reversal head is "reversed" (not "first token"), an in-order alignment "in order", a
    bidirectional encoder's look-ahead head "next token"; the cells say so in short."""
    import numpy as np

    t = 6
    reverse = np.fliplr(np.eye(t))  # query i looks at key t-1-i: the reversal task's cross-attention
    in_order = np.eye(t)
    cross = attn.AttentionMaps("cross", np.stack([reverse, in_order])[None].astype(np.float32),
                               [f"q{i}" for i in range(t)], [f"k{i}" for i in range(t)])
    assert attn.head_summary(cross).pattern == [["reversed", "in order"]]
    ahead = np.eye(t, k=1)
    ahead[-1, -1] = 1.0
    encoder = attn.AttentionMaps("encoder", ahead[None, None].astype(np.float32), list("abcdef"), list("abcdef"))
    assert attn.head_summary(encoder).pattern == [["next token"]]
    cells = view.head_summary_figure(attn.head_summary(cross)).data[0].text
    assert [list(row) for row in cells] == [["rev", "order"]]


def test_attention_page_has_one_set_of_pickers_and_a_default_input_that_fits(runs: dict[str, str]) -> None:
    run_id = runs["transformer"]
    at = page("attention", run=run_id)
    doc = iframes(at)[0].proto.srcdoc
    assert bertviz.OWN_PICKERS_HIDDEN in doc  # bertviz's own layer select is hidden: the page's rules
    # The Evolution tab follows the page's layer and head pickers instead of drawing its own.
    at.selectbox(key=f"attention.{run_id}.layer.encoder").set_value(0)
    at.selectbox(key=f"attention.{run_id}.head.encoder").set_value(2)
    at.session_state[f"attention.{run_id}.tabs"] = "Evolution"
    at.run()
    no_exception(at)
    assert not [s for s in at.selectbox if str(s.key).startswith(f"attention.{run_id}.evolution")]
    assert "layer 0 · head 2" in title(charts(at)[0])
    # The default input (the run's probe, a long validation example) is cut to what the model reads.
    from app.components.run_input import fit_text

    trained = view.trained_run(Store(), run_id)
    long = "science news about the match " * 20
    cut = fit_text(trained.tokenizer, long, 24)
    assert len(trained.tokenizer.encode(cut)) <= 24 < len(trained.tokenizer.encode(cut + " science news"))
    assert not any("truncated" in w.value for w in at.warning)
