"""LM Workbench: the Streamlit entrypoint (``streamlit run app/main.py`` or ``lmwb ui``).

It only routes: page setup, navigation over the pages ``app/navigation.py`` declares, and the
shared sidebar (device, store, live run counts). Each page collects input, calls ``core``, and draws what comes back.
"""

from __future__ import annotations

import socket
from pathlib import Path

import streamlit as st

from app.heap import freeze_module_objects
from app.navigation import PAGES, PAGES_DIR, check_pages
from app.state import (
    active_counts,
    device_text,
    get_store,
    get_supervisor,
    gpu_ids,
    gpu_use,
    workers_disabled,
)
from app.warmup import start_warmup


def build_pages(pages_dir: Path = PAGES_DIR) -> list[st.Page]:
    """Every declared page (``app/navigation.py``), the first one the default. A missing page
    file raises :class:`~app.navigation.MissingPagesError`: a broken install, not a shorter menu."""
    check_pages(pages_dir)
    return [
        st.Page(pages_dir / spec.file, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=i == 0)
        for i, spec in enumerate(PAGES)
    ]


@st.fragment(run_every=2.0)
def live_counts() -> None:
    """Running/queued counts, refreshed every two seconds without rerunning the page (one small
    query; at five, a run just started read "queued" beside its own live curve)."""
    store = get_store()
    counts = active_counts(store)
    st.markdown(f"**Runs:** {counts['running']} running · {counts['queued']} queued")
    gpus = gpu_ids()
    if gpus:  # which GPU trains what: the supervisor gives each GPU one training at a time
        use = gpu_use(store.list_runs(status="running"), gpus, socket.gethostname())
        busy = sum(1 for name in use.values() if name)
        st.markdown(f"**GPUs:** {busy} busy · {len(use) - busy} free")
        st.caption(" · ".join(f"GPU {g}: {name or 'free'}" for g, name in use.items()))


def sidebar() -> None:
    store = get_store()
    with st.sidebar:
        st.markdown(f"**Device:** {device_text()}")
        # Where the store lives is a server path (or a database host): shown only on request.
        with st.expander("Store: " + ("SQLite file" if store.is_sqlite else "shared database")):
            st.code(store.url, language=None)
        if workers_disabled():
            st.caption("Workers are off (LMWB_NO_WORKERS): runs stay queued.")
        live_counts()


# Before anything of this run exists: what the last run imported (torch, plotly, bertviz on a
# page's first use) is frozen, and Streamlit's collection after that run has already freed its
# cycles. Does nothing on runs after which nothing new was imported.
freeze_module_objects()
# An emoji, not a Material icon: Streamlit fetches those for the tab's icon from Google's CDN,
# which an offline machine cannot reach.
st.set_page_config(page_title="LM Workbench", page_icon="🧠", layout="wide")
# First run of the app process: marks orphaned runs and starts the supervisor, whose monitor
# also gives runs queued elsewhere (`lmwb train --queue`, another tab) a worker.
get_supervisor()
page = st.navigation(build_pages())
sidebar()
page.run()
# After the first page of the process: import what the slowest first visits need (Sweeps,
# Attention) in the background. Not where workers are off (page tests, a read-only viewer).
if not workers_disabled():
    start_warmup()
