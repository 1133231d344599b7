"""Runs hidden from the curves by a click on their legend entry stay hidden when the page reruns.

Plotly hides a run's lines in the browser when its legend entry is clicked (the lines of a run
share a legend group: app.components.charts). But Streamlit mounts a new chart whenever the
figure changes (a new point while the run trains, another smoothing), and a new chart knows
nothing of the click: plotly's ``uirevision`` only helps a chart that is updated in place.

So a small component (``st.components.v2``, no visible element) watches the page's curve charts
and reports which runs their legends hide; the page draws every curve chart with those runs
hidden (``metric_curves_figure(hidden=...)``). A click on a hidden run's greyed entry shows it
again the same way. One set per page: hiding a race entrant on the loss chart hides it on the
metric charts too, which have no legend of their own.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

# On every legend click (plotly_restyle) of a chart inside an element whose key starts with
# ``data.prefix``: the legend groups whose every listed line is now hidden, merged into the
# set the page drew with. New charts (each rerun mounts new ones) are picked up as they appear.
_JS = """
export default function (component) {
    const { data, setStateValue } = component;
    let hidden = new Set(data.hidden || []);
    const watched = new WeakSet();
    const inScope = gd => gd.closest(`[class*="st-key-${data.prefix}"]`) !== null;
    const report = gd => {
        const groups = new Map();
        for (const trace of gd.data || []) {
            if (!trace.legendgroup || trace.showlegend === false) continue;
            const off = trace.visible === 'legendonly';
            groups.set(trace.legendgroup, (groups.get(trace.legendgroup) ?? true) && off);
        }
        const next = new Set(hidden);
        for (const [group, off] of groups) { if (off) next.add(group); else next.delete(group); }
        if (next.size === hidden.size && [...next].every(g => hidden.has(g))) return;
        hidden = next;
        setStateValue('hidden', [...next].sort());
    };
    const watch = () => {
        for (const gd of document.querySelectorAll('.js-plotly-plot')) {
            if (watched.has(gd) || typeof gd.on !== 'function' || !inScope(gd)) continue;
            watched.add(gd);
            gd.on('plotly_restyle', () => report(gd));
        }
    };
    watch();
    const observer = new MutationObserver(watch);
    observer.observe(document.body, { childList: true, subtree: true });
    return () => observer.disconnect();
}
"""
_CSS = ":host { display: none; }"  # nothing to show; no room taken

_component = st.components.v2.component("lmwb_curve_legend", js=_JS, css=_CSS)


def hidden_runs(key: str, chart_prefix: str) -> set[str]:
    """The runs (legend groups) hidden from the curve charts whose keys start with
    ``chart_prefix``, as the person left them; call before drawing those charts and pass the set
    to ``metric_curves_figure(hidden=...)``. ``key``: the component's widget key."""
    # The charts' containers carry their key as a class, other characters than these as "-".
    css_prefix = re.sub(r"[^A-Za-z0-9_-]", "-", chart_prefix)
    result: Any = _component(key=key, data={"prefix": css_prefix, "hidden": _current(key)},
                             default={"hidden": []}, on_hidden_change=lambda: None)
    return {str(run) for run in (result.get("hidden") if result is not None else None) or []}


def _current(key: str) -> list[str]:
    """What the component last reported, for the browser to start from (its state lives in the
    session under ``key``)."""
    value = st.session_state.get(key)
    found = value.get("hidden") if hasattr(value, "get") else None
    return [str(run) for run in found or []]
