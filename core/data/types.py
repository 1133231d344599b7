"""The shape every dataset component returns, whatever the file format or task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A sentence pair (premise, hypothesis) travels as one text: "a [SEP] b". Visible on purpose, so
# a pair can be typed in the Playground and read in every table; the classification task splits
# it again (core/tasks/pairs.py).
PAIR_MARK = " [SEP] "


@dataclass
class Split:
    """One split of a dataset.

    classification: ``texts[i]`` has class index ``labels[i]``.
    language_model: ``texts`` are documents (often one long string); the task concatenates them.
    translation:    ``texts[i]`` (source) translates to ``targets[i]``.
    """

    texts: list[str]
    labels: list[int] | None = None
    targets: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class DatasetSplits:
    task: str
    train: Split
    validation: Split
    test: Split | None = None
    label_names: list[str] | None = None  # classification: index -> name
    description: str = ""  # where it came from, shown in the UI and run summary
    notes: list[str] = field(default_factory=list)  # e.g. "dropped 12 empty rows"
    # Facts a task can check against, e.g. planted word relations for word embeddings.
    extras: dict[str, Any] = field(default_factory=dict)

    def num_classes(self) -> int:
        return len(self.label_names or [])
