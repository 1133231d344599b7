"""Run-valued knobs (``Param.runs``: a teacher, word vectors for synonyms, the two runs of
back-translation, a run to start from) drawn as select boxes of the runs they may name.

Which runs a knob accepts is its declaration's (:class:`core.params.RunChoice`), read here and
by the check when a run starts; a picker lists the finished runs of those tasks with a
checkpoint here, newest first, each with its best validation score, and stores the run's id.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import streamlit as st

from app.components.teacher_view import candidate_label
from app.state import get_store
from core.augment.settings import run_refs
from core.distill.teacher import FINISHED, has_checkpoint
from core.errors import WorkbenchError
from core.params import Param, RunChoice
from core.store import Run, Store


def run_candidates(store: Store, choice: RunChoice, task: str) -> list[Run]:
    """The runs a knob declared with ``choice`` may name in a ``task`` run, newest first."""
    tasks = choice.accepts(task)
    if tasks is None:
        runs = store.list_runs(status=FINISHED)
    else:
        runs = sorted((r for t in tasks for r in store.list_runs(task=t, status=FINISHED)),
                      key=lambda r: r.created_at, reverse=True)
    return [r for r in runs if has_checkpoint(store, r)]


def empty_text(param: Param) -> str:
    """What choosing no run means, from the help's "Empty: ..." (else "none")."""
    found = re.search(r"Empty: ([^.]*)", param.help)
    return f"none: {found.group(1).strip()}" if found else "none"


def run_knob(param: Param, value: Any, key: str, task: str) -> str:
    """Select boxes (one per run the knob names, across the page) of the runs ``param`` may
    name; returns the ids comma-separated as the knob takes them ("" for none). A value from a
    config that is not among them stays offered, so the check at Start says why it cannot serve."""
    assert param.runs is not None
    choice = param.runs
    store = get_store()
    runs = run_candidates(store, choice, task)
    labels = {r.id: candidate_label(r) for r in runs}
    wanted = run_refs(value)
    wanted += [""] * (choice.count - len(wanted))
    picked = []
    for i in range(choice.count):
        current = _known(store, wanted[i], labels, param)
        options = ["", *labels]
        label = f"{param.title}: {choice.roles[i]}" if i < len(choice.roles) else param.title
        none = empty_text(param)
        picked.append(st.selectbox(
            label, options, index=options.index(current), key=key if choice.count == 1 else f"{key}.{i}",
            help=param.help, format_func=lambda r, none=none: labels.get(r, none)))
    if not runs:
        st.caption(f"No run here can serve as {param.title} yet.")
    return ", ".join(str(r) for r in picked if r)


def _known(store: Store, ref: str, labels: dict[str, str], param: Param) -> str:
    """``ref`` as an option: a name resolved to its run's id; one the knob cannot name is added
    to ``labels``, saying so."""
    ref = ref.strip()
    if ref and ref not in labels:
        with contextlib.suppress(WorkbenchError):  # a name from a config: the run's id, if listed
            found = store.get_run(ref).id
            ref = found if found in labels else ref
        labels.setdefault(ref, f"{ref} (not a run {param.title} can name)")
    return ref
