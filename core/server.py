"""The Streamlit server's settings, declared once and shipped with the package. In core/ (it
imports nothing, Streamlit included): the CLI that starts the server and the app that checks
uploads both read it, and the CLI never imports the app.

``lmwb ui`` (``core/cli/ui.py``) passes every one of them to ``streamlit run`` as a command-line
flag, which Streamlit ranks above any ``config.toml`` (``~/.streamlit`` or the folder the app
was started from) and above ``STREAMLIT_*`` environment variables: the app behaves the same
wherever it is started, and a config file cannot open it up. The Data page's own upload check
reads :data:`MAX_UPLOAD_MB` from here too.

The security settings (:data:`SECURITY_OPTIONS`) matter most. Streamlit 1.67 treats XSRF and
CORS protection as independent switches (``server.enableCORS=false`` is not overridden by XSRF
protection, as it was in older releases) and lets ``server.corsAllowedOrigins`` and
``browser.serverAddress`` add origins that may open a session: each is pinned here, not only
``server.enableXsrfProtection``. Only ``lmwb ui --disable-xsrf-protection`` turns XSRF off.

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
    "server.enableXsrfProtection": True,  # uploads need the token of a page this server sent
    "server.enableCORS": True,  # only this app's own origin (and localhost) may open a session
    "server.corsAllowedOrigins": f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",  # replaced by the app's own origin
    "server.xsrfCookieSameSite": "lax",
    "browser.serverAddress": "localhost",  # Streamlit's default; a config file's would be an allowed origin
    "global.developmentMode": False,  # development mode accepts every origin
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
# What keeps the workbench private and its uploads bounded, whatever a config file says.
SECURITY_OPTIONS = ("server.address", "server.maxUploadSize", "server.enableXsrfProtection", "server.enableCORS",
                    "server.corsAllowedOrigins", "server.xsrfCookieSameSite", "browser.serverAddress",
                    "global.developmentMode")


def origin(host: str, port: int) -> str:
    """``http://host:port`` (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _flag_value(value: str | int | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_flags(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, xsrf: bool = True) -> list[str]:
    """``--section.option value`` for every setting, with this bind address and port; ``xsrf``
    False (``lmwb ui --disable-xsrf-protection`` only) turns XSRF protection off."""
    options = {**SERVER_OPTIONS, "server.address": host, "server.port": port,
               "server.corsAllowedOrigins": origin(host, port), "server.enableXsrfProtection": xsrf}
    flags: list[str] = []
    for name, value in options.items():
        flags += [f"--{name}", _flag_value(value)]
    return flags
