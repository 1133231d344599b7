"""``lmwb ui``: the server settings travel on the command line and win over any config file or
``STREAMLIT_*`` variable, the security settings above all (a running server, started from a
folder with a hostile ``.streamlit/config.toml``, is checked for what it applies); the app is
found from the installed package; a missing page stops the command."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import tomllib

import app
from core.cli import main
from core.cli.ui import ui_command
from core.errors import WorkbenchError
from core.server import MAX_UPLOAD_MB, SECURITY_OPTIONS, SERVER_OPTIONS, streamlit_flags
from tests.conftest import REPO, wait_until

DECOY = """[server]
maxUploadSize = 7
address = "0.0.0.0"
[theme]
base = "dark"
[browser]
gatherUsageStats = true
"""
# Everything a config file could do to open the workbench up: listen everywhere, take any
# upload size, drop XSRF protection, let another origin open a session.
HOSTILE = """[server]
address = "0.0.0.0"
maxUploadSize = 5000
enableXsrfProtection = false
enableCORS = false
corsAllowedOrigins = ["http://evil.example"]
xsrfCookieSameSite = "none"
[browser]
serverAddress = "evil.example"
"""
HOSTILE_ENV = {"STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION": "false", "STREAMLIT_SERVER_ENABLE_CORS": "false",
               "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "5000"}


def test_ui_command_runs_the_installed_app_with_every_setting() -> None:
    cmd = ui_command("127.0.0.1", 8600)
    assert cmd[cmd.index("run") + 1] == str(Path(app.__file__).resolve().parent / "serve.py")  # main.py, served
    flags = dict(zip(cmd[cmd.index("run") + 2::2], cmd[cmd.index("run") + 3::2], strict=True))
    assert set(flags) == {f"--{name}" for name in SERVER_OPTIONS}
    assert flags["--server.port"] == "8600" and flags["--server.maxUploadSize"] == str(MAX_UPLOAD_MB)
    assert flags["--server.enableXsrfProtection"] == flags["--server.enableCORS"] == "true"
    assert flags["--server.corsAllowedOrigins"] == "http://127.0.0.1:8600"  # its own origin, nobody else's
    unsafe = ui_command("::1", 8600, xsrf=False)
    assert unsafe[unsafe.index("--server.enableXsrfProtection") + 1] == "false"
    assert unsafe[unsafe.index("--server.corsAllowedOrigins") + 1] == "http://[::1]:8600"


def test_settings_win_over_a_config_file_where_the_app_starts(tmp_path: Path) -> None:
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text(DECOY + HOSTILE.replace("[server]", ""))
    # `streamlit config show` parses flags, config files and STREAMLIT_* variables exactly as
    # `streamlit run` does.
    out = subprocess.run([sys.executable, "-m", "streamlit", "config", "show", *streamlit_flags()],
                         cwd=tmp_path, env={**os.environ, **HOSTILE_ENV}, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    shown = shown_options(out)
    ours = {**SERVER_OPTIONS, "server.corsAllowedOrigins": ["http://127.0.0.1:8501"]}
    ours.pop("global.developmentMode")  # a hidden option, which `config show` leaves out
    assert {name: shown.get(name) for name in ours} == ours  # every setting, with our value
    assert {name for name in SECURITY_OPTIONS if name in shown} == set(SECURITY_OPTIONS) - {"global.developmentMode"}


def shown_options(text: str) -> dict[str, object]:
    """``section.key -> value`` of the uncommented lines of ``streamlit config show`` (a list
    spans several lines)."""
    options, section, pending = {}, "", ""
    for line in text.splitlines():
        if pending:
            pending += line
            if line.startswith("]"):
                key, value = pending.split(" = ", 1)
                options[f"{section}.{key}"] = tomllib.loads(f"v = {value}")["v"]
                pending = ""
        elif line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif " = " in line and not line.startswith(("#", " ")):
            key, value = line.split(" = ", 1)
            if value == "[":
                pending = line
                continue
            options[f"{section}.{key}"] = tomllib.loads(f"v = {value}")["v"]
    return options


@pytest.mark.parametrize("disable_xsrf", [False, True], ids=["default", "disable-xsrf-protection"])
def test_a_running_server_keeps_its_security_settings_over_a_hostile_config(tmp_path: Path,
                                                                            disable_xsrf: bool) -> None:
    """`lmwb ui` started from a folder whose .streamlit/config.toml (and the user's own, and the
    environment) would open it up: the server listens on 127.0.0.1 only, refuses an upload
    without the XSRF token and one over the 50 MB cap, and refuses a session from another
    origin. Only --disable-xsrf-protection turns XSRF off, with a warning."""
    start, user = tmp_path / "start", tmp_path / "user"
    for folder in (start, user):
        (folder / ".streamlit").mkdir(parents=True)
        (folder / ".streamlit" / "config.toml").write_text(HOSTILE)
    port = _free_port()
    env = {**os.environ, **HOSTILE_ENV, "HOME": str(user), "LMWB_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(REPO), "LMWB_NO_WORKERS": "1"}
    env.pop("LMWB_STORE", None)
    log = (tmp_path / "ui.log").open("wb")
    flags = ["--disable-xsrf-protection"] if disable_xsrf else []
    ui = subprocess.Popen([sys.executable, "-m", "core.cli", "ui", "--port", str(port), *flags], cwd=start, env=env,
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: ui.poll() is not None or _get(port, "/_stcore/health")[0] == 200, 120,
                   "the server to answer")
        assert ui.poll() is None, (tmp_path / "ui.log").read_text()
        listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(ui.pid).net_connections()
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {("127.0.0.1", port)}  # not 0.0.0.0
        status, headers = _get(port, "/_stcore/health", Origin="http://evil.example")
        assert "access-control-allow-origin" not in headers  # no cross-origin reads
        with _session(port, "http://evil.example") as refused:
            assert refused is None  # no session for a page of another origin
        token = headers["set-cookie"].split(";")[0].split("=", 1)[1] if not disable_xsrf else None
        with _session(port, f"http://127.0.0.1:{port}") as session:
            assert session
            csv = b"text,label\nfine,1\n"
            # Without the XSRF token: refused, unless --disable-xsrf-protection.
            assert _put(port, session, csv, token=None) == (204 if disable_xsrf else 403)
            if token is not None:
                assert _put(port, session, csv, token=token) == 204  # with it: accepted
                too_big = (MAX_UPLOAD_MB + 1) * 1024 * 1024  # declared, never sent
                assert _put(port, session, b"", token=token, length=too_big) == 413
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
        log.close()
    lines = (tmp_path / "ui.log").read_text().splitlines()
    assert lines[0].startswith("warning: --disable-xsrf-protection: XSRF protection is off") == disable_xsrf
    for folder in (start, user):  # each hostile file is named, with what it tried to set
        note = f"note: {folder / '.streamlit' / 'config.toml'} sets server.address, "
        assert any(line.startswith(note) and "lmwb ui keeps its own" in line for line in lines), lines[:6]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str]]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    except OSError:
        return 0, {}


@contextlib.contextmanager
def _session(port: int, origin: str) -> Iterator[str | None]:
    """The id of a session of the server, open while in the block, from a WebSocket opened as a
    page of ``origin`` would open it; None when the server refuses it."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        ws = connect(f"ws://127.0.0.1:{port}/_stcore/stream", origin=origin, subprotocols=["streamlit"],
                     open_timeout=30)
    except InvalidStatus as exc:
        assert exc.response.status_code == 403
        yield None
        return
    with ws:
        hello = BackMsg()
        hello.rerun_script.query_string = ""
        ws.send(hello.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(ws.recv(timeout=60))
            if message.WhichOneof("type") == "new_session":
                break
        yield message.new_session.initialize.session_id


def _put(port: int, session: str, content: bytes, *, token: str | None, length: int | None = None) -> int:
    """The status of a file upload to ``session``; ``length``: a Content-Length to declare
    instead of sending the body (the server judges it before reading any)."""
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\n" + content + b"\r\n--b--\r\n")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("PUT", f"/_stcore/upload_file/{session}/file-1")
    conn.putheader("Content-Type", "multipart/form-data; boundary=b")
    conn.putheader("Content-Length", str(length if length is not None else len(body)))
    if token is not None:
        conn.putheader("X-Xsrftoken", token)
        conn.putheader("Cookie", f"_streamlit_xsrf={token}")
    conn.endheaders()
    if length is None:
        conn.send(body)
    response = conn.getresponse()
    response.read()
    return response.status


def test_a_missing_page_stops_lmwb_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI checks the app by path, in a process of its own: the app's own page check."""
    from core.cli import ui

    with pytest.raises(WorkbenchError, match=r"incomplete: \d+ page file\(s\) missing from .*home.py"):
        ui.check_app(pages_dir=tmp_path)
    ui.check_app()  # the real install: complete
    real = ui.check_app
    monkeypatch.setattr(ui, "check_app", lambda: real(pages_dir=tmp_path))
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("lmwb ui went on to start the server"))
    assert main(["ui", "--port", "8600"]) == 2
    assert "page file(s) missing" in capsys.readouterr().err
