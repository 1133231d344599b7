"""Long contexts in overlapping windows, and a reader's token predictions back to characters.

An encoder reads a few hundred tokens at most, and a document is longer. The field's answer (the
BERT SQuAD recipe, and Hugging Face's ``question-answering`` pipeline and ``run_qa.py``) is to
read the context in windows that overlap, each one model input laid out as

    [CLS] question [SEP] context tokens [a, b) [SEP]

with ``max_length`` 384 tokens in all and consecutive windows sharing ``stride`` = 128 context
tokens. ``stride`` here means what it means to a Hugging Face tokenizer (``stride`` with
``return_overflowing_tokens``): the tokens two windows *share*, not the step between them (BERT's
original ``doc_stride`` was the step). The windows are exactly Hugging Face's, tested input id for
input id against a fast tokenizer's ``truncation="only_second"`` overflow.

The question is cut to ``max_question`` tokens (64, BERT's ``max_query_length``) so that a long
question cannot squeeze the context out of the window.

A gold answer, a character span of the context, becomes the (start, end) input positions of its
first and last tokens in each window that holds it whole; a window that holds it only in part, or
not at all, and any window of a question with no answer (SQuAD 2.0), points at [CLS], position 0:
the model learns to say "not here". Going back, a predicted (start, end) becomes the characters
from the start token's first to the end token's last, trimmed of the spaces a byte-level BPE
token carries, so every answer that starts and ends on token boundaries comes back exactly.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.qa.offsets import Encoded, Span, encode_with_offsets, special_ids

MAX_LENGTH = 384  # tokens in one model input, specials included
STRIDE = 128  # context tokens two consecutive windows share
MAX_QUESTION = 64  # question tokens kept
MAX_ANSWER = 30  # tokens in a predicted answer at most (run_qa.py's max_answer_length)
NO_ANSWER = (0, 0)  # the [CLS] position: "the answer is not in this window"


def window_spans(n_tokens: int, size: int, stride: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges over ``n_tokens`` context tokens: windows of ``size`` tokens, each
    starting ``size - stride`` after the last, until one reaches the end (the last may be shorter).
    An empty context still gets one empty window, so its question still gets an input."""
    if size < 1 or not 0 <= stride < size:
        raise ValueError(f"need 0 <= stride < window size, got stride {stride} and size {size}")
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        spans.append((start, end))
        if end >= n_tokens:
            return spans
        start += size - stride


