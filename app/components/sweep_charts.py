"""A sweep's charts: Optuna's own figures (``optuna.visualization``), titled for the page.

The optimisation history and the per-trial curves (the objective reported at each evaluation,
Optuna's "intermediate values") come straight from the study; the curves only gain a cross
where the pruner stopped a trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

from app.components.charts import empty_figure
from core.metrics import metric_label


def _vis() -> Any:
    """``optuna.visualization``, imported on the first figure: it imports matplotlib (its other
    backend) with it, 1.5-2 s that the Define view, which draws no figure, need not wait for
    (app/warmup.py imports it in the background once the server is up)."""
    import optuna.visualization as vis

    return vis

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
# Optuna's legend words, in the page's (sentence case, as the metric cards and tables).
_TRACE_NAMES = {"Best Value": "best so far", "Infeasible Trial": "infeasible trial"}


def objective_name(metric: str) -> str:
    """The objective as every part of the Sweeps page names it: ``val Accuracy``, the metric's
    label from the catalogue."""
    return f"val {metric_label(metric)}"


def history_figure(study: optuna.Study, metric: str) -> go.Figure:
    """The objective of every complete trial and the best so far (Optuna's optimisation
    history; pruned trials show on the curves instead)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return empty_figure("No complete trials yet")
    target = objective_name(metric)
    fig = _vis().plot_optimization_history(study, target_name=target)
    fig.update_layout(title="Optimisation history", xaxis_title="Trial", yaxis_title=target, margin=_MARGIN)
    fig.for_each_trace(lambda t: t.update(name=_TRACE_NAMES.get(t.name, t.name)))
    # Trials are whole numbers: ticks at integers only (plotly would put one at 0.5).
    last = max(t.number for t in study.get_trials(deepcopy=False))
    fig.update_xaxes(tickmode="linear", tick0=0, dtick=max(1, math.ceil((last + 1) / 10)))
    return fig


def curves_figure(study: optuna.Study, metric: str) -> go.Figure:
    """Every trial's objective at each evaluation (Optuna's intermediate values), running
    trials included; a pruned trial's curve ends in a cross."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        return empty_figure(f"No {objective_name(metric)} yet")
    fig = _vis().plot_intermediate_values(study)
    fig.for_each_trace(lambda t: t.update(name=t.name.replace("Trial", "trial ")))
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    if pruned:
        ends = [max(t.intermediate_values) for t in pruned]
        fig.add_trace(go.Scatter(
            x=ends, y=[t.intermediate_values[s] for t, s in zip(pruned, ends, strict=True)],
            mode="markers", name="pruned here", text=[f"trial {t.number}" for t in pruned],
            marker={"symbol": "x", "size": 12, "color": "black"},
            hovertemplate="%{text} pruned at step %{x}<extra></extra>",
        ))
    fig.update_layout(title=f"Learning curves: {objective_name(metric)}", yaxis_title=objective_name(metric),
                      showlegend=True, margin=_MARGIN)
    return fig


def analysis_figures(study: optuna.Study, params: list[str],
                     metric: str = "") -> list[tuple[str, Callable[[], go.Figure]]]:
    """(title, make figure) for the Analyse view; a figure may raise when there are too few
    trials for it (the page says so instead)."""
    target = objective_name(metric) if metric else "Objective Value"
    plots: list[tuple[str, Callable[[], go.Figure]]] = [
        ("Parameter importances", lambda: _vis().plot_param_importances(study, target_name=target)),
        ("Parallel coordinates", lambda: _vis().plot_parallel_coordinate(study, target_name=target)),
        ("Slices", lambda: _vis().plot_slice(study, target_name=target)),
    ]
    if len(params) >= 2:
        plots.append(("Contour", lambda: _vis().plot_contour(study, params=params[:2], target_name=target)))
    return plots
