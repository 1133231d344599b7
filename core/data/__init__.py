"""Data: file loaders, built-in offline datasets and deterministic splits."""

from core.data.types import DatasetSplits, Split

__all__ = ["DatasetSplits", "Split"]
