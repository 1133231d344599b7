"""Work the slowest first page visits would otherwise do while a person waits, done once in the
background shortly after the server answers its first page.

Measured on two busy cores (docs/performance.md): the first visit to Sweeps paid for
``optuna.visualization`` (which imports matplotlib with it, ~2 s). It does not depend on the
page, so a daemon thread does it a few seconds after start-up; a page that gets there first
imports what it needs itself (an import in progress is waited for, never done twice).

Torch is not warmed here: it is ~180 MB of the server's memory, which only the pages that run
a model (Attention, Explain, Playground) need; they load it on their first visit.
"""

from __future__ import annotations

import importlib
import threading
import time

import streamlit as st

# Modules the slow first visits import, heaviest last; none brings torch (bertviz would).
MODULES = ("app.components.sweep_charts", "optuna.visualization")
DELAY_S = 3.0  # after the first page: that page's own script run and drawing go first


def _warm() -> None:
    time.sleep(DELAY_S)
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional piece is the page's to report, not this thread's
            continue


@st.cache_resource(show_spinner=False)
def start_warmup() -> threading.Thread:
    """Start the background warm-up once per server process (cached), and return its thread."""
    thread = threading.Thread(target=_warm, name="lmwb-warmup", daemon=True)
    thread.start()
    return thread
