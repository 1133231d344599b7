"""Choose runs from the store: one widget shared by the compare, playground and other pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import streamlit as st

from core.registry import arch_label
from core.store import Run, Store


def run_label(run: Run) -> str:
    """How a run is named in every picker: ``name · architecture · status · id``."""
    return f"{run.name} · {arch_label(run.arch)} · {run.status} · {run.id}"


def pick_runs(
    store: Store,
    key: str,
    task: str | None = None,
    multi: bool = True,
    default: str | Sequence[str] | None = None,
    *,
    status: str | Iterable[str] | None = None,
    label: str | None = None,
    runs: Sequence[Run] | None = None,
    empty: str = "(no runs yet)",
    unshowable: Callable[[Run], str | None] | None = None,
) -> list[str] | str | None:
    """A multiselect (``multi``) or selectbox of runs, newest first; returns run ids.

    ``multi=True`` returns a list of ids (possibly empty); ``multi=False`` the chosen id or
    None when the store has no matching run. ``default`` preselects ids that still exist
    (unknown ones are dropped, so a deleted run never breaks the widget). ``runs`` skips the
    store query when the page already listed them; ``empty`` is what a selectbox with no
    run to offer says.

    ``unshowable``: why the page cannot show a run (``"no attention"``), or None when it can. The
    runs it can show come first (newest first), so the page opens on the newest of them; the
    others follow, their reason after their label.
    """
    if runs is None:
        runs = store.list_runs(status=status, task=task)
    reasons = {run.id: unshowable(run) for run in runs} if unshowable else {}
    by_id = {run.id: run for run in sorted(runs, key=lambda r: reasons.get(r.id) is not None)}  # stable
    options = list(by_id)
    wanted = [default] if isinstance(default, str) else list(default or [])
    chosen = [run_id for run_id in wanted if run_id in by_id]

    def fmt(run_id: str) -> str:
        reason = reasons.get(run_id)
        return run_label(by_id[run_id]) + (f" ({reason})" if reason else "")

    # A run deleted since the last rerun must leave the widget's remembered value, or
    # Streamlit would refuse a value that is not among the options.
    remembered = st.session_state.get(key)
    if multi:
        if remembered is not None:
            st.session_state[key] = [run_id for run_id in remembered if run_id in by_id]
        return st.multiselect(
            label or "Runs", options, default=None if remembered is not None else chosen,
            format_func=fmt, key=key, placeholder="Choose runs" if options else "No runs yet",
        )
    if not options:
        st.selectbox(label or "Run", [empty], disabled=True, key=f"{key}__empty")
        return None
    if remembered is not None and remembered not in by_id:
        del st.session_state[key]
        remembered = None
    index = options.index(chosen[0]) if chosen and remembered is None else 0
    return st.selectbox(label or "Run", options, index=index, format_func=fmt, key=key)
