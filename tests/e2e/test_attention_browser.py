"""The Attention page in a real browser with the network blocked: bertviz must draw offline.

Every request that is not to the local server is aborted (and recorded), so bertviz's CDN
scripts cannot load: the head view only draws if require.js, d3 and jQuery are inlined from the
installed packages. A screenshot goes to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlparse

import pytest
import torch

from core.config import default_config, validate_config
from core.runs import create_run
from core.store import Store
from tests.e2e.conftest import ARTIFACTS, Server, wait_idle
from tests.trained_runs import execute_on_one_thread

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
# Lines of the head view that carry weight (bertviz sets stroke-opacity = weight / active heads).
VISIBLE_LINES_JS = """() => Array.from(document.querySelectorAll('#attention line'))
    .filter(l => parseFloat(l.getAttribute('stroke-opacity')) > 0.001).length"""


def train_tiny_transformer(server: Server) -> str:
    """A small Transformer classifier, trained in this process into the server's store."""
    raw = default_config("classification")
    raw["model"] = {"name": "transformer_encoder", "d_model": 32, "n_heads": 4, "n_layers": 2, "d_ff": 64}
    raw["data"] = {"name": "topics", "n_examples": 300}
    raw["task"] = {"name": "classification", "max_length": 24}
    raw["training"] = {"max_steps": 30, "batch_size": 16, "eval_every": 15, "eval_max_batches": 2, "device": "cpu"}
    store = Store(home=server.home)
    # Created as running, so the server's supervisor never hands it to a worker as well.
    run = create_run(store, validate_config(raw), name="tiny-attention", status="running")
    execute_on_one_thread(store, run.id)
    return run.id


