"""The accuracy-speed frontier: which of a set of models no other one beats on both the task's
metric and examples per second (the Pareto frontier), and the points ``lmwb eval RUN --speed``
stored, read back as plain values.

Pure: no store, no torch. Compare's Frontier view and ``lmwb frontier`` read the same points and
ask :func:`on_frontier` which are on it; the metric's direction comes from its declaration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.metrics.catalog import CLASSIFICATION, direction

# The tasks whose runs `lmwb eval RUN --speed` times (core.variants.examples_per_s feeds the model
# token ids as a classifier reads them).
TIMED_TASKS = (CLASSIFICATION,)


def measure_command(run_id: str) -> str:
    """The command that measures a run and its variants (and stores the figures with the run)."""
    return f"lmwb eval {run_id} --speed"


def pareto_front(points: Sequence[tuple[float, float]], metric_direction: str = "max") -> list[bool]:
    """For each ``(metric, speed)`` point, whether it is on the Pareto frontier: no other point is
    at least as good on both and better on one. Speed is better higher; the metric as
    ``metric_direction`` says (``max`` or ``min``). Two identical points are both on it (neither
    beats the other); a point with a NaN is never on it and beats none.

    One sort and one sweep from the fastest down: a point is on the frontier when its metric beats
    every strictly faster point's and is the best among those exactly as fast."""
    if metric_direction not in ("max", "min"):
        raise ValueError(f"metric direction must be max or min, not {metric_direction!r}")
    sign = 1.0 if metric_direction == "max" else -1.0
    valid = [i for i, (m, s) in enumerate(points) if not (math.isnan(m) or math.isnan(s))]
    order = sorted(valid, key=lambda i: -points[i][1])
    front = [False] * len(points)
    best_faster = -math.inf  # the best (signed) metric among the points faster than this group
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and points[order[end]][1] == points[order[start]][1]:
            end += 1
        group = order[start:end]  # equally fast
        top = max(sign * points[i][0] for i in group)
        for i in group:
            front[i] = sign * points[i][0] == top and top > best_faster
        best_faster = max(best_faster, top)
        start = end
    return front


@dataclass(frozen=True)
class SpeedPoint:
    """One model at one place on the chart: a run's own weights (``fp32``) or one of its variants,
    as ``lmwb eval RUN --speed`` measured it (the run summary's ``speed``)."""

    run_id: str
    run: str  # how the page or the terminal names the run
    variant: str
    metric: str
    value: float | None
    per_s: Mapping[int, float]  # batch size -> examples per second
    bytes: int
    params: int
    processor: str
    threads: int
    load: float | None  # the 1-minute load average when measured
    data: str  # what the metric was scored on
    measured_at: float | None = None
    teacher_id: str | None = None  # the run it was distilled from

    def speed(self, batch: int) -> float:
        return float(self.per_s.get(batch, math.nan))

    @property
    def machine(self) -> str:
        """The processor and threads it was timed with: ``Intel Xeon ..., 2 threads``."""
        return f"{self.processor}, {self.threads} thread{'s' if self.threads != 1 else ''}"

    @property
    def where(self) -> str:
        """The machine and its load then: ``Intel Xeon ... (2 threads, load 1.20)``."""
        load = f", load {self.load:.2f}" if self.load is not None else ""
        return f"{self.processor} ({self.threads} thread{'s' if self.threads != 1 else ''}{load})"


def speed_points(run_id: str, run: str, speed: Mapping[str, Any] | None,
                 teacher_id: str | None = None) -> list[SpeedPoint]:
    """The points of one run's stored speed table (none when it was never measured)."""
    if not speed:
        return []
    points = []
    for row in speed.get("rows") or []:
        per_s = {int(key.removeprefix("examples_per_s_b")): float(value) for key, value in row.items()
                 if key.startswith("examples_per_s_b") and isinstance(value, int | float)}
        value = row.get("value")
        points.append(SpeedPoint(
            run_id=run_id, run=run, variant=str(row.get("variant")), metric=str(row.get("metric")),
            value=float(value) if isinstance(value, int | float) else None, per_s=per_s,
            bytes=int(row.get("bytes") or 0), params=int(row.get("params") or 0),
            processor=str(speed.get("processor") or "an unknown processor"),
            threads=int(speed.get("threads") or 0), load=speed.get("load_1min"),
            data=str(speed.get("data") or ""), measured_at=speed.get("measured_at"),
            teacher_id=teacher_id or None))
    return points


def unmeasured_variants(speed: Mapping[str, Any] | None, variants: Sequence[str]) -> list[str]:
    """Of the variants a run has, those its stored speed table lacks (made after it was measured)."""
    timed = {str(row.get("variant")) for row in (speed or {}).get("rows") or []}
    return [v for v in variants if v not in timed]


def missing_speed(speed: Mapping[str, Any] | None, variants: Sequence[str]) -> str | None:
    """Why a run's points are missing or incomplete (``variants``: those it has now), or None."""
    if not speed or not speed.get("rows"):
        return "never measured"
    if late := unmeasured_variants(speed, variants):
        return f"its {', '.join(late)} variant{'s' if len(late) > 1 else ''} made after its last measurement"
    return None


# Loads (1-minute averages) further apart than this: on a machine of a few cores one more busy
# process takes a share of the cores, so the busier measurement's speeds are lower for that alone.
LOAD_SPREAD = 1.0


def load_spread(points: Sequence[SpeedPoint]) -> tuple[float, float] | None:
    """The lowest and highest load the points were timed at, when they differ by more than
    :data:`LOAD_SPREAD` (their speeds are then not comparable), else None."""
    loads = [p.load for p in points if p.load is not None]
    if not loads or max(loads) - min(loads) <= LOAD_SPREAD:
        return None
    return min(loads), max(loads)


def on_frontier(points: Sequence[SpeedPoint], batch: int) -> list[bool]:
    """For each point, whether it is on the frontier at ``batch`` among the points scored on the
    same metric (in that metric's declared direction); a point without a value or a figure at
    ``batch`` is never on it."""
    flags = [False] * len(points)
    for metric in dict.fromkeys(p.metric for p in points):
        mine = [(i, p.value, p.speed(batch)) for i, p in enumerate(points)
                if p.metric == metric and p.value is not None]
        front = pareto_front([(value, speed) for _, value, speed in mine], direction(metric))
        for (i, _, _), flag in zip(mine, front, strict=True):
            flags[i] = flag
    return flags
