"""Run: watch one run (or a race) train, live.

The run comes from ``?run=ID``, else the run this session just started, else the newest one.
Everything that changes while training sits in a fragment that reruns every second while a
run is queued or running (the rest of the page stays put); once all are finished it stops.
"""

from __future__ import annotations

import streamlit as st

from app.components.attention_view import snapshot_embed
from app.components.commands import command_tabs
from app.components.export_view import export_panel
from app.components.live import run_label, run_view
from app.components.quantize_view import quantize_panel
from app.state import get_store, last_runs, page_path
from core.errors import WorkbenchError
from core.jobs.queue import race_tag
from core.store import ACTIVE_STATUSES, Run, Store

PICK = "run.pick"
# Half a second: the first loss point should reach the chart within ~2 s of clicking Start.
POLL_SECONDS = 0.5


def on_pick() -> None:
    st.query_params["run"] = st.session_state[PICK]  # shareable URL, and survives a reload


def race_mates(store: Store, run: Run) -> list[str]:
    """Ids of the run's race (the run first, then the others in start order), or just it."""
    tag = race_tag(run)
    if tag is None:
        return [run.id]
    mates = sorted(store.list_runs(tag=tag), key=lambda r: r.created_at)
    return [run.id] + [r.id for r in mates if r.id != run.id]


def main() -> None:
    store = get_store()
    st.title("Run", anchor=False)
    recent = store.list_runs(limit=50)
    by_id = {r.id: r for r in recent}
    wanted = st.query_params.get("run") or next(iter(last_runs()), None) or next(iter(by_id), None)
    if wanted is None:
        st.info("No runs yet. Start one on the Train page, or try a one-click demo on Home.")
        st.page_link(page_path("train"), label="Train a model", icon=":material/model_training:")
        return
    if wanted not in by_id:
        try:
            extra = store.get_run(wanted)  # older than the recent list, or a name / id prefix
            by_id = {extra.id: extra, **by_id}
            wanted = extra.id
        except WorkbenchError as exc:
            st.warning(f"{exc}. Showing the newest run instead.")
            wanted = next(iter(by_id), None)
            if wanted is None:
                return

    st.query_params["run"] = wanted
    if st.session_state.get(PICK) != wanted:
        st.session_state[PICK] = wanted  # keep the picker on ?run= (set before the widget exists)
    run_id = st.selectbox(
        "Run", list(by_id), format_func=lambda i: run_label(by_id[i]), key=PICK, on_change=on_pick,
        help="The 50 most recent runs; open any run with ?run=ID in the address.",
    )

    run = store.get_run(run_id)
    ids = race_mates(store, run)
    polling = any(store.get_run(i).status in ACTIVE_STATUSES for i in ids)
    # run_every only while something can change: a finished run is drawn once and left alone.
    st.fragment(run_every=POLL_SECONDS if polling else None)(run_view)(store, ids, polling)
    snapshot_embed(store, run.id, "run.attention")

    with st.expander("Config and command line", icon=":material/tune:"):
        command_tabs([run.config], "run.command", yaml_tab=True)
    export_panel(store, run, "run.export")
    quantize_panel(store, run, "run.quantize")


if __name__ == "__main__":
    main()
