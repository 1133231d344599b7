"""Token salience drawn: each token shaded by its attribution (blue: for the target, red: against).

:func:`salience_html` is pure (a ``Salience`` in, HTML out); the rest draws it. Every number
comes from ``core.inspect.salience`` (Captum); the settings widgets from its declarations.
"""

from __future__ import annotations

import html
from typing import Any

import streamlit as st

from app.components.attention_view import one_torch_thread
from app.components.forms import param_widget
from core.errors import WorkbenchError
from core.inspect import salience as sal
from core.inspect.settings import METHOD, METHODS, STEPS
from core.runs import TrainedRun

FOR_RGB, AGAINST_RGB = (37, 99, 235), (220, 38, 38)  # blue, red


def _shade(score: float, top: float) -> str:
    rgb = FOR_RGB if score >= 0 else AGAINST_RGB
    alpha = 0.0 if top <= 1e-6 else min(1.0, abs(score) / top)  # all ~0: no shading from rounding noise
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{0.08 + 0.72 * alpha:.3f})" if alpha > 0.02 else "transparent"


def token_spans(tokens: list[str], scores: list[float], top: float, marked: frozenset[int] = frozenset()) -> str:
    """Tokens as shaded spans (opacity: |score| / ``top``), each with its score on hover; the
    ``marked`` positions framed."""
    return "".join(
        f'<span class="lmwb-tok{" lmwb-marked" * (i in marked)}" title="{html.escape(token)}: {score:+.4f}" '
        f'data-score="{score:.6g}" style="background:{_shade(score, top)};padding:1px 3px;margin:1px;'
        f'border-radius:3px;display:inline-block;font-family:monospace'
        f'{";outline:2px solid currentColor" * (i in marked)}">{html.escape(token)}</span>'
        for i, (token, score) in enumerate(zip(tokens, scores, strict=True))
    )


def salience_html(result: sal.Salience) -> str:
    """The tokens as shaded spans (opacity: |score| / the largest |score|), each with its score
    on hover; a legend line under them."""
    top = max((abs(s) for s in result.scores), default=0.0)
    spans = token_spans(result.tokens, result.scores, top)
    legend = (f'<div style="font-size:0.8em;opacity:0.75;margin-top:4px">'
              f'<span style="color:rgb{FOR_RGB}">■</span> for {html.escape(result.target)} · '
              f'<span style="color:rgb{AGAINST_RGB}">■</span> against · {METHODS[result.method]}</div>')
    return f'<div class="lmwb-salience" style="line-height:2">{spans}</div>{legend}'


def _source_key(source: TrainedRun) -> str:
    return f"{source.run.id}|{source.checkpoint}|{id(source.model)}"


@st.cache_resource(max_entries=32, show_spinner=False)
def _explain(_source: TrainedRun, key: str, text: str, method: str, target: str | None, steps: int) -> sal.Salience:
    return sal.explain(_source, text, method=method, target=target, steps=steps)


def explain_cached(source: TrainedRun, text: str, method: str = METHOD.default, target: str | None = None,
                   steps: int = STEPS.default) -> sal.Salience:
    """Salience, cached per (model, input, settings): reruns that only change a view cost nothing."""
    with one_torch_thread():
        return _explain(source, _source_key(source), text, method, target or None, int(steps))


def salience_settings(key: str, targets: list[str] | None = None) -> dict[str, Any]:
    """Method, IG steps and (when ``targets``) the class to explain, from the declarations."""
    cols = st.columns([2, 1, 2] if targets else [2, 1])
    with cols[0]:
        method = param_widget(METHOD, METHOD.default, f"{key}.method", label=METHOD.title,
                              format_func=lambda m: METHODS[m])
    with cols[1]:
        steps = param_widget(STEPS, STEPS.default, f"{key}.steps", label=STEPS.title, disabled=method != "ig")
    target = None
    if targets:
        choice = cols[2].selectbox("Explain the class", ["(the prediction)", *targets], key=f"{key}.target")
        target = None if choice == "(the prediction)" else choice
    return {"method": method, "steps": steps, "target": target}


def show_salience(result: sal.Salience, compact: bool = False) -> None:
    for note in result.notes:
        st.warning(note, icon=":material/content_cut:")
    if not compact:
        st.text(f"Explaining the {result.output_name} (p = {result.target_probability:.1%}); "
                f"the model predicts {result.prediction!r} ({result.prediction_probability:.1%}).")
    st.html(salience_html(result))
    if result.completeness is not None:
        (st.caption if result.completeness.ok else st.warning)(result.completeness.sentence())


def salience_panel(source: TrainedRun, text: str, key: str, *, compact: bool = False, **settings: Any) -> None:
    """Salience of ``text`` (settings: method, steps, target), or a readable reason why not."""
    if not text.strip():
        return
    if problem := sal.unsupported(source):
        st.caption(f"No salience: {problem}.")
        return
    try:
        with st.spinner("Attributing…"):
            result = explain_cached(source, text, **settings)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    show_salience(result, compact=compact)
