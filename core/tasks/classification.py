"""Text classification: a sequence goes in, one label comes out."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.augment.augmenter import Augmenter, build_augmenter, row_seed
from core.augment.masking import mask_aware
from core.data.types import DatasetSplits, Split
from core.distill.distiller import Distiller
from core.embeddings import attach_pretrained
from core.errors import DataError
from core.finetune import apply_freeze
from core.metrics import classification_metrics, scalars
from core.models.base import evaluating
from core.models.heads import SequenceClassifier
from core.registry import MODELS
from core.tasks.base import Batch, EvalResult, Task
from core.tasks.batching import batch_index
from core.tasks.pairs import encode_texts


class EncodedSplit:
    """A split as one padded id matrix plus lengths: batching is a cheap index + slice."""

    def __init__(self, ids: list[list[int]], labels: list[int], pad_id: int, max_length: int) -> None:
        lengths = [max(1, min(len(x), max_length)) for x in ids]
        width = max(lengths) if lengths else 1
        matrix = torch.full((len(ids), width), pad_id, dtype=torch.long)
        for i, row in enumerate(ids):
            row = row[:max_length] or [pad_id]
            matrix[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        self.ids = matrix
        self.lengths = torch.tensor(lengths, dtype=torch.long)
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lengths = self.lengths[index]
        width = int(lengths.max())
        ids = self.ids[index, :width]
        pad_mask = torch.arange(width).unsqueeze(0) >= lengths.unsqueeze(1)
        return ids, pad_mask, self.labels[index]


class ClassificationTask(Task):
    name = "classification"
    # task.teacher: what the loss learns from besides the labels, set by core.runs once the
    # teacher run is loaded (core.distill.attach_teacher); None trains on the labels alone.
    teacher: Distiller | None = None

    @property
    def label_names(self) -> list[str]:
        return list(self.state.get("label_names", []))

    @property
    def max_len(self) -> int:
        # +1 leaves room for a [CLS] position some encoders prepend.
        return int(self.params["max_length"]) + 1

    def set_data(self, data: DatasetSplits) -> None:
        if not data.label_names or len(data.label_names) < 2:
            raise DataError(data.description or "dataset", "classification needs at least two classes")
        self.state["label_names"] = list(data.label_names)
        if data.extras.get("text_pair"):  # kept with the run, so predictions split pairs too
            self.state["text_pair"] = True
            self.state["pair_separator"] = str(data.extras.get("pair_separator", " "))
        self.train = self._encode(data.train)
        self._set_augmentation(data.train)
        self.val = self._encode(data.validation)
        held = data.extras.get("heldout")
        self.heldout = self._encode(held) if held is not None and len(held) else None
        # Which validation examples rest on a negation, when the dataset says (the built-in
        # sentiment set): their accuracy is the negation_accuracy metric.
        negated = data.extras.get("negated")
        self.val_negated = (torch.tensor(negated, dtype=torch.bool)
                            if negated is not None and len(negated) == len(self.val) else None)
        self._summary = {
            "train_examples": len(self.train),
            "val_examples": len(self.val),
            **({"heldout_examples": len(self.heldout)} if self.heldout is not None else {}),
            "classes": len(data.label_names),
            "vocab_size": self.tokenizer.vocab_size,
        }

    def data_summary(self) -> dict[str, Any]:
        return dict(self._summary)

    def _encode(self, split: Split) -> EncodedSplit:
        assert split.labels is not None
        ids = self.encode(split.texts)
        return EncodedSplit(ids, split.labels, self.tokenizer.pad_id, self.params["max_length"])

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of texts (a sentence pair the way this run's model reads one)."""
        return encode_texts(self.tokenizer, list(texts), self.state, self.config.arch)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        index = batch_index(self.train.lengths, batch_size, generator, self.params["group_by_length"])
        ids, pad_mask, labels = self.train.rows(index)
        texts = [self.train_texts[i] for i in index.tolist()]
        if not self.params.get("augment_copies") and self._augmenter() is not None:  # copies: rows as they are
            ids, pad_mask, texts = self._augmented(index, texts, generator)
        return Batch(
            inputs={"ids": ids.to(self.device), "pad_mask": pad_mask.to(self.device)},
            targets=labels.to(self.device),
            n_tokens=int((~pad_mask).sum()),
            texts=texts,
        )

    # -- augmentation (task.augment, core.augment): training rows only, at batch time ---------
    def _set_augmentation(self, train: Split) -> None:
        self.train_texts = list(train.texts)
        self.augmenter: Augmenter | None = None
        self._augmenter_built = False  # built at the first batch: scoring a file needs no source runs
        self.copies_made = 0  # fixed augmented copies among the training rows (prepare_training)

    def prepare_training(self) -> None:
        """``task.augment_copies`` fixed augmented copies of every training row, made once and
        appended with the row's label (a copy equal to its row, or to an earlier copy, is left
        out). A teacher then reads the copies once with the rows (core.distill's cache): Tang
        et al.'s augmented transfer set. Copy ``c`` of row ``i`` has its own seed, so the copies
        are the same on every rank and on a resume."""
        wanted = int(self.params.get("augment_copies", 0) or 0)
        augmenter = self._augmenter() if wanted > 0 else None
        if augmenter is None:
            return
        seed = int(self.config["training"]["seed"])
        texts, labels = self.train_texts, self.train.labels.tolist()
        seen = [{text} for text in texts]
        new_texts, new_labels = [], []
        for copy in range(wanted):
            # Negative stamps: a batch's stamp (core.augment.augmenter.row_seed) is never negative.
            for i, text in enumerate(augmenter.copies(texts, [row_seed(seed, -1 - copy, i) for i in range(len(texts))])):
                if text not in seen[i]:
                    seen[i].add(text)
                    new_texts.append(text)
                    new_labels.append(labels[i])
        if not new_texts:
            self._summary.update(augmented_copies=0, augmented_copies_left_out=wanted * len(texts))
            return
        fresh = encode_texts(mask_aware(self.tokenizer), new_texts, self.state, self.config.arch)
        kept = [self.train.ids[i, : int(self.train.lengths[i])].tolist() for i in range(len(texts))]
        self.train = EncodedSplit(kept + fresh, labels + new_labels, self.tokenizer.pad_id, self.params["max_length"])
        self.train_texts = texts + new_texts
        self.copies_made = len(new_texts)
        # Rows and copies apart: how many copies were asked for and how many were equal to their row.
        self._summary.update(train_examples=len(self.train), train_rows=len(texts), augmented_copies=self.copies_made,
                             augmented_copies_left_out=wanted * len(texts) - self.copies_made)

    def _augmenter(self) -> Augmenter | None:
        if not self._augmenter_built:
            self.augmenter, self._augmenter_built = build_augmenter(self.params, known=self._known_word), True
        return self.augmenter

    def _known_word(self, word: str) -> bool:
        """Whether this run's tokenizer reads ``word`` without <unk>: a synonym it cannot read
        would be a mask, not a synonym."""
        return self.tokenizer.unk_id not in self.tokenizer.encode(word)

    def _augmented(self, index: torch.Tensor, texts: list[str],
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """The batch with its augmented rows re-encoded (the others keep their cached ids). Each
        row's seed: the run's seed, a stamp of the batch generator's state (it advances every
        step and a resume restores it; reading it draws nothing) and the row's place."""
        assert self.augmenter is not None
        stamp = int.from_bytes(hashlib.blake2b(generator.get_state().numpy().tobytes(), digest_size=8).digest(), "little")
        seed = int(self.config["training"]["seed"])
        changed = self.augmenter.augment(texts, [row_seed(seed, stamp, j) for j in range(len(texts))])
        rows = [j for j, text in enumerate(changed) if text is not None]
        ids_list = [self.train.ids[i, : int(self.train.lengths[i])].tolist() for i in index.tolist()]
        if rows:
            fresh = encode_texts(mask_aware(self.tokenizer), [changed[j] or "" for j in rows], self.state, self.config.arch)
            for j, row in zip(rows, fresh, strict=True):
                ids_list[j] = row
                texts[j] = changed[j] or texts[j]
        batch = EncodedSplit(ids_list, [0] * len(ids_list), self.tokenizer.pad_id, self.params["max_length"])
        return batch.ids, torch.arange(batch.ids.shape[1]).unsqueeze(0) >= batch.lengths.unsqueeze(1), texts

    def build_model(self) -> nn.Module:
        model_params = self.config.params("model")
        comp = MODELS.get(self.config.arch)
        if comp.meta.get("builds_classifier"):
            # A pretrained Hugging Face classifier brings its own head (and vocabulary).
            model = comp.factory(model_params, num_classes=len(self.label_names))
        else:
            model = attach_pretrained(self, SequenceClassifier(
                self.build_sequence_backbone(),
                num_classes=len(self.label_names),
                pooling=model_params.get("pooling", "mean"),
                dropout=float(model_params.get("dropout", 0.1)),
            ))
        return apply_freeze(model, self.params, self.config.arch)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        logits = model(**batch.inputs)
        if self.teacher is not None:  # the teacher reads the rows' texts (its own tokenizer)
            return self.teacher.loss(logits, batch.targets, batch.texts, self.params["label_smoothing"])
        return F.cross_entropy(logits, batch.targets, label_smoothing=self.params["label_smoothing"])

    def evaluate(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult:
        return self._score(model, self.val, self.val_negated, max_batches, batch_size)

    def evaluate_heldout(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult | None:
        heldout = getattr(self, "heldout", None)
        return None if heldout is None else self._score(model, heldout, None, max_batches, batch_size)

    @torch.no_grad()
    def _score(self, model: nn.Module, split: EncodedSplit, negated_rows: torch.Tensor | None,
               max_batches: int | None, batch_size: int) -> EvalResult:
        with evaluating(model):
            n = len(split)
            limit = n if max_batches is None else min(n, max_batches * batch_size)
            # Sorting by length keeps padding (and so wasted compute) small.
            order = torch.argsort(split.lengths[:limit], descending=True)
            probs, labels, losses = [], [], []
            for start in range(0, limit, batch_size):
                index = order[start : start + batch_size]
                ids, pad_mask, y = split.rows(index)
                logits = model(ids=ids.to(self.device), pad_mask=pad_mask.to(self.device)).float()
                losses.append(F.cross_entropy(logits, y.to(self.device), reduction="sum").item())
                probs.append(torch.softmax(logits, dim=-1).cpu())
                labels.append(y)
        p = torch.cat(probs).numpy()
        y_true = torch.cat(labels).numpy()
        full = classification_metrics(y_true, p, self.label_names)
        metrics = {"loss": float(np.sum(losses) / max(1, limit)), **scalars(full)}
        if negated_rows is not None:
            negated = negated_rows[:limit][order].numpy()
            if negated.any():
                metrics["negation_accuracy"] = float((p[negated].argmax(1) == y_true[negated]).mean())
        return EvalResult(metrics=metrics, details=full)

    # -- prediction ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, model: nn.Module, texts: list[str]) -> np.ndarray:
        """Class probabilities (N, C) for raw texts."""
        return torch.softmax(self.logits(model, texts), dim=-1).cpu().numpy()

    @torch.no_grad()
    def logits(self, model: nn.Module, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Class scores (N, C) for raw texts, fp32 on the model's device, in the texts' order (a
        teacher's soft targets: core.distill)."""
        ids = self.encode(texts)
        enc = EncodedSplit(ids, [0] * len(ids), self.tokenizer.pad_id, self.params["max_length"])
        out = []
        with evaluating(model):
            for start in range(0, len(enc), batch_size):
                index = torch.arange(start, min(start + batch_size, len(enc)))
                x, pad_mask, _ = enc.rows(index)
                out.append(model(ids=x.to(self.device), pad_mask=pad_mask.to(self.device)).float())
        return torch.cat(out) if out else torch.zeros((0, len(self.label_names)), device=self.device)
