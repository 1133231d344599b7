"""Masked-language-model pretraining (BERT): hide some tokens, predict them from both sides.

Unlabelled text is cut into lines (long lines into pieces of ``max_length`` tokens), so an
example looks like what a classifier later sees: a sentence starting at position 0, padded.
Of the tokens, ``mask_prob`` (15%) are chosen; of those 80% become the mask id, 10% a random
token and 10% stay as they are (Devlin et al., 2019), and only they are scored.

The mask id is the tokenizer's ``mask_id``. The workbench's own tokenizers reuse ``<bos>`` for
it: classification and masked-LM inputs never contain ``<bos>`` (tokenizers only emit special
ids when code adds them), so that embedding row is free, and reusing it keeps every vocabulary
and saved tokenizer unchanged, so an encoder pretrained here fine-tunes with the same ids.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.data.types import DatasetSplits
from core.errors import DataError
from core.models.base import evaluating
from core.models.heads import MaskedLanguageModel
from core.tasks.base import Batch, EvalResult, Task
from core.tasks.classification import EncodedSplit

# Of the chosen tokens: replaced by the mask id below MASK_SHARE, by a random token below
# MASK_SHARE + RANDOM_SHARE, else left as they are (the model cannot tell which were kept).
MASK_SHARE, RANDOM_SHARE = 0.8, 0.1
EVAL_SEED = 1234  # the same masks at every evaluation, so the validation curve is comparable




def mask_tokens(
    ids: torch.Tensor,
    pad_mask: torch.Tensor | None,
    *,
    mask_id: int,
    vocab_size: int,
    first_regular: int,
    prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of a (B, T) id batch. Returns ``(inputs, chosen)``.

    ``chosen`` (B, T) marks the positions to predict (never padding); ``inputs`` is ``ids``
    with 80% of them set to ``mask_id``, 10% to a random id in ``[first_regular, vocab_size)``
    (no special tokens) and 10% unchanged. The targets are ``ids[chosen]``.
    """
    chosen = torch.rand(ids.shape, generator=generator, device=ids.device) < prob
    if pad_mask is not None:
        chosen &= ~pad_mask
    action = torch.rand(ids.shape, generator=generator, device=ids.device)
    inputs = ids.masked_fill(chosen & (action < MASK_SHARE), mask_id)
    randomise = chosen & (action >= MASK_SHARE) & (action < MASK_SHARE + RANDOM_SHARE)
    low = first_regular if vocab_size > first_regular else 0  # a vocabulary of specials only
    random_ids = torch.randint(low, vocab_size, ids.shape, generator=generator, device=ids.device)
    return torch.where(randomise, random_ids, inputs), chosen


class MaskedLMTask(Task):
    name = "masked_lm"

    @property
    def max_len(self) -> int:
        # The same +1 as classification (room for [CLS]): learned position tables then have the
        # same size in the pretrained and the fine-tuned model.
        return int(self.params["max_length"]) + 1

    def set_data(self, data: DatasetSplits) -> None:
        self.train = self._encode(data.train.texts, "training")
        self.val = self._encode(data.validation.texts, "validation")
        self._summary = {
            "train_examples": len(self.train),
            "val_examples": len(self.val),
            "train_tokens": int(self.train.lengths.sum()),
            "vocab_size": self.tokenizer.vocab_size,
        }

    def data_summary(self) -> dict[str, Any]:
        return dict(self._summary)

    def _encode(self, texts: list[str], split: str) -> EncodedSplit:
        lines = [line for text in texts for line in text.splitlines() if line.strip()]
        width = int(self.params["max_length"])
        pieces = [
            row[start : start + width]
            for row in self.tokenizer.encode_batch(lines)
            for start in range(0, len(row), width)
        ]
        if not pieces:
            raise DataError(split, f"the {split} split has no text to mask")
        return EncodedSplit(pieces, [0] * len(pieces), self.tokenizer.pad_id, width)

    def _masked_batch(self, split: EncodedSplit, index: torch.Tensor, generator: torch.Generator) -> Batch:
        ids, pad_mask, _ = split.rows(index)
        inputs, chosen = mask_tokens(
            ids, pad_mask, mask_id=self.tokenizer.mask_id, vocab_size=self.tokenizer.vocab_size,
            first_regular=len(self.tokenizer.specials), prob=self.params["mask_prob"],
            generator=generator,
        )
        dev = self.device
        return Batch(
            inputs={"ids": inputs.to(dev), "pad_mask": pad_mask.to(dev), "select": chosen.to(dev)},
            targets=ids[chosen].to(dev),
            n_tokens=int((~pad_mask).sum()),
        )

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        index = torch.randint(len(self.train), (batch_size,), generator=generator)
        return self._masked_batch(self.train, index, generator)

    def build_model(self) -> nn.Module:
        return MaskedLanguageModel(self.build_sequence_backbone(), vocab_size=self.tokenizer.vocab_size)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        logits = model(**batch.inputs)
        if batch.targets.numel() == 0:  # nothing chosen (tiny batch): no signal, no NaN
            return logits.sum() * 0.0
        return F.cross_entropy(logits, batch.targets)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult:
        """Masked-token loss, accuracy and perplexity over fixed masks of the validation split."""
        with evaluating(model):
            n = len(self.val)
            limit = n if max_batches is None else min(n, max_batches * batch_size)
            generator = torch.Generator().manual_seed(EVAL_SEED)
            total, correct, count = 0.0, 0, 0
            for start in range(0, limit, batch_size):
                batch = self._masked_batch(self.val, torch.arange(start, min(start + batch_size, limit)), generator)
                if batch.targets.numel() == 0:
                    continue
                logits = model(**batch.inputs).float()
                total += F.cross_entropy(logits, batch.targets, reduction="sum").item()
                correct += int((logits.argmax(-1) == batch.targets).sum())
                count += batch.targets.numel()
        if count == 0:
            raise DataError("validation", "no token was masked; the validation split is too small")
        loss = total / count
        metrics = {
            "loss": loss,
            "accuracy": correct / count,
            "perplexity": math.exp(min(loss, 700.0)),  # capped: a diverged model is not inf
        }
        return EvalResult(metrics=metrics)
