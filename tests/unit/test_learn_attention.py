"""The Self-attention chapter: every step recomputed by hand from a trained layer's weights equals
what the model computed (hook points), and its attention weights equal an independent capture
(core.inspect.capture_attention), for an encoder with [CLS] and sinusoidal positions, a post-LN
encoder and a causal GPT; the chapter's page and command show the same walkthrough."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main as lmwb
from core.config import apply_overrides, default_config
from core.errors import ConfigError
from core.inspect import capture_attention
from core.learn.chapters import chapter
from core.learn.walkthrough import Step, check
from core.runs import load_trained
from core.store import Store
from tests.learn_pages import open_page
from tests.trained_runs import topics_classifier, train_run
from tests.unit.test_attention_capture import one_thread  # noqa: F401  (autouse: one torch thread)

TEXT = "the team won the match and the crowd cheered"
SHAPE = {"d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 32}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn")
    store = Store(home=home)
    gpt = apply_overrides(default_config("language_model"), {
        "data.name": "arithmetic", "data.n_examples": 200, "task.sample_length": 0, "task.context_length": 16,
        **{f"model.{k}": v for k, v in SHAPE.items()}, "training.max_steps": 5, "training.eval_every": 5})
    quiet = {"attention_snapshots": False}
    ids = {
        "cls": train_run(store, "enc-cls", topics_classifier(
            {"name": "transformer_encoder", **SHAPE, "pooling": "cls"}, 100, 5), **quiet),
        "post_ln": train_run(store, "enc-post", topics_classifier(
            {"name": "transformer_encoder", **SHAPE, "pooling": "mean", "norm_first": False,
             "positions": "learned"}, 100, 5), **quiet),
        "gpt": train_run(store, "gpt", gpt, **quiet),
    }
    return home, ids


@pytest.mark.parametrize("kind", ["cls", "post_ln", "gpt"])
@pytest.mark.parametrize(("layer", "head"), [(0, 0), (1, 1)])
def test_every_step_recomputed_by_hand_equals_the_model(home: tuple[Path, dict[str, str]], kind: str,
                                                        layer: int, head: int) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[kind])
    text = "12+34=" if kind == "gpt" else TEXT
    walk = chapter("attention").function()(trained, text, layer=layer, head=head)
    assert len(walk.checks) >= 3 and all(c.ok for c in walk.checks), [c.sentence() for c in walk.checks]
    # The weights shown against an independent path: the Attention page's capture.
    capture = capture_attention(trained, text)
    [maps] = capture.maps.values()
    shown = next(s for s in walk.steps if s.title.startswith("Attention weights"))
    assert list(shown.rows) == maps.query_tokens
    assert np.max(np.abs(shown.values - maps.weights[layer, head])) < 1e-5
    assert np.allclose(shown.values.sum(axis=1), 1.0)
    if kind == "gpt":  # causal: nothing above the diagonal
        assert np.all(np.triu(shown.values, k=1) == 0)
        assert any(s.title.startswith("The causal mask") for s in walk.steps)
    if kind == "cls":
        assert shown.rows[0] == "[CLS]" and walk.steps[0].title.startswith("Positional encodings")


def test_a_layer_or_head_the_model_lacks_is_refused_by_name(home: tuple[Path, dict[str, str]]) -> None:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids["cls"])
    with pytest.raises(ConfigError, match=r"layer.*0 to 1"):
        chapter("attention").function()(trained, TEXT, layer=2, head=0)
    with pytest.raises(ConfigError, match=r"head.*0 to 1"):
        chapter("attention").function()(trained, TEXT, layer=0, head=2)


def test_a_check_fails_when_the_numbers_differ() -> None:
    assert not check("x", np.zeros(3), np.array([0.0, 0.0, 1e-3])).ok
    assert not check("x", np.zeros(3), np.zeros(4)).ok  # shapes differ: never "equal"
    assert check("x", np.ones((2, 2)), np.ones((2, 2)) + 1e-7).ok


def test_the_text_walkthrough_prints_masked_scores_and_cuts_wide_matrices() -> None:
    from core.learn.walkthrough import Walkthrough

    step = Step("S", np.array([[0.5, -np.inf], [0.1, 0.2]]), ("a", "b"), ("a", "b"))
    wide = Step("X", np.zeros((1, 40)))
    text = Walkthrough("t", "f", (), [step, wide]).text()
    assert "-inf" in text and "(28 more columns" in text


def test_the_command_prints_the_walkthrough_and_its_checks(home: tuple[Path, dict[str, str]],
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "attention", ids["gpt"], "12+34=", "--layer", "1", "--head", "0"]) == 0
    out = capsys.readouterr().out
    assert "Attention weights softmax(S + M)" in out and out.count("check:") >= 3 and "DIFFERENT" not in out
    assert lmwb(["learn", "attention", ids["gpt"], "12+34=", "--head", "7"]) != 0
    assert "head" in capsys.readouterr().err


def test_the_learn_page_draws_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "attention", "run": ids["gpt"], "text": "12+34=", "layer": "1", "head": "1"})
    assert at.number_input(key="learn.g1.attention.layer").value == 1
    assert len(at.success) >= 3 and not at.error
    assert any("softmax" in m.value for m in at.markdown)
    # Another head, another view; the link follows.
    at.number_input(key="learn.g1.attention.head").set_value(0).run()
    assert not at.exception and at.query_params["head"] == "0"


def test_the_attention_page_links_to_the_chapter_on_the_same_run_and_text(
        home: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("attention", folder, monkeypatch, {"run": ids["cls"], "text": TEXT})
    [link] = [p for p in at.get("page_link") if p.proto.label.startswith("How is this computed?")]
    assert link.proto.page.endswith("learn") or "learn" in link.proto.page
    assert f"run={ids['cls']}" in link.proto.query_string and "chapter=attention" in link.proto.query_string
    assert "layer=" in link.proto.query_string and "head=" in link.proto.query_string  # the view shown


def test_a_link_opens_its_view_even_after_the_page_was_used(home: tuple[Path, dict[str, str]],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A second link (from the Attention page, another layer) is followed, not the widgets' old
    values; another chapter starts from its own input and knobs; an unknown chapter is said."""
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "attention", "run": ids["gpt"], "text": "12+34=", "layer": "1", "head": "1"})
    at.query_params.update({"chapter": "attention", "run": ids["cls"], "text": TEXT, "layer": "0", "head": "1"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [layer] = [w for w in at.number_input if w.key.endswith("attention.layer")]
    [text] = [w for w in at.text_input if w.key.endswith("attention.text")]
    assert layer.value == 0 and text.value == TEXT
    [picker] = [w for w in at.selectbox if w.key.endswith("chapter")]
    picker.set_value("bleu_rouge").run()
    assert not at.exception and at.query_params.get("layer") is None
    [text] = [w for w in at.text_input if w.key.endswith("bleu_rouge.text")]
    assert text.value == chapter("bleu_rouge").default_text
    at.query_params.clear()
    at.query_params["chapter"] = "no_such_chapter"
    at.run()
    assert any("no chapter called 'no_such_chapter'" in w.value for w in at.warning)


def test_formulas_read_as_text_in_a_terminal() -> None:
    from core.learn.walkthrough import plain

    assert plain(r"S = \frac{QK^\top}{\sqrt{d_k}}") == "S = (QKᵀ)/√(d_k)"
    assert plain(r"\mathrm{LN}(x)=\gamma\odot\frac{x-\mu}{\sqrt{\sigma^2+\epsilon}}+\beta") == "LN(x)=γ⊙(x-μ)/(√(σ^2+ε))+β"
    assert "\\" not in plain(r"\mathrm{BP}=\begin{cases}1 & c\ge r\\ e^{1-r/c} & c<r\end{cases}")


def test_the_knobs_offer_only_what_the_run_has(home: tuple[Path, dict[str, str]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer and Head stop at the model's own (2 layers, 2 heads here); a value held from a run
    with more starts again from the default instead of an error."""
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "attention", "run": ids["gpt"], "text": "12+34=",
                                                   "layer": "1"})
    layer = next(w for w in at.number_input if w.key.endswith("attention.layer"))
    head = next(w for w in at.number_input if w.key.endswith("attention.head"))
    assert (layer.max, head.max) == (SHAPE["n_layers"] - 1, SHAPE["n_heads"] - 1)
    layer.increment().run()  # already at the last layer: it stays there, no error
    assert not at.exception and not at.error
    assert next(w for w in at.number_input if w.key.endswith("attention.layer")).value == 1


def test_an_empty_input_is_asked_for_not_computed(home: tuple[Path, dict[str, str]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """As `lmwb learn` refuses an empty text, the page asks for one instead of computing on nothing."""
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "attention", "run": ids["cls"], "text": TEXT})
    [box] = [w for w in at.text_input if w.key.endswith("attention.text")]
    box.input("   ").run()
    assert not at.exception and not at.success
    assert any("Type some text" in i.value for i in at.info)
