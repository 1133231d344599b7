"""The app as ``lmwb ui`` serves it: ``app/main.py`` inside a Streamlit ``st.App`` (ASGI), plus
one small middleware for how a browser first opens a page.

Streamlit's frontend does not know where the server's root is, so on a page opened by its URL
(``/data``, a reload, a bookmark) it first asks ``/data/_stcore/health`` and
``/data/_stcore/host-config``, which the server answers 404, before trying the root
(streamlit/streamlit#7074): two 404s in every page load. And the default page is served at ``/``
only, so ``/home`` (the Home page's declared url path) opened "Page not found"; so did ``/Home``
or ``/DATA``, as Streamlit matches a page's path case by case.

The middleware adds a short script to the page HTML, run before Streamlit's own: it tells
Streamlit the root (``window.__streamlit.BACKEND_BASE_URL``, the frontend's setting for an app
served under a prefix: the page's path less a declared page name, so a proxy prefix is kept),
and turns ``/home`` into ``/`` before Streamlit reads the address. A page's path typed in other
letters (``/Home``, ``/Data/``) is redirected to the declared one.

``streamlit run app/serve.py`` finds :data:`app` (Streamlit runs a file defining an ``st.App``
as an ASGI app); ``streamlit run app/main.py`` still works, without this middleware.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.navigation import DEFAULT_PAGE, PAGES

# Runs before Streamlit's module script (module scripts are deferred), so the frontend reads
# the root from here and never probes a page's path.
_SCRIPT = """<script>(function () {
  var pages = %(pages)s, home = %(home)s;
  var path = window.location.pathname.replace(/\\/+$/, "");
  var cut = path.lastIndexOf("/"), last = path.slice(cut + 1), base = path;
  if (pages.indexOf(last) >= 0) { base = path.slice(0, cut); }
  if (last === home) {
    history.replaceState(history.state, "", base + "/" + window.location.search + window.location.hash);
  }
  window.__streamlit = Object.assign({}, window.__streamlit,
                                     {BACKEND_BASE_URL: window.location.origin + base + "/"});
})();</script>"""


def page_script() -> str:
    """The ``<script>`` element added to the page HTML."""
    return _SCRIPT % {"pages": json.dumps([p.url_path for p in PAGES]), "home": json.dumps(DEFAULT_PAGE.url_path)}


def declared_path(path: str) -> str | None:
    """The declared page path that ``path`` names in other letters or with a trailing slash
    (``/Home`` -> ``/home``), or None: ``path`` is declared as it is, or names no page."""
    wanted = path.rstrip("/").lower()
    declared = next((f"/{p.url_path}" for p in PAGES if f"/{p.url_path}".lower() == wanted), None)
    return declared if declared is not None and declared != path else None


def page_paths() -> frozenset[str]:
    """The request paths that answer with the app's HTML: the root and every declared page."""
    return frozenset({"/", "/index.html", *(f"/{p.url_path}" for p in PAGES)})


class PageScriptMiddleware:
    """Adds :func:`page_script` to the app's HTML (GET of ``/`` or a declared page's path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths = page_paths()
        self.script = page_script().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and (
                declared := declared_path(scope["path"])) is not None:
            await _redirect(scope, declared, send)
            return
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        # The HTML plain and whole: no gzip (added inside this middleware) and no 304 for a copy
        # cached without the script.
        dropped = {b"accept-encoding", b"if-none-match", b"if-modified-since"}
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() not in dropped]}
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def patched(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            html = b"".join(body)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            if start.get("status") == 200 and b"<head>" in html and _is_html(headers):
                html = html.replace(b"<head>", b"<head>" + self.script, 1)
            await send({**start, "headers": [*headers, (b"content-length", str(len(html)).encode())]})
            await send({"type": "http.response.body", "body": html})

        await self.app(scope, receive, patched)


async def _redirect(scope: Scope, path: str, send: Send) -> None:
    """A redirect to ``path`` (under the app's root path), the query kept. Temporary (307): a
    browser caches nothing that would outlive a page's declared path."""
    query = scope.get("query_string", b"")
    location = scope.get("root_path", "").encode() + path.encode() + (b"?" + query if query else b"")
    await send({"type": "http.response.start", "status": 307,
                "headers": [(b"location", location), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)


app = st.App(Path(__file__).with_name("main.py"), middleware=[Middleware(PageScriptMiddleware)])
