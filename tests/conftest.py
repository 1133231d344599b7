"""Shared fixtures: every test gets its own workbench home, so nothing touches ~/.lmwb.

Torch threads: the suite runs next to other processes on a couple of cores (its own workers,
app servers, a second pytest). One OpenMP thread per process unless ``OMP_NUM_THREADS`` says
otherwise: set here, at import, before anything imports torch, so every subprocess a test
starts (run workers, sweep workers, ``streamlit run``) inherits it through the environment.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

try:  # the test process itself, should torch have been imported before this file
    torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
except ValueError:
    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.exists(), reason="../shared/data is not present on this machine"
)


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "lmwb-home"
    monkeypatch.setenv("LMWB_HOME", str(home))
    monkeypatch.delenv("LMWB_STORE", raising=False)
    return home


@pytest.fixture
def all_cores():
    """Every core for a test that trains in the test process with nothing else running (the
    real-data recipes): one thread would double their time for no gain."""
    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def store(workbench_home: Path):
    from core.store import Store

    return Store(home=workbench_home)


@pytest.fixture
def one_torch_thread():
    """Run a test's torch work on one CPU thread (use with ``pytest.mark.usefixtures``).

    Small models gain nothing from a second OpenMP thread but pay its synchronisation, which a
    busy machine turns into long waits (10x slower decoding measured on 2 shared cores).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
