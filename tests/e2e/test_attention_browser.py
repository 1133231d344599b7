"""The Attention page in a real browser with the network blocked: bertviz must draw offline.

Every request that is not to the local server is aborted (and recorded), so bertviz's CDN
scripts cannot load: the head view only draws if require.js, d3 and jQuery are inlined from the
installed packages. A screenshot goes to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
import torch

from core.config import default_config, validate_config
from core.runs import create_run, execute_run
from core.store import Store
from tests.e2e.conftest import ARTIFACTS, Server, wait_idle

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
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: a second thread only spins on a busy machine
    try:
        execute_run(store, run.id)
    finally:
        torch.set_num_threads(threads)
    return run.id


def test_head_view_draws_with_the_network_blocked(app_server: Server, page: Any) -> None:
    run_id = train_tiny_transformer(app_server)
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

    # Up to 4 heads x tokens^2 arcs (a row's trailing exact zeros are not drawn), and the ones
    # with weight visible; the tokens listed on both sides.
    assert tokens >= 3 and tokens * tokens <= n_lines <= 4 * tokens * tokens
    assert visible > tokens
    assert frame.locator("#right text").count() == tokens
    assert not [u for u in blocked if u.endswith(".js") or "cdnjs" in u], blocked
