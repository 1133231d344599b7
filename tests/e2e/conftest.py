"""End-to-end fixtures: a real ``streamlit run app/main.py`` server and a headless Chromium.

The server runs in its own session (process group) with ``LMWB_HOME`` pointed at a temporary
folder. Its supervisor starts worker processes in *their own* sessions, so killing the
server's group alone would leave them behind: :func:`stop_server` collects every descendant
first, then stops them all.

The helpers (``start_server``, ``stop_server``, ``launch_browser``, ``wait_idle``...) are plain
functions so ``bench/ui_latency.py`` reuses them outside pytest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from core.cli.ui import ui_command, ui_environment

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium; `playwright install` cannot download browsers on these machines.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
HEALTH_TIMEOUT_S = 60.0


# -- the server --------------------------------------------------------------------------------
@dataclass
class Server:
    """A running app server: its URL, process, home folder and log file."""

    url: str
    process: subprocess.Popen[bytes]
    home: Path
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(
    home: Path, *, log_path: Path | None = None, env: Mapping[str, str] | None = None,
    timeout_s: float = HEALTH_TIMEOUT_S, lmwb_ui: bool = False,
) -> Server:
    """Start the app on a free port and wait until ``/_stcore/health`` answers.

    ``lmwb_ui``: start it through ``lmwb ui`` itself, which forks the machine's supervisor (its
    workers kept warm from the start) before it becomes the server: what a person runs, and what
    bench/ui_latency.py measures. By default the test server is ``streamlit run`` without a file
    watcher (the app then supervises its workers itself)."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if lmwb_ui:
        cmd = [sys.executable, "-m", "core.cli", "ui", "--host", "127.0.0.1", "--port", str(port)]
    else:
        # What `lmwb ui` runs, but the source never changes under a test: no file watcher means
        # fewer threads and wakeups.
        cmd = [*ui_command("127.0.0.1", port), "--server.fileWatcherType", "none"]
    if (REPO / ".venv").is_dir():
        cmd[0] = str(REPO / ".venv" / "bin" / "python")
    full_env = ui_environment(dict(os.environ))
    full_env.pop("LMWB_STORE", None)  # never a developer's shared store
    full_env.pop("LMWB_NO_WORKERS", None)
    full_env.update({"LMWB_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    log_path = log_path or home / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        cmd, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Server(url, process, home, log_path, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_server(server)
            raise RuntimeError(f"the app exited with code {process.returncode}:\n{server.log_tail()}")
        if _healthy(url):
            return server
        time.sleep(0.25)
    stop_server(server)
    raise TimeoutError(f"no answer from {url}/_stcore/health after {timeout_s:.0f} s:\n{server.log_tail()}")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), sig)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_server(server: Server, grace_s: float = 10.0) -> None:
    """SIGTERM the server and its workers (each in its own group), SIGKILL what remains."""
    pids = [server.pid, *descendants(server.pid)]
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=grace_s)
    while time.monotonic() < deadline and any(_alive(p) for p in pids[1:]):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=5)
    if server._log is not None:
        server._log.close()
        server._log = None


def rss_mb(pid: int) -> float:
    """Resident memory of one process (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- the browser -------------------------------------------------------------------------------
def playwright_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def launch_browser(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
    )


def wait_idle(page: Page, timeout_ms: float = 30_000) -> None:
    """Wait until Streamlit has no script run in flight.

    The app root carries ``data-test-script-state`` (``running``, ``rerunRequested``,
    ``notRunning``...); the "Running..." status widget only shows after a delay, so it cannot
    tell a short run from none. Fragments with ``run_every`` flip the state briefly, which is
    harmless: we only need a moment where nothing runs and no element is stale.
    """
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app !== null
                && app.getAttribute('data-test-connection-state') === 'CONNECTED'
                && app.getAttribute('data-test-script-state') === 'notRunning'
                && document.querySelector('[data-stale="true"]') === null;
        }""",
        timeout=timeout_ms,
    )


# True once the Run page's "Loss" chart has drawn a trace with at least ``n`` points. Reads the
# plotly graph div itself (what was drawn, not the store): ``calcdata`` holds one entry per
# drawn point (``data`` may be base64-packed), and the SVG must have the trace.
LOSS_POINTS_JS = """(n) => Array.from(document.querySelectorAll('.js-plotly-plot')).some(gd => {
    const title = (gd._fullLayout && gd._fullLayout.title && gd._fullLayout.title.text) || '';
    if (title.replace(/<[^>]*>/g, '').trim() !== 'Loss') return false;
    const points = (gd.calcdata || []).map(t => t.filter(p => Number.isFinite(p.y)).length);
    return Math.max(0, ...points) >= n && gd.querySelector('.scatterlayer .trace') !== null;
})"""


# Sets window.__lmwbSawRun once the app's script state leaves "notRunning" after arming.
_ARM_JS = """() => {
    window.__lmwbSawRun = false;
    if (window.__lmwbWatch) return;
    const look = () => {
        const app = document.querySelector('[data-testid="stApp"]');
        const state = app && app.getAttribute('data-test-script-state');
        if (state === 'running' || state === 'rerunRequested') window.__lmwbSawRun = true;
    };
    window.__lmwbWatch = new MutationObserver(look);
    window.__lmwbWatch.observe(document.body, {
        subtree: true, attributes: true, attributeFilter: ['data-test-script-state'],
    });
}"""
SETTLE_S = 0.3


def arm_rerun_watch(page: Page) -> None:
    """Start watching for the next script run (call just before the action that causes it)."""
    page.evaluate(_ARM_JS)


def wait_rerun(page: Page, timeout_ms: float = 30_000, settle_s: float = SETTLE_S) -> None:
    """Wait for the run armed by :func:`arm_rerun_watch` to start and finish.

    Right after a click the script state still reads "notRunning" (the server has not
    answered yet), so waiting for idle alone can return before the rerun even began. The
    sidebar's 5-second fragment may be the run we saw; the short settle then lets the real
    one start, and we wait for idle again.
    """
    page.wait_for_function("() => window.__lmwbSawRun === true", timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    if settle_s:
        time.sleep(settle_s)
        wait_idle(page, timeout_ms)


def act(page: Page, action: Callable[[], object], timeout_ms: float = 30_000) -> None:
    """Do ``action()`` (a click, a key press) and wait for the rerun it causes to finish."""
    arm_rerun_watch(page)
    action()
    wait_rerun(page, timeout_ms)


def click_sidebar_link(page: Page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()


# -- pytest fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = playwright_missing()
    if reason:
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("lmwb-e2e-home")
    server = start_server(home)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def app_url(app_server: Server) -> str:
    return app_server.url


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Keep each phase's report on the test item, so the page fixture knows the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(app_server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser page with a 1400x1000 viewport (wide layout, sidebar open).

    On failure it leaves ``FAILED-<test>.png`` and the server log tail next to the screenshots.
    """
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            tab = context.new_page()
            tab.set_default_timeout(30_000)
            yield tab
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                stem = ARTIFACTS / f"FAILED-{request.node.name}"
                with contextlib.suppress(Exception):
                    tab.screenshot(path=f"{stem}.png", full_page=True)
                (ARTIFACTS / f"FAILED-{request.node.name}.server.log").write_text(app_server.log_tail(20_000))
        finally:
            browser.close()
