"""The Streamlit server's settings, declared once and shipped with the package.

``lmwb ui`` (``core/cli/ui.py``) passes every one of them to ``streamlit run`` as a command-line
flag, which Streamlit ranks above any ``config.toml`` (``~/.streamlit`` or the folder the app
was started from): the app behaves the same wherever it is started. The Data page's own upload
check reads :data:`MAX_UPLOAD_MB` from here too.

No Streamlit import: the CLI reads this before any server exists.
"""

from __future__ import annotations

MAX_UPLOAD_MB = 50  # the Data page stores uploads under the workbench home
DEFAULT_HOST = "127.0.0.1"  # local and private unless `lmwb ui --host` says otherwise
DEFAULT_PORT = 8501

SERVER_OPTIONS: dict[str, str | int | bool] = {
    "server.address": DEFAULT_HOST,
    "server.port": DEFAULT_PORT,
    "server.maxUploadSize": MAX_UPLOAD_MB,
    "server.runOnSave": False,
    "server.headless": True,  # never opens a browser by itself, never asks for an e-mail
    "browser.gatherUsageStats": False,
    "client.toolbarMode": "minimal",
    "theme.base": "light",
    "theme.primaryColor": "#4F46E5",
    "theme.backgroundColor": "#FFFFFF",
    "theme.secondaryBackgroundColor": "#F4F5FA",
    "theme.textColor": "#1F2333",
    "theme.font": "sans-serif",
}


def _flag_value(value: str | int | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_flags(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> list[str]:
    """``--section.option value`` for every setting, with this bind address and port."""
    options = {**SERVER_OPTIONS, "server.address": host, "server.port": port}
    flags: list[str] = []
    for name, value in options.items():
        flags += [f"--{name}", _flag_value(value)]
    return flags
