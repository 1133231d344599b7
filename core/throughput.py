"""A run's training throughput, declared once: the tokens/s the CLI and the Run view show.

One definition, computed in one place (:meth:`core.train.Trainer.tokens_per_s`, from the
tokens counted here and a :class:`TrainClock`) and stored under :data:`KEY` in the run's
progress while it trains and in its summary when it ends, with the same value at the end.
The CLI's progress lines and closing line and the Run view print that stored value with
:data:`LABEL` and :func:`format_rate`; none of them computes a rate of its own.

(The metrics table's ``train/tokens_per_s`` series is something else: each logged window's
own rate, kept for the benchmarks in bench/, which want the steady speed without warm-up.)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

KEY = "tokens_per_s"  # in a run's progress and summary
LABEL = "Train tokens/s"
HELP = ("Tokens in the training batches (padding not counted; every process of the run) divided by the "
        "training time: the run's wall time since its first step, over every session of a resumed run, "
        "less the time spent evaluating (with the checkpoints and samples saved then). The mean over the "
        "whole run so far, not the latest steps; the CLI's closing line prints the same stored value.")


def tokens_per_s(tokens: int | float, seconds: float) -> float:
    """The figure itself: ``tokens`` trained on over ``seconds`` of training (0 before any)."""
    return float(tokens) / seconds if seconds > 0 else 0.0


def format_rate(value: object, missing: str = "–") -> str:
    """``12,345``: how the CLI and the Run view print the figure (``missing`` when absent)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return missing
    return f"{value:,.0f}"


class TrainClock:
    """Seconds of training: wall time from :meth:`start`, with the evaluations
    (:meth:`paused`) left out, plus ``before`` (earlier sessions of a resumed run)."""

    def __init__(self, before: float = 0.0) -> None:
        self.before = float(before)
        self._since: float | None = None
        self._paused_at: float | None = None
        self._paused = 0.0

    def start(self) -> None:
        self._since, self._paused_at, self._paused = time.perf_counter(), None, 0.0

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside does not count (nested pauses count once)."""
        if self._paused_at is not None or self._since is None:
            yield
            return
        self._paused_at = time.perf_counter()
        try:
            yield
        finally:
            self._paused += time.perf_counter() - self._paused_at
            self._paused_at = None

    def seconds(self) -> float:
        if self._since is None:
            return self.before
        now = self._paused_at if self._paused_at is not None else time.perf_counter()
        return self.before + (now - self._since) - self._paused
