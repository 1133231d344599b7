"""What a task owns: batching, loss, metrics and prediction. The trainer owns the loop.

A task is built from the run config, the fitted tokenizer and its own small ``state`` (e.g.
class names) so the same object serves training (after ``set_data``) and prediction from a
checkpoint (no data needed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.config import RunConfig
from core.data.types import DatasetSplits
from core.models.base import Backbone
from core.registry import MODELS, TASKS
from core.tokenize import Tokenizer


def task_class(name: str) -> type[Task]:
    """The class registered as task ``name`` (a task's factory in TASKS is its class)."""
    cls = TASKS.get(name).factory
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise TypeError(f"task {name!r} is registered with {cls!r}, not a Task class")
    return cls


@dataclass
class Batch:
    inputs: dict[str, torch.Tensor]  # passed to the model as keyword arguments
    targets: torch.Tensor
    n_tokens: int  # input tokens in the batch, for throughput
    # The texts the rows were read from, augmented ones as changed (core.augment): a teacher that
    # reads text scores exactly what the student saw. None where a task does not say.
    texts: list[str] | None = None


@dataclass
class EvalResult:
    metrics: dict[str, float]  # scalar metrics, logged as the "val" series
    details: dict[str, Any] = field(default_factory=dict)  # confusion matrix, ROC, samples...


class Task(ABC):
    name: str = ""

    def __init__(
        self, config: RunConfig, tokenizer: Tokenizer, state: dict[str, Any] | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.config = config
        self.params = config.params("task")
        self.tokenizer = tokenizer
        self.state: dict[str, Any] = dict(state or {})
        self.device = torch.device(device)

    @property
    def default_metric(self) -> str:
        """The metric this task is judged by, as its declaration says (core.tasks.catalog)."""
        return str(TASKS.get(self.name).meta["default_metric"])

    # -- data ------------------------------------------------------------------------------
    @abstractmethod
    def set_data(self, data: DatasetSplits) -> None:
        """Tokenize the splits once into tensors; fill ``self.state`` (e.g. label names)."""

    @abstractmethod
    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A random training batch on ``self.device``."""

    @property
    def max_len(self) -> int:
        """Longest sequence the model will see (for learned positions)."""
        raise NotImplementedError

    def prepare_training(self) -> None:
        """Work only training needs, done once after :meth:`set_data` by the trainer (never when a
        run's data is read to score it): a classifier's fixed augmented copies. None by default."""
        return None

    def data_summary(self) -> dict[str, Any]:
        """Sizes worth showing next to a run (examples, tokens, classes)."""
        return {}

    # -- model -------------------------------------------------------------------------------
    @abstractmethod
    def build_model(self) -> nn.Module:
        """Backbone from the registry + this task's head."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Mean training loss of the batch."""

    @abstractmethod
    def evaluate(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult:
        """Validation metrics; runs under no_grad in eval mode."""

    def evaluate_heldout(self, model: nn.Module, max_batches: int | None, batch_size: int) -> EvalResult | None:
        """Metrics on the data set's held-out part (``DatasetSplits.extras["heldout"]``), scored
        like validation; None when the task or the data has none."""
        return None

    # -- run folder ------------------------------------------------------------------------------
    def save_artifacts(self, run_dir: Path) -> None:
        """Write files prediction needs beyond ``state`` and the tokenizer (e.g. translation's
        target tokenizer). Called by the trainer after ``set_data``."""
        return None  # most tasks need nothing more

    def load_artifacts(self, run_dir: Path) -> None:
        """Restore what ``save_artifacts`` wrote: before ``set_data`` on resume (missing files are
        fine there) and before ``build_model`` when a run is reloaded for prediction."""
        return None

    def adopt_artifacts(self, other: Task) -> None:
        """Share what ``load_artifacts`` restored in ``other`` (the same run, already loaded), so a
        second task built to score new data needs no trip to the run folder."""
        return None

    def build_backbone(self) -> nn.Module:
        """The single-sequence backbone: factory ``(params, *, vocab_size, pad_id, max_len)``.

        Translation architectures (``core/models/seq2seq.py``) take ``(params, *, src_vocab_size,
        tgt_vocab_size, src_pad_id, tgt_pad_id, max_len)`` instead; the translation task builds
        its model itself.
        """
        section = self.config["model"]
        comp = MODELS.get(section["name"])
        return comp.factory(
            self.config.params("model"),
            vocab_size=self.tokenizer.vocab_size,
            pad_id=self.tokenizer.pad_id,
            max_len=self.max_len,
        )

    def build_sequence_backbone(self) -> Backbone:
        """:meth:`build_backbone` for a head that reads hidden states (classifier, language
        models): the registry offers those tasks only :class:`Backbone` architectures."""
        backbone = self.build_backbone()
        if not isinstance(backbone, Backbone):
            raise TypeError(f"{self.config.arch} builds a {type(backbone).__name__}, not a Backbone")
        return backbone
