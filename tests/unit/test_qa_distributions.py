"""QATask.distributions: the reader's softmax over start and over end positions, as the Ask panel
draws it. Each sums to 1 over [CLS] and the shown window's context tokens, equals a softmax taken
by hand of the model's own logits for that window, and its best span is the answer
QATask.answer gives (the argmax positions, when they make a span)."""

from __future__ import annotations

import numpy as np
import torch

from core.assemble import build_task, fit_tokenizer
from core.config import default_config, validate_config
from core.data.qa import QASplit
from core.data.types import DatasetSplits
from core.qa.windows import encode_example
from core.tasks.qa import QATask

FILLER = [f"w{i}" for i in range(40)]  # distinct words: a context of several windows


def _task() -> QATask:
    context = " ".join([*FILLER[:30], "Johannes Kepler wrote it.", *FILLER[30:]])
    split = QASplit(["who wrote it ?"], contexts=[context], answers=[[("Johannes Kepler", context.index("Johannes"))]])
    raw = default_config("qa")
    raw["task"].update(max_length=24, stride=4, max_question=8)
    raw["model"].update(d_model=16, n_layers=1, n_heads=2, d_ff=32)
    config = validate_config(raw)
    data = DatasetSplits(task="qa", train=split, validation=split)
    task = build_task(config, fit_tokenizer(config, data), None, torch.device("cpu"))
    assert isinstance(task, QATask)
    task.set_data(data)
    return task


def test_start_and_end_are_softmaxes_of_the_model_logits_over_cls_and_context() -> None:
    task = _task()
    torch.manual_seed(0)
    model = task.build_model()
    question, context = "who wrote it ?", " ".join([*FILLER[:25], "johannes kepler wrote", *FILLER[25:]])
    shown = task.distributions(model, question, context)
    windows = encode_example(task.tokenizer, question, context, max_length=24, stride=4, max_question=8)
    assert shown.windows == len(windows) > 1 and 0 <= shown.window < len(windows)
    w = windows[shown.window]
    # By hand: the model on the window's ids, softmax over position 0 and the context positions.
    ids = torch.tensor([w.ids])
    type_ids = (torch.arange(len(w.ids)) >= w.context_start).long().unsqueeze(0)
    model.eval()
    with torch.no_grad():
        start, end = model(ids=ids, pad_mask=torch.zeros_like(ids, dtype=torch.bool), type_ids=type_ids)
    keep = [0, *range(w.context_start, w.context_end)]
    for shown_p, logits in ((shown.start, start[0]), (shown.end, end[0])):
        assert len(shown_p) == len(keep) == len(shown.tokens)
        assert abs(float(shown_p.sum()) - 1.0) < 1e-9
        np.testing.assert_allclose(shown_p, torch.softmax(logits[keep].double(), dim=0).numpy(), atol=1e-6)
    # The tokens read as the context spells them, [CLS] first.
    assert shown.tokens[0] == "[CLS]"
    assert [context[a:b] for a, b in shown.offsets[1:]] == shown.tokens[1:]
    # The marked span is the answer's, in the window it comes from.
    best = task.answer(model, question, [context], top=1)[0]
    assert shown.span is not None
    a, b = shown.span
    assert (shown.offsets[a][0], shown.offsets[b][1]) == (best.start, best.end)
    # Where the unconstrained argmaxes make a span (end not before start, short enough), it is that one.
    i, j = int(np.argmax(shown.start[1:])) + 1, int(np.argmax(shown.end[1:])) + 1
    if 0 <= j - i < task.params["max_answer"]:
        assert (i, j) == (a, b)


def test_argmax_positions_are_the_answer_of_a_pointing_reader() -> None:
    """A reader that points hard at two context tokens: both distributions peak there, and that
    is the span answer() returns, in the window that holds it (not the first)."""
    task = _task()
    context = " ".join([*FILLER[:33], "johannes kepler wrote", *FILLER[33:]])
    first, last = task.tokenizer.encode("johannes kepler")

    class Pointer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))  # a device to find

        def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor,
                    type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            context_tokens = type_ids.bool() & ~pad_mask
            start = ((ids == first) & context_tokens).float() * 8 + torch.linspace(0, 1, ids.shape[1])
            end = ((ids == last) & context_tokens).float() * 8 - torch.linspace(0, 1, ids.shape[1])
            return start.masked_fill(pad_mask, -1e4), end.masked_fill(pad_mask, -1e4)

    shown = task.distributions(Pointer(), "who wrote it ?", context)
    best = task.answer(Pointer(), "who wrote it ?", [context], top=1)[0]
    assert best.text == "johannes kepler"
    assert shown.window > 0  # the answer lies past the first window
    a, b = int(np.argmax(shown.start)), int(np.argmax(shown.end))
    assert (shown.tokens[a], shown.tokens[b]) == ("johannes", "kepler")
    assert shown.span == (a, b)
    assert (shown.offsets[a][0], shown.offsets[b][1]) == (best.start, best.end)
    assert shown.start[a] > 0.9 and shown.end[b] > 0.9
