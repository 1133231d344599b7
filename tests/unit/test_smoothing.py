"""The curves' smoothing (TensorBoard's debiased exponential moving average) and how the curve
figure draws it: smoothed line in front, the raw values faint behind, one legend group per run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.components.charts import RAW_OPACITY, RAW_SUFFIX, metric_curves_figure, smooth


def reference(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased EMA in closed form: point i is the average of the points so far, point j weighted
    ``weight**(i - j)`` (what dividing the zero-started EMA by ``1 - weight**(i + 1)`` amounts to)."""
    out = []
    for i in range(len(values)):
        w = weight ** np.arange(i, -1, -1)
        out.append(float(np.sum(w * values[: i + 1]) / np.sum(w)))
    return np.array(out)


def test_smoothing_by_hand() -> None:
    # weight 0.5: 1 -> 1; (0.25 + 1) / 0.75; (0.625 + 1.5) / 0.875
    assert smooth([1.0, 2.0, 3.0], 0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    assert list(smooth([1.0, 2.0, 3.0], 0.0)) == [1.0, 2.0, 3.0]  # 0: off


@pytest.mark.parametrize("weight", [0.1, 0.6, 0.9, 0.99])
def test_smoothing_matches_the_closed_form(weight: float) -> None:
    values = np.random.default_rng(0).normal(2.0, 1.0, 300)
    smoothed = smooth(values, weight)
    assert smoothed == pytest.approx(reference(values, weight), rel=1e-9)
    assert smoothed[0] == values[0]  # debiased: starts at the first value, not near zero
    assert np.std(np.diff(smoothed)) < np.std(np.diff(values))  # and it does smooth


def test_smoothing_passes_non_finite_values_and_keeps_a_constant_series() -> None:
    values = np.array([1.0, np.nan, 3.0, np.inf, 5.0])
    finite = np.array([1.0, 3.0, 5.0])
    out = smooth(values, 0.6)
    assert np.isnan(out[1]) and np.isinf(out[3])
    # a non-finite value neither enters the average nor breaks it
    assert out[[0, 2, 4]] == pytest.approx(reference(finite, 0.6))
    assert list(smooth([0.1] * 50, 0.9)) == [0.1] * 50  # no rounding wobble on a flat line


def _curves() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [{"run": run, "step": s, "split": "train", "name": "loss", "value": 1 / s + rng.random(),
             "wall_time": s / 10} for run in ("a", "b") for s in range(1, 61)]
    rows += [{"run": "a", "step": s, "split": "val", "name": "loss", "value": 2 / s, "wall_time": s / 10}
             for s in (20, 40, 60)]
    return pd.DataFrame(rows)


def test_curve_figure_draws_the_smoothed_line_over_a_faint_raw_one() -> None:
    df = _curves()
    fig = metric_curves_figure(df, "loss", smoothing=0.8)
    raw = [t for t in fig.data if t.name.endswith(RAW_SUFFIX)]
    lines = [t for t in fig.data if not t.name.endswith(RAW_SUFFIX)]
    assert [t.name for t in lines] == ["a · train", "b · train", "a · val"]
    assert [t.name for t in raw] == [t.name + RAW_SUFFIX for t in lines]
    a_train = df[(df["run"] == "a") & (df["split"] == "train")]["value"].to_numpy()
    assert np.asarray(lines[0].y) == pytest.approx(reference(a_train, 0.8))
    assert np.asarray(raw[0].y) == pytest.approx(a_train)
    assert all(t.opacity == RAW_OPACITY and t.showlegend is False and t.hoverinfo == "skip" for t in raw)
    # Raw first, so the smoothed line is drawn on top of it.
    assert fig.data.index(raw[0]) < fig.data.index(lines[0])
    # One legend group per run, toggled as a whole: one click hides a run's every line.
    assert {t.legendgroup for t in fig.data if t.name.startswith("a ")} == {"a"}
    assert fig.layout.legend.groupclick == "togglegroup"


def test_curve_figure_draws_hidden_runs_hidden() -> None:
    """What a page passes as ``hidden`` (the runs a legend click hid): every line of those runs,
    the faint raw ones too, greyed in the legend (a click there shows them again)."""
    df = _curves()
    for smoothing in (0.0, 0.7):
        fig = metric_curves_figure(df, "loss", smoothing=smoothing, hidden={"a"})
        assert {t.legendgroup for t in fig.data if t.visible == "legendonly"} == {"a"}
        assert all(t.visible is True for t in fig.data if t.legendgroup == "b")
        assert len([t for t in fig.data if t.legendgroup == "a"]) == (4 if smoothing else 2)
    # Off: the lines alone (what a notebook gets).
    assert [t.name for t in metric_curves_figure(df, "loss").data] == ["a · train", "b · train", "a · val"]


def test_curve_figure_log_scale() -> None:
    assert metric_curves_figure(_curves(), "loss", log_y=True).layout.yaxis.type == "log"
    assert metric_curves_figure(_curves(), "loss").layout.yaxis.type in (None, "linear", "-")
