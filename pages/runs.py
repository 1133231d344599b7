"""Runs: every run in one filterable table, and actions on the one selected.

The table is built from a single ``list_runs`` query: everything it shows (hyperparameters,
summary metrics, timings) is on the run rows already, so it stays fast with hundreds of runs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.components.commands import command_tabs
from app.components.run_picker import pick_runs
from app.components.runs_table import (
    COLUMN_CONFIG,
    FIRST_COLUMNS,
    MORE_COLUMNS,
    filter_table,
    runs_table,
    shown,
)
from app.state import COMPARE_HANDOFF_KEY, get_store, open_run_page, page_path
from core.errors import WorkbenchError
from core.store import ACTIVE_STATUSES, Run, Store

TABLE_KEY = "runs_table"
SELECT_KEY = "runs_selected"
MORE_KEY = "runs_more_columns"
FLASH_KEY = "runs_flash"  # a message that survives the rerun after an action

# -- page ----------------------------------------------------------------------------------------
def main() -> None:
    st.title("Runs")
    if message := st.session_state.pop(FLASH_KEY, None):
        st.success(message)
    store = get_store()
    runs = store.list_runs()  # the page's only store query for the table
    if not runs:
        st.info("No runs yet. Start one on the **Train** page, or with `lmwb train` on the command line.")
        return
    table = runs_table(runs)
    visible = filter_table(table, **_filters(table))
    st.caption(f"{len(visible)} of {len(table)} runs. Click a column header to sort; tick rows to compare "
               "them or to act on the last one ticked.")
    # Row ids of what is on screen, so the selection callback can map a row to a run.
    st.session_state[f"{TABLE_KEY}_ids"] = list(visible["id"])
    more = st.multiselect("More columns", MORE_COLUMNS, key=MORE_KEY, placeholder="tags, hyperparameters, id…",
                          help="The table starts with what tells runs apart; add validation metrics, "
                               "hyperparameters, tags, duration or the run id.")
    columns = [*FIRST_COLUMNS, *[c for c in MORE_COLUMNS if c in more]]
    event = st.dataframe(
        shown(visible[columns]), hide_index=True, column_config=COLUMN_CONFIG, key=TABLE_KEY,
        on_select=_on_table_select, selection_mode="multi-row",
    )
    ids = list(visible["id"])
    ticked = [ids[i] for i in event.selection.rows if i < len(ids)]
    left, right = st.columns([1, 3], vertical_alignment="center")
    if left.button(f"Compare {len(ticked)} selected" if ticked else "Compare selected", key="runs_compare",
                   type="primary", icon=":material/compare_arrows:", disabled=len(ticked) < 2,
                   help="Tick two or more rows in the table, then open them together on the Compare page."):
        st.session_state[COMPARE_HANDOFF_KEY] = ticked
        st.switch_page(page_path("compare"))
    with right:
        st.download_button(
            "Download this table as CSV", visible.to_csv(index=False), file_name="runs.csv",
            mime="text/csv", on_click="ignore",
        )
    listed = [r for r in runs if r.id in set(visible["id"])]
    st.divider()
    run_id = pick_runs(store, SELECT_KEY, multi=False, runs=listed, label="Selected run",
                       empty="(no run matches the filters)")
    if run_id is not None:
        _actions(store, next(r for r in listed if r.id == run_id))


def _filters(table: pd.DataFrame) -> dict[str, Any]:
    cols = st.columns([2, 2, 2, 2, 3])
    all_tags = sorted({t for tags in table["tags"] for t in tags.split(", ") if t})
    return {
        "statuses": cols[0].multiselect("Status", sorted(table["status"].unique()), key="runs_f_status"),
        "tasks": cols[1].multiselect("Task", sorted(table["task"].unique()), key="runs_f_task"),
        "archs": cols[2].multiselect("Architecture", sorted(table["arch"].unique()), key="runs_f_arch"),
        "tags": cols[3].multiselect("Tag", all_tags, key="runs_f_tag"),
        "text": cols[4].text_input("Search", placeholder="name, id, architecture, tag", key="runs_f_text"),
    }


def _on_table_select() -> None:
    """The last row ticked in the table becomes the selected run below it."""
    rows = st.session_state[TABLE_KEY].selection.rows
    ids = st.session_state.get(f"{TABLE_KEY}_ids", [])
    if rows and rows[-1] < len(ids):
        st.session_state[SELECT_KEY] = ids[rows[-1]]


def _actions(store: Store, run: Run) -> None:
    st.subheader(run.name)
    if run.error:
        st.error(f"This run failed: {run.error}")
    left, right = st.columns(2)
    with left:
        if st.button("Open live view", key="runs_open", type="primary"):
            st.session_state["run_id"] = run.id
            open_run_page([run.id])  # the Run page, with ?run=ID
        new_name = st.text_input("Name", value=run.name, key=f"runs_name_{run.id}")
        if st.button("Rename", key="runs_rename", disabled=new_name.strip() == run.name):
            _act(lambda: store.rename_run(run.id, new_name), f"Renamed to {new_name.strip()!r}.")
        tags = st.text_input("Tags (comma-separated)", value=", ".join(run.tags), key=f"runs_tags_{run.id}")
        if st.button("Save tags", key="runs_save_tags"):
            _act(lambda: store.set_tags(run.id, tags.split(",")), "Tags saved.")
    with right:
        st.download_button(
            "Download metric series (CSV)", lambda: store.metrics(run.id).to_csv(index=False),
            file_name=f"{run.name}-metrics.csv", mime="text/csv", key="runs_metrics_csv", on_click="ignore",
        )
        _delete(store, run)
    # Collapsed, as on the Run page: the command names the data file by its place on the server.
    with st.expander("Reproduce from the command line", icon=":material/terminal:"):
        command_tabs([run.config], "runs_command")


def _delete(store: Store, run: Run) -> None:
    """Two clicks: the first asks, the second deletes (a run's folder cannot be restored)."""
    confirm_key = f"runs_confirm_delete_{run.id}"
    if not st.session_state.get(confirm_key):
        if st.button("Delete run", key="runs_delete", help="Asks before it deletes."):
            st.session_state[confirm_key] = True
            st.rerun()
        return
    active = run.status in ACTIVE_STATUSES
    st.warning(
        f"Delete **{run.name}** ({run.id}) with its metrics and checkpoints? This cannot be undone."
        + (" It is still running; it will be stopped first." if active else "")
    )
    yes, no = st.columns(2)
    if yes.button("Yes, delete", key="runs_delete_yes", type="primary"):
        del st.session_state[confirm_key]

        def delete() -> None:
            if active:
                store.request_stop(run.id)
            store.delete_run(run.id)

        _act(delete, f"Deleted {run.name} ({run.id}).")
    if no.button("Cancel", key="runs_delete_no"):
        del st.session_state[confirm_key]
        st.rerun()


def _act(action: Any, done: str) -> None:
    """Run a store action; show a readable error, or rerun so the table shows the change."""
    try:
        action()
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.session_state[FLASH_KEY] = done
    st.rerun()


if __name__ == "__main__":
    main()
