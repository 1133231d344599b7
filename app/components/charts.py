"""Plotly figures the pages draw. Pure functions: data in, ``go.Figure`` out (no Streamlit).

Keeping them free of Streamlit means a page test and a unit test can both build every chart,
and the same figure works in a notebook.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.metrics import HELDOUT, METRICS, metric_label
from core.metrics.catalog import GRAD_NORM

# One palette everywhere, so a run keeps its colour from the curves to the ROC plot.
PALETTE: tuple[str, ...] = tuple(qualitative.Plotly) + tuple(qualitative.D3)
# The colours a run is first given (color_map): plotly's ten, which tell apart at a glance; D3's
# (near twins of them) only once they are taken.
FIRST_COLOURS = len(qualitative.Plotly)
# Room above a chart's plot for its title under plotly's toolbar (the modebar, ~30 px at the top
# right, shown on hover), so the two never overlap.
TITLE_TOP = 66
# Train solid, validation dashed (the convention of most training dashboards); a held-out set
# (core.metrics.HELDOUT) dash-dotted.
SPLIT_DASH: dict[str, str] = {"train": "solid", "val": "dash", "test": "dot", HELDOUT: "dashdot"}
X_TITLES: dict[str, str] = {"step": "Step", "epoch": "Epoch", "wall_time": "Wall time (s)"}
_X_FORMATS: dict[str, str] = {"step": ",", "epoch": ".2f", "wall_time": ".1f"}
_MARKERS_UP_TO = 40  # sparse series (evaluations) get markers so single points stay visible
SMOOTHING_MAX = 0.99  # TensorBoard's slider stops short of 1 (which would freeze the first value)
RAW_OPACITY = 0.25  # the unsmoothed curve, faint behind the smoothed one (as TensorBoard draws it)
RAW_SUFFIX = " (raw)"
LR_LABEL = "Learning rate"  # the "lr" series the trainer logs, as the optimizer's form names it
# Curves that span decades and fall towards zero: the declared lower-is-better metrics (loss,
# perplexity, bits), and the gradient norm. Scores bounded 0-1 (accuracy, F1) and the learning
# rate (its warm-up starts at 0) keep a linear axis when the log scale is on.
LOG_SCALE_CURVES: tuple[str, ...] = (*(n for n, m in METRICS.items() if m.direction == "min"), GRAD_NORM)
LOG_SCALE_HELP = ("A logarithmic y axis on the charts of " + ", ".join(metric_label(n).lower() for n in LOG_SCALE_CURVES
                                                                       if n in METRICS)
                  + " and the gradient norm; scores such as accuracy (0 to 1) and the learning rate stay linear.")


def log_scale_fits(metric: str) -> bool:
    """Whether the log-scale toggle applies to ``metric``'s chart (:data:`LOG_SCALE_CURVES`)."""
    return metric in LOG_SCALE_CURVES


def curve_label(name: str) -> str:
    """How a logged series is named on its chart: the metric catalogue's label, "Learning rate"
    for the trainer's ``lr``."""
    return LR_LABEL if name == "lr" else metric_label(name)


