"""Word embeddings: learn word vectors (Word2Vec or GloVe) from the texts of any text dataset.

``set_data`` turns the training texts into examples once: (input, target) id pairs for
Word2Vec, after frequent-word subsampling and with word2vec's shrinking window, or the
co-occurrence entries for GloVe. A batch is then one random index into those tensors plus, for
Word2Vec, negative samples from the unigram^0.75 distribution drawn with the trainer's
generator. Windows never cross the boundary between two texts (two reviews, two sentences).

Evaluation: loss on the validation texts' examples (fixed negatives, so it is deterministic),
the planted checks a dataset may bring (``extras``: nearest-neighbour and analogy accuracy),
and in ``details`` the nearest neighbours of a few words.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from torch import nn

from core.data.types import DatasetSplits
from core.embeddings import analogy, analogy_hits, nearest_neighbours, neighbour_hits
from core.errors import DataError
from core.models.base import WordVectors, evaluating
from core.registry import MODELS
from core.tasks.base import Batch, EvalResult, Task
from core.tasks.catalog import parse_analogies
from core.tokenize import SPECIALS

_MAX_VAL_EXAMPLES = 100_000  # a random sample of held-out examples is plenty for a loss estimate
_SHOWN_ANALOGIES = 5


class WordEmbeddingsTask(Task):
    name = "word_embeddings"

    @property
    def objective(self) -> str:
        return str(MODELS.get(self.config.arch).meta.get("objective", "sgns"))

    @property
    def cbow(self) -> bool:
        return self.config["model"].get("mode") == "cbow"

    @property
    def max_len(self) -> int:
        return 2 * int(self.params["window"]) + 1

    # -- data ------------------------------------------------------------------------------------
    def set_data(self, data: DatasetSplits) -> None:
        vocab_size = self.tokenizer.vocab_size
        train, train_docs = self._stream(data.train.texts, "training")
        val, val_docs = self._stream(data.validation.texts, "validation")
        self.counts = np.bincount(train, minlength=vocab_size)
        self.vocab = [self.tokenizer.id_to_token(i) for i in range(vocab_size)]
        seed = int(self.config["training"]["seed"])
        # Seeded from the run: a resumed run rebuilds exactly the same examples.
        rng = np.random.default_rng([seed, 505])
        fixed = np.random.default_rng([0, 505])  # validation examples do not depend on the seed
        if self.objective == "glove":
            self.train: tuple[np.ndarray, ...] = _cooccurrence(train, train_docs, self.params["window"], vocab_size)
            rows, cols, counts = _cooccurrence(val, val_docs, self.params["window"], vocab_size)
            # Scaled to the training corpus's size: both then estimate the same counts, so the
            # held-out loss measures fit, not the size difference (log 9 for a 10% split).
            counts *= len(train) / len(val)
            self.val = _sample((rows, cols, counts), fixed)
        else:
            keep = self._keep_probability()
            self.train = self._sgns(train, train_docs, keep, rng)
            self.val = _sample(self._sgns(val, val_docs, keep, fixed), fixed)
            noise = self.counts.astype(np.float64) ** 0.75
            self.noise = torch.from_numpy(noise / noise.sum()).float()
            # Fixed negatives: the validation loss changes only when the model does.
            g = torch.Generator().manual_seed(0)
            n_val = len(self.val[0])
            self.val_negatives = torch.multinomial(
                self.noise, max(1, n_val) * self.params["negatives"], replacement=True, generator=g
            ).view(-1, self.params["negatives"])[:n_val]
        if len(self.train[0]) == 0:
            raise DataError("training split", "no training examples: the texts are too short or every word is rare (<unk>)")
        self.checks_pairs = [tuple(p) for p in data.extras.get("neighbour_pairs", [])]
        self.checks_analogies = [tuple(q) for q in data.extras.get("analogies", [])]
        # Typed words meet the vocabulary's case: "King" is "king" for a lowercasing tokenizer.
        norm = str.lower if self.tokenizer.params.get("lowercase") else str.strip
        self.checks_analogies += [tuple(map(norm, q)) for q in parse_analogies(self.params["analogies"])]
        words = [norm(w.strip()) for w in self.params["eval_words"].split(",") if w.strip()]
        self.state["eval_words"] = words or list(data.extras.get("eval_words", [])) or self._frequent_words()
        self._summary: dict[str, Any] = {
            "train_tokens": int(len(train)),
            "train_examples": int(len(self.train[0])),
            "val_examples": int(len(self.val[0])),
            "vocab_size": vocab_size,
        }
        if self.checks_pairs or self.checks_analogies:
            self._summary["checks"] = f"{len(self.checks_pairs)} neighbour pairs, {len(self.checks_analogies)} analogies"

    def data_summary(self) -> dict[str, Any]:
        return dict(self._summary)

    def _stream(self, texts: list[str], split: str) -> tuple[np.ndarray, np.ndarray]:
        """All known words of ``texts`` in order, and the index of the text each comes from.

        Special ids and <unk> are dropped before windowing, as word2vec drops unknown words.
        """
        encoded = [np.asarray(ids, dtype=np.int64) for ids in self.tokenizer.encode_batch(texts)]
        lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)
        ids = np.concatenate(encoded) if encoded else np.zeros(0, dtype=np.int64)
        docs = np.repeat(np.arange(len(encoded)), lengths)
        known = ids >= len(SPECIALS)
        if known.sum() < 2:
            raise DataError(f"{split} split", f"the {split} texts have {int(known.sum())} known words; word vectors need at least 2")
        return ids[known], docs[known]

    def _keep_probability(self) -> np.ndarray:
        """Per word id: Mikolov's subsampling keep probability (word2vec.c's formula)."""
        t = self.params["subsample"]
        freq = self.counts / max(1, self.counts.sum())
        if t <= 0:
            return np.ones_like(freq)
        with np.errstate(divide="ignore", invalid="ignore"):
            keep = (np.sqrt(freq / t) + 1.0) * t / freq
        return np.nan_to_num(keep, nan=1.0, posinf=1.0).clip(max=1.0)

    def _sgns(
        self, stream: np.ndarray, docs: np.ndarray, keep: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets): skip-gram (centre, context) pairs, or CBOW (contexts (N, 2W), centre).

        Subsampling drops words before windowing (so windows reach further, as in word2vec);
        each centre word draws its own window size b in 1..window. CBOW pads with -1.
        """
        kept = rng.random(len(stream)) < keep[stream]
        words, docs = stream[kept], docs[kept]
        window = int(self.params["window"])
        reach = rng.integers(1, window + 1, size=len(words))
        n = len(words)
        if self.cbow:
            contexts = np.full((n, 2 * window), -1, dtype=np.int64)
            for col, offset in enumerate([*range(-window, 0), *range(1, window + 1)]):
                centre = np.arange(max(0, -offset), min(n, n - offset))
                other = centre + offset
                ok = (docs[centre] == docs[other]) & (reach[centre] >= abs(offset))
                contexts[centre[ok], col] = words[other[ok]]
            has = (contexts >= 0).any(1)
            return contexts[has].astype(np.int32), words[has].astype(np.int32)
        inputs, targets = [], []
        for offset in range(1, window + 1):
            left = np.arange(n - offset) if n > offset else np.zeros(0, dtype=np.int64)
            right = left + offset
            same = docs[left] == docs[right]
            # The pair at distance `offset` counts for each end whose window reaches that far.
            for centre, other in ((left, right), (right, left)):
                ok = same & (reach[centre] >= offset)
                inputs.append(words[centre[ok]])
                targets.append(words[other[ok]])
        return np.concatenate(inputs).astype(np.int32), np.concatenate(targets).astype(np.int32)

    def _frequent_words(self, n: int = 6) -> list[str]:
        order = np.argsort(-self.counts, kind="stable")
        words = [self.vocab[i] for i in order[: 500] if self.counts[i] > 0]
        # Skip punctuation and short function words ("the", "with"), whose neighbours say little.
        return [w for w in words if re.fullmatch(r"[^\W\d_]{5,}", w)][:n]

    # -- batches -----------------------------------------------------------------------------------
    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        index = torch.randint(len(self.train[0]), (batch_size,), generator=generator)
        return self._batch(self.train, index, generator=generator)

    def _batch(
        self, examples: tuple[np.ndarray, ...], index: torch.Tensor, *,
        generator: torch.Generator | None = None, negatives: torch.Tensor | None = None,
    ) -> Batch:
        idx = index.numpy()
        if self.objective == "glove":
            rows, cols, counts = (torch.from_numpy(a[idx]) for a in examples)
            inputs = {"rows": rows.long(), "cols": cols.long(), "counts": counts.float()}
            targets = inputs["counts"]
        else:
            x = torch.from_numpy(examples[0][idx]).long()
            targets = torch.from_numpy(examples[1][idx]).long()
            if negatives is None:
                k = self.params["negatives"]
                negatives = torch.multinomial(self.noise, len(idx) * k, replacement=True, generator=generator).view(-1, k)
            inputs = {"inputs": x.clamp(min=0), "targets": targets, "negatives": negatives}
            if x.dim() == 2:
                inputs["mask"] = x >= 0
        return Batch(
            inputs={k: v.to(self.device) for k, v in inputs.items()},
            targets=targets.to(self.device),
            n_tokens=len(idx),
        )

    # -- model ---------------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return self.build_backbone()

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model(**batch.inputs).mean()

    @torch.no_grad()
    def evaluate(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult:
        with evaluating(model):
            n = len(self.val[0])
            limit = n if max_batches is None else min(n, max_batches * batch_size)
            total = 0.0
            for start in range(0, limit, batch_size):
                index = torch.arange(start, min(start + batch_size, limit))
                negatives = None if self.objective == "glove" else self.val_negatives[index]
                batch = self._batch(self.val, index, negatives=negatives)
                total += float(model(**batch.inputs).float().sum())
        metrics: dict[str, float] = {"loss": total / max(1, limit)} if limit else {}
        if not isinstance(model, WordVectors):
            raise TypeError(f"{type(model).__name__} has no word vectors")
        vectors = model.vectors().float().cpu().numpy()
        k = self.params["eval_k"]
        found, checked = neighbour_hits(vectors, self.vocab, self.checks_pairs, k)
        if checked:
            metrics["neighbour_accuracy"] = found / checked
        correct, asked = analogy_hits(vectors, self.vocab, self.checks_analogies)
        if asked:
            metrics["analogy_accuracy"] = correct / asked
        return EvalResult(metrics=metrics, details=self._details(vectors, k))

    def _details(self, vectors: np.ndarray, k: int) -> dict[str, Any]:
        known = set(self.vocab)
        neighbours = {
            w: [[nb, round(sim, 3)] for nb, sim in nearest_neighbours(vectors, self.vocab, w, k)]
            for w in self.state.get("eval_words", []) if w in known
        }
        shown = []
        for a, b, c, d in self.checks_analogies[:: max(1, len(self.checks_analogies) // _SHOWN_ANALOGIES)][:_SHOWN_ANALOGIES]:
            if {a, b, c, d} <= known:
                got = analogy(vectors, self.vocab, a, b, c, k=1)
                shown.append({"question": f"{a}:{b} :: {c}:?", "expected": d, "answer": got[0][0] if got else ""})
        return {"neighbours": neighbours, "analogies": shown}


def _cooccurrence(
    stream: np.ndarray, docs: np.ndarray, window: int, vocab_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzero entries (rows, cols, counts) of the symmetric co-occurrence matrix; a pair at
    distance d adds 1/d (GloVe's weighting). Summed with one sort, never a dense V x V matrix."""
    keys, weights = [], []
    n = len(stream)
    for offset in range(1, window + 1):
        left = np.arange(max(0, n - offset))
        right = left + offset
        same = docs[left] == docs[right]
        a, b = stream[left[same]], stream[right[same]]
        keys += [a * vocab_size + b, b * vocab_size + a]
        weights += [np.full(2 * len(a), 1.0 / offset)]
    if not keys:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, np.zeros(0, dtype=np.float32)
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate(weights))
    rows, cols = np.divmod(unique, vocab_size)
    return rows.astype(np.int32), cols.astype(np.int32), counts.astype(np.float32)


def _sample(examples: tuple[np.ndarray, ...], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Shuffled (so any prefix is a fair sample), at most _MAX_VAL_EXAMPLES examples."""
    n = len(examples[0])
    order = rng.permutation(n)[:_MAX_VAL_EXAMPLES]
    return tuple(a[order] for a in examples)
