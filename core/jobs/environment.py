"""The environment of the training processes this machine starts: workers, sweep drivers, the
ranks of a multi-process run. A low module (the store's URL and home, threads, the path to
core/), so the launchers above it all build it the same way."""

from __future__ import annotations

import os
from pathlib import Path

from core.store import STORE_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]  # the folder holding core/: workers import from it


def worker_env(store_url: str, home: Path) -> dict[str, str]:
    """The environment of a training process this machine starts (a queue worker, a sweep
    driver, the ranks of a multi-process run).

    ``store_url`` is the real URL (with any password): it goes through the environment, never
    the command line, so ``ps`` never shows it. OpenMP threads that spin while waiting turn tiny
    CPU models 10-20x slower as soon as anything else (the app itself) wants a core; sleeping
    waiters cost little, so ``OMP_WAIT_POLICY`` is PASSIVE unless the user set it. ``PYTHONPATH``
    finds core/ even when the app was started from another folder without an install.
    """
    env = dict(os.environ)
    env[STORE_ENV] = store_url
    env["LMWB_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env
