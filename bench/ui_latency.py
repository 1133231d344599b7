"""UI latency and memory in a real browser against ``streamlit run app/main.py``.

    python bench/ui_latency.py [--runs 200] [--repeats 3] [--switches 5] [--skip-start]

The server is started the way ``lmwb ui`` starts it (tests/e2e/conftest.start_server with
``lmwb_ui=True``): it forks the machine's supervisor, which keeps workers warm from the start
(core.workers.supervisor.WARM_WORKERS: one for any run, one for race entrants).

(a) Start -> first point: on the Train page (Quick preset, the default small classifier, CPU),
    from the click on Start to the first "train loss" row in the store (polled from this
    process) and to the first point drawn on the Run page's loss chart (read from the plotly
    graph div in the browser). First cold: the server just started, the browser has not loaded
    the chart library, and Start is clicked as soon as the Train page answers (the supervisor's
    worker may still be importing torch). Then warm (``--repeats``): the worker ready, the
    browser's chart library loaded. Goals: <= 2 s cold, <= 1 s warm, to the chart.
    Then a race (``--repeats`` times, at least once): the Home page's race demo (two entrants),
    from the click on its Start to each entrant's first "train loss" row in the store and its
    first point on the Run page's loss chart (one legend group per run). Goal: <= 3 s for the
    later of the two, to the chart.
(b) Page switch with ``--runs`` runs in the store (realistic configs, summaries and metric rows
    written through core.runs.create_run / Store.log_metrics / Store.set_summary before the
    server starts, plus one small character GPT trained for real so Attention has a model):
    from the click on a sidebar link (Runs, Compare, Home) to the page fully rendered (no script
    run in flight, nothing stale, no skeletons, every plotly chart drawn, bertviz's lines drawn).
    The first visit of each page is reported apart (cold: page imports, caches), Train, Data,
    Sweeps and Attention included. Goals: <= 1 s; first visits of Train, Data and Attention
    (the server already up and serving) <= 2 s.
(c) The app server's resident memory (VmRSS of the streamlit process) with those runs after
    visiting every page that reads the store (Home, Data, Train, Run, Runs, Compare, Sweeps):
    goal <= 300 MB. Then after the pages that run a model in the server (``runs_models`` in
    app/navigation.py: Attention, Explain, Playground), which load torch on their first visit:
    reported beside it, as are the supervisor and its warm workers.

Prints figures and measured/goal ratios; never asserts (timings depend on the machine). The
raw numbers also go to ``test-artifacts/bench/ui_latency.json``. Needs the dev extras
(playwright) and a Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.navigation import PAGES  # noqa: E402
from core.config import default_config, validate_config  # noqa: E402
from core.jobs import stop_run  # noqa: E402
from core.runs import create_run  # noqa: E402
from core.store import Store  # noqa: E402
from pages.home import DEMOS  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    LOSS_POINTS_JS,
    Server,
    act,
    arm_rerun_watch,
    click_sidebar_link,
    descendants,
    launch_browser,
    playwright_missing,
    rss_mb,
    start_server,
    stop_server,
    wait_idle,
    wait_rerun,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page, Playwright

GOALS = {"start_to_chart_s": 2.0, "start_to_chart_warm_s": 1.0, "race_to_chart_s": 3.0, "page_switch_s": 1.0,
         "first_visit_s": 2.0, "rss_mb": 300.0}
# Page title in the sidebar -> its st.title (the one page declaration, app/navigation.py).
HEADINGS = {spec.title: spec.heading for spec in PAGES}
SWITCH_PAGES = ("Runs", "Compare", "Home")
# The slowest first visits: measured once, after the others. Those a newcomer opens first have
# a goal of their own (GOALS["first_visit_s"]); the others, a page switch's.
FIRST_ONLY = ("Train", "Data", "Sweeps", "Attention")
FIRST_VISIT_GOAL = ("Train", "Data", "Attention")
MODEL_PAGES = tuple(spec.title for spec in PAGES if spec.runs_models)
RACE = next(d for d in DEMOS if len(d.runs) > 1)  # the Home page's race demo
OUT = REPO / "test-artifacts" / "bench"

# Idle is not "drawn": plotly and the data grid render after the script's last delta arrives.
RENDERED_JS = """() => {
    if (document.querySelector('[data-testid="stSkeleton"]')) return false;
    const charts = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'));
    if (!charts.every(c => c.querySelector('.main-svg') !== null)) return false;
    // bertviz (Attention): drawn once its frame holds the attention lines.
    return Array.from(document.querySelectorAll('iframe')).every(f => {
        const doc = f.contentDocument;
        return doc === null || doc.querySelector('svg line') !== null;
    });
}"""
# Resolves once the browser's main thread has a free moment (an idle callback with >= 40 ms
# to spare): plotly keeps drawing for a while after its first SVG node exists.
QUIET_JS = """() => new Promise(resolve => {
    const check = deadline => deadline.timeRemaining() >= 40 ? resolve(true) : requestIdleCallback(check);
    requestIdleCallback(check);
    setTimeout(() => resolve(false), 10000);  // never hang on a page that animates forever
})"""


# -- (b) a store with many runs ------------------------------------------------------------------
def _classification_run(rng: random.Random, arch: str, steps: int) -> tuple[list, dict[str, Any]]:
    rows: list[tuple[int, str, str, float, float]] = []
    for step in range(10, steps + 1, 10):
        loss = 0.7 * math.exp(-step / steps) + 0.05 * rng.random()
        rows += [(step, "train", "loss", loss, step * 0.03), (step, "train", "lr", 3e-3, step * 0.03),
                 (step, "train", "tokens_per_s", 15000 + 3000 * rng.random(), step * 0.03)]
    val: dict[str, float] = {}
    for step in range(50, steps + 1, 50):
        acc = 0.5 + 0.45 * (1 - math.exp(-step / 120)) * rng.uniform(0.8, 1.0)
        val = {
            "loss": 1.2 - acc, "accuracy": acc, "precision": acc + 0.01, "recall": acc - 0.01,
            "f1": acc, "precision_macro": acc, "recall_macro": acc, "f1_macro": acc,
            "precision_weighted": acc, "recall_weighted": acc, "f1_weighted": acc,
            "roc_auc": min(1.0, acc + 0.05), "pr_auc": min(1.0, acc + 0.04),
        }
        rows += [(step, "val", k, v, step * 0.03 + 0.2) for k, v in val.items()]
    points = sorted(rng.random() for _ in range(120))
    curve = {"fpr": [0.0, *points, 1.0], "tpr": [0.0, *(min(1.0, p * 1.4) for p in points), 1.0],
             "auc": val["roc_auc"]}
    tp, tn = int(200 * val["recall"]), int(200 * val["accuracy"])
    summary = {
        "step": steps, "params": rng.randint(150_000, 400_000), "device": "cpu (2 threads)",
        "duration_s": steps * 0.03, "tokens_seen": steps * 390, "tokens_per_s": 15000.0,
        "data": {"train_examples": 3600, "val_examples": 400, "classes": 2, "vocab_size": 276},
        "metric": "accuracy", "best": {"value": val["accuracy"], "step": steps}, "val": val,
        "details": {
            **val, "n": 400, "num_classes": 2,
            "per_class": {c: {"precision": val["precision"], "recall": val["recall"], "f1": val["f1"],
                              "support": 200, "roc_auc": val["roc_auc"]} for c in ("negative", "positive")},
            "confusion_matrix": {"labels": ["negative", "positive"],
                                 "matrix": [[tn, 200 - tn], [200 - tp, tp]]},
            "roc_curve": {"positive": curve},
        },
    }
    return rows, summary


def _language_model_run(rng: random.Random, arch: str, steps: int) -> tuple[list, dict[str, Any]]:
    rows: list[tuple[int, str, str, float, float]] = []
    for step in range(10, steps + 1, 10):
        loss = 1.4 + 2.8 * math.exp(-step / 150) + 0.1 * rng.random()
        rows += [(step, "train", "loss", loss, step * 0.05), (step, "train", "lr", 3e-3, step * 0.05),
                 (step, "train", "tokens_per_s", 40000 + 5000 * rng.random(), step * 0.05)]
    val: dict[str, float] = {}
    for step in range(100, steps + 1, 100):
        loss = 1.5 + 2.5 * math.exp(-step / 150)
        val = {"loss": loss, "perplexity": math.exp(loss), "bits_per_token": loss / math.log(2),
               "bits_per_char": loss / math.log(2), "tokens": 20480.0, "chars": 20480.0}
        rows += [(step, "val", k, v, step * 0.05 + 0.3) for k, v in val.items()]
    text = "".join(rng.choice("etaoin shrdlu\n") for _ in range(160))
    summary = {
        "step": steps, "params": rng.randint(100_000, 900_000), "device": "cpu (2 threads)",
        "duration_s": steps * 0.05, "tokens_seen": steps * 16 * 128, "tokens_per_s": 40000.0,
        "data": {"train_tokens": 900_000, "val_tokens": 100_000, "vocab_size": 96},
        "metric": "perplexity", "best": {"value": val["perplexity"], "step": steps}, "val": val,
        "details": {}, "sample": text,
    }
    return rows, summary


def seed_store(home: Path, n: int, seed: int = 0) -> dict[str, Any]:
    """``n`` finished runs, two thirds classifiers, with metric rows and summaries like the
    engine writes. Returns counts and the time it took."""
    rng = random.Random(seed)
    store = Store(home=home)
    start = time.perf_counter()
    n_rows = 0
    archs = {"classification": ("lstm", "gru", "rnn", "textcnn", "transformer_encoder"),
             "language_model": ("transformer_decoder", "lstm", "gru")}
    try:
        for i in range(n):
            task = "language_model" if i % 3 == 2 else "classification"
            arch = rng.choice(archs[task])
            raw = default_config(task)
            raw["model"] = {"name": arch}
            raw["optimizer"]["lr"] = rng.choice((1e-3, 2e-3, 3e-3, 5e-3))
            raw["training"]["batch_size"] = rng.choice((16, 32, 64))
            config = validate_config(raw)
            steps = int(config["training"]["max_steps"])
            status = rng.choices(("completed", "failed", "stopped"), weights=(18, 1, 1))[0]
            run = create_run(store, config, status=status, tags=["bench"] if i % 10 == 0 else ())
            make = _language_model_run if task == "language_model" else _classification_run
            rows, summary = make(rng, arch, steps)
            store.log_metrics(run.id, rows)
            store.set_summary(run.id, summary)
            store.set_progress(run.id, {"step": steps, "max_steps": steps, "fraction": 1.0,
                                        "elapsed_s": summary["duration_s"], "train_loss": rows[-1][3]})
            store.update_run(run.id, started_at=run.created_at, finished_at=run.created_at + summary["duration_s"])
            n_rows += len(rows)
        attention_run(store)
    finally:
        store.close()
    return {"runs": n, "metric_rows": n_rows, "seconds": time.perf_counter() - start}


def attention_run(store: Store) -> str:
    """A small character GPT trained for real (a few seconds), the newest run: the Attention
    page opens on it with its 64-character probe, as it would after Home's first demo."""
    from core.config import apply_overrides
    from core.runs import execute_run

    raw = apply_overrides(default_config("language_model"), {
        "data.max_chars": 100_000, "model.d_model": 64, "model.n_layers": 2, "model.n_heads": 4,
        "model.d_ff": 256, "training.max_steps": 60, "training.eval_every": 30,
        "training.eval_max_batches": 2, "task.sample_length": 20, "training.device": "cpu",
    })
    run = create_run(store, validate_config(raw), name="attention-gpt")
    execute_run(store, run.id)
    return run.id


