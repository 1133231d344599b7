"""What a distilled run's loss reads: the teacher's logits (a classifier's cached by text) and
the loss of a batch. The teacher comes loaded (core.runs.load_trained: frozen, in eval mode, on
the run's device); :func:`attach_teacher` checks it against the student and gives the student's
task a :class:`Distiller`, which its ``loss`` calls.

A classifier's teacher reads the text, so teacher and student may tokenize differently (MiniLM's
WordPiece teaching a BiLSTM over words): the training rows' logits are computed once, in batches
of similar length, and looked up by text at each step; a text not among them (a row augmented
as it was drawn) is read by the teacher on the fly. A language model's teacher reads the same
token windows as the student (the same vocabulary is required): its logits, (batch, context,
vocabulary) per step, are computed on the fly, as no cache of every window would fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from core.distill.loss import distillation_loss
from core.distill.teacher import check_labels, check_vocabulary
from core.errors import ConfigError

CACHE_BATCH = 256  # texts per teacher forward while filling the cache (sorted by length: little padding)


class LogitCache:
    """The teacher's logits of fixed texts, computed once; other texts computed when asked for
    and not kept (an augmented text is rarely drawn twice)."""

    def __init__(self, compute: Callable[[list[str]], torch.Tensor], batch_size: int = CACHE_BATCH) -> None:
        self.compute, self.batch_size = compute, batch_size
        self.index: dict[str, int] = {}
        self.logits: torch.Tensor | None = None
        self.misses = 0  # texts read on the fly (augmented rows)

    def fill(self, texts: Sequence[str]) -> float:
        """Compute the logits of ``texts`` (each distinct text once); returns the seconds it took."""
        start = time.perf_counter()
        order = sorted(dict.fromkeys(texts), key=len)  # rows of similar length share a batch
        step = self.batch_size
        parts = [self.compute(order[i : i + step]).float() for i in range(0, len(order), step)]
        self.logits = torch.cat(parts) if parts else None
        self.index = {text: i for i, text in enumerate(order)}
        return time.perf_counter() - start

    def __len__(self) -> int:
        return len(self.index)

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """The logits (N, C) of ``texts``, in their order."""
        rows = [self.index.get(t, -1) for t in texts]
        missing = [t for t, r in zip(texts, rows, strict=True) if r < 0]
        if not missing and self.logits is not None:
            return self.logits[torch.tensor(rows, device=self.logits.device)]
        self.misses += len(missing)
        fresh = self.compute(missing).float()
        if self.logits is None:
            return fresh
        out = torch.empty((len(texts), fresh.shape[1]), dtype=fresh.dtype, device=fresh.device)
        known = [i for i, r in enumerate(rows) if r >= 0]
        if known:
            out[known] = self.logits[[rows[i] for i in known]].to(fresh.device)
        out[[i for i, r in enumerate(rows) if r < 0]] = fresh
        return out


class Distiller:
    """The distillation loss of a student's batch: ``soft`` gives the teacher's logits of what
    the batch's rows are (texts for a classifier, token ids for a language model)."""

    def __init__(self, teacher_id: str, alpha: float, temperature: float,
                 soft: Callable[[Any], torch.Tensor]) -> None:
        self.teacher_id, self.soft = teacher_id, soft
        self.alpha, self.temperature = float(alpha), float(temperature)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, reads: Any,
             label_smoothing: float = 0.0) -> torch.Tensor:
        """Mean loss over the batch's rows (a language model's: over its positions)."""
        width = logits.size(-1)
        teacher = self.soft(reads) if self.alpha < 1.0 else logits  # alpha 1: the labels alone
        return distillation_loss(logits.reshape(-1, width), teacher.reshape(-1, width), targets.reshape(-1),
                                 alpha=self.alpha, temperature=self.temperature, label_smoothing=label_smoothing)


def attach_teacher(student: Any, teacher_task: Any, teacher_model: nn.Module, teacher_id: str,
                   log: Callable[[str], None] | None = None) -> Distiller:
    """Check a loaded teacher against the student's task (after its ``set_data``), compute what
    can be cached, and set ``student.teacher``; ``log`` gets the lines the run's log shows."""
    log = log or (lambda message: None)
    teacher_model.requires_grad_(False)
    teacher_model.eval()
    params = student.params
    if student.name == "classification":
        check_labels(student.label_names, teacher_task.label_names, teacher_id)

        @torch.no_grad()
        def read(texts: list[str]) -> torch.Tensor:
            return teacher_task.logits(teacher_model, texts)

        cache = LogitCache(read)
        texts = list(student.train_texts)
        log(f"teacher {teacher_id}: computing its logits of {len(set(texts)):,} training texts, once")
        seconds = cache.fill(texts)
        log(f"teacher {teacher_id}: logits of {len(cache):,} training texts cached in {seconds:.1f} s "
            f"({len(cache) / max(seconds, 1e-9):,.0f} texts/s); augmented rows are read on the fly")
        soft: Callable[[Any], torch.Tensor] = cache
    elif student.name == "language_model":
        ours, theirs = student.tokenizer, teacher_task.tokenizer
        check_vocabulary(_vocabulary(ours), _vocabulary(theirs), ours.kind, theirs.kind, teacher_id)
        if int(params["context_length"]) > int(teacher_task.params["context_length"]):
            raise ConfigError("task.context_length", params["context_length"],
                              f"at most {teacher_task.params['context_length']}, the context of the teacher run "
                              f"{teacher_id}",
                              reason="longer than the teacher reads")

        @torch.no_grad()
        def read_ids(ids: torch.Tensor) -> torch.Tensor:
            return teacher_model(ids=ids)

        soft = read_ids

        log(f"teacher {teacher_id}: same vocabulary ({ours.vocab_size:,} tokens); its logits are computed at "
            "each step")
    else:
        raise ConfigError("task.teacher", teacher_id, "empty: only classification and language_model runs distil")
    distiller = Distiller(teacher_id, params["distill_alpha"], params["distill_temperature"], soft)
    student.teacher = distiller
    return distiller


def _vocabulary(tokenizer: Any) -> list[str]:
    return [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
