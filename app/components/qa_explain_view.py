"""Explain for question answering: where a reader's answers go wrong, and what it read to answer.

Every validation question (the first :data:`LIMIT`) as the run's evaluation reads it
(``core.runs.qa_readings``): a table worst first (lowest F1, then exact match, then the most
confident), filtered to the wrong or the partly right answers; for a chosen question its context with
the gold and the predicted answer marked, and the salience of the answer (``core.inspect.salience``:
its start plus end logit) over the question and the context of the window it came from.
:func:`context_html` and :func:`salience_parts_html` are pure (the table is ``core.qa.answers``', which
``lmwb eval --examples`` writes too); the rest draws.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from app.components.attention_view import checkpoint_mtime, one_torch_thread
from app.components.salience_view import AGAINST_RGB, FOR_RGB, salience_settings, token_spans
from core.errors import WorkbenchError
from core.inspect import salience as sal
from core.inspect.settings import COMPLETENESS_TOLERANCE, METHOD, METHODS, STEPS
from core.metrics import METRICS
from core.qa.answers import NO_ANSWER, OUTCOMES, answers_table
from core.runs import TrainedRun, qa_readings
from core.store import Store

if TYPE_CHECKING:  # the task module loads with the model
    from core.tasks.qa import Reading

# Integrated Gradients' steps are doubled from the chosen number up to this while the completeness
# gap is over its tolerance: 50 often leaves a reader's answer over 5%, and 200 takes seconds on a CPU.
STEPS_CAP = 200
LIMIT = 2000  # questions read for the table: SQuAD's 10,570 would take minutes on a CPU
GOLD_RGB, PREDICTED_RGB = (22, 163, 74), (234, 88, 12)  # green, orange
SHOWN = ["question", "gold", "prediction", "f1", "exact", "probability"]


def filter_answers(table: pd.DataFrame, outcome: str) -> pd.DataFrame:
    return table[OUTCOMES[outcome](table)]


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha})"


def context_html(reading: Reading) -> str:
    """The context, escaped, its gold answers on a green ground and the predicted answer underlined
    in orange (both where they overlap), with a legend."""
    text = reading.context
    gold = [False] * len(text)
    for _, a, b in reading.golds:
        gold[a:b] = [True] * (b - a)
    predicted = [False] * len(text)
    if reading.span is not None:
        a, b = reading.span
        predicted[a:b] = [True] * (b - a)
    underline = f"border-bottom:3px solid {_rgba(PREDICTED_RGB, 1)};font-weight:600"
    parts, start = [], 0
    for i in range(1, len(text) + 1):  # runs of characters that are marked alike
        if i == len(text) or (gold[i], predicted[i]) != (gold[start], predicted[start]):
            piece = html.escape(text[start:i])
            marks = (("lmwb-gold", gold[start]), ("lmwb-predicted", predicted[start]))
            classes = [name for name, on in marks if on]
            style = f"background:{_rgba(GOLD_RGB, 0.28)};" * gold[start] + f"{underline};" * predicted[start]
            parts.append(f'<span class="{" ".join(classes)}" style="{style}">{piece}</span>' if classes else piece)
            start = i
    gold_key = (f'<span style="background:{_rgba(GOLD_RGB, 0.28)};padding:0 6px">gold answer</span>' if reading.golds
                else "no gold answer (the context does not answer this question)")
    predicted_key = (f'<span style="{underline}">predicted answer</span>' if reading.span is not None
                     else "no predicted answer (the reader abstained)")
    legend = f'<div style="font-size:0.8em;opacity:0.8;margin-top:6px">{gold_key} · {predicted_key}</div>'
    return (f'<div class="lmwb-qa-context" style="line-height:1.7;white-space:pre-wrap">{"".join(parts)}</div>'
            f"{legend}")


def salience_parts_html(result: sal.AnswerSalience) -> str:
    """The question's tokens and the window's context tokens, each shaded by its attribution on
    one scale (the largest |score| over both), the answer's tokens framed; [CLS] and [SEP] left out."""
    (qa, qb), (ca, cb) = result.question, result.context
    top = max((abs(result.scores[i]) for i in [*range(qa, qb), *range(ca, cb)]), default=0.0)
    first, last = result.answer
    marked = frozenset(range(first - ca, last - ca + 1)) if first else frozenset()

    def row(label: str, a: int, b: int, marks: frozenset[int] = frozenset()) -> str:
        return (f'<div style="margin:2px 0"><span style="font-size:0.8em;opacity:0.7;margin-right:6px">'
                f"{label}</span>{token_spans(result.tokens[a:b], result.scores[a:b], top, marks)}</div>")

    target = f"the answer {html.escape(result.target)}" if first else "answering nothing ([CLS])"
    legend = (f'<div style="font-size:0.8em;opacity:0.75;margin-top:4px">'
              f'<span style="color:rgb{FOR_RGB}">■</span> for {target} · '
              f'<span style="color:rgb{AGAINST_RGB}">■</span> against · '
              + ("framed: the answer's tokens · " if first else "") + f"{METHODS[result.method]}</div>")
    return (f'<div class="lmwb-salience lmwb-qa-salience" style="line-height:2">{row("Question", qa, qb)}'
            f'{row("Context", ca, cb, marked)}</div>{legend}')


@st.cache_resource(max_entries=4, show_spinner="Answering every validation question…")
def _readings(_source: TrainedRun, run_id: str, mtime: float) -> list[Reading]:
    with one_torch_thread():
        return qa_readings(_source, LIMIT)


