"""Shared app state: the store, the worker supervisor, and small session-state helpers.

Heavy, process-wide objects live in ``st.cache_resource``; what one browser tab remembers
(the runs it just started, the train form) lives in ``st.session_state``.

Environment
    ``LMWB_HOME`` / ``LMWB_STORE``: where the store is (see :class:`core.store.Store`). The
        cached store is keyed on both, so tests that point ``LMWB_HOME`` at a temp folder
        never see another test's store.
    ``LMWB_NO_WORKERS=1``: never start worker processes and never mark orphans. Runs stay
        queued. For page tests (AppTest) and for a read-only viewer of a shared store.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol

import streamlit as st

from app.navigation import page_path  # pages import it from here too
from core.config import RunConfig
from core.device import gpu_info
from core.paths import workbench_home
from core.store import ACTIVE_STATUSES, STORE_ENV, Run, Store

NO_WORKERS_ENV = "LMWB_NO_WORKERS"
LAST_RUNS_KEY = "lmwb.last_runs"  # ids of the runs this session started most recently
COMPARE_HANDOFF_KEY = "lmwb.compare_runs"  # run ids the Runs page sends to Compare


class WorkerPool(Protocol):
    def ensure_workers(self) -> Any: ...
    def prewarm(self) -> Any: ...
    def shutdown(self) -> Any: ...


class _NoWorkers:
    """Stands in for the supervisor when ``LMWB_NO_WORKERS=1``: queued runs stay queued."""

    def ensure_workers(self) -> None:
        return None

    def prewarm(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


# -- the store and the workers ---------------------------------------------------------------
def store_location() -> tuple[str | None, str]:
    """(store URL or None for the default SQLite file, workbench home) from the environment."""
    return os.environ.get(STORE_ENV) or None, str(workbench_home())


@st.cache_resource(show_spinner=False)
def _cached_store(url: str | None, home: str) -> Store:
    return Store(url=url, home=Path(home))


def get_store() -> Store:
    """The run store for the current ``LMWB_STORE`` / ``LMWB_HOME`` (one per location)."""
    return _cached_store(*store_location())


def workers_disabled() -> bool:
    return os.environ.get(NO_WORKERS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _release_supervisor(supervisor: WorkerPool) -> None:
    supervisor.shutdown()


@st.cache_resource(show_spinner=False, on_release=_release_supervisor)
def _cached_supervisor(url: str | None, home: str, no_workers: bool) -> WorkerPool:
    if no_workers:
        return _NoWorkers()
    from core.workers.host import host_supervisor

    store = _cached_store(url, home)
    # The home's one supervisor: `lmwb ui`'s supervisor process hosts it (it marked orphans and
    # started queued runs before any tab opened, and keeps a worker warm), so the app attaches;
    # started some other way, or once that process is gone, the app hosts it. It needs the real
    # URL (Store.url hides a password).
    return host_supervisor(store.connect_url, Path(home))


def get_supervisor() -> WorkerPool:
    """The worker supervisor for the current store (a no-op one when workers are disabled)."""
    url, home = store_location()
    return _cached_supervisor(url, home, workers_disabled())


def start_workers() -> None:
    """Make sure queued runs have a worker; never blocks on training."""
    get_supervisor().ensure_workers()


def prewarm_workers() -> None:
    """Start an idle worker ahead of the first run (skips Python + torch start-up later)."""
    get_supervisor().prewarm()


# -- device ----------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def gpu_ids() -> list[str]:
    """The ids of the GPUs this app sees (none on a CPU-only machine), looked up once."""
    from core.device import visible_gpu_ids

    return visible_gpu_ids()


@st.cache_resource(show_spinner=False)
def device_text() -> str:
    """What training will run on with ``training.device = auto``: GPU name(s) or CPU."""
    gpus = gpu_info()
    if gpus:
        return "GPU: " + ", ".join(dict.fromkeys(gpus)) + (f" (x{len(gpus)})" if len(gpus) > 1 else "")
    threads = cpu_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'})"


def cpu_threads() -> int:
    """The threads torch gives a worker's training by default, found without importing torch
    here (the app server stays small): OMP_NUM_THREADS, else the physical cores."""
    import psutil  # deferred like the rest of this module's machine lookups

    try:
        wanted = int(os.environ.get("OMP_NUM_THREADS", "") or 0)
    except ValueError:
        wanted = 0
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    return min(wanted, os.cpu_count() or wanted) if wanted > 0 else cores


# -- session helpers -------------------------------------------------------------------------
def remember_runs(run_ids: Iterable[str]) -> None:
    """Record the runs this session just started; the Run page opens them by default."""
    st.session_state[LAST_RUNS_KEY] = list(run_ids)


def last_runs() -> list[str]:
    return list(st.session_state.get(LAST_RUNS_KEY, []))


def gpu_use(running: Sequence[Run], gpus: Sequence[str], host: str) -> dict[str, str | None]:
    """Each GPU of this machine (``gpus``: its ids) and the name of the run training on it, or
    None when it is free: from what running runs recorded (``summary.gpus`` on ``host``)."""
    use: dict[str, str | None] = dict.fromkeys(gpus)
    for run in running:
        summary = run.summary or {}
        if summary.get("host") == host:
            for gpu in summary.get("gpus") or []:
                if gpu in use:
                    use[gpu] = run.name
    return use


def active_counts(store: Store) -> dict[str, int]:
    """How many runs are running and queued right now."""
    counts = dict.fromkeys(sorted(ACTIVE_STATUSES), 0)
    for run in store.list_runs(status=list(ACTIVE_STATUSES)):
        counts[run.status] += 1
    return counts


def clear_keys(prefix: str) -> None:
    """Forget every widget value whose key starts with ``prefix`` (e.g. to apply a preset)."""
    for key in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[key]


# -- launching runs and moving between pages -------------------------------------------------
def launch(
    store: Store, configs: Sequence[RunConfig], *, names: Sequence[str | None] | None = None,
    tags: Sequence[str] = (),
) -> list[Run]:
    """Queue the runs and make sure a worker picks them up. Returns at once: training happens
    in worker processes, never in the Streamlit script thread."""
    from core.jobs import queue_run

    names = list(names) if names is not None else [None] * len(configs)
    runs = [queue_run(store, config, name=name, tags=tags) for config, name in zip(configs, names, strict=True)]
    start_workers()
    return runs


def open_run_page(run_ids: Sequence[str]) -> NoReturn:
    """Remember ``run_ids`` and show the first on the Run page (``?run=ID``)."""
    remember_runs(run_ids)
    st.switch_page(page_path("run"), query_params={"run": run_ids[0]})
