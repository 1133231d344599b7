"""Distillation in the app (core.distill): how a run reads in the Train form's run pickers (a
teacher's score), and the teacher beside its student on the Run page and on Compare.

A distilled run's config names its teacher (``task.teacher``, an id once queued) and the loss's
α and T; the teacher's figures are the ones its own run recorded at its best step (the checkpoint
a student learns from), read from the store, never copied into the student.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app.state import get_store, page_path
from core.distill.teacher import teacher_ref
from core.errors import WorkbenchError
from core.metrics import HELDOUT, HELDOUT_LABEL, metric_label, metric_value
from core.registry import arch_label
from core.store import Run, Store
from core.tasks.catalog import DISTILL_PARAMS, TEACHER

TEACHER_PREFIX = "teacher: "  # how the teacher's lines are named on the student's charts
_ALPHA, _TEMPERATURE = (p for p in DISTILL_PARAMS if p is not TEACHER)


# -- the Train form (app/components/run_knobs.py draws the picker) ----------------------------
def candidate_label(run: Run) -> str:
    """A run in a run picker (a teacher, word vectors...): its name, architecture, best validation
    score and id."""
    return " · ".join(filter(None, (run.name, arch_label(run.arch), best_text(run), run.id)))


def best_text(run: Run) -> str:
    summary = run.summary or {}
    metric, best = summary.get("metric"), (summary.get("best") or {}).get("value")
    if not metric or not isinstance(best, int | float):
        return ""
    return f"val {metric_label(metric)} {metric_value(metric, best)}"


# -- the Run page ----------------------------------------------------------------------------
def teacher_of(store: Store, run: Run) -> Run | None:
    """The run's teacher, when it has one still in the store."""
    ref = teacher_ref(run.config)
    if not ref:
        return None
    try:
        return store.get_run(ref)
    except WorkbenchError:
        return None


def distilled_text(run: Run, teacher: Run | None) -> str:
    """"Distilled from NAME (α 0.5, T 2)", the loss's settings as the form names them."""
    task = run.config.get("task") or {}
    name = (f"{teacher.name} (`{teacher.id}`)" if teacher
            else f"`{teacher_ref(run.config)}` (no longer in the store)")
    return (f"Distilled from {name}: α {task.get(_ALPHA.name, _ALPHA.default):g}, "
            f"T {task.get(_TEMPERATURE.name, _TEMPERATURE.default):g}")


def teacher_panel(store: Store, run: Run) -> None:
    """Under a distilled run's summary: where it learned from, and the teacher's scores at its
    best step beside the student's (the charts draw them as flat lines)."""
    if not teacher_ref(run.config):
        return
    teacher = teacher_of(store, run)
    st.markdown(f":material/school: {distilled_text(run, teacher)}")
    if teacher is None:
        return
    st.page_link(page_path("run"), label=f"Open the teacher, {teacher.name}", query_params={"run": teacher.id},
                 icon=":material/open_in_new:")
    table = scores_table([teacher, run], {teacher.id: f"teacher: {teacher.name}", run.id: f"student: {run.name}"})
    if not table.empty:
        st.dataframe(table, key=f"run.teacher.{run.id}")
        st.caption("Each at its best validation step (the teacher's is the checkpoint the student learned from); "
                   "the teacher reads its own validation split.")


def distilled_loss_note(runs: Sequence[Run]) -> str | None:
    """Under the Loss chart when a charted run was distilled: its train curve is the mixed loss,
    not the cross entropy its validation curve is, so a gap between them is not overfitting."""
    names = [run.name for run in runs if teacher_ref(run.config)]
    if not names:
        return None
    return (f"Distilled ({', '.join(names)}): the train curve is the mixed loss α·CE + (1−α)·T²·KL against "
            "the teacher; validation is the plain cross entropy, so the two are not on the same scale.")


def best_scores(store: Store, run: Run) -> dict[tuple[str, str], float]:
    """(split, metric) -> value of the run's evaluation at its best step (val and held-out)."""
    step = ((run.summary or {}).get("best") or {}).get("step")
    frame = store.metrics(run.id)
    if frame.empty or step is None:
        return {}
    at = frame[(frame["step"] == step) & frame["split"].isin(("val", HELDOUT))]
    return {(str(r.split), str(r.name)): float(r.value) for r in at.itertuples()}


def scores_table(runs: Sequence[Run], names: dict[str, str]) -> pd.DataFrame:
    """One row per run: its watched metric at its best step, on validation and the held-out set."""
    store, rows = get_store(), []
    for run in runs:
        metric = (run.summary or {}).get("metric")
        scores = best_scores(store, run)
        if not metric or not scores:
            continue
        row = {"run": names[run.id]}
        for split, words in (("val", "val"), (HELDOUT, HELDOUT_LABEL)):
            if (split, metric) in scores:
                row[f"{words} {metric_label(metric)}"] = metric_value(metric, scores[(split, metric)])
        rows.append(row)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def with_teacher_lines(store: Store, run: Run, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (the run's metric points) plus its teacher's best scores as flat lines over the
    run's steps, named ``teacher: NAME``, for the metrics the run itself reports."""
    teacher = teacher_of(store, run)
    if teacher is None or frame.empty:
        return frame
    first, last = int(frame["step"].min()), int(frame["step"].max())
    reported = set(zip(frame["split"], frame["name"], strict=True))
    rows = [{"run": f"{TEACHER_PREFIX}{teacher.name}", "step": step, "split": split, "name": name, "value": value,
             "wall_time": float("nan")}
            for (split, name), value in best_scores(store, teacher).items() if (split, name) in reported
            for step in (first, max(last, first + 1))]
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True) if rows else frame


# -- Compare -------------------------------------------------------------------------------------
def teachers_table(store: Store, runs: Sequence[Run], labels: dict[str, str]) -> None:
    """For the compared runs that were distilled: each beside its teacher (whether or not the
    teacher is among the runs compared), at their best steps."""
    pairs = [(run, teacher_of(store, run)) for run in runs if teacher_ref(run.config)]
    if not pairs:
        return
    st.markdown("**Distilled runs and their teachers**")
    for run, teacher in pairs:
        st.caption(f"{labels.get(run.id, run.name)}: {distilled_text(run, teacher)}")
    shown = {r.id: labels.get(r.id, r.name) for r, _ in pairs}
    shown.update({t.id: f"teacher: {t.name}" for _, t in pairs if t is not None and t.id not in shown})
    order = list(dict.fromkeys([x.id for pair in pairs for x in pair if x is not None]))
    by_id = {r.id: r for r, _ in pairs} | {t.id: t for _, t in pairs if t is not None}
    table = scores_table([by_id[i] for i in order], shown)
    if not table.empty:
        st.dataframe(table, key="compare.teachers")