def smooth(values: Sequence[float], weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average with weight ``weight`` (0: none),
    debiased so the curve starts at the first value instead of rising from zero.

    ``s_i = a_i / (1 - weight**k)`` with ``a_i = weight * a_{i-1} + (1 - weight) * y_i`` over the
    ``k`` finite values so far; a non-finite value passes through and does not enter the average,
    and a constant series stays exactly constant (no rounding wobble), as in TensorBoard.
    """
    y = np.asarray(values, dtype=float)
    if weight <= 0 or y.size == 0 or np.all(y == y[0]):
        return y.copy()
    weight = min(float(weight), SMOOTHING_MAX)
    out = np.empty_like(y)
    last, count = 0.0, 0
    for i, value in enumerate(y):
        if not np.isfinite(value):
            out[i] = value
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        out[i] = last / (1 - weight**count)
    return out


def color_map(labels: Sequence[str]) -> dict[str, str]:
    """A colour per run label that does not depend on which page draws it or in what order:
    each label's own colour comes from a stable hash of it (the Run page's race and Compare give
    the same run the same colour); two labels of the list with the same colour are told apart by
    moving the later one, in sorted order, to the next free colour."""
    taken: dict[int, str] = {}
    out: dict[str, str] = {}
    for label in sorted(dict.fromkeys(labels), key=lambda text: (_colour_slot(text), text)):
        slot = _colour_slot(label)
        while slot in taken and len(taken) < len(PALETTE):
            slot = (slot + 1) % len(PALETTE)
        taken[slot] = label
        out[label] = PALETTE[slot]
    return {label: out[label] for label in dict.fromkeys(labels)}


def _colour_slot(label: str) -> int:
    # crc32, not hash(): Python salts str hashes per process, and a colour must survive a restart.
    return zlib.crc32(label.encode("utf-8")) % FIRST_COLOURS


def empty_figure(message: str = "No data yet") -> go.Figure:
    """A blank figure with a centred note, so pages never show an empty frame."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14}, x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def metric_curves_figure(
    df: pd.DataFrame,
    metric: str,
    x: str = "step",
    color: str = "run",
    colors: Mapping[str, str] | None = None,
    title: str | None = None,
    smoothing: float = 0.0,
    log_y: bool = False,
    hidden: Collection[str] = (),
) -> go.Figure:
    """One metric over training: a line per (run, split); train solid, val dashed.

    ``df`` has columns ``color`` (the run label), step, split, name, value, wall_time, and
    optionally ``epoch``; ``x`` picks the x-axis column. Rows of other metrics are ignored.

    ``smoothing`` (0: off, up to :data:`SMOOTHING_MAX`; see :func:`smooth`): each line smoothed,
    its raw values drawn faintly behind it. ``log_y``: a logarithmic y axis where the metric is
    one of :data:`LOG_SCALE_CURVES` (a linear one otherwise), its ticks labelled as plain numbers
    (0.2, 0.5, 1, 2) rather than plotly's bare digits between powers of ten. Each run's lines
    form one legend group, so a click on its legend entry hides them all; ``hidden``: the runs
    drawn hidden that way (greyed in the legend; a click shows them again), which is how a page
    keeps them hidden when it draws the chart again (app/components/curve_legend.py).
    """
    if df.empty:
        return empty_figure(f"No {curve_label(metric)} values yet")
    if x not in df.columns:
        return empty_figure(f"No {X_TITLES.get(x, x).lower()} known for these runs")
    data = df[df["name"] == metric].dropna(subset=["value", x])
    if data.empty:
        return empty_figure(f"No {curve_label(metric)} values yet")
    labels = [str(v) for v in data[color].drop_duplicates()]
    palette = dict(colors) if colors else color_map(labels)
    label_y = curve_label(metric)  # "Loss", "BLEU": as the catalogue names it
    hidden = set(hidden)
    fig = go.Figure()
    for (label, split), part in data.groupby([color, "split"], sort=False):
        label = str(label)
        part = part.sort_values(x)  # wall_time can interleave with steps across resumes
        name = f"{label} · {split}"
        line = {"color": palette.get(label, PALETTE[0]), "dash": SPLIT_DASH.get(split, "dashdot")}
        visible = "legendonly" if label in hidden else True
        values = part["value"].to_numpy(dtype=float)
        if smoothing > 0:
            # Behind the smoothed line (drawn first), no legend entry, no hover; in the run's
            # legend group, so it hides with the run.
            fig.add_trace(go.Scatter(
                x=part[x], y=values, mode="lines", name=name + RAW_SUFFIX, legendgroup=label, showlegend=False,
                opacity=RAW_OPACITY, line=line, hoverinfo="skip", visible=visible,
            ))
            values = smooth(values, smoothing)
        fig.add_trace(go.Scatter(
            x=part[x], y=values,
            mode="lines+markers" if len(part) <= _MARKERS_UP_TO else "lines",
            name=name, legendgroup=label, line=line, marker={"size": 5}, visible=visible,
            # fullData.name prints the trace name as data, so a run called "50%{x}" is safe.
            hovertemplate=(
                f"<b>%{{fullData.name}}</b><br>{X_TITLES.get(x, x)}: %{{x:{_X_FORMATS.get(x, '.4~g')}}}"
                f"<br>{_escape(label_y)}{' (smoothed)' if smoothing else ''}: %{{y:.4~g}}<extra></extra>"
            ),
        ))
    fig.update_layout(
        title=title_under_toolbar(title or label_y), xaxis_title=X_TITLES.get(x, x), yaxis_title=label_y,
        hovermode="closest", legend={"groupclick": "togglegroup"},
        margin={"l": 10, "r": 10, "t": TITLE_TOP, "b": 10},
    )
    high = METRICS[metric].high if metric in METRICS else None
    if high is not None and not data.empty:
        # A score bounded by its declaration keeps to it: plotly pads a constant 1.0 to 0-2.
        fig.update_yaxes(range=bounded_range(data["value"].to_numpy(dtype=float), high))
        fig.update_traces(cliponaxis=False)  # a point on the top line (accuracy 1.0) drawn whole
    if log_y and log_scale_fits(metric):
        # Without a tickformat plotly labels the ticks between powers of ten with their first
        # digit only ("8 7 6 5 4 3 2 0.1 9 8"); with one, every tick reads as the number it is.
        fig.update_yaxes(type="log", tickformat="~g", nticks=6)  # 0.05 0.1 0.2 0.5 1 2 over 2 decades
    return fig