# -- browser helpers -------------------------------------------------------------------------
def wait_rendered(page: Page, timeout_ms: float = 30_000) -> None:
    wait_idle(page, timeout_ms)
    page.wait_for_function(RENDERED_JS, timeout=timeout_ms)
    page.evaluate(QUIET_JS)


# Sums the browser's long tasks (main thread busy > 50 ms) since the last call: how much of a
# page switch is drawing in the browser rather than the script on the server.
LONG_TASKS_JS = """() => {
    const total = (window.__lmwbLong || []).reduce((a, b) => a + b, 0);
    window.__lmwbLong = [];
    if (!window.__lmwbLongObs) {
        window.__lmwbLongObs = new PerformanceObserver(list => {
            for (const e of list.getEntries()) window.__lmwbLong.push(e.duration);
        });
        window.__lmwbLongObs.observe({type: 'longtask'});
    }
    return total / 1000;
}"""


def switch_to(page: Page, title: str) -> tuple[float, float, float]:
    """Click the sidebar link; return seconds to idle, to fully drawn, and of long tasks."""
    page.evaluate(QUIET_JS)  # the last page has finished drawing: it must not bill this one
    page.evaluate(LONG_TASKS_JS)
    arm_rerun_watch(page)
    t0 = time.perf_counter()
    click_sidebar_link(page, title)
    page.get_by_role("heading", name=HEADINGS.get(title, title), exact=True).wait_for()
    wait_rerun(page, settle_s=0)
    t_idle = time.perf_counter() - t0
    page.wait_for_function(RENDERED_JS, timeout=30_000)
    page.evaluate(QUIET_JS)
    t_drawn = time.perf_counter() - t0
    return t_idle, t_drawn, page.evaluate(LONG_TASKS_JS)


