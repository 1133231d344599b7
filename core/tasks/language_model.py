"""Language modelling: predict each next token; report perplexity and bits per character."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.data.types import DatasetSplits
from core.decoding import settings as decoding
from core.decoding.sampling import generate
from core.distill.distiller import Distiller
from core.embeddings import attach_pretrained
from core.errors import DataError
from core.finetune import apply_freeze
from core.metrics import answer_right, language_model_metrics, scalars
from core.models import hf_generative
from core.models.base import evaluating
from core.models.heads import LanguageModel
from core.models.hf_catalog import ARCH as HF_ARCH
from core.tasks.base import Batch, EvalResult, Task


class LanguageModelTask(Task):
    name = "language_model"
    # task.teacher: set by core.runs once the teacher run is loaded (core.distill); None: the
    # next tokens alone.
    teacher: Distiller | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.arch == HF_ARCH:  # a whole text, no [CLS]/[SEP] or length cut
            hf_generative.plain_tokens(self.tokenizer)

    @property
    def context(self) -> int:
        return int(self.params["context_length"])

    @property
    def max_len(self) -> int:
        return self.context

    def set_data(self, data: DatasetSplits) -> None:
        self.train = self._encode(data.train.texts, "training")
        self.val = self._encode(data.validation.texts, "validation")
        val_chars = sum(len(t) for t in data.validation.texts)
        # Characters per token turns nats/token into bits/character for any tokenizer.
        self.state["val_chars_per_token"] = val_chars / max(1, len(self.val))
        self.state.setdefault("sample_prompt", data.validation.texts[0][:16] if data.validation.texts else "")
        # Problems with known answers (the built-in arithmetic set): the share answered right is
        # the sums_right metric.
        self.val_sums = [(str(question), str(answer)) for question, answer in data.extras.get("sums", [])]
        # Overlapping windows as a strided view: a batch is one gather, no Python loop.
        self._windows = self.train.unfold(0, self.context + 1, 1)
        self._summary = {
            "train_tokens": len(self.train),
            "val_tokens": len(self.val),
            "vocab_size": self.tokenizer.vocab_size,
        }

    def data_summary(self) -> dict[str, Any]:
        return dict(self._summary)

    def _encode(self, texts: list[str], split: str) -> torch.Tensor:
        ids = self.tokenizer.encode("\n".join(texts))
        if len(ids) < self.context + 2:
            raise DataError(
                split, f"the {split} text has {len(ids)} tokens; task.context_length "
                f"({self.context}) needs at least {self.context + 2}",
            )
        return torch.tensor(ids, dtype=torch.long)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        index = torch.randint(len(self._windows), (batch_size,), generator=generator)
        rows = self._windows[index]
        return Batch(
            inputs={"ids": rows[:, :-1].to(self.device)},
            targets=rows[:, 1:].to(self.device),
            n_tokens=batch_size * self.context,
        )

    def build_model(self) -> nn.Module:
        if self.config.arch == HF_ARCH:
            pretrained = hf_generative.build_causal_lm(self.config.params("model"), context=self.context)
            return apply_freeze(pretrained, self.params, self.config.arch)
        model = attach_pretrained(self, LanguageModel(
            self.build_sequence_backbone(),
            vocab_size=self.tokenizer.vocab_size,
            tie_weights=bool(self.config.params("model").get("tie_weights", False)),
        ))
        return apply_freeze(model, self.params, self.config.arch)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        logits = model(**batch.inputs)
        if self.teacher is not None:  # the teacher reads the same windows (the same vocabulary)
            return self.teacher.loss(logits, batch.targets, batch.inputs["ids"], self.params["label_smoothing"])
        return F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), batch.targets.reshape(-1),
            label_smoothing=self.params["label_smoothing"],
        )

    @torch.no_grad()
    def evaluate(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult:
        """Loss over non-overlapping validation windows: deterministic, unlike random batches."""
        with evaluating(model):
            ctx = self.context
            n_windows = (len(self.val) - 1) // ctx
            if max_batches is not None:
                n_windows = min(n_windows, max_batches * batch_size)
            inputs = self.val[: n_windows * ctx].view(n_windows, ctx)
            targets = self.val[1 : n_windows * ctx + 1].view(n_windows, ctx)
            total, count = 0.0, 0
            for start in range(0, n_windows, batch_size):
                x = inputs[start : start + batch_size].to(self.device)
                y = targets[start : start + batch_size].to(self.device)
                logits = model(ids=x).float()
                total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum").item()
                count += y.numel()
            mean = total / max(1, count)
            chars = count * self.state.get("val_chars_per_token", 1.0)
            metrics = language_model_metrics(mean, count, chars=int(round(chars)))
            details: dict[str, Any] = {}
            if self.params["sample_length"] > 0:
                details["sample"] = self.sample(
                    model, self.params["sample_prompt"] or self.state.get("sample_prompt", ""),
                    max_new_tokens=self.params["sample_length"],
                    temperature=self.params["sample_temperature"], seed=0,
                )
            scores = {k: v for k, v in scalars(metrics).items() if _finite(v)}
            sums = getattr(self, "val_sums", [])
            if sums:
                scores["sums_right"] = self._sums_right(
                    model, sums if max_batches is None else sums[: max_batches * batch_size], batch_size)
        return EvalResult(metrics=scores, details=details)

    def _sums_right(self, model: nn.Module, problems: list[tuple[str, str]], batch_size: int) -> float:
        """Share of ``problems`` (question, answer) whose greedy continuation of a line that
        starts with the question begins with the answer, whole (the first number it writes: a
        character model ends it with the line, a word model with a space)."""
        newline = self.tokenizer.encode("\n")
        by_length: dict[int, list[tuple[list[int], str]]] = {}  # one prompt length per batch: no padding
        for question, answer in problems:
            ids = newline + self.tokenizer.encode(question)
            by_length.setdefault(len(ids), []).append((ids, answer))
        new_tokens = max(len(answer) for _, answer in problems) + 1  # the answer, then "\n"
        right = 0
        for rows in by_length.values():
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                prompt = torch.tensor([ids for ids, _ in chunk], dtype=torch.long, device=self.device)
                out = generate(model, prompt, new_tokens, context_length=self.context, greedy=True)
                for (_, answer), row in zip(chunk, out[:, prompt.shape[1]:].tolist(), strict=True):
                    right += answer_right(self.tokenizer.decode(row), answer)
        return right / len(problems)

    # -- generation ------------------------------------------------------------------------------
    def sample(
        self, model: nn.Module, prompt: str, *, max_new_tokens: int = decoding.MAX_NEW_TOKENS.default,
        temperature: float = decoding.TEMPERATURE.default, top_k: int | None = decoding.TOP_K.default,
        top_p: float | None = decoding.TOP_P.default, greedy: bool = decoding.GREEDY.default, seed: int | None = None,
    ) -> str:
        """Continue ``prompt``; returns prompt + generated text."""
        ids = self.tokenizer.encode(prompt) or [self.tokenizer.bos_id]
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(seed)
        out = generate(
            model, torch.tensor([ids], dtype=torch.long, device=self.device), max_new_tokens,
            context_length=self.context, temperature=temperature, top_k=top_k, top_p=top_p,
            greedy=greedy, generator=generator,
        )
        return self.tokenizer.decode(out[0].tolist())


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
