"""Salience of a reader's answer (core.inspect.salience.explain_answer): gradient x input equals
an independent autograd computation at the token embedding's output, one score per token of the
window ([CLS] question [SEP] context [SEP]), for the workbench's transformer encoder reader and a
Hugging Face BERT reader; Integrated Gradients is complete."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from core.assemble import build_task, fit_tokenizer
from core.config import default_config, validate_config
from core.data.qa import QASplit
from core.data.types import DatasetSplits
from core.errors import WorkbenchError
from core.inspect.salience import answer_unsupported, explain_answer
from core.inspect.settings import COMPLETENESS_TOLERANCE
from core.models.base import evaluating
from core.qa.offsets import encode_with_offsets

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUESTION = "who chaired the meeting ?"
CONTEXT = "nina berg chaired the meeting in oslo on friday . the weather in rome was mild ."


def independent_gradient_x_input(model: torch.nn.Module, embedding: torch.nn.Module, ids: list[int],
                                  context_start: int, first: int, last: int) -> torch.Tensor:
    """(start logit at ``first`` + end logit at ``last``) differentiated by the embedding module's
    output through a forward hook, times that output, summed over its dimensions."""
    kept: list[torch.Tensor] = []

    def hook(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        output.retain_grad()
        kept.append(output)
        return output

    ids_t = torch.tensor([ids])
    type_ids = (torch.arange(len(ids)) >= context_start).long().unsqueeze(0)
    handle = embedding.register_forward_hook(hook)
    try:
        with evaluating(model), torch.enable_grad():
            start, end = model(ids_t, pad_mask=None, type_ids=type_ids)
            (start[0, first] + end[0, last]).backward()
    finally:
        handle.remove()
    return (kept[0] * kept[0].grad).sum(-1)[0].detach()


def reader_task(raw: dict) -> SimpleNamespace:
    config = validate_config(raw)
    data = DatasetSplits(task="qa", train=QASplit([QUESTION], contexts=[CONTEXT], answers=[[("nina berg", 0)]]),
                         validation=QASplit([QUESTION], contexts=[CONTEXT], answers=[[("nina berg", 0)]]))
    task = build_task(config, fit_tokenizer(config, data), None, torch.device("cpu"))
    torch.manual_seed(0)
    return SimpleNamespace(model=task.build_model().eval(), task=task)


def check_against_autograd(source: SimpleNamespace, embedding: torch.nn.Module) -> None:
    result = explain_answer(source, QUESTION, CONTEXT, method="grad_x_input")
    window = source.task.encode([QUESTION], [CONTEXT])[0][result.window]
    assert len(result.tokens) == len(result.scores) == len(window.ids)  # one score a token of the window
    (qa, qb), (ca, cb) = result.question, result.context
    assert qb - qa == len(encode_with_offsets(source.task.tokenizer, QUESTION)) > 0 and cb - ca == len(window.starts) > 0
    assert (qa, ca, cb) == (1, window.context_start, len(window.ids) - 1)  # [CLS] q [SEP] c [SEP]
    first, last = result.answer
    assert window.context_start <= first <= last < window.context_end
    expected = independent_gradient_x_input(source.model, embedding, window.ids, window.context_start, first, last)
    assert torch.allclose(torch.tensor(result.scores), expected, atol=1e-5, rtol=1e-4)
    assert expected[qa:qb].abs().sum() > 0 and expected[ca:cb].abs().sum() > 0  # both parts count
    a, b = window.char_span(first, last)
    assert result.target == repr(CONTEXT[a:b])  # the answer explained is the reader's own


def test_salience_of_the_workbench_s_encoder_reader() -> None:
    raw = default_config("qa")
    raw["model"].update(d_model=16, n_heads=2, d_ff=32, n_layers=1)
    source = reader_task(raw)
    assert answer_unsupported(source) is None
    check_against_autograd(source, source.model.backbone.token_embedding)
    ig = explain_answer(source, QUESTION, CONTEXT, steps=64)
    assert ig.completeness is not None and ig.completeness.relative_error < COMPLETENESS_TOLERANCE
    with pytest.raises(WorkbenchError, match="question and a context"):
        explain_answer(source, " ", CONTEXT)


def test_salience_of_a_hugging_face_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(f"{QUESTION} {CONTEXT}".split())]
    folder = tmp_path / "bert"
    transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    transformers.BertForQuestionAnswering(transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64)).save_pretrained(folder)
    source = reader_task({"task": {"name": "qa", "max_length": 48, "stride": 8, "max_question": 12},
                          "tokenizer": "pretrained", "model": {"name": "hf_pretrained", "model": str(folder)}})
    assert source.model.segments  # BERT's segment ids reach the model in the attributed forward too
    check_against_autograd(source, source.model.hf.get_input_embeddings())


def test_a_classifier_is_refused_in_words() -> None:
    source = SimpleNamespace(model=torch.nn.Linear(1, 1), task=SimpleNamespace(name="classification"))
    assert "question-answering readers" in (answer_unsupported(source) or "")
