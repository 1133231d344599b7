"""Extractive question answering: a reader points at the answer's first and last tokens.

Each question is read over its context in overlapping windows (:mod:`core.qa.windows`: ``[CLS]
question [SEP] context part [SEP]``, 384 tokens with 128 shared by default). The model (a
bidirectional encoder with :class:`core.models.heads.SpanPredictor`, or a pretrained Hugging Face
encoder through :mod:`core.models.hf_reader`) gives every position a start and an end logit;
training minimises the mean of the start and end cross entropies, each window labelled with its
first gold answer's tokens, or [CLS] when it does not hold that answer whole (BERT's recipe).

Evaluation reads every window of a question, takes the best-scoring span over them (start plus
end logit, at most ``max_answer`` tokens, :meth:`Window.best_spans`), maps it back to characters
and scores it with SQuAD's exact match and F1 (:mod:`core.qa.squad`). When the training data has
unanswerable questions (SQuAD 2.0), the reader may answer nothing: it does when the [CLS] score
of its most confident window beats the best span (run_qa.py's null-score rule, threshold 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.data.qa import QASplit
from core.data.types import DatasetSplits, Split
from core.errors import DataError
from core.metrics import scalars
from core.models.base import evaluating
from core.models.heads import SpanPredictor
from core.models.hf_catalog import ARCH as HF_ARCH
from core.models.hf_reader import HFSpanPredictor, build_hf_reader
from core.qa.offsets import Encoded, encode_with_offsets, special_ids
from core.qa.retrieval import Encoder, question_retrieval
from core.qa.squad import score, squad_metrics
from core.qa.windows import Window, make_windows
from core.tasks.base import Batch, EvalResult, Task
from core.tasks.batching import batch_index

SAMPLES = 5  # validation answers kept (question, gold, prediction) at each evaluation


@dataclass(frozen=True)
class Candidate:
    """One answer a reader proposes: the context it comes from, its characters there, and its
    score: the probability of its start times that of its end in its best window."""

    context: int  # index of the context among those asked
    start: int
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Distributions:
    """Where a reader puts an answer's first and last token in one window of a context: its
    softmax over start positions and over end positions, each over [CLS] and the window's context
    tokens (the denominators of an answer's probability, :func:`_normaliser`), with the tokens."""

    tokens: list[str]  # "[CLS]", then the window's context tokens as the context spells them
    offsets: list[tuple[int, int]]  # each token's characters in the context ([CLS]: (0, 0))
    start: np.ndarray  # p(the answer starts at token i), summing to 1
    end: np.ndarray  # p(it ends at token i)
    span: tuple[int, int] | None  # indices (into tokens) of the best span's first and last tokens
    window: int  # the window shown, of ``windows``: the one the best span comes from
    windows: int


class Windows:
    """Windows of many questions as one padded id matrix, each window knowing its question."""

    def __init__(self, windows: list[list[Window]], pad_id: int) -> None:
        self.windows = [w for ws in windows for w in ws]
        self.question = torch.tensor([i for i, ws in enumerate(windows) for _ in ws], dtype=torch.long)
        lengths = [len(w.ids) for w in self.windows]
        width = max(lengths, default=1)
        # int32: a SQuAD training set is ~90,000 windows of up to 384 ids.
        self.ids = torch.full((len(self.windows), width), pad_id, dtype=torch.int32)
        self.context_start = torch.tensor([w.context_start for w in self.windows], dtype=torch.long)
        for i, w in enumerate(self.windows):
            self.ids[i, : len(w.ids)] = torch.tensor(w.ids, dtype=torch.int32)
        self.lengths = torch.tensor(lengths, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.windows)

    def rows(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Model inputs of windows ``index``: ids, padding mask and segment ids (0 for [CLS] and
        the question, 1 from the first context token on, as BERT reads a pair)."""
        lengths = self.lengths[index]
        width = int(lengths.max())
        positions = torch.arange(width).unsqueeze(0)
        pad_mask = positions >= lengths.unsqueeze(1)
        type_ids = ((positions >= self.context_start[index].unsqueeze(1)) & ~pad_mask).long()
        return {"ids": self.ids[index, :width].long(), "pad_mask": pad_mask, "type_ids": type_ids}


class QATask(Task):
    name = "qa"
    # The passage retrieval evaluation scores (qa_recall_at_1...): BM25, or a dense search over
    # these vectors when set (lmwb eval --retriever dense).
    dense_retrieval: Encoder | None = None
    _evaluations = 0  # evaluations so far: where the samples start among equally bad answers

    @property
    def max_len(self) -> int:
        return int(self.params["max_length"])

    @property
    def no_answer(self) -> bool:
        """May the reader answer nothing? Yes when it was trained on unanswerable questions."""
        return bool(self.state.get("no_answer", False))

    # -- data ---------------------------------------------------------------------------------------
    def set_data(self, data: DatasetSplits) -> None:
        train, val = _qa_split(data.train, "training"), _qa_split(data.validation, "validation")
        if not len(train):
            raise DataError(data.description or "dataset", "no training questions")
        self.state["no_answer"] = any(not a for a in train.answers)
        self._contexts: dict[str, Encoded] = {}
        self.train = Windows(self.encode(train.texts, train.contexts), self.tokenizer.pad_id)
        labels = [w.label(_first_span(answers)) for ws, answers in zip(self._grouped(self.train), train.answers,
                                                                          strict=True) for w in ws]
        self.train_starts = torch.tensor([s for s, _ in labels], dtype=torch.long)
        self.train_ends = torch.tensor([e for _, e in labels], dtype=torch.long)
        self.val_questions, self.val_contexts = list(val.texts), list(val.contexts)
        self.val_golds = val.golds()
        self.val_answers = val.answers
        self._retrieval: dict[int, dict[str, float]] = {}  # BM25's scores by questions scored: the model plays no part
        self.val = Windows(self.encode(val.texts, val.contexts), self.tokenizer.pad_id)
        self._contexts = {}  # only needed while encoding
        held = sum(1 for s in self.train_starts.tolist() if s != 0)
        self._summary = {
            "train_examples": len(self.train),  # what a step draws from (core.budget's epochs)
            "train_questions": len(train), "train_windows": len(self.train),
            "train_windows_with_answer": held, "val_questions": len(val), "val_windows": len(self.val),
            "unanswerable_train_questions": sum(1 for a in train.answers if not a),
            "vocab_size": self.tokenizer.vocab_size,
        }

    def data_summary(self) -> dict[str, Any]:
        return dict(self._summary)

    def encode(self, questions: list[str], contexts: list[str]) -> list[list[Window]]:
        """Each question's windows over its context (a context shared by several questions is
        tokenized once)."""
        cls_id, sep_id = special_ids(self.tokenizer)
        cache: dict[str, Encoded] = getattr(self, "_contexts", {})
        out = []
        for question, context in zip(questions, contexts, strict=True):
            if context not in cache:
                cache[context] = encode_with_offsets(self.tokenizer, context)
            out.append(make_windows(
                encode_with_offsets(self.tokenizer, question.strip()), cache[context], context, cls_id=cls_id,
                sep_id=sep_id, max_length=self.params["max_length"], stride=self.params["stride"],
                max_question=self.params["max_question"]))
        return out

    @staticmethod
    def _grouped(windows: Windows) -> list[list[Window]]:
        groups: list[list[Window]] = []
        for q, w in zip(windows.question.tolist(), windows.windows, strict=True):
            if q == len(groups):
                groups.append([])
            groups[q].append(w)
        return groups

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        index = batch_index(self.train.lengths, batch_size, generator, False)
        inputs = self.train.rows(index)
        targets = torch.stack([self.train_starts[index], self.train_ends[index]], dim=1)
        return Batch(inputs={k: v.to(self.device) for k, v in inputs.items()}, targets=targets.to(self.device),
                     n_tokens=int((~inputs["pad_mask"]).sum()))

    # -- model --------------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        if self.config.arch == HF_ARCH:  # transformers itself is imported by the call
            return build_hf_reader(self.config.params("model"))
        return SpanPredictor(self.build_sequence_backbone())

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        start, end = model(**batch.inputs)
        return span_loss(start, end, batch.targets)

    # -- evaluation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def logits(self, model: nn.Module, windows: Windows, batch_size: int,
               targets: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[list[np.ndarray], list[np.ndarray], float]:
        """Each window's start and end logits (over its own positions) and, given targets, the
        summed loss."""
        starts: list[np.ndarray] = [np.zeros(0)] * len(windows)
        ends: list[np.ndarray] = [np.zeros(0)] * len(windows)
        total = 0.0
        order = torch.argsort(windows.lengths, descending=True)  # similar lengths: little padding
        with evaluating(model):
            for first in range(0, len(windows), batch_size):
                index = order[first : first + batch_size]
                inputs = {k: v.to(self.device) for k, v in windows.rows(index).items()}
                s, e = model(**inputs)
                if targets is not None:
                    gold = torch.stack([targets[0][index], targets[1][index]], dim=1).to(self.device)
                    total += float(span_loss(s, e, gold, reduction="sum"))
                s, e = s.float().cpu().numpy(), e.float().cpu().numpy()
                for row, i in enumerate(index.tolist()):
                    n = int(windows.lengths[i])
                    starts[i], ends[i] = s[row, :n], e[row, :n]
        return starts, ends, total

    def evaluate(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult:
        n = len(self.val_questions)
        if self.params["eval_max_questions"] is not None:
            n = min(n, self.params["eval_max_questions"])
        if max_batches is not None:
            n = min(n, max_batches * batch_size)
        keep = torch.nonzero(self.val.question < n).flatten()
        windows = _subset(self.val, keep)
        labels = [w.label(_first_span(self.val_answers[q])) for w, q in zip(windows.windows, windows.question.tolist(),
                                                                             strict=True)]
        targets = (torch.tensor([s for s, _ in labels], dtype=torch.long), torch.tensor([e for _, e in labels],
                                                                                       dtype=torch.long))
        starts, ends, total = self.logits(model, windows, batch_size, targets)
        predictions = [best.text if best is not None else "" for best in
                       (_best(group) for group in _by_question(windows, starts, ends, n, self.no_answer,
                                                               self.params["max_answer"]))]
        golds = self.val_golds[:n]
        scores = squad_metrics(predictions, golds)
        metrics = {"loss": total / max(1, len(windows)), "qa_exact_match": scores["exact_match"],
                   "qa_f1": scores["f1"]}
        if self.dense_retrieval is not None:  # lmwb eval --retriever dense: scored anew, vectors may change
            metrics.update(self.retrieval_metrics(n, self.dense_retrieval))
        else:  # BM25, once a run: the same questions rank the same passages at every evaluation
            if n not in self._retrieval:
                self._retrieval[n] = self.retrieval_metrics(n)
            metrics.update(self._retrieval[n])
        # The worst answers (lowest F1), not the first questions: those are all right early on and
        # would print the same lines at every evaluation. Among equals (many wrong answers score 0)
        # the start turns by SAMPLES each evaluation, so the log shows other questions each time.
        f1s = [score(predictions[i], golds[i])[1] for i in range(n)]
        turn = self._evaluations * SAMPLES
        self._evaluations += 1
        worst = sorted(range(n), key=lambda i: (f1s[i], (i - turn) % max(1, n)))[:SAMPLES]
        samples = [{"index": i, "question": self.val_questions[i], "gold": " | ".join(golds[i]) or "(no answer)",
                    "prediction": predictions[i] or "(no answer)", "f1": f1s[i]} for i in worst]
        details: dict[str, Any] = {
            "answers": samples, "questions": n, "squad": scores,
            "sample": "\n".join(f"{s['question']}\n  gold: {s['gold']}\n  pred: {s['prediction']}" for s in samples),
        }
        return EvalResult(metrics=scalars(metrics), details=details)

    def retrieval_metrics(self, n: int, encode: Encoder | None = None) -> dict[str, float]:
        """The first ``n`` validation questions asked of every validation context, cut into passages
        (:func:`core.qa.retrieval.question_retrieval`): recall@1, recall@5 and MRR of BM25, or of a
        dense search over ``encode``'s vectors; nothing when no passage holds any of their answers."""
        found = question_retrieval(self.val_questions[:n], self.val_contexts[:n], self.val_answers[:n],
                                   contexts_searched=self.val_contexts, encode=encode, ks=(1, 5))
        if not found["n"]:
            return {}
        return {"qa_recall_at_1": found["recall_at_1"], "qa_recall_at_5": found["recall_at_5"], "qa_mrr": found["mrr"]}

    @torch.no_grad()
    def embed(self, model: nn.Module, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """The reader's own sentence vectors: each text read alone (``[CLS] text [SEP]``, cut to
        task.max_length), its last hidden states averaged over the real tokens (sentence-transformers'
        mean pooling), one float32 row a text. The span head is not used: this is the encoder a
        dense retriever can borrow from the run."""
        cls_id, sep_id = special_ids(self.tokenizer)
        rows = [[cls_id, *encode_with_offsets(self.tokenizer, t).ids[: self.max_len - 2], sep_id] for t in texts]
        parts: list[np.ndarray] = []
        with evaluating(model):
            for first in range(0, len(rows), batch_size):
                chunk = rows[first : first + batch_size]
                width = max(len(r) for r in chunk)
                ids = torch.full((len(chunk), width), self.tokenizer.pad_id, dtype=torch.long)
                for i, r in enumerate(chunk):
                    ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
                pad_mask = torch.arange(width).unsqueeze(0) >= torch.tensor([len(r) for r in chunk]).unsqueeze(1)
                hidden = last_hidden(model, ids.to(self.device), pad_mask.to(self.device)).float()
                real = (~pad_mask).to(hidden.device).unsqueeze(-1).float()
                parts.append(((hidden * real).sum(1) / real.sum(1)).cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    # -- prediction ---------------------------------------------------------------------------------
    @torch.no_grad()
    def distributions(self, model: nn.Module, question: str, context: str,
                      batch_size: int = 32) -> Distributions:
        """The reader's start and end distributions over ``context`` for ``question``, in the
        window :meth:`answer` takes its answer from (the best span's; the first when no window
        has one), with that span marked."""
        windows = Windows(self.encode([question], [context]), self.tokenizer.pad_id)
        starts, ends, _ = self.logits(model, windows, batch_size)
        group = _by_question(windows, starts, ends, 1, False, self.params["max_answer"])[0]
        best = _best(group)
        k = next(i for i, span in enumerate(group) if span is best) if best is not None else 0
        w, keep = windows.windows[k], _answerable(windows.windows[k])
        logits = (np.asarray(x, dtype=np.float64)[keep] for x in (starts[k], ends[k]))
        start, end = (np.exp(x - np.logaddexp.reduce(x)) for x in logits)
        span = None
        if best is not None:
            # The tokens of the span's characters (Window.label's mapping), as indices after [CLS].
            a, b = w.label((best.start, best.end))
            span = (a - w.context_start + 1, b - w.context_start + 1) if a else None
        offsets = [(0, 0), *zip(w.starts, w.ends, strict=True)]
        tokens = ["[CLS]", *(context[a:b].strip() or context[a:b] for a, b in offsets[1:])]
        return Distributions(tokens, offsets, start, end, span, k, len(windows))

    @torch.no_grad()
    def answer(self, model: nn.Module, question: str, contexts: list[str], top: int = 5,
               batch_size: int = 32) -> list[Candidate]:
        """The ``top`` answers to ``question`` over ``contexts``, most probable first, at most one
        per context (the best span of its best window); with no-answer training, a context whose
        [CLS] score beats its best span gives none."""
        windows = Windows(self.encode([question] * len(contexts), contexts), self.tokenizer.pad_id)
        starts, ends, _ = self.logits(model, windows, batch_size)
        found = [(i, best) for i, best in enumerate(_best(g) for g in _by_question(
            windows, starts, ends, len(contexts), self.no_answer, self.params["max_answer"])) if best is not None]
        # Across contexts, by probability: a logit sum has no common scale between two passages,
        # while a passage without the answer spreads its probability (the pipeline's ranking).
        found.sort(key=lambda item: -item[1].probability)
        return [Candidate(i, b.start, b.end, b.text, b.probability) for i, b in found[:top]]

    # -- error analysis -----------------------------------------------------------------------------
    def readings(self, model: nn.Module, limit: int | None = None, batch_size: int = 64) -> list[Reading]:
        """The first ``limit`` validation questions (all: None) as :meth:`evaluate` reads and scores
        them, one :class:`Reading` each, in the split's order."""
        n = len(self.val_questions) if limit is None else min(limit, len(self.val_questions))
        windows = _subset(self.val, torch.nonzero(self.val.question < n).flatten())
        return self._read(model, windows, self.val_questions[:n], self.val_contexts[:n], self.val_answers[:n],
                          batch_size)

    def read(self, model: nn.Module, question: str, context: str, batch_size: int = 32) -> Reading:
        """One question over one context, as evaluation reads it (no gold answers: scored as if
        the question had none)."""
        windows = Windows(self.encode([question], [context]), self.tokenizer.pad_id)
        return self._read(model, windows, [question], [context], [[]], batch_size)[0]

    def _read(self, model: nn.Module, windows: Windows, questions: list[str], contexts: list[str],
              answers: list[list[tuple[str, int]]], batch_size: int) -> list[Reading]:
        starts, ends, _ = self.logits(model, windows, batch_size)
        # The choice is evaluate's own (_by_question, _best); positions are read off the window it won in.
        groups = _by_question(windows, starts, ends, len(questions), self.no_answer, self.params["max_answer"])
        own: list[list[int]] = [[] for _ in questions]  # each question's rows of ``windows``
        for row, q in enumerate(windows.question.tolist()):
            own[q].append(row)
        out = []
        for q, (group, rows) in enumerate(zip(groups, own, strict=True)):
            best = _best(group)
            golds = [(text, start, start + len(text)) for text, start in answers[q]]
            if best is None:  # abstains: [CLS] in the window whose no-answer score the rule compared
                null = [Window.no_answer_score(starts[r].tolist(), ends[r].tolist()) for r in rows]
                k = int(np.argmin(null))
                w, s, e = windows.windows[rows[k]], starts[rows[k]], ends[rows[k]]
                positions, span, text = (0, 0), None, ""
                probability = float(np.exp(null[k] - _normaliser(w, s, e)))
            else:
                k = next(i for i, found in enumerate(group) if found is best)
                w, s, e = windows.windows[rows[k]], starts[rows[k]], ends[rows[k]]
                positions = _span_positions(w, s, e, self.params["max_answer"])
                span, text, probability = (best.start, best.end), best.text, best.probability
            em, f1 = score(text, [g for g, _, _ in golds])
            out.append(Reading(q, questions[q], contexts[q], golds, span, text, probability, em, f1, k, len(rows),
                               positions))
        return out


@dataclass(frozen=True)
class Reading:
    """What the reader made of one question: its answer (``span``: characters of the context,
    None when it abstains) with its probability, SQuAD's exact match and F1 against the gold
    answers (text, first and past-last character), and where it came from: the window (of
    ``windows``) and the input positions of its first and last tokens ((0, 0): [CLS], no answer)."""

    index: int
    question: str
    context: str
    golds: list[tuple[str, int, int]]
    span: tuple[int, int] | None
    text: str
    probability: float
    exact_match: float
    f1: float
    window: int
    windows: int
    positions: tuple[int, int]


def _span_positions(w: Window, start: np.ndarray, end: np.ndarray, max_answer: int) -> tuple[int, int]:
    """Input positions of the window's best span, picked as :meth:`Window.best_spans` picks it (the
    first highest start + end logit over spans of context tokens of at most ``max_answer``)."""
    s = np.asarray(start, dtype=np.float64)[w.context_start : w.context_end]
    e = np.asarray(end, dtype=np.float64)[w.context_start : w.context_end]
    scores = s[:, None] + e[None, :]
    i, j = np.indices(scores.shape)
    scores[(j < i) | (j - i >= max_answer)] = -np.inf
    a, b = divmod(int(np.argmax(scores)), len(s))
    return w.context_start + a, w.context_start + b


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    text: str
    score: float  # start logit + end logit
    probability: float  # p(start) x p(end), each a softmax over [CLS] and the window's context


def last_hidden(model: nn.Module, ids: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
    """A reader's last hidden states (B, T, H) under its span head: the pretrained encoder's
    (attention mask from ``pad_mask``), or the workbench backbone's, a [CLS] slot it prepends dropped."""
    if isinstance(model, HFSpanPredictor):
        return model.backbone(input_ids=ids, attention_mask=(~pad_mask).long()).last_hidden_state
    if not isinstance(model, SpanPredictor):
        raise TypeError(f"{type(model).__name__} is not a reader (SpanPredictor or HFSpanPredictor)")
    return model.backbone(ids, pad_mask=pad_mask).hidden[:, -ids.shape[1] :]


def span_loss(start: torch.Tensor, end: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Mean of the start and end cross entropies (targets: (B, 2) input positions)."""
    return (F.cross_entropy(start, targets[:, 0], reduction=reduction)
            + F.cross_entropy(end, targets[:, 1], reduction=reduction)) / 2


def _first_span(answers: list[tuple[str, int]]) -> tuple[int, int] | None:
    if not answers:
        return None
    text, start = answers[0]
    return start, start + len(text)


def _qa_split(split: Split, what: str) -> QASplit:
    if not isinstance(split, QASplit):
        raise DataError("dataset", f"the {what} split has no contexts and answers: question answering reads "
                                   "news_qa or qa_file data (SQuAD JSON, or context, question and answers columns)")
    return split


def _subset(windows: Windows, index: torch.Tensor) -> Windows:
    out = Windows.__new__(Windows)
    out.windows = [windows.windows[i] for i in index.tolist()]
    out.question, out.ids = windows.question[index], windows.ids[index]
    out.context_start, out.lengths = windows.context_start[index], windows.lengths[index]
    return out


def _by_question(windows: Windows, starts: list[Any], ends: list[Any], n: int, no_answer: bool,
                 max_answer: int) -> list[list[_Span | None]]:
    """Per question, each window's best span (None: no span, or [CLS] wins with no_answer)."""
    out: list[list[_Span | None]] = [[] for _ in range(n)]
    null = [np.inf] * n
    for w, q, s, e in zip(windows.windows, windows.question.tolist(), starts, ends, strict=True):
        spans = w.best_spans(s, e, top=1, max_answer=max_answer)
        if spans:
            (value, (a, b)) = spans[0]
            out[q].append(_Span(a, b, w.context[a:b], value, float(np.exp(value - _normaliser(w, s, e)))))
        else:
            out[q].append(None)
        null[q] = min(null[q], Window.no_answer_score(s, e))
    if no_answer:
        for q, group in enumerate(out):
            best = _best(group)
            if best is not None and null[q] > best.score:
                out[q] = [None]
    return out


def _normaliser(w: Window, start: np.ndarray, end: np.ndarray) -> float:
    """log of the softmax denominators of start and end over [CLS] and the context tokens (the
    question-answering pipeline's: a question token is never an answer)."""
    keep = _answerable(w)
    return float(np.logaddexp.reduce(start[keep]) + np.logaddexp.reduce(end[keep]))


def _answerable(w: Window) -> np.ndarray:
    """The input positions an answer may start or end at: [CLS] and the window's context tokens."""
    return np.r_[0, np.arange(w.context_start, w.context_end)]


def _best(group: list[_Span | None]) -> _Span | None:
    found = [s for s in group if s is not None]
    return max(found, key=lambda s: s.score) if found else None
