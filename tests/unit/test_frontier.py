"""The Pareto frontier of (metric, examples/s) points against a brute-force reference: random
points with many ties, both metric directions; and the stored speed table read back as points."""

from __future__ import annotations

import math
import random

import pytest

from core.metrics.catalog import METRICS
from core.metrics.frontier import (
    SpeedPoint,
    load_spread,
    missing_speed,
    on_frontier,
    pareto_front,
    speed_points,
    unmeasured_variants,
)


def brute_force(points: list[tuple[float, float]], direction: str) -> list[bool]:
    """Every pair: p is off the frontier when some q is at least as good on both and better on one."""
    def better_or_equal(a: float, b: float) -> bool:
        return a >= b if direction == "max" else a <= b

    front = []
    for i, (m, s) in enumerate(points):
        if math.isnan(m) or math.isnan(s):
            front.append(False)
            continue
        beaten = any(
            better_or_equal(qm, m) and qs >= s and (qm != m or qs != s)
            for j, (qm, qs) in enumerate(points) if j != i and not (math.isnan(qm) or math.isnan(qs)))
        front.append(not beaten)
    return front


@pytest.mark.parametrize("direction", ["max", "min"])
def test_the_frontier_equals_the_brute_force_one_on_random_points(direction: str) -> None:
    rng = random.Random(27)
    for trial in range(400):
        n = rng.randint(0, 12)
        # Few distinct values: ties on speed, on the metric and whole duplicate points are common.
        levels = rng.choice([3, 5, 50])
        points = [(rng.randint(0, levels) / levels, float(rng.randint(1, levels))) for _ in range(n)]
        if trial % 7 == 0 and points:
            points[rng.randrange(n)] = (math.nan, 1.0)
        assert pareto_front(points, direction) == brute_force(points, direction), (points, direction)


def test_ties_and_directions_by_hand() -> None:
    # (accuracy, examples/s): b is faster and as accurate as a; c and d are the same point.
    points = [(0.8, 10.0), (0.8, 20.0), (0.9, 5.0), (0.9, 5.0), (0.7, 20.0)]
    assert pareto_front(points, "max") == [False, True, True, True, False]
    # A loss: lower is better, so the 0.7 at 20/s now beats 0.8 at 20/s and both 0.8s.
    assert pareto_front(points, "min") == [False, False, False, False, True]
    assert pareto_front([], "max") == []
    with pytest.raises(ValueError, match="max or min"):
        pareto_front(points, "up")


def _speed(rows: list[tuple[str, str, float | None, float, float]]) -> dict:
    return {"processor": "Test CPU", "threads": 2, "load_1min": 0.5, "data": "validation split",
            "measured_at": 1.0,
            "rows": [{"variant": v, "metric": m, "value": x, "examples_per_s_b1": b1, "examples_per_s_b32": b32,
                      "bytes": 1000, "params": 50} for v, m, x, b1, b32 in rows]}


def test_points_from_stored_tables_use_each_metrics_declared_direction() -> None:
    assert METRICS["loss"].direction == "min" and METRICS["accuracy"].direction == "max"
    a = _speed([("fp32", "accuracy", 0.9, 100, 1000), ("int8", "accuracy", 0.8, 300, 900)])
    b = _speed([("fp32", "loss", 0.5, 100, 1000), ("int8", "loss", 0.6, 300, 900)])
    points = (speed_points("a", "run-a", a) + speed_points("b", "run-b", b, teacher_id="a")
              + speed_points("c", "run-c", _speed([("fp32", "accuracy", None, 1000, 9000)])))
    assert [(p.run, p.variant) for p in points] == [("run-a", "fp32"), ("run-a", "int8"), ("run-b", "fp32"),
                                                    ("run-b", "int8"), ("run-c", "fp32")]
    assert points[1].speed(1) == 300 and points[1].speed(32) == 900 and math.isnan(points[1].speed(8))
    assert points[2].teacher_id == "a" and points[0].where == "Test CPU (2 threads, load 0.50)"
    assert points[0].machine == "Test CPU, 2 threads"
    assert isinstance(points[0], SpeedPoint)
    # Accuracy and loss are separate frontiers; c has no score, so it is on none however fast.
    assert on_frontier(points, 1) == [True, True, True, True, False]
    # At batch 32 the fp32 models are faster as well as better: the int8 ones drop off.
    assert on_frontier(points, 32) == [True, False, True, False, False]
    assert speed_points("d", "run-d", None) == []


def test_variants_made_after_the_measurement_are_named() -> None:
    speed = _speed([("fp32", "accuracy", 0.9, 100, 1000)])
    assert unmeasured_variants(speed, ["int8"]) == ["int8"]
    assert unmeasured_variants(_speed([("fp32", "accuracy", 0.9, 1, 1), ("int8", "accuracy", 0.9, 1, 1)]),
                               ["int8"]) == []
    assert unmeasured_variants(None, []) == []
    assert missing_speed(None, []) == "never measured" and missing_speed(speed, []) is None
    assert missing_speed(speed, ["int8"]) == "its int8 variant made after its last measurement"


def test_loads_more_than_one_apart_are_a_spread_and_unknown_loads_are_left_out() -> None:
    def at(load: float | None) -> list[SpeedPoint]:
        return speed_points("r", "run", {**_speed([("fp32", "accuracy", 0.9, 1, 1)]), "load_1min": load})

    assert load_spread(at(0.5) + at(1.5)) is None  # 1.0 apart: still comparable
    assert load_spread(at(0.5) + at(1.6) + at(None)) == (0.5, 1.6)
    assert load_spread(at(None) + at(None)) is None and load_spread([]) is None