class StorePoller(threading.Thread):
    """Watches the store for the next ``expect`` new runs: when each appears, runs, and logs
    its first loss (seconds after :meth:`arm`, per run id)."""

    def __init__(self, home: Path, expect: int = 1, period_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.store = Store(home=home)
        self.known = {r.id for r in self.store.list_runs()}
        self.expect = expect
        self.period_s = period_s
        self.t0 = 0.0
        self.times: dict[str, dict[str, float]] = {}
        self.done = threading.Event()

    def arm(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def complete(self) -> bool:
        return len(self.times) >= self.expect and all("first_loss_row" in t for t in self.times.values())

    def run(self) -> None:
        while not self.done.is_set() and not self.complete:
            with contextlib.suppress(Exception):  # a busy database: look again next tick
                self._look()
            time.sleep(self.period_s)

    def _look(self) -> None:
        now = time.perf_counter() - self.t0
        if len(self.times) < self.expect:
            for run in self.store.list_runs(limit=self.expect + 5):
                if run.id not in self.known and run.id not in self.times:
                    self.times[run.id] = {"run_queued": now}
        for run_id, times in self.times.items():
            if "first_loss_row" in times:
                continue
            if self.store.get_run(run_id).status != "queued":
                times.setdefault("run_running", now)
            if not self.store.metrics(run_id, names="loss", split="train").empty:
                times["first_loss_row"] = now


def worker_ready(home: Path, timeout_s: float = 120.0) -> float:
    """Seconds until a prewarmed worker logs that it polls the queue (torch imported)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        for log in (home / "logs").glob("worker-*.log"):
            if "polling" in log.read_text(errors="replace"):
                return time.perf_counter() - t0
        time.sleep(0.1)
    raise TimeoutError(f"no worker ready after {timeout_s:.0f} s (see {home / 'logs'})")


# -- the measurements ------------------------------------------------------------------------
def measure_start(pw: Playwright, work: Path, repeats: int) -> dict[str, Any]:
    """One cold Start (just after `lmwb ui` started, a fresh browser) and ``repeats`` warm ones."""
    home = work / "start"
    t_server = time.perf_counter()
    server = start_server(home, lmwb_ui=True)
    server_up_s = time.perf_counter() - t_server
    browser = launch_browser(pw)
    samples: list[dict[str, float]] = []
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{server.url}/train")
        page.get_by_role("heading", name="Train", exact=True).wait_for()
        wait_idle(page)
        page_up_s = time.perf_counter() - t_server
        prewarm_s = None
        races: list[dict[str, Any]] = []
        for i in range(1 + repeats):
            if i:
                if prewarm_s is None:
                    prewarm_s = worker_ready(home)
                click_sidebar_link(page, "Train")
                page.get_by_role("heading", name="Train", exact=True).wait_for()
                wait_idle(page)
            quick = page.get_by_role("radio", name=re.compile(r"^Quick"))
            if quick.get_attribute("aria-checked") != "true":
                act(page, quick.click)
            samples.append(one_start(page, home, f"start-{'cold' if i == 0 else i}"))
        for i in range(max(1, repeats)):  # warm: the workers ready, the chart library loaded
            races.append(one_race(page, server, f"race-{i + 1}"))
        return {"server_up_s": server_up_s, "train_page_up_s": page_up_s, "prewarm_s": prewarm_s,
                "samples": samples, "races": races}
    finally:
        browser.close()
        stop_server(server)


def one_start(page: Page, home: Path, shot: str) -> dict[str, float]:
    """Click Start; seconds to the Run page, to each store event and to the first chart point."""
    poller = StorePoller(home, expect=1)
    poller.arm()
    poller.start()
    t0 = time.perf_counter()
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url("**/run?run=*")
    t_page = time.perf_counter() - t0
    page.wait_for_function(LOSS_POINTS_JS, arg=1, polling="raf", timeout=60_000)
    t_chart = time.perf_counter() - t0
    poller.join(timeout=10)
    poller.done.set()
    page.screenshot(path=str(OUT / f"{shot}.png"))
    run_id, times = next(iter(poller.times.items()), (None, {}))
    # Stop the run: the next repeat then starts on an idle, warm worker. The button goes away
    # when the run finishes first, hence the short, forgiving click.
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Stop", exact=True).click(timeout=3_000)
    wait_finished(poller.store, run_id)
    poller.store.close()
    return {"run_page": t_page, **times, "first_chart_point": t_chart}


# The legend groups (one per run) of the Run page's "Loss" chart that have drawn a point.
LOSS_GROUPS_JS = """() => {
    const groups = new Set();
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        const title = (gd._fullLayout && gd._fullLayout.title && gd._fullLayout.title.text) || '';
        if (title.replace(/<[^>]*>/g, '').trim() !== 'Loss' || !gd.querySelector('.scatterlayer .trace')) continue;
        (gd.calcdata || []).forEach((trace, i) => {
            const full = (gd._fullData || [])[i] || {};
            if (trace.some(p => Number.isFinite(p.y))) groups.add(full.legendgroup || full.name);
        });
    }
    return Array.from(groups);
}"""


def one_race(page: Page, server: Server, shot: str, timeout_s: float = 90.0) -> dict[str, Any]:
    """From the Home page, click Start on the race demo; seconds to the Run page and, per
    entrant (its run name), to its first loss row in the store and first point on the chart."""
    click_sidebar_link(page, "Home")
    page.get_by_role("heading", name=HEADINGS["Home"], exact=True).wait_for()
    wait_idle(page)
    card = page.locator('[data-testid="stVerticalBlock"]').filter(has_text=RACE.title).last
    poller = StorePoller(server.home, expect=len(RACE.runs))
    poller.arm()
    poller.start()
    t0 = time.perf_counter()
    card.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url("**/run?run=*")
    t_page = time.perf_counter() - t0
    drawn: dict[str, float] = {}
    while len(drawn) < len(RACE.runs) and time.perf_counter() - t0 < timeout_s:
        with contextlib.suppress(Exception):  # the page is still swapping its elements
            for group in page.evaluate(LOSS_GROUPS_JS):
                drawn.setdefault(group, time.perf_counter() - t0)
        time.sleep(0.03)
    poller.join(timeout=10)
    poller.done.set()
    page.screenshot(path=str(OUT / f"{shot}.png"))
    entrants: dict[str, dict[str, float]] = {}
    for run_id, times in poller.times.items():
        run = poller.store.get_run(run_id)
        entrants[run.name] = {**times, "first_chart_point": drawn.get(run.name, math.nan)}
        stop_run(poller.store, run_id, by="the benchmark")  # the next race starts on idle, warm workers
    for run_id in poller.times:
        wait_finished(poller.store, run_id)
    poller.store.close()
    return {"run_page": t_page, "entrants": entrants}


def wait_finished(store: Store, run_id: str | None, timeout_s: float = 120.0) -> None:
    t0 = time.perf_counter()
    while run_id and time.perf_counter() - t0 < timeout_s:
        if store.get_run(run_id).status not in ("queued", "running"):
            return
        time.sleep(0.2)


def measure_many_runs(pw: Playwright, work: Path, n_runs: int, switches: int) -> dict[str, Any]:
    home = work / "many"
    seeded = seed_store(home, n_runs)
    print(f"seeded {seeded['runs']} runs, {seeded['metric_rows']:,} metric rows in {seeded['seconds']:.1f} s")
    server = start_server(home, lmwb_ui=True)
    browser = launch_browser(pw)
    try:
        rss = {"started": rss_mb(server.pid)}
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(server.url)
        page.get_by_role("heading", name="LM Workbench", exact=True).wait_for()
        wait_rendered(page)
        rss["home"] = rss_mb(server.pid)
        cold: dict[str, tuple[float, float, float]] = {}
        warm: dict[str, list[tuple[float, float, float]]] = {p: [] for p in SWITCH_PAGES}
        # First visits (page imports, caches, lazy JS chunks): the pages that read the store first.
        for title in (*SWITCH_PAGES, *(t for t in FIRST_ONLY if t not in MODEL_PAGES)):
            cold[title] = switch_to(page, title)
        for _ in range(switches):
            for title in SWITCH_PAGES:
                warm[title].append(switch_to(page, title))
        rss["switches"] = rss_mb(server.pid)
        visited = visit_every_page(page, server, models=False)
        time.sleep(2.0)  # let deferred work (fragments, GC) settle before reading memory
        reading = {"server_rss_mb": rss_mb(server.pid), "server_peak_mb": _proc_kb(server.pid, "VmHWM") / 1024}
        for title in (t for t in FIRST_ONLY if t in MODEL_PAGES):  # these load torch
            cold[title] = switch_to(page, title)
        visited |= visit_every_page(page, server, models=True)
        time.sleep(2.0)
        others = [rss_mb(p) for p in descendants(server.pid) if _is_python(p)]  # supervisor, workers
        memory = {
            "rss_steps_mb": rss,
            "reading_pages": reading,
            "server_rss_mb": rss_mb(server.pid),
            "server_peak_mb": _proc_kb(server.pid, "VmHWM") / 1024,
            "workers_rss_mb": sum(others),
            "worker_processes_rss_mb": others,
            "pages_visited": visited,
        }
        return {"seeded": seeded, "cold": cold, "warm": warm, "memory": memory}
    finally:
        browser.close()
        stop_server(server)


def visit_every_page(page: Page, server: Server, *, models: bool) -> dict[str, float]:
    """Open every page the sidebar lists (whatever pages exist) that runs models (``models``) or
    only reads the store, each until fully drawn. Returns the server's RSS (MB) after each, in
    visiting order: what each page adds. Ends on Compare, the heaviest reading page."""
    labels = page.locator('[data-testid="stSidebarNavLink"] span[label]')
    titles = labels.evaluate_all("spans => spans.map(s => s.getAttribute('label'))")
    visited = {}
    for title in (t for t in titles if (t in MODEL_PAGES) == models):
        click_sidebar_link(page, title)
        page.get_by_role("heading", name=HEADINGS.get(title, title), exact=True).wait_for()
        wait_rendered(page)
        visited[title] = rss_mb(server.pid)
    click_sidebar_link(page, "Compare")  # end on the heaviest page, as a user comparing would
    page.get_by_role("heading", name="Compare runs", exact=True).wait_for()
    wait_rendered(page)
    if not models:
        page.screenshot(path=str(OUT / "compare-200-runs.png"), full_page=True)
    return visited


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _is_python(pid: int) -> bool:
    try:
        return b"python" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False


# -- report ----------------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(start: dict[str, Any] | None, many: dict[str, Any] | None) -> list[tuple[str, float, float | None]]:
    rows: list[tuple[str, float, float | None]] = []
    if start:
        s = start["samples"]
        print(f"\n(a) Start -> first point (lmwb ui; server answered {start['server_up_s']:.1f} s after "
              f"start, Train page drawn at {start['train_page_up_s']:.1f} s); {len(s)} runs (Quick preset, "
              "default classifier, CPU); the first cold, the rest warm")
        keys = ("run_page", "run_queued", "run_running", "first_loss_row", "first_chart_point")
        print("    " + "  ".join(f"{k:>17}" for k in ("repeat", *keys)))
        for i, sample in enumerate(s):
            print("    " + "  ".join([f"{'cold' if i == 0 else i:>17}",
                                      *(f"{sample.get(k, float('nan')):>16.2f}s" for k in keys)]))
        warm = s[1:] or s
        rows.append(("(a) cold: click -> first loss row in store", s[0].get("first_loss_row", math.nan), None))
        rows.append(("(a) cold: click -> first chart point", s[0]["first_chart_point"], GOALS["start_to_chart_s"]))
        rows.append(("(a) warm: click -> first chart point, median", _median([x["first_chart_point"] for x in warm]),
                     GOALS["start_to_chart_warm_s"]))
        rows += _report_races(start.get("races", []))
    if many is None:
        return _table(rows)
    print(f"\n(b) Page switches with {many['seeded']['runs']} runs, seconds: to idle / to drawn "
          "(browser long tasks, i.e. drawing on the browser's main thread)")
    for title in SWITCH_PAGES:
        idle = [x[0] for x in many["warm"][title]]
        drawn = [x[1] for x in many["warm"][title]]
        busy = [x[2] for x in many["warm"][title]]
        c = many["cold"][title]
        print(f"    {title:8} first visit {c[0]:.2f} / {c[1]:.2f} ({c[2]:.2f}); then median "
              f"{_median(idle):.2f} / {_median(drawn):.2f} ({_median(busy):.2f}), max {max(drawn):.2f}"
              f"  (n={len(drawn)})")
        rows.append((f"(b) -> {title}, median (drawn)", _median(drawn), GOALS["page_switch_s"]))
        rows.append((f"(b) -> {title}, first visit (drawn)", c[1], GOALS["page_switch_s"]))
    for title in FIRST_ONLY:
        c = many["cold"][title]
        print(f"    {title:8} first visit {c[0]:.2f} / {c[1]:.2f} ({c[2]:.2f})")
        goal = GOALS["first_visit_s"] if title in FIRST_VISIT_GOAL else GOALS["page_switch_s"]
        rows.append((f"(b) -> {title}, first visit (drawn)", c[1], goal))
    m = many["memory"]
    steps = ", ".join(f"{k} {v:.0f}" for k, v in m["rss_steps_mb"].items())
    pages = ", ".join(f"{k} {v:.0f}" for k, v in m["pages_visited"].items())
    each = " + ".join(f"{v:.0f}" for v in m.get("worker_processes_rss_mb", []))
    r = m["reading_pages"]
    print(f"\n(c) Server RSS after every page that reads the store: {r['server_rss_mb']:.0f} MB (peak "
          f"{r['server_peak_mb']:.0f} MB)")
    print(f"    then after the pages that run a model ({', '.join(MODEL_PAGES)}: torch loaded): "
          f"{m['server_rss_mb']:.0f} MB (peak "
          f"{m['server_peak_mb']:.0f} MB); supervisor and worker processes {m['workers_rss_mb']:.0f} MB "
          f"({each}; not counted)")
    print(f"    RSS over time (MB): {steps}; then after each page: {pages}")
    rows.append(("(c) server RSS, store-reading pages (MB)", r["server_rss_mb"], GOALS["rss_mb"]))
    rows.append(("(c) server peak RSS, store-reading pages (MB)", r["server_peak_mb"], GOALS["rss_mb"]))
    rows.append(("(c) server RSS, after the model pages too (MB)", m["server_rss_mb"], None))
    return _table(rows)


def _report_races(races: list[dict[str, Any]]) -> list[tuple[str, float, float | None]]:
    if not races:
        return []
    print(f"\n(a) Race: the Home page's \"{RACE.title}\" ({len(RACE.runs)} entrants), workers warm; "
          "seconds from the click on its Start")
    keys = ("run_queued", "run_running", "first_loss_row", "first_chart_point")
    print("    " + "  ".join(f"{k:>17}" for k in ("repeat", "entrant", *keys)))
    for i, race in enumerate(races, 1):
        for name, times in race["entrants"].items():
            print("    " + "  ".join([f"{i:>17}", f"{name[:17]:>17}",
                                      *(f"{times.get(k, math.nan):>16.2f}s" for k in keys)]))

    def last(race: dict[str, Any], key: str) -> float:
        values = [t.get(key, math.nan) for t in race["entrants"].values()]
        return max(values) if len(values) == len(RACE.runs) else math.nan

    return [
        ("(a) race: click -> both first loss rows, median",
         _median([last(r, "first_loss_row") for r in races]), None),
        ("(a) race: click -> both first chart points, median",
         _median([last(r, "first_chart_point") for r in races]), GOALS["race_to_chart_s"]),
    ]


def _table(rows: list[tuple[str, float, float | None]]) -> list[tuple[str, float, float | None]]:
    print(f"\n{'measure':52} {'measured':>9} {'goal':>7} {'ratio':>6}")
    for name, value, goal in rows:
        ratio = f"{value / goal:6.2f}" if goal else "     –"
        goal_text = f"{goal:7.1f}" if goal else "      –"
        flag = "" if not goal else ("  ok" if value <= goal else "  OVER")
        print(f"{name:52} {value:9.2f} {goal_text} {ratio}{flag}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs in the store for (b) and (c)")
    parser.add_argument("--repeats", type=int, default=3, help="Start clicks measured for (a)")
    parser.add_argument("--switches", type=int, default=5, help="rounds of Runs -> Compare -> Home for (b)")
    parser.add_argument("--skip-start", action="store_true", help="skip (a), which trains real runs")
    parser.add_argument("--only-start", action="store_true", help="only (a)")
    args = parser.parse_args(argv)
    if reason := playwright_missing():
        print(f"cannot run: {reason}")
        return 2
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lmwb-bench-") as tmp, sync_playwright() as pw:
        work = Path(tmp)
        start = None if args.skip_start else measure_start(pw, work, args.repeats)
        many = None if args.only_start else measure_many_runs(pw, work, args.runs, args.switches)
    rows = report(start, many)
    load = {"cpus": os.cpu_count(), "before": load_before, "after": os.getloadavg()}
    # Timings scale with how busy the machine is: say so next to the numbers.
    print(f"\nmachine: {load['cpus']} CPUs; load average (1 min) {load['before'][0]:.1f} before, "
          f"{load['after'][0]:.1f} after")
    payload = {"start": start, "many": many, "table": rows, "goals": GOALS, "load": load}
    (OUT / "ui_latency.json").write_text(json.dumps(payload, indent=1, default=str))
    print(f"\nraw numbers and screenshots: {OUT.relative_to(REPO)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