@st.cache_resource(max_entries=32, show_spinner=False)
def _salience(_source: TrainedRun, key: str, question: str, context: str, method: str,
              steps: int) -> sal.AnswerSalience:
    with one_torch_thread():
        return sal.explain_answer(_source, question, context, method=method, steps=steps)


def answer_salience(source: TrainedRun, question: str, context: str, method: str = METHOD.default,
                    steps: int = STEPS.default) -> sal.AnswerSalience:
    """The answer's salience, cached per (model, question, context, settings)."""
    key = f"{source.run.id}|{source.checkpoint}|{id(source.model)}"
    return _salience(source, key, question, context, method, int(steps))


def stepped_salience(attribute: Callable[[int], sal.AnswerSalience], steps: int,
                     cap: int = STEPS_CAP) -> tuple[sal.AnswerSalience, int]:
    """``attribute(steps)``, then with twice the steps (50, 100, 200) while Integrated Gradients'
    completeness gap is over its tolerance and the steps are under ``cap``: (the result, the steps
    it used). Other methods have no gap and run once."""
    result = attribute(steps)
    while result.completeness is not None and not result.completeness.ok and steps < cap:
        steps = min(2 * steps, cap)
        result = attribute(steps)
    return result, steps


def qa_explain_panel(store: Store, source: TrainedRun, key: str) -> None:
    """The Explain page of a qa run: the answers table, a chosen question's context and salience."""
    try:
        readings = _readings(source, source.run.id, checkpoint_mtime(store, source.run.id))
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    if not readings:
        st.info("The run's validation split has no questions.")
        return
    table = answers_table(readings)
    f1, em = METRICS["qa_f1"], METRICS["qa_exact_match"]
    st.caption(f"{len(table):,} validation questions{' (the first)' if len(table) == LIMIT else ''} · "
               f"{f1.label} {f1.shown(table['f1'].mean())} · "
               f"{em.label} {em.shown(100 * table['exact'].mean())} · "
               f"{int((table['f1'] == 0).sum()):,} wrong, {int(((table['f1'] > 0) & ~table['exact']).sum()):,} "
               "partly right")
    outcome = st.segmented_control("Show", list(OUTCOMES), default="all", key=f"{key}.outcome") or "all"
    shown = filter_answers(table, outcome)
    st.markdown(f"**{len(shown):,} questions**, worst first (click one to see its context and salience)")
    if shown.empty:
        st.caption("None.")
        return
    digest = hashlib.blake2b(f"{outcome}|{len(table)}".encode(), digest_size=6).hexdigest()
    event = st.dataframe(
        shown[SHOWN], key=f"{key}.table.{digest}", on_select="rerun", selection_mode="single-row",
        height=min(320, 38 + 35 * len(shown)),  # a few rows: no empty grid under them
        column_config={
            # A long wrong answer would push the scores off the page: medium widths, whole in the detail below.
            **{c: st.column_config.TextColumn(width="medium") for c in ("question", "prediction")},
            "gold": st.column_config.TextColumn(width="small"),
            # Per question, on a QA page: short headers ("(QA)" says nothing here), the metric in the help.
            "f1": st.column_config.NumberColumn("F1", format=f1.fmt, width="small", help=f1.help),
            "exact": st.column_config.CheckboxColumn("Exact", width="small", help=em.help),
            "probability": st.column_config.ProgressColumn(
                "Probability", format="percent", min_value=0.0, max_value=1.0, width="medium",
                help="p(start) x p(end) of the answer in its window, each a softmax over [CLS] and the context"),
        },
    )
    rows = event.selection.get("rows", []) if event else []
    index = int(shown.index[int(rows[0])] if rows else shown.index[0])
    question_detail(source, readings[index], f"{key}.detail")  # readings are in split order


def question_detail(source: TrainedRun, reading: Reading, key: str) -> None:
    """One question: gold and predicted answers in its context, and the answer's salience."""
    with st.container(border=True):
        mark = "✓" if reading.exact_match else "≈" if reading.f1 > 0 else "✗"
        gold = " | ".join(dict.fromkeys(g for g, _, _ in reading.golds)) or NO_ANSWER
        predicted = reading.text if reading.span is not None else NO_ANSWER
        st.markdown(f"{mark} **Question {reading.index}:** {reading.question}")
        st.text(f"Gold: {gold} · predicted: {predicted} (probability {reading.probability:.1%}) · "
                f"{METRICS['qa_f1'].label} {METRICS['qa_f1'].shown(100 * reading.f1)}")
        st.html(context_html(reading))
        st.markdown("**Salience of the answer**")
        if problem := sal.answer_unsupported(source):
            st.caption(f"No salience: {problem}.")
            return
        settings = salience_settings(f"{key}.salience")
        try:
            with st.spinner("Attributing…"):
                asked = int(settings["steps"])
                result, used = stepped_salience(
                    lambda steps: answer_salience(source, reading.question, reading.context, settings["method"],
                                                  steps), asked, max(STEPS_CAP, asked))
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        for note in result.notes:
            st.caption(note)
        st.html(salience_parts_html(result))
        if result.completeness is not None:
            stepped = (f" {STEPS.title}: {used} ({asked} left a gap over {COMPLETENESS_TOLERANCE:.0%})."
                       if used != asked else f" {STEPS.title}: {used}.")
            (st.caption if result.completeness.ok else st.warning)(result.completeness.sentence() + stepped)
        st.caption(f"Explaining the {result.output_name}: blue tokens pushed the reader towards it, red ones "
                   "away from it (Captum; a token's attribution summed over its embedding).")