def bounded_range(values: np.ndarray, high: float) -> list[float] | None:
    """A y range around ``values`` that stays within [0, ``high``] (a declared score's bounds):
    a 5% margin on each side, as plotly's own, cut at the bounds; None without a finite value."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, top = float(finite.min()), float(finite.max())
    pad = 0.05 * (top - low) if top > low else 0.05 * high
    return [max(0.0, low - pad), min(high, top + pad)]


def title_under_toolbar(text: str) -> dict[str, Any]:
    """A chart title set just above the plot, left, below the band where plotly's toolbar
    shows on hover (with a top margin of :data:`TITLE_TOP`)."""
    return {"text": text, "x": 0, "xref": "paper", "xanchor": "left", "y": 1, "yref": "paper",
            "yanchor": "bottom", "pad": {"b": 10}}


def confusion_matrices_figure(matrices: Mapping[str, Mapping[str, Any]], columns: int = 3) -> go.Figure:
    """Confusion matrices ``{title: {"matrix": [[...]], "labels": [...]}}`` side by side in one
    figure (one chart draws faster than several). Rows = true class, columns = predicted;
    colour = share of the row, which keeps a rare class's mistakes visible."""
    if not matrices:
        return empty_figure("No confusion matrix")
    titles = list(matrices)
    cols = min(columns, len(titles))
    rows = -(-len(titles) // cols)
    # A title stays within its third of the width: small type, long names cut.
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_fit(t, 90 // cols) for t in titles],
                        horizontal_spacing=0.1, vertical_spacing=0.16 if rows > 1 else 0.12)
    fig.update_annotations(font={"size": 12})
    for i, title in enumerate(titles):
        labels = [str(name) for name in matrices[title]["labels"]]
        counts = pd.DataFrame(matrices[title]["matrix"], index=labels, columns=labels).fillna(0)
        share = counts.div(counts.sum(axis=1).replace(0, 1), axis=0)
        text = [[f"{int(c)}<br>{v:.0%}" for c, v in zip(row_c, row_s, strict=True)]
                for row_c, row_s in zip(counts.to_numpy(), share.to_numpy(), strict=True)]
        row, col = divmod(i, cols)
        fig.add_trace(go.Heatmap(
            z=share.to_numpy(), x=labels, y=labels, text=text, texttemplate="%{text}",
            colorscale="Blues", zmin=0, zmax=1, showscale=False, name=title,
            hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        ), row=row + 1, col=col + 1)
        fig.update_xaxes(type="category", title_text="Predicted", row=row + 1, col=col + 1)
        fig.update_yaxes(type="category", autorange="reversed", row=row + 1, col=col + 1,
                         title_text="True" if col == 0 else None)
    fig.update_layout(height=120 + 300 * rows, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def roc_figure(
    curves: Mapping[str, Mapping[str, Mapping[str, Any]]], colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """ROC curves of several runs overlaid: ``{run: {class: {"fpr", "tpr", "auc"}}}``.

    A run keeps its colour (``colors``, as on the curves chart); its classes differ by dash.
    """
    fig = go.Figure()
    dashes = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    for r, (run, by_class) in enumerate(curves.items()):
        color = (colors or {}).get(run, PALETTE[r % len(PALETTE)])
        for c, (name, curve) in enumerate((by_class or {}).items()):
            auc = curve.get("auc")
            label = f"{run} · {name}" if len(curves) > 1 else str(name)
            label += f" (AUC {auc:.3f})" if isinstance(auc, int | float) else ""
            fig.add_trace(go.Scatter(
                x=curve.get("fpr", []), y=curve.get("tpr", []), mode="lines", name=label,
                line={"color": color if len(curves) > 1 else PALETTE[c % len(PALETTE)],
                      "dash": dashes[c % len(dashes)] if len(curves) > 1 else "solid"},
                hovertemplate="%{fullData.name}<br>FPR %{x:.3f}, TPR %{y:.3f}<extra></extra>",
            ))
    if not fig.data:
        return empty_figure("No ROC curve (a single class in validation?)")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                             line={"color": "gray", "dash": "dot"}, hoverinfo="skip"))
    fig.update_layout(title="ROC curves", xaxis_title="False positive rate", yaxis_title="True positive rate",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def parallel_coordinates_figure(df_params: pd.DataFrame, metric: str) -> go.Figure:
    """One axis per hyperparameter column plus ``metric`` (last, and the line colour).

    Text and boolean columns become categorical axes (ticks show the values), since
    ``go.Parcoords`` only plots numbers.
    """
    if df_params.empty or metric not in df_params.columns:
        return empty_figure(f"No runs with {metric} to compare")
    columns = [c for c in df_params.columns if c != metric] + [metric]
    names = short_keys([str(c) for c in columns])
    dimensions = [_parcoords_dimension(df_params[c], names[str(c)]) for c in columns]
    values = pd.to_numeric(df_params[metric], errors="coerce")
    line: dict[str, Any] = {"color": values.fillna(values.min() if values.notna().any() else 0),
                            "colorscale": "Viridis", "showscale": True,
                            "colorbar": {"title": {"text": metric}}}
    # Many axes leave ~100 px each: their names are slanted so neighbours do not overlap.
    slanted = len(dimensions) >= 6
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions, labelangle=-30 if slanted else 0,
                                 labelfont={"size": 11}))
    # The first axis's tick labels stand left of it (~7 px a character: "transformer_encoder"
    # needs ~130 px), and the axis names sit above the plot, under the title.
    first = dimensions[0].get("ticktext") or []
    left = max(60, 20 + 7 * max((len(str(t)) for t in first), default=0))
    top = 100 + (6 * max(len(d["label"]) for d in dimensions) // 2 if slanted else 0)
    fig.update_layout(title=f"Hyperparameters vs {metric}", margin={"l": left, "r": 80, "t": top, "b": 20},
                      height=420 + top - 100)
    return fig


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """``model.hidden_size`` -> ``hidden_size`` where no other key ends the same way (the
    section is noise on a crowded axis), else the key as is."""
    tails = [k.split(".", 1)[-1] for k in keys]
    return {k: t if tails.count(t) == 1 else k for k, t in zip(keys, tails, strict=True)}


def label_balance_figure(counts: Mapping[str, int], title: str = "Label balance") -> go.Figure:
    """Examples per class as bars, with each bar's share in its label."""
    if not counts:
        return empty_figure("No labels")
    total = sum(counts.values()) or 1
    names = [str(k) for k in counts]
    fig = go.Figure(go.Bar(
        x=names, y=list(counts.values()),
        text=[f"{v:,} ({v / total:.0%})" for v in counts.values()], textposition="auto",
        marker={"color": [PALETTE[i % len(PALETTE)] for i in range(len(names))]},
        hovertemplate="%{x}: %{y:,} examples<extra></extra>",
    ))
    fig.update_layout(title=title, xaxis_title="Label", yaxis_title="Examples",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(type="category")
    return fig


def length_histogram_figure(
    lengths: Sequence[int], unit: str = "tokens", title: str | None = None
) -> go.Figure:
    """How long examples are, so a max_length can be picked that truncates few of them."""
    if len(lengths) == 0:
        return empty_figure("No examples")
    fig = go.Figure(go.Histogram(x=list(lengths), marker={"color": PALETTE[0]},
                                 hovertemplate=f"%{{x}} {unit}: %{{y}} examples<extra></extra>"))
    series = pd.Series(lengths)
    for q, dash in ((0.5, "dot"), (0.95, "dash")):
        value = float(series.quantile(q))
        fig.add_vline(x=value, line={"color": "gray", "dash": dash},
                      annotation_text=f"p{int(q * 100)} = {value:.0f}")
    fig.update_layout(title=title or f"Length ({unit} per example)", xaxis_title=unit.capitalize(),
                      yaxis_title="Examples", bargap=0.05, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def probabilities_bar_figure(probs: Mapping[str, float], title: str = "Class probabilities",
                             by_class: bool = False) -> go.Figure:
    """Horizontal bars, the winner highlighted: most probable class on top, or (``by_class``, for
    charts side by side) the classes in their own order so the same row is the same class."""
    if not probs:
        return empty_figure("No prediction")
    # plotly draws bottom-up
    ordered = list(probs.items())[::-1] if by_class else sorted(probs.items(), key=lambda kv: kv[1])
    best = max(probs, key=probs.get)
    fig = go.Figure(go.Bar(
        x=[p for _, p in ordered], y=[_escape(str(k)) for k, _ in ordered], orientation="h",
        text=[f"{p:.1%}" for _, p in ordered], textposition="auto",
        marker={"color": [PALETTE[0] if k == best else "lightgray" for k, _ in ordered]},
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    fig.update_layout(title=title, xaxis_title="Probability",
                      height=max(200, 60 + 36 * len(ordered)),
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    fig.update_xaxes(range=[0, 1.001], tickvals=[0, 0.25, 0.5, 0.75, 1], tickformat=".0%")  # 100% shown
    fig.update_yaxes(type="category")
    return fig


def embedding_scatter_figure(points: pd.DataFrame, title: str = "Word vectors in 2-D") -> go.Figure:
    """Words as labelled points: ``points`` has columns word, x, y (core.embeddings.project_2d).

    The axes of a projection have no unit (PCA components, t-SNE coordinates), so they carry no
    ticks; only the distances between words mean something.
    """
    if points.empty:
        return empty_figure("No words to show")
    words = [str(w) for w in points["word"]]
    fig = go.Figure(go.Scatter(
        x=points["x"], y=points["y"], mode="markers+text", text=[_escape(w) for w in words],
        textposition="top center", textfont={"size": 10}, marker={"size": 6, "color": PALETTE[0], "opacity": 0.7},
        hovertemplate="%{text}<extra></extra>",
    ))
    fig.update_layout(title=title, height=560, margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False)
    fig.update_xaxes(showticklabels=False, zeroline=False, title=None)
    fig.update_yaxes(showticklabels=False, zeroline=False, title=None, scaleanchor="x")  # keep distances true
    return fig

# -- helpers -------------------------------------------------------------------------------------
def _fit(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters (with an ellipsis), escaped for plotly."""
    text = text if len(text) <= chars else text[: max(1, chars - 1)] + "…"
    return _escape(text)


def _escape(text: str) -> str:
    """Plotly reads ``%{`` as a placeholder and ``<...>`` as markup; a name is plain text."""
    return text.replace("%{", "% {").replace("<", "&lt;").replace(">", "&gt;")


def _parcoords_dimension(column: pd.Series, label: str) -> dict[str, Any]:
    numeric = pd.to_numeric(column, errors="coerce")
    if column.dtype != bool and numeric.notna().all():
        return {"label": label, "values": numeric}
    # Categorical: code the distinct values 0..k-1 and label the ticks with them.
    text = column.map(lambda v: "none" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
    categories = sorted(text.unique())
    codes = {c: i for i, c in enumerate(categories)}
    return {"label": label, "values": text.map(codes), "tickvals": list(range(len(categories))),
            "ticktext": categories}