@dataclass(frozen=True)
class Window:
    """One model input over part of a context, with what it takes to map positions to characters."""

    ids: list[int]  # [CLS] question [SEP] context[token_start:token_end] [SEP]
    context_start: int  # input position of the window's first context token
    token_start: int  # the window's context tokens: [token_start, token_end) of the context's
    token_end: int
    context: str = field(repr=False)  # the whole context text (shared by its windows)
    starts: tuple[int, ...] = field(repr=False)  # character start of each context token here
    ends: tuple[int, ...] = field(repr=False)  # ... and end (exclusive)

    @property
    def context_end(self) -> int:
        """Input position after the window's last context token (its closing [SEP])."""
        return self.context_start + len(self.starts)

    def holds(self, answer: Span) -> bool:
        """Whether the characters ``answer`` lie wholly inside this window's tokens."""
        return bool(self.starts) and self.starts[0] <= answer[0] and answer[1] <= self.ends[-1]

    def label(self, answer: Span | None) -> tuple[int, int]:
        """Gold (start, end) input positions, both inclusive, of the answer's characters
        ``[a, b)``: its first and last tokens here, or :data:`NO_ANSWER` when there is no answer
        or this window does not hold it whole."""
        if answer is None or answer[1] <= answer[0] or not self.holds(answer):
            return NO_ANSWER
        first = bisect_right(self.ends, answer[0])  # first token ending after the answer starts
        last = bisect_left(self.starts, answer[1]) - 1  # last token starting before it ends
        if last < first:
            return NO_ANSWER
        return self.context_start + first, self.context_start + last

    def char_span(self, start: int, end: int) -> Span | None:
        """The context characters ``[a, b)`` of predicted input positions ``start..end``
        (inclusive), spaces at either edge trimmed; None unless both are context tokens of this
        window in order."""
        lo, hi = start - self.context_start, end - self.context_start
        if not 0 <= lo <= hi < len(self.starts):
            return None
        a, b = self.starts[lo], self.ends[hi]
        while a < b and self.context[a].isspace():
            a += 1
        while b > a and self.context[b - 1].isspace():
            b -= 1
        return a, b

    def best_spans(self, start_logits: Sequence[float], end_logits: Sequence[float],
                   top: int = 5, max_answer: int = MAX_ANSWER) -> list[tuple[float, Span]]:
        """The ``top`` answers here as (start logit + end logit, character span), best first,
        over spans of context tokens of at most ``max_answer`` tokens (how run_qa.py and the
        pipeline pick); compare the best with :meth:`no_answer_score` to abstain."""
        s = np.asarray(start_logits, dtype=np.float64)[self.context_start : self.context_end]
        e = np.asarray(end_logits, dtype=np.float64)[self.context_start : self.context_end]
        n = len(s)
        if n == 0:
            return []
        scores = s[:, None] + e[None, :]
        i, j = np.indices((n, n))
        scores[(j < i) | (j - i >= max_answer)] = -np.inf
        flat = np.argsort(-scores, axis=None, kind="stable")[:top]
        out: list[tuple[float, Span]] = []
        for k in flat:
            a, b = divmod(int(k), n)
            span = self.char_span(self.context_start + a, self.context_start + b)
            if np.isfinite(scores[a, b]) and span is not None:
                out.append((float(scores[a, b]), span))
        return out

    @staticmethod
    def no_answer_score(start_logits: Sequence[float], end_logits: Sequence[float]) -> float:
        """The score of "no answer here": both pointers at [CLS] (SQuAD 2.0 readers)."""
        return float(start_logits[0]) + float(end_logits[0])


def make_windows(question: Encoded, context: Encoded, context_text: str, *, cls_id: int, sep_id: int,
                 max_length: int = MAX_LENGTH, stride: int = STRIDE,
                 max_question: int = MAX_QUESTION) -> list[Window]:
    """The windows of one question over one context (both already tokenized with offsets)."""
    q = question.ids[:max_question]
    size = max_length - len(q) - 3
    if size <= stride:
        raise ValueError(
            f"max_length {max_length} leaves {size} context tokens per window beside a "
            f"{len(q)}-token question: not more than the stride, {stride}")
    head = [cls_id, *q, sep_id]
    out = []
    for a, b in window_spans(len(context), size, stride):
        spans = context.offsets[a:b]
        out.append(Window(
            ids=[*head, *context.ids[a:b], sep_id], context_start=len(head), token_start=a, token_end=b,
            context=context_text, starts=tuple(x for x, _ in spans), ends=tuple(y for _, y in spans),
        ))
    return out


def encode_example(tokenizer: Any, question: str, context: str, **limits: int) -> list[Window]:
    """Tokenize a question and its context with ``tokenizer`` (a workbench tokenizer or a Hugging
    Face fast one) and cut the windows; ``limits``: max_length, stride, max_question."""
    cls_id, sep_id = special_ids(tokenizer)
    return make_windows(encode_with_offsets(tokenizer, question.strip()), encode_with_offsets(tokenizer, context),
                        context, cls_id=cls_id, sep_id=sep_id, **limits)


def answer_span(context: str, text: str, start: int | None = None) -> Span:
    """The character span of a gold answer: SQuAD gives its text and ``answer_start``; a format
    that gives only the text takes its first occurrence. A start that does not hold the text is
    a data error worth a clear message, not a silently wrong label."""
    if start is None:
        start = context.find(text)
        if start < 0:
            raise ValueError(f"answer {text!r} does not occur in its context")
    elif context[start : start + len(text)] != text:
        raise ValueError(f"answer {text!r} is not at character {start} of its context")
    return start, start + len(text)
