"""``lmwb ui``: the browser workbench (a Streamlit server)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cli.common import number


def ui_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line of the app (shared with the browser tests)."""
    main = Path(__file__).resolve().parents[2] / "app" / "main.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(main),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]


def ui_environment(base: dict[str, str]) -> dict[str, str]:
    """The app server's environment: ``base`` plus defaults it does not set.

    Streamlit sends every table through Arrow, whose default allocator (mimalloc) keeps freed
    memory for reuse; the system allocator hands it back (measured: about 8 MB less resident
    after visiting every page), and the tables the app sends are far too small to feel it.
    """
    return {"ARROW_DEFAULT_MEMORY_POOL": "system", **base}


def cmd_ui(args: argparse.Namespace) -> int:
    import os
    import subprocess

    env = dict(os.environ)
    if args.store:
        env["LMWB_STORE"] = args.store
    if args.home:
        env["LMWB_HOME"] = args.home
    print(f"LM Workbench at http://{args.host}:{args.port}", flush=True)
    return subprocess.call(ui_command(args.host, args.port), env=ui_environment(env))


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("ui", help="start the browser workbench")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    p.add_argument("--port", type=number(int, 1, 65535), default=8501)
    p.set_defaults(func=cmd_ui)
