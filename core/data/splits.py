"""Deterministic train / validation / test splits.

Classification splits shuffle with a seeded numpy Generator (stratified by label when labels
are given); language-model splits are contiguous so no text of the validation part leaks into
training through overlapping context windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0.0 <= val_fraction < 1.0 and 0.0 <= test_fraction < 1.0):
        raise ValueError(f"fractions must be in [0, 1): val={val_fraction}, test={test_fraction}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves nothing to train on"
        )


def _part_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Sizes of the validation and test parts of ``n`` items.

    A part asked for (fraction > 0) gets at least one item as long as training keeps one.
    """
    n_val = round(n * val_fraction)
    n_test = round(n * test_fraction)
    if val_fraction > 0 and n_val == 0 and n >= 2:
        n_val = 1
    if test_fraction > 0 and n_test == 0 and n - n_val >= 2:
        n_test = 1
    # Never take the last training item: shrink test first, then validation.
    while n_val + n_test > max(n - 1, 0) and (n_test > 0 or n_val > 0):
        if n_test > 0:
            n_test -= 1
        else:
            n_val -= 1
    return n_val, n_test


def split_indices(
    n: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    labels: Sequence[Any] | None = None,
) -> tuple[list[int], list[int], list[int]]:
    """Split ``range(n)`` into (train, validation, test) index lists, each sorted ascending.

    The same ``seed`` always gives the same split. With ``labels``, each class is split on its
    own, so every class with at least two examples appears in validation (when
    ``val_fraction > 0``) and the class balance of each part follows the whole.
    """
    _check_fractions(val_fraction, test_fraction)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} items")
    rng = np.random.default_rng(seed)
    if labels is None:
        groups = [np.arange(n)]
    else:
        arr = np.asarray(labels)
        # Sorted class order keeps the result independent of the order classes first appear.
        groups = [np.flatnonzero(arr == c) for c in np.unique(arr)]
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for group in groups:
        order = rng.permutation(group)
        n_val, n_test = _part_sizes(len(order), val_fraction, test_fraction)
        val.extend(order[:n_val].tolist())
        test.extend(order[n_val : n_val + n_test].tolist())
        train.extend(order[n_val + n_test :].tolist())
    return sorted(train), sorted(val), sorted(test)


def split_text(text: str, val_fraction: float, test_fraction: float) -> tuple[str, str, str]:
    """Contiguous split of a corpus: first part trains, then validation, then test.

    Matches the usual convention (``data[:int(n * 0.9)]`` trains) so figures quoted for
    tinyshakespeare are comparable. No shuffling: shuffled chunks of one text leak into each
    other through the context window.
    """
    _check_fractions(val_fraction, test_fraction)
    n = len(text)
    n_train = int(n * (1.0 - val_fraction - test_fraction))
    n_test = n - int(n * (1.0 - test_fraction)) if test_fraction > 0 else 0
    val_end = n - n_test
    return text[:n_train], text[n_train:val_end], text[val_end:]
