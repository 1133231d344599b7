"""The installed wheel, as a person gets it: ``lmwb ui`` from a fresh virtual environment,
started in an empty temporary folder, and every page opened in a real browser.

``make wheel-check`` builds the wheel, installs it (after the CPU torch) into a new venv and
runs this file with ``LMWB_WHEEL_VENV`` pointing there. Without that variable it skips: it is
not part of ``make test``. Everything about the app (which pages, their titles, the vendored
scripts) is asked of the *installed* package, never of this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    ARTIFACTS,
    Server,
    _healthy,
    click_sidebar_link,
    free_port,
    launch_browser,
    playwright_missing,
    stop_server,
    wait_idle,
)

pytestmark = pytest.mark.wheel

VENV = os.environ.get("LMWB_WHEEL_VENV", "")
OUT = ARTIFACTS.parent / "wheel"
# A config file where the app is started, saying the opposite of the app's own settings: the
# settings `lmwb ui` passes must win (a dark theme here would mean they did not).
DECOY_CONFIG = '[server]\nmaxUploadSize = 7\n[theme]\nbase = "dark"\nbackgroundColor = "#000000"\n'
# Asked of the installed package: where it is, its pages, its vendored scripts, and a bertviz
# head view built by it (drawn below with the network cut off).
PROBE = """
import json, sys, torch
from bertviz import head_view
import app, core
from app.navigation import PAGES, PAGES_DIR, check_pages
from app.components.bertviz import REQUIRE_JS, AMD_ASSETS, localize_bertviz
check_pages()
weights = torch.softmax(torch.randn(1, 4, 6, 6), dim=-1)
html = head_view([weights, weights], list("abcdef"), html_action="return").data
open(sys.argv[1], "w", encoding="utf-8").write(localize_bertviz(html))
print(json.dumps({
    "app": app.__file__, "core": core.__file__, "pages_dir": str(PAGES_DIR),
    "pages": [{"title": p.title, "url_path": p.url_path, "heading": p.heading} for p in PAGES],
    "scripts": [[str(a.file), a.file.is_file(), a.licence_file.is_file()] for a in (REQUIRE_JS, *AMD_ASSETS)],
}))
"""


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "LMWB_STORE", "LMWB_NO_WORKERS", "VIRTUAL_ENV")}
    env.update({"LMWB_HOME": str(home), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not VENV:
        pytest.skip("LMWB_WHEEL_VENV is not set: run `make wheel-check`")
    if reason := playwright_missing():
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("lmwb-wheel")
    (folder / ".streamlit").mkdir()
    (folder / ".streamlit" / "config.toml").write_text(DECOY_CONFIG)
    return folder


@pytest.fixture(scope="module")
def installed(workdir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [str(Path(VENV) / "bin" / "python"), "-P", "-c", PROBE, str(workdir / "head_view.html")],
        cwd=workdir, env=_clean_env(workdir / "home"), capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def server(workdir: Path, installed: dict[str, Any]) -> Iterator[Server]:
    port = free_port()
    log_path = workdir / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(Path(VENV) / "bin" / "lmwb"), "ui", "--port", str(port)], cwd=workdir,
        env=_clean_env(workdir / "home"), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    srv = Server(f"http://127.0.0.1:{port}", process, workdir / "home", log_path, log)
    deadline = time.monotonic() + 90
    try:
        while not _healthy(srv.url):
            assert process.poll() is None, f"lmwb ui exited with {process.returncode}:\n{srv.log_tail()}"
            assert time.monotonic() < deadline, f"no answer from {srv.url}:\n{srv.log_tail()}"
            time.sleep(0.25)
        yield srv
    finally:
        stop_server(srv)


def cut_off_network(tab: Any, allow: str | None = None) -> list[str]:
    """Abort every request not to ``allow``; returns the list the aborted URLs go into."""
    outside: list[str] = []

    def handle(route: Any) -> None:
        if allow is not None and route.request.url.startswith(allow):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    tab.route("**/*", handle)
    return outside


def test_the_app_comes_from_the_installed_package(installed: dict[str, Any]) -> None:
    venv = Path(VENV).resolve()
    for key in ("app", "core", "pages_dir"):
        assert Path(installed[key]).resolve().is_relative_to(venv), (key, installed[key])
    assert len(installed["pages"]) >= 9
    for path, script, licence in installed["scripts"]:
        assert script and licence, path


def test_every_page_renders_from_the_installed_app(server: Server, installed: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    pages = installed["pages"]
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            tab = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            tab.set_default_timeout(60_000)
            outside = cut_off_network(tab, allow=server.url)
            tab.goto(server.url)
            wait_idle(tab, 90_000)
            labels = tab.locator('[data-testid="stSidebarNavLink"] span[label]')
            assert labels.evaluate_all("s => s.map(e => e.getAttribute('label'))") == [p["title"] for p in pages]
            # The app's own theme, not the dark one of the config file where it was started.
            background = tab.evaluate(
                "getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
            assert background == "rgb(255, 255, 255)", background
            for i, spec in enumerate(pages):
                try:
                    if i:
                        click_sidebar_link(tab, spec["title"])
                    tab.get_by_role("heading", name=spec["heading"], exact=True).wait_for()
                    wait_idle(tab, 90_000)
                    if i:
                        assert tab.url.split("?")[0] == f"{server.url}/{spec['url_path']}"
                    exceptions = tab.locator('[data-testid="stException"]').all_inner_texts()
                    errors = tab.locator('[data-testid="stAlertContentError"]').all_inner_texts()
                    assert not exceptions and not errors, (spec["title"], exceptions, errors)
                except Exception:
                    tab.screenshot(path=str(OUT / f"FAILED-{spec['url_path']}.png"), full_page=True)
                    (OUT / "server.log").write_text(server.log_tail(20_000))
                    raise
            assert outside == [], f"the app asked the network for {outside}"
        finally:
            browser.close()


def test_the_installed_bertviz_view_draws_offline(workdir: Path, installed: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            tab = browser.new_page()
            outside = cut_off_network(tab)
            tab.set_content((workdir / "head_view.html").read_text(encoding="utf-8"))
            tab.wait_for_selector("#attention line", state="attached", timeout=30_000)
            assert outside == []
        finally:
            browser.close()
