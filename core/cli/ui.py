"""``lmwb ui``: the browser workbench (a Streamlit server).

The app (``app/serve.py`` serving ``app/main.py``, the pages it declares, the server settings in
``core/server.py``) is found from where the package is installed, never from the folder the
command is started in.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import ipaddress
import os
import re
import select
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.cli.common import number, open_store
from core.errors import WorkbenchError
from core.params import shown_text
from core.server import DEFAULT_HOST, DEFAULT_PORT, SECURITY_OPTIONS, origin, streamlit_flags


def app_folder() -> Path:
    """The installed app's folder (``app/``), found by the import system without importing it:
    the CLI starts the app by path and never imports it."""
    spec = importlib.util.find_spec("app")
    if spec is None or not spec.submodule_search_locations:
        raise WorkbenchError("LM Workbench is incomplete: its app/ package is missing. Reinstall LM Workbench "
                             "(pip install .)")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def app_served() -> Path:
    """What ``streamlit run`` is given: ``app/serve.py``, the entrypoint as an ASGI app with the
    middleware that spares a page opened by its URL two 404s and opens ``/home`` (see there)."""
    return app_folder() / "serve.py"


def check_app(pages_dir: Path | None = None) -> None:
    """Refuse to start an app whose declared pages are missing (a broken install): the app's own
    check (app/navigation.py), run by path in a process of its own."""
    isolate = ["-P"] if sys.version_info >= (3, 11) else []
    extra = [str(pages_dir)] if pages_dir is not None else []
    check = subprocess.run([sys.executable, *isolate, str(app_folder() / "navigation.py"), *extra],
                           capture_output=True, text=True)
    if check.returncode != 0:
        lines = check.stderr.strip().splitlines()
        raise WorkbenchError(lines[-1] if lines else f"the app's page check failed ({check.returncode})")


def ui_command(host: str, port: int, *, xsrf: bool = True) -> list[str]:
    """The ``streamlit run`` command line of the app (shared with the browser tests).

    Every server setting goes on the command line, where it wins over any ``config.toml`` and
    ``STREAMLIT_*`` environment variable (core/server.py). ``-P`` (Python 3.11+) keeps the
    current folder off ``sys.path``, so a ``core/`` or ``pages/`` folder where the command is
    started cannot stand in for the installed ones.
    """
    isolate = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *isolate, "-m", "streamlit", "run", str(app_served()),
            *streamlit_flags(host, port, xsrf=xsrf)]


_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                        r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")
HOST_EXAMPLES = ("127.0.0.1 (this machine only, the default), 0.0.0.0 (every network interface), ::1, "
                 "or a name of this machine such as localhost")


def check_host(host: str, port: int) -> None:
    """Refuse, in one line naming the flag, a ``--host`` the server could not listen on as meant:
    empty (Streamlit would listen everywhere), with spaces around it, not a host name or an IP
    address, or an address this machine does not have; and a ``--port`` already taken there.
    The same bind the server makes, tried and let go at once."""
    if not host.strip():
        # An empty address makes the server listen on every interface: never by accident.
        raise WorkbenchError("--host is empty, which would listen on every network interface; the default "
                             "(127.0.0.1) keeps the workbench on this machine. To expose it on purpose, pass "
                             "--host 0.0.0.0 (anyone who can reach the port can then train and delete runs)")
    if host != host.strip():
        raise WorkbenchError(f"--host {host!r}: spaces around the address; expected a host name or address "
                             f"alone, e.g. --host {host.strip()}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host) or host.replace(".", "").isdigit():
            hint = " (an IPv6 address is written without brackets)" if host.startswith("[") else ""
            raise WorkbenchError(f"--host {shown_text(host)}: not a host name or an IP address{hint}; expected "
                                 f"{HOST_EXAMPLES}") from None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise WorkbenchError(f"--host {host}: no address found for this name ({exc}); expected {HOST_EXAMPLES}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise WorkbenchError(f"--port {port}: already in use on {host} (another lmwb ui?); pick a free "
                                     "one with --port") from None
            raise WorkbenchError(f"--host {host}: this machine cannot listen there ({exc.strerror}); expected "
                                 f"one of its own addresses: {HOST_EXAMPLES}") from None


XSRF_WARNING = ("warning: --disable-xsrf-protection: XSRF protection is off, so a web page open in the same "
                "browser can send requests (file uploads) to this workbench in your name; leave it on unless a "
                "proxy in front of the workbench checks every request itself")


def exposure_warning(host: str, port: int) -> str | None:
    """A warning when ``host`` lets other machines reach the workbench (anything but loopback)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (f"warning: --host {host}: other machines that can reach port {port} can open this workbench and "
            "train, delete and download its runs (it has no login); keep it on a network you trust")


