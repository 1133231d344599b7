"""Shared fixtures: every test gets its own workbench home, so nothing touches ~/.lmwb.

Torch threads: the suite runs next to other processes on a couple of cores (its own workers,
app servers, a second pytest). One OpenMP thread per process unless ``OMP_NUM_THREADS`` says
otherwise: set here, at import, before anything imports torch, so every subprocess a test
starts (run workers, sweep workers, ``streamlit run``) inherits it through the environment.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first (slow, then e2e), the rest after in file order: with two test processes
    (make test) the long ones then run side by side and the short ones fill the gaps, instead
    of one process finishing the recipes alone at the end (see the scheduler below)."""
    def rank(item: pytest.Item) -> int:
        return 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("e2e") else 2

    items.sort(key=rank)  # stable: file order within each group


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """make test (``-n``): one test module at a time to whichever process is free, in the order
    above. xdist's default first hands each process one run of len/8 consecutive tests (162 of
    ~1300 with two): the first process then had every slow and e2e test (the first 34 above) and
    ran them one after another while the second finished the rest and waited. Whole modules, not single
    tests, so a module's shared set-up (a pretraining run, an app server) runs once. Another
    --dist is left alone."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # it would put the modules with most tests first
    return LoadScopeScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """Each new AppTest scans every installed distribution for Streamlit component manifests,
    with a thread pool of its own; the answer cannot change within a test process, so scan once.
    (Hundreds of AppTests per process; one scan once stalled a test process for minutes.)"""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # another Streamlit: nothing to cache
        return
    import functools

    scan = manifest_scanner.scan_component_manifests
    if not hasattr(scan, "cache_info"):
        manifest_scanner.scan_component_manifests = functools.cache(scan)


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "lmwb-home"
    monkeypatch.setenv("LMWB_HOME", str(home))
    monkeypatch.delenv("LMWB_STORE", raising=False)
    return home


@pytest.fixture(autouse=True)
def main_module_restored() -> Iterator[None]:
    """Put back the interpreter's ``__main__`` after each test. Streamlit's script runner (every
    AppTest) installs the page it ran as ``sys.modules["__main__"]`` and leaves it there, and a
    process started with multiprocessing's spawn re-runs ``__main__``'s file: a store test run later
    in the same xdist process spawned children that each started the app (app/main.py) on the
    test's store, which locked it for 30 s and broke the test's barrier."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def all_cores():
    """Every core for a test that trains in the test process with nothing else running (the
    real-data recipes): one thread would double their time for no gain."""
    before = torch.get_num_threads()
    # Under pytest-xdist (make test) the other test processes are busy: share the cores.
    sharing = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // sharing))
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


def trained_tiny_classifier(store: Any, name: str = "clf", *, max_steps: int = 6, eval_every: int = 3) -> Any:
    """A classifier of the built-in sentiment set (200 rows, 8-wide), trained here in a second or
    two: a stored run with checkpoints for tests that damage, read or refuse one."""
    from core.config import default_config, validate_config
    from core.runs import create_run, execute_run

    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["training"].update(max_steps=max_steps, eval_every=eval_every, batch_size=8)
    run = create_run(store, validate_config(raw), name=name)
    execute_run(store, run.id)
    return store.get_run(run.id)


def wait_until(
    check: Callable[[], Any], timeout: float, what: str, explain: Callable[[], str] | None = None,
) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``
    (and what ``explain`` says about the state then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    detail = f"\n{explain()}" if explain is not None else ""
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")


# -- PostgreSQL, for the tests of several machines sharing one store -----------------------------
PG_ENV = "LMWB_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """$LMWB_TEST_POSTGRES_URL (CI: .ci/run starts a server), else a throwaway cluster from
    the local PostgreSQL binaries; skips only when neither is possible."""
    url = os.environ.get(PG_ENV, "").strip()
    if url:
        yield url
        return
    cluster = _start_temporary_postgres(tmp_path_factory.mktemp("pg"))
    if cluster is None:
        pytest.skip(f"{PG_ENV} is unset and no PostgreSQL server could be started here")
    url, stop = cluster
    try:
        yield url
    finally:
        stop()


def _start_temporary_postgres(folder: Path) -> tuple[str, Callable[[], None]] | None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb") or next((str(b / "initdb") for b in bins if (b / "initdb").exists()), None)
    if initdb is None:
        return None
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        if shutil.which("runuser") is None:
            return None
        as_user = ["runuser", "-u", "postgres", "--"]
        folder = Path(tempfile.mkdtemp(prefix="lmwb-pg-"))  # pytest's tmp is root-only
        try:
            shutil.chown(folder, "postgres")
        except (LookupError, OSError):
            return None
    data = folder / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "lmwb", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None

    def stop() -> None:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql+psycopg://lmwb@127.0.0.1:{port}/postgres", stop


@pytest.fixture
def fresh_postgres_db(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test server (dropped afterwards): a test that counts runs
    must not see another test's."""
    import sqlalchemy as sa

    name = f"lmwb_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
