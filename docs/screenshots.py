"""The user guide's screenshots: the Train form, a race and Compare, taken in Chromium.

    python docs/screenshots.py [--out docs/img] [--prefix ""] [--width 1400]

Starts the app the way ``lmwb ui`` does (tests/e2e/conftest.start_server) on an empty home,
opens the Train form, runs Home's LSTM vs Transformer race, opens Compare on the race's runs,
and saves PNGs (``train-form.png``, ``race.png``, ``compare.png``, ``learn.png``) under ``--out``. About three
minutes on two busy cores (the race trains for real). Needs the dev extras (playwright) and a
Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e.conftest import (  # noqa: E402
    click_sidebar_link,
    launch_browser,
    playwright_missing,
    start_server,
    stop_server,
    wait_idle,
)

RACE_MS = 300_000
# How tall the page's content is: the bottom of its last element block.
MAIN_HEIGHT_JS = """() => {
    const blocks = document.querySelectorAll('[data-testid="stMainBlockContainer"]');
    const main = blocks[blocks.length - 1];
    return main ? Math.ceil(main.getBoundingClientRect().bottom + 40) : 1000;
}"""


def settle(page, seconds: float = 1.0) -> None:  # noqa: ANN001
    wait_idle(page, 60_000)
    time.sleep(seconds)  # plotly draws after the script's last delta
    wait_idle(page, 60_000)
    # Widgets show as grey skeletons until their scripts have loaded.
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=60_000)


SIDEBAR_PX = 300  # the sidebar (the same on every page) is left out of the guide's pictures
WIDTH_PX = 1000
COLOURS = 128


def shrink(path: Path) -> None:
    """Cut the sidebar off, scale to WIDTH_PX wide and keep COLOURS colours: a page stays
    readable in 60-150 KB."""
    from PIL import Image

    with Image.open(path) as image:
        page = image.convert("RGB").crop((SIDEBAR_PX, 0, image.width, image.height))
        height = round(page.height * WIDTH_PX / page.width)
        small = page.resize((WIDTH_PX, height), Image.LANCZOS).quantize(COLOURS, dither=Image.Dither.NONE)
        small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "img"))
    parser.add_argument("--prefix", default="", help="file name prefix, e.g. before-")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--only-train", action="store_true", help="only the Train form (no race)")
    parser.add_argument("--raw", action="store_true", help="keep the sidebar and the full size and colours")
    parser.add_argument("--open-advanced", action="store_true", help="open every Advanced expander")
    args = parser.parse_args(argv)
    if reason := playwright_missing():
        print(f"cannot run: {reason}")
        return 2
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def shot(page, name: str, max_height: int = 2400) -> None:  # noqa: ANN001
        """The page down to its last element (the main area scrolls inside the viewport, so
        the viewport is made as tall as the content, up to ``max_height``)."""
        path = out / f"{args.prefix}{name}.png"
        height = page.evaluate(MAIN_HEIGHT_JS)
        page.set_viewport_size({"width": args.width, "height": max(600, min(max_height, height))})
        settle(page, 0.5)
        page.screenshot(path=str(path))
        page.set_viewport_size({"width": args.width, "height": 1000})
        if not args.raw:
            shrink(path)
        print(f"saved {path} ({path.stat().st_size // 1024} KB)")

    with tempfile.TemporaryDirectory(prefix="lmwb-shots-") as tmp, sync_playwright() as pw:
        server = start_server(Path(tmp) / "home")
        browser = launch_browser(pw)
        try:
            page = browser.new_page(viewport={"width": args.width, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{server.url}/train")
            page.get_by_role("heading", name="Train", exact=True).wait_for()
            settle(page)
            if args.open_advanced:
                for toggle in page.locator('[data-testid="stExpander"] summary', has_text="Advanced").all():
                    toggle.click()
                    time.sleep(0.2)
                settle(page)
            shot(page, "train-form")
            if args.only_train:
                return 0

            # The race from Home's demos.
            click_sidebar_link(page, "Home")
            page.get_by_role("heading", name="LM Workbench", exact=True).wait_for()
            settle(page, 0.3)
            page.locator(".st-key-demo-1 button").click()  # the race (pages/home.py DEMOS)
            page.wait_for_url(re.compile(r"/run\?run="), timeout=60_000)
            deadline = time.monotonic() + RACE_MS / 1000
            while time.monotonic() < deadline:
                done = page.locator(".stMarkdownBadge", has_text=re.compile(r"(completed|failed|stopped)$"))
                if done.filter(visible=True).count() >= 2:
                    break
                time.sleep(1.0)
            settle(page, 2.0)
            shot(page, "race")

            click_sidebar_link(page, "Compare")
            page.get_by_role("heading", name="Compare runs", exact=True).wait_for()
            settle(page, 2.0)
            shot(page, "compare")

            # The Learn page: the race's transformer, its attention computed by hand.
            from core.store import Store

            encoder = next(r for r in Store(home=Path(tmp) / "home").list_runs() if r.arch == "transformer_encoder")
            page.goto(f"{server.url}/learn?chapter=attention&run={encoder.id}&text=not+a+good+film+at+all&layer=1&head=0")
            page.get_by_role("heading", name="Learn", exact=True).wait_for()
            page.get_by_text("against the weights the model attended with: equal").first.wait_for()
            settle(page, 2.0)
            shot(page, "learn", max_height=1500)
        finally:
            browser.close()
            stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