def _read_toml(path: Path) -> dict[str, Any] | None:
    """The file's settings; None when it is missing or unreadable, and on Python 3.10, which has
    no tomllib to read it with (its settings do not apply either way)."""
    if sys.version_info >= (3, 11):
        import tomllib  # Python 3.11 and later only

        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeError, tomllib.TOMLDecodeError):
            return None
    return None


def ignored_streamlit_settings(folders: list[Path]) -> list[str]:
    """Notes for each ``.streamlit/config.toml`` in ``folders`` that sets a security setting
    `lmwb ui` pins (core/server.py): the file is not wrong, but its value does not apply."""
    notes = []
    for folder in dict.fromkeys(folders):
        path = folder / ".streamlit" / "config.toml"
        doc = _read_toml(path)
        if doc is None:
            continue
        keys = [k for k in SECURITY_OPTIONS if k.split(".", 1)[1] in (doc.get(k.split(".", 1)[0]) or {})]
        if keys:
            notes.append(f"note: {path} sets {', '.join(keys)}; lmwb ui keeps its own "
                         "(the address is --host, XSRF protection is off only with --disable-xsrf-protection)")
    return notes


def ui_environment(base: dict[str, str]) -> dict[str, str]:
    """The app server's environment: ``base`` plus defaults it does not set.

    Streamlit sends every table through Arrow, whose default allocator (mimalloc) keeps freed
    memory for reuse; the system allocator hands it back (measured: about 8 MB less resident
    after visiting every page), and the tables the app sends are far too small to feel it.
    """
    return {"ARROW_DEFAULT_MEMORY_POOL": "system", **base}


def cmd_ui(args: argparse.Namespace) -> int:
    from core.store.claims import grace_s
    from core.workers.supervisor import default_max_workers

    check_host(args.host, args.port)
    # The supervisor's settings, refused here in one line before any process starts.
    default_max_workers()
    grace_s()
    check_app()  # a broken install fails here, not as a shorter menu in the browser
    store = open_store(args)  # a bad --store / --home fails here, with the CLI's message
    env = dict(os.environ)
    if args.store:
        env["LMWB_STORE"] = args.store
    if args.home:
        env["LMWB_HOME"] = args.home
    if args.disable_xsrf_protection:
        print(XSRF_WARNING, file=sys.stderr, flush=True)
    for note in [exposure_warning(args.host, args.port), *ignored_streamlit_settings([Path.cwd(), Path.home()])]:
        if note:
            print(note, file=sys.stderr, flush=True)
    print(f"LM Workbench at {origin(args.host, args.port)}", flush=True)
    cmd, env = ui_command(args.host, args.port, xsrf=not args.disable_xsrf_protection), ui_environment(env)
    if os.name != "posix":
        return _serve_with_supervisor_here(store, cmd, env)
    # The machine's supervisor starts now, beside the server: orphaned runs are marked and
    # queued runs start at once, before any browser tab opens (core.workers.host.serve).
    read_fd, write_fd = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the supervisor process
        os.close(write_fd)
        os.close(ready_r)
        os.setsid()  # a Ctrl-C in the terminal stops the server; the pipe then stops this
        from core.workers.host import serve

        os._exit(serve(store.connect_url, store.home, read_fd, ready_fd=ready_w))
    os.close(read_fd)
    os.close(ready_w)
    # Once it holds the home's supervisor lock, the app attaches to it instead of hosting one.
    select.select([ready_r], [], [], 10.0)
    os.close(ready_r)
    os.set_inheritable(write_fd, True)  # held by the server until it exits, however it exits
    # The server takes this process's place: a signal to `lmwb ui` (a service manager's
    # SIGTERM, not only a terminal's Ctrl-C) reaches Streamlit, and no orphan is left.
    os.execve(cmd[0], cmd, env)
    return 1  # not reached


def _serve_with_supervisor_here(store: Any, cmd: list[str], env: dict[str, str]) -> int:
    """Where there is no fork (Windows): the supervisor's threads run in this process while it
    waits for the server."""
    from core.workers.host import host_supervisor

    supervisor = host_supervisor(store.connect_url, store.home, keep_warm=True)
    supervisor.prewarm()
    try:
        return subprocess.call(cmd, env=env)
    finally:
        supervisor.shutdown()


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("ui", help="start the browser workbench")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default: {DEFAULT_HOST}, this machine only)")
    p.add_argument("--port", type=number(int, 1, 65535), default=DEFAULT_PORT)
    p.add_argument("--disable-xsrf-protection", action="store_true",
                   help="turn Streamlit's XSRF protection off (on by default, whatever a .streamlit/config.toml "
                        "says); prints a warning. Only behind a proxy that checks requests itself")
    p.set_defaults(func=cmd_ui)
