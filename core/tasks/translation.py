"""Translation (sequence to sequence): a source sentence in, a target sentence out.

Training is teacher-forced cross-entropy; evaluation also decodes the validation sources (greedy
or beam search) and scores the detokenised output with sacrebleu (BLEU, chrF) and exact match,
keeping a few sample translations. Sources end with ``<eos>``; targets are
``<bos> y1 .. yn <eos>``: the decoder reads all but the last token and predicts all but the first.

Vocabularies: with ``shared_vocab`` the run's one tokenizer is fitted on sources and targets;
otherwise the trainer fits it on the sources and this task fits a second one (same kind and
settings) on the targets, saved as ``run_dir/tokenizer_target``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from core.data.types import DatasetSplits
from core.decoding import settings as decoding
from core.decoding.seq2seq import Limits, beam_search, greedy_translate
from core.errors import DataError
from core.metrics import scalars, translation_metrics
from core.models import hf_generative
from core.models.base import evaluating
from core.models.hf_catalog import ARCH as HF_ARCH
from core.registry import MODELS, TOKENIZERS
from core.tasks.base import Batch, EvalResult, Task
from core.tasks.batching import batch_index
from core.tokenize import Tokenizer, load_tokenizer

TARGET_TOKENIZER_DIR = "tokenizer_target"

# A word tokenizer decodes "a man , in a shirt ." and "don ' t": undo the spaces it put around
# punctuation, so BLEU sees what a person would write.
_DETOKENIZE = (
    (re.compile(r" ([.,!?;:%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r"(\w) ' (\w)"), r"\1'\2"),
)


def detokenize(text: str) -> str:
    for pattern, repl in _DETOKENIZE:
        text = pattern.sub(repl, text)
    return text


class PaddedRows:
    """Token rows as one padded matrix plus lengths: a batch is an index and a slice."""

    def __init__(self, rows: list[list[int]], pad_id: int) -> None:
        self.lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        self.ids = pad_sequence([torch.tensor(r, dtype=torch.long) for r in rows], batch_first=True, padding_value=pad_id)

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (B, longest in batch), pad_mask (B, longest), True at padding)."""
        lengths = self.lengths[index]
        width = int(lengths.max())
        return self.ids[index, :width], torch.arange(width)[None, :] >= lengths[:, None]


