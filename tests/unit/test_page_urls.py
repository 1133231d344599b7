"""A page's address typed in other letters (``/Home``, ``/DATA/``) opens the page: the server
(app/serve.py's middleware, in front of Streamlit, which matches paths case by case) redirects
it to the declared path, the query kept; every other request passes through untouched."""

from __future__ import annotations

import asyncio
from typing import Any

from app.navigation import PAGES
from app.serve import PageScriptMiddleware


def request(path: str, query: bytes = b"", method: str = "GET") -> tuple[list[dict[str, Any]], list[str]]:
    """What the middleware sends for one request, and the paths it handed on to Streamlit."""
    sent: list[dict[str, Any]] = []
    passed: list[str] = []

    async def streamlit(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "path": path, "query_string": query, "headers": [], "root_path": ""}
    asyncio.run(PageScriptMiddleware(streamlit)(scope, receive, send))
    return sent, passed


def test_a_page_path_in_other_letters_redirects_to_the_declared_one() -> None:
    for typed, declared in (("/Home", "/home"), ("/HOME/", "/home"), ("/Data", "/data"), ("/data/", "/data"),
                            ("/Playground", "/playground")):
        sent, passed = request(typed, b"run=abc")
        assert passed == [] and sent[0]["status"] == 307, typed
        assert dict(sent[0]["headers"])[b"location"] == f"{declared}?run=abc".encode(), typed
    sent, _ = request("/Run")  # no query: none added
    assert dict(sent[0]["headers"])[b"location"] == b"/run"


def test_declared_paths_and_everything_else_pass_through() -> None:
    for path in ["/", *(f"/{p.url_path}" for p in PAGES), "/_stcore/health", "/static/js/Main.js", "/Nowhere"]:
        sent, passed = request(path)
        assert passed == [path] and sent[0]["status"] == 200, path
    _, passed = request("/Home", method="POST")
    assert passed == ["/Home"]