def test_head_view_draws_with_the_network_blocked(app_server: Server, page: Any) -> None:
    run_id = tiny_transformer(app_server)
    blocked: list[str] = []

    def only_localhost(route: Any) -> None:
        url = route.request.url
        if urlparse(url).hostname in LOCAL_HOSTS or url.startswith(("about:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.context.route("**/*", only_localhost)
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.goto(f"{app_server.url}/attention?run={run_id}")
    page.get_by_role("heading", name="Attention", exact=True).wait_for()
    wait_idle(page, 60_000)

    frame = page.frame_locator('iframe[title="st.iframe"]').first
    frame.locator("#attention line").first.wait_for(state="attached", timeout=30_000)
    n_lines = frame.locator("#attention line").count()
    visible = frame.locator("body").evaluate(f"_ => ({VISIBLE_LINES_JS})()")
    tokens = frame.locator("#left text").count()
    page.screenshot(path=str(ARTIFACTS / "attention-head-view.png"), full_page=True)

    # One line per (query, key) pair that shows (the heads' lines of a pair composited into
    # one), and the ones with weight visible; the tokens listed on both sides.
    assert tokens >= 3 and tokens <= n_lines <= tokens * tokens
    assert visible > tokens
    assert frame.locator("#right text").count() == tokens
    assert not [u for u in blocked if u.endswith(".js") or "cdnjs" in u], blocked
    # Not clipped: the frame is as tall as what bertviz drew; one set of pickers (the page's).
    drawn, room = frame.locator("body").evaluate("_ => [document.documentElement.scrollHeight, window.innerHeight]")
    assert drawn <= room, (drawn, room)
    assert frame.locator("#layer").count() == 1 and frame.locator("#layer").is_hidden()

    # bertviz's own interactions still work on the lines drawn this way. Hovering a token shows
    # only its lines; a double click on a head's colour shows that head alone, in its colour.
    frame.locator("#left text").nth(1).hover()
    hovered = frame.locator("body").evaluate(
        """_ => [document.querySelector('#attention').getAttribute('visibility'),
                 Array.from(document.querySelectorAll('#attention line[visibility="visible"]'))
                      .map(l => l.getAttribute('left-token-index'))]""")
    assert hovered[0] == "hidden" and hovered[1] and set(hovered[1]) == {"1"}, hovered
    page.mouse.move(5, 5)
    frame.locator("svg > g:last-of-type > rect").first.dblclick()
    strokes = frame.locator("body").evaluate(
        "_ => Array.from(new Set(Array.from(document.querySelectorAll('#attention line'))"
        ".map(l => l.getAttribute('stroke'))))")
    assert strokes == ["rgb(31,119,180)"], strokes  # d3's first category colour: head 0 alone


def _head_view_pixels(page: Any, html: str) -> Any:
    import numpy as np
    from PIL import Image

    page.set_content(html)
    page.wait_for_selector("#attention line", state="attached")
    page.wait_for_timeout(200)
    return np.asarray(Image.open(io.BytesIO(page.locator("#vis").screenshot())).convert("RGB")).astype(int)


def test_merged_head_lines_draw_bertviz_picture() -> None:
    """The head view's one composited line per token pair against bertviz's own line per head."""
    from bertviz import head_view
    from playwright.sync_api import sync_playwright

    from app.components.bertviz import localize_bertviz
    from tests.e2e.conftest import launch_browser, playwright_missing

    if reason := playwright_missing():
        pytest.skip(reason)
    generator = torch.Generator().manual_seed(0)
    tokens = [f"t{i}" for i in range(20)]
    weights = torch.softmax(torch.randn(1, 8, 20, 20, generator=generator) * 3, dim=-1)
    raw = head_view([weights], tokens, html_action="return", prettify_tokens=False).data
    with sync_playwright() as pw:
        browser = launch_browser(pw)
        try:  # a page each: require.js refuses a second load of the inlined d3 in one page
            own = _head_view_pixels(browser.new_page(), localize_bertviz(raw, merge_heads=False))
            merged = _head_view_pixels(browser.new_page(), localize_bertviz(raw))
        finally:
            browser.close()
    diff = abs(own - merged).max(axis=-1)
    # Same picture up to 8-bit rounding: the order of rounding steps differs, nothing else.
    assert diff.mean() < 2 and (diff > 32).mean() < 0.001, (diff.mean(), (diff > 32).mean())


_TRAINED: dict[str, str] = {}


def tiny_transformer(server: Server) -> str:
    """The module's one tiny Transformer (trained on first use)."""
    if server.url not in _TRAINED:
        _TRAINED[server.url] = train_tiny_transformer(server)
    return _TRAINED[server.url]


def test_from_the_attention_page_to_its_formula_and_back_to_another_head(app_server: Server, page: Any) -> None:
    """A learner's walk: the Attention page's "How is this computed?" opens the Self-attention
    chapter on the same run and text; every check is equal; another head recomputes and the
    address follows (a link to share)."""
    run_id = tiny_transformer(app_server)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{app_server.url}/attention?run={run_id}&text=the+team+won+the+match")
    page.get_by_role("heading", name="Attention", exact=True).wait_for()
    wait_idle(page, 60_000)
    page.get_by_text("How is this computed?").click()
    page.get_by_role("heading", name="Learn", exact=True).wait_for()
    wait_idle(page, 60_000)
    assert "chapter=attention" in page.url and f"run={run_id}" in page.url
    page.get_by_text("Attention weights softmax(S)").first.wait_for()
    equal = page.get_by_text("against the weights the model attended with: equal")
    equal.first.wait_for()
    assert page.get_by_text("DIFFERENT").count() == 0
    head = page.get_by_role("spinbutton", name="Head")
    head.fill("2")
    head.press("Enter")
    page.wait_for_url("**head=2**", timeout=30_000)
    wait_idle(page, 60_000)
    page.get_by_text("Q = H W_Q (head 2)").first.wait_for()
    assert page.get_by_text("DIFFERENT").count() == 0
    page.screenshot(path=str(ARTIFACTS / "learn-attention.png"), full_page=False)