class TranslationTask(Task):
    name = "translation"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._target_tokenizer: Tokenizer | None = None
        if self.config.arch == HF_ARCH:  # the task adds <bos>/<eos> itself
            hf_generative.plain_tokens(self.tokenizer)

    # -- tokenizers ----------------------------------------------------------------------------
    @property
    def shared_vocab(self) -> bool:
        return bool(self.params["shared_vocab"])

    @property
    def target_tokenizer(self) -> Tokenizer:
        if self.shared_vocab:
            return self.tokenizer
        if self._target_tokenizer is None:
            raise DataError(TARGET_TOKENIZER_DIR, "no target tokenizer: call set_data or load_artifacts first")
        return self._target_tokenizer

    def save_artifacts(self, run_dir: Path) -> None:
        if not self.shared_vocab:
            self.target_tokenizer.save(Path(run_dir) / TARGET_TOKENIZER_DIR)

    def load_artifacts(self, run_dir: Path) -> None:
        folder = Path(run_dir) / TARGET_TOKENIZER_DIR
        if not self.shared_vocab and folder.is_dir():
            self._target_tokenizer = load_tokenizer(folder)

    def adopt_artifacts(self, other: Task) -> None:
        if not self.shared_vocab and isinstance(other, TranslationTask):
            self._target_tokenizer = other.target_tokenizer

    @property
    def max_len(self) -> int:
        # Source: tokens + <eos>; decoder input: <bos> + tokens (+ the <eos> fed at the last step).
        return max(self.params["max_source_length"], self.params["max_target_length"]) + 2

    def _source_rows(self, encoded: list[list[int]]) -> list[list[int]]:
        cut = self.params["max_source_length"]
        return [ids[:cut] + [self.tokenizer.eos_id] for ids in encoded]

    def _target_rows(self, encoded: list[list[int]]) -> list[list[int]]:
        tok, cut = self.target_tokenizer, self.params["max_target_length"]
        return [[tok.bos_id, *ids[:cut], tok.eos_id] for ids in encoded]

    def _encode_sources(self, texts: list[str]) -> PaddedRows:
        return PaddedRows(self._source_rows(self.tokenizer.encode_batch(texts)), self.tokenizer.pad_id)

    # -- data ------------------------------------------------------------------------------------
    def set_data(self, data: DatasetSplits) -> None:
        for split, what in ((data.train, "training"), (data.validation, "validation")):
            if split.targets is None or len(split.targets) != len(split.texts) or not split.texts:
                raise DataError(data.description or "dataset", f"translation needs source/target pairs; the {what} split has none")
        train_targets = list(data.train.targets or [])
        if not self.shared_vocab and self._target_tokenizer is None:
            comp = TOKENIZERS.get(self.config["tokenizer"]["name"], path="tokenizer.name")
            self._target_tokenizer = comp.factory(self.config.params("tokenizer"), train_targets)
        # Pairs that do not fit are dropped, not cut: a cut target would teach a wrong ending.
        src_ids = self.tokenizer.encode_batch(data.train.texts)
        tgt_ids = self.target_tokenizer.encode_batch(train_targets)
        keep = [
            i for i, (s, t) in enumerate(zip(src_ids, tgt_ids, strict=True))
            if len(s) <= self.params["max_source_length"] and len(t) <= self.params["max_target_length"]
        ]
        dropped = len(src_ids) - len(keep)
        if not keep:
            raise DataError(data.description or "dataset", "every training pair is longer than task.max_source_length / max_target_length")
        if dropped:
            data.notes.append(
                f"dropped {dropped} training pairs longer than {self.params['max_source_length']} source "
                f"or {self.params['max_target_length']} target tokens (task.max_*_length)"
            )
        tgt_pad = self.target_tokenizer.pad_id
        self.train_src = PaddedRows(self._source_rows([src_ids[i] for i in keep]), self.tokenizer.pad_id)
        self.train_tgt = PaddedRows(self._target_rows([tgt_ids[i] for i in keep]), tgt_pad)
        self.val_sources = list(data.validation.texts)
        self.val_references = list(data.validation.targets or [])
        self.val_src = self._encode_sources(self.val_sources)
        self.val_tgt = PaddedRows(self._target_rows(self.target_tokenizer.encode_batch(self.val_references)), tgt_pad)
        self._summary = {
            "train_pairs": len(keep),
            "val_pairs": len(self.val_sources),
            "dropped_long_pairs": dropped,
            "source_vocab": self.tokenizer.vocab_size,
            "target_vocab": self.target_tokenizer.vocab_size,
        }

    def data_summary(self) -> dict[str, Any]:
        return dict(self._summary)

    def _batch(self, src: PaddedRows, tgt: PaddedRows, index: torch.Tensor) -> Batch:
        src_ids, src_pad_mask = src.take(index)
        tgt_ids, tgt_pad_mask = tgt.take(index)
        return Batch(
            inputs={
                "src_ids": src_ids.to(self.device),
                "src_pad_mask": src_pad_mask.to(self.device),
                "tgt_ids": tgt_ids[:, :-1].to(self.device),
            },
            targets=tgt_ids[:, 1:].to(self.device),
            n_tokens=int((~src_pad_mask).sum() + (~tgt_pad_mask).sum()),
        )

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        # Grouped by the longer side of each pair: both the encoder's and the decoder's
        # padding shrink.
        lengths = torch.maximum(self.train_src.lengths, self.train_tgt.lengths)
        index = batch_index(lengths, batch_size, generator, self.params["group_by_length"])
        return self._batch(self.train_src, self.train_tgt, index)

    # -- model -------------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        if self.config.arch == HF_ARCH:
            lengths = {k: self.params[k] for k in ("max_source_length", "max_target_length")}
            return hf_generative.build_seq2seq(self.config.params("model"), task=self.name, lengths=lengths)
        comp = MODELS.get(self.config["model"]["name"], path="model.name")
        return comp.factory(
            self.config.params("model"),
            src_vocab_size=self.tokenizer.vocab_size,
            tgt_vocab_size=self.target_tokenizer.vocab_size,
            src_pad_id=self.tokenizer.pad_id,
            tgt_pad_id=self.target_tokenizer.pad_id,
            max_len=self.max_len,
        )

    def _cross_entropy(self, model: nn.Module, batch: Batch, **kwargs: Any) -> torch.Tensor:
        logits = model(**batch.inputs)
        return F.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), batch.targets.reshape(-1),
            ignore_index=self.target_tokenizer.pad_id, **kwargs,
        )

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return self._cross_entropy(model, batch, label_smoothing=self.params["label_smoothing"])

    # -- evaluation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult:
        """Teacher-forced loss, then BLEU / chrF / exact match of decoded validation sources."""
        with evaluating(model):
            n = len(self.val_sources)
            if self.params["eval_max_sentences"] is not None:
                n = min(n, self.params["eval_max_sentences"])
            if max_batches is not None:
                n = min(n, max_batches * batch_size)
            # Similar lengths together keep padding (wasted compute) small.
            order = torch.argsort(self.val_src.lengths[:n], descending=True)
            total, count = 0.0, 0
            for start in range(0, n, batch_size):
                batch = self._batch(self.val_src, self.val_tgt, order[start : start + batch_size])
                total += self._cross_entropy(model, batch, reduction="sum").item()
                count += int((batch.targets != self.target_tokenizer.pad_id).sum())
            hypotheses = self.translate(model, self.val_sources[:n], batch_size=batch_size)
            references = self.val_references[:n]
            scores, extra = self.score(hypotheses, references)
            mean = total / max(1, count)
            metrics = {"loss": mean, "perplexity": math.exp(min(mean, 700.0)), **scalars(scores)}
            k = min(self.params["samples_shown"], n)
            samples = [
                {"source": s, "reference": r, "hypothesis": h}
                for s, r, h in zip(self.val_sources[:k], references[:k], hypotheses[:k], strict=True)
            ]
            beam = self.params["beam_size"]
            details: dict[str, Any] = {
                "translations": samples,
                "decoding": "greedy" if beam == 1 else f"beam {beam}",
                "sentences": n,
                **extra,
            }
            if samples:
                details["sample"] = "\n".join(
                    f"{s['source']}\n  ref: {s['reference']}\n  hyp: {s['hypothesis']}" for s in samples
                )
        return EvalResult(metrics=metrics, details=details)

    def score(self, hypotheses: list[str], references: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(metrics, details worth keeping) of decoded validation outputs: BLEU, chrF, exact match."""
        scores = translation_metrics(hypotheses, references, lowercase=self._lowercase())
        return scores, {"bleu_signature": scores["bleu_signature"], "bleu_precisions": scores["bleu_precisions"],
                        "bleu_case": "lowercased" if self._lowercase() else "cased"}

    def _lowercase(self) -> bool:
        """Score case-insensitively when the target tokenizer lowercases (it cannot produce case)."""
        return bool(self.target_tokenizer.params.get("lowercase", False))

    # -- prediction ----------------------------------------------------------------------------------
    @torch.no_grad()
    def translate_ids(
        self, model: nn.Module, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None, *,
        beam_size: int, max_len: int, length_penalty: float, limits: Limits | None = None,
    ) -> list[list[int]]:
        tok = self.target_tokenizer
        common: dict[str, Any] = {
            "bos_id": tok.bos_id, "eos_id": tok.eos_id, "max_len": max_len,
            "suppress": (tok.pad_id, tok.bos_id),  # never in a target: an untrained model may pick them
            "limits": self.limits() if limits is None else limits,
        }
        if beam_size == 1:
            return greedy_translate(model, src_ids, src_pad_mask, **common)
        return beam_search(model, src_ids, src_pad_mask, beam_size=beam_size, length_penalty=length_penalty, **common)

    def limits(self, min_len: int | None = None, no_repeat_ngram: int | None = None) -> Limits:
        """Length controls: the arguments, else the task's own (summarisation declares them;
        translation has none)."""
        return Limits(
            min_len=int(self.params.get("min_output_tokens", decoding.MIN_OUTPUT_TOKENS.default) if min_len is None else min_len),
            no_repeat_ngram=int(self.params.get("no_repeat_ngram", decoding.NO_REPEAT_NGRAM.default) if no_repeat_ngram is None else no_repeat_ngram),
        )

    def translate(
        self, model: nn.Module, texts: list[str], *, beam_size: int | None = None,
        max_len: int | None = None, length_penalty: float | None = None, batch_size: int = 64,
        limits: Limits | None = None,
    ) -> list[str]:
        """Translate raw source texts; returns detokenised target texts in the same order.

        Output stops at ``max_len`` tokens (<eos> included), at most ``max_target_length + 1``
        (learned positions end there) and, unless ``max_len`` is given, at twice the longest
        source of the batch plus 10: an untrained model then never decodes for long.
        """
        beam_size = beam_size or self.params["beam_size"]
        limit = self.params["max_target_length"] + 1
        length_penalty = self.params["length_penalty"] if length_penalty is None else length_penalty
        out = [""] * len(texts)
        if not texts:
            return out
        rows = self._encode_sources(texts)
        order = torch.argsort(rows.lengths, descending=True)
        tok = self.target_tokenizer
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            src_ids, pad_mask = rows.take(index)
            ids = self.translate_ids(
                model, src_ids.to(self.device), pad_mask.to(self.device) if bool(pad_mask.any()) else None,
                beam_size=beam_size, length_penalty=length_penalty, limits=limits,
                max_len=min(max_len or 2 * src_ids.shape[1] + 10, limit),
            )
            for i, token_ids in zip(index.tolist(), ids, strict=True):
                text = tok.decode(token_ids)
                out[i] = detokenize(text) if tok.kind == "word" else text
        return out
