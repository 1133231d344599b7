"""One figure, one value: what the CLI and the Run view say about one run agrees.

* tokens/s: the CLI's closing line and the Run view print the same stored number, and that
  number is what core/throughput.py declares: the tokens in the training batches (counted
  here on their own, padding left out) over the training time (measured here around the same
  interval, the evaluations left out), over the whole run and every session of it.
* a stop: the progress bar, the sample and the log name the step the run stopped at, and the
  log says who asked for the stop before it says "stopped".

Tiny models on one torch thread; no assertion on how fast anything is.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

import core.throughput
from app.navigation import page_path
from core.cli import main
from core.config import default_config, validate_config
from core.jobs import stop_run
from core.store import Store
from core.tasks.classification import ClassificationTask
from core.tasks.language_model import LanguageModelTask
from core.throughput import KEY, LABEL, format_rate
from core.train import Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
RATE_LINE = re.compile(r"^(completed|stopped) at step (\d+) in \S+ \(([\d,]+) train tokens/s, evaluations excluded\)",
                       re.MULTILINE)


class Tally:
    """Wraps a task class's ``train_batch``, ``loss`` and ``evaluate`` to count, on its own,
    what the trainer trains on and when: the tokens of every training batch (ids that are not
    padding), the time inside training ``loss`` calls and inside ``evaluate`` calls, and the
    number of training ``loss`` calls. ``on_batch(n)`` runs before the n-th batch is returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, task: type, *, eval_sleep: float = 0.0,
                 on_batch: Callable[[int], None] | None = None, on_loss: Callable[[], None] | None = None,
                 on_evaluate: Callable[[], None] | None = None) -> None:
        self.tokens = self.batches = self.losses = 0
        self.loss_s = self.eval_s = 0.0
        self.evaluating = False
        real_batch, real_loss, real_evaluate = task.train_batch, task.loss, task.evaluate
        tally = self

        def train_batch(task_self: Any, batch_size: int, generator: Any) -> Any:
            batch = real_batch(task_self, batch_size, generator)
            tally.batches += 1
            tally.tokens += int((batch.inputs["ids"] != task_self.tokenizer.pad_id).sum())
            if on_batch is not None:
                on_batch(tally.batches)
            return batch

        def loss(task_self: Any, model: Any, batch: Any) -> Any:
            if tally.evaluating:
                return real_loss(task_self, model, batch)
            t0 = time.perf_counter()
            try:
                if on_loss is not None:
                    on_loss()
                return real_loss(task_self, model, batch)
            finally:
                tally.losses += 1
                tally.loss_s += time.perf_counter() - t0

        def evaluate(task_self: Any, *args: Any, **kwargs: Any) -> Any:
            t0, tally.evaluating = time.perf_counter(), True
            try:
                if on_evaluate is not None:
                    on_evaluate()
                time.sleep(eval_sleep)  # evaluations that take long: counted, they would show
                return real_evaluate(task_self, *args, **kwargs)
            finally:
                tally.evaluating = False
                tally.eval_s += time.perf_counter() - t0

        monkeypatch.setattr(task, "train_batch", train_batch)
        monkeypatch.setattr(task, "loss", loss)
        monkeypatch.setattr(task, "evaluate", evaluate)


@pytest.fixture
def fit_spans(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The wall time of each Trainer.fit call, measured around it."""
    spans: list[float] = []
    real_fit = Trainer.fit

    def fit(self: Trainer) -> Any:
        t0 = time.perf_counter()
        try:
            return real_fit(self)
        finally:
            spans.append(time.perf_counter() - t0)

    monkeypatch.setattr(Trainer, "fit", fit)
    return spans


def open_run_page(monkeypatch: pytest.MonkeyPatch, run_id: str) -> AppTest:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")  # nothing trains inside the page
    at = AppTest.from_file(str(MAIN), default_timeout=30).run()
    at.query_params["run"] = run_id
    at.switch_page(str(page_path("run"))).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_rate(at: AppTest) -> str:
    [value] = [m.value for m in at.metric if m.label == LABEL]
    return value


def sets(**values: Any) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key.replace('__', '.')}={value}")]


def tiny_lm_args(max_steps: int, **more: Any) -> list[str]:
    """``lmwb train`` of a one-layer character GPT on a slice of the Python docs (ms a step)."""
    settings = dict(
        data__name="python_docs", data__max_chars=50_000, task__context_length=16, task__sample_length=12,
        model__d_model=32, model__n_heads=2, model__d_ff=64, model__n_layers=1, training__max_steps=max_steps,
        training__batch_size=16, training__eval_max_batches=2, training__attention_snapshots="false")
    return ["train", "--task", "language_model", *sets(**{**settings, **more})]


# -- tokens/s ------------------------------------------------------------------------------------
def test_the_cli_closing_line_and_the_run_view_show_one_tokens_per_s_as_declared(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fit_spans: list[float],
) -> None:
    """A classifier (padded batches) with slow evaluations: the CLI's closing line, the Run
    view, the stored progress and summary give one number; it lies between the independent
    bounds the definition implies: tokens / (fit's wall time - time inside evaluate) (the
    training time can be no longer) and tokens / time inside the training loss calls (it can
    be no shorter). Before, the CLI said tokens / wall time with evaluations (below the first
    bound here) and the Run view the latest log window's rate."""
    tally = Tally(monkeypatch, ClassificationTask, eval_sleep=0.2)
    args = ["train", "--task", "classification", *sets(
        training__max_steps=24, training__batch_size=16, training__eval_every=10, training__log_every=4)]
    assert main(args) == 0
    out = capsys.readouterr().out
    [(status, step, cli_text)] = RATE_LINE.findall(out)
    assert (status, step) == ("completed", "24")

    [run] = store.list_runs()
    value = run.summary[KEY]
    assert run.progress[KEY] == value  # stored twice, the same value
    assert cli_text == format_rate(value)
    assert shown_rate(open_run_page(monkeypatch, run.id)) == cli_text  # the Run view: the same number

    assert tally.batches == 24 and run.summary["tokens_seen"] == tally.tokens  # padding not counted
    [fit_s] = fit_spans
    assert tally.eval_s >= 3 * 0.2  # three evaluations (steps 10, 20, 24), slow enough to matter
    assert tally.tokens / (fit_s - tally.eval_s) <= value <= tally.tokens / tally.loss_s
    # (The old closing line's figure, tokens over the wall time evaluations included, is below.)
    assert tally.tokens / fit_s < tally.tokens / (fit_s - tally.eval_s)


def test_tokens_per_s_is_the_whole_run_over_every_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a clock that moves only when the test says so (1 s per training loss call, 100 s
    per evaluation) the figure is exact: every token of both sessions of a stopped and resumed
    run (two micro-batches a step) over one second per micro-batch; not the latest window's
    rate, and no evaluation second."""
    now = [0.0]
    monkeypatch.setattr(core.throughput, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    stop = threading.Event()

    def tick() -> None:
        now[0] += 1.0

    def slow_eval() -> None:
        now[0] += 100.0

    # Stop while step 13 trains (its second micro-batch): the run ends after step 13, between
    # logged steps (every 3) and evaluations (every 5).
    tally = Tally(monkeypatch, LanguageModelTask, on_loss=tick, on_evaluate=slow_eval,
                  on_batch=lambda n: stop.set() if n == 26 else None)
    config = validate_config({
        **default_config("language_model"),
        "data": {"name": "python_docs", "max_chars": 50_000},
        "task": {"name": "language_model", "context_length": 16, "sample_length": 0},
        "model": {"name": "transformer_decoder", "d_model": 32, "n_heads": 2, "d_ff": 64, "n_layers": 1},
        "training": {"max_steps": 20, "batch_size": 8, "grad_accum": 2, "eval_every": 5, "log_every": 3,
                     "eval_max_batches": 2, "device": "cpu", "attention_snapshots": False},
    })
    first = Trainer(config, tmp_path / "run", stop_event=stop)
    first.setup()
    part = first.fit()
    assert (part.status, part.step) == ("stopped", 13)
    assert tally.losses == 26 and part.summary["tokens_seen"] == tally.tokens == 26 * 8 * 16
    assert part.summary[KEY] == pytest.approx(tally.tokens / 26.0, rel=1e-12)

    second = Trainer(config, tmp_path / "run")
    second.setup(resume=True)
    done = second.fit()
    assert (done.status, done.step) == ("completed", 20)
    assert tally.losses == 40 and done.summary["tokens_seen"] == tally.tokens == 40 * 8 * 16
    assert done.summary[KEY] == pytest.approx(tally.tokens / 40.0, rel=1e-12)


def test_two_processes_count_each_token_once(store: Store, capfd: pytest.CaptureFixture[str]) -> None:
    """``lmwb train`` as 2 processes, evaluating between logged steps (every 15; logs every
    10): every rank's tokens counted once. Before, the all-reduced count of an evaluation's
    read-back was summed over the ranks again at the next one (4,480 tokens for 3,840)."""
    assert main(tiny_lm_args(30, task__sample_length=0, training__batch_size=4, training__eval_every=15,
                             training__log_every=10, training__nproc_per_node=2)) == 0
    [(status, _, cli_text)] = RATE_LINE.findall(capfd.readouterr().out)  # rank 0's closing line
    [run] = store.list_runs()
    assert status == "completed" and run.summary["processes"] == 2
    assert run.summary["tokens_seen"] == 2 * 30 * 4 * 16  # ranks x steps x batch x context
    assert run.progress[KEY] == run.summary[KEY] and cli_text == format_rate(run.summary[KEY])


# -- a stop --------------------------------------------------------------------------------------
@pytest.fixture
def restore_sigint() -> Iterator[None]:
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("how", ["ctrl-c", "stop button"])
def test_after_a_stop_the_progress_the_sample_and_the_log_name_one_step(
    how: str, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    restore_sigint: None,
) -> None:
    """``lmwb train`` of a small language model, stopped mid-way: by Ctrl-C (SIGINT to this
    process while step 17 trains: it stops after step 17, which is neither a logged step nor an
    evaluation) or as the Run page's Stop button does (core.jobs.stop_run; the trainer sees it
    a few steps later). Then the CLI's last line, the stored progress, the last sample, the
    loss chart's last point, the Run view (progress bar, sample, log) and the log's "stopped at
    step N" all name the same N, and the log says who asked before it says "stopped"."""
    max_steps = 20_000

    def on_batch(n: int) -> None:
        if n != 17:
            return
        if how == "ctrl-c":
            os.kill(os.getpid(), signal.SIGINT)  # the CLI's own handler takes it
        else:
            [running] = store.list_runs()
            stop_run(store, running.id, by="the test's Stop")

    Tally(monkeypatch, LanguageModelTask, on_batch=on_batch)
    assert main(tiny_lm_args(max_steps, training__eval_every=50, training__log_every=5)) == 0
    out = capsys.readouterr().out
    [(status, cli_step, _)] = RATE_LINE.findall(out)
    step = int(cli_step)
    assert status == "stopped" and step < max_steps
    if how == "ctrl-c":
        assert step == 17

    [run] = store.list_runs()
    assert run.status == "stopped"
    assert run.progress["step"] == run.summary["step"] == step  # the progress bar, the summary
    samples = (store.run_dir(run.id) / "samples.jsonl").read_text().splitlines()
    assert json.loads(samples[-1])["step"] == step  # the sample shown is the one at the stop
    loss = store.metrics(run.id, names=["loss"])
    train_loss = loss[loss["split"] == "train"]
    assert int(train_loss["step"].max()) == step  # the last steps are logged where it stopped
    assert run.progress["train_loss"] == pytest.approx(float(train_loss["value"].iloc[-1]))

    messages = [e.message for e in store.events(run.id)]
    stopped = messages.index(next(m for m in messages if m.startswith(f"stopped at step {step}")))
    if how == "ctrl-c":
        asked = messages.index(next(m for m in messages if m.startswith("stop requested by Ctrl-C to lmwb (pid")))
        assert messages[asked].endswith(f"stopping after step {step}")
    else:
        asked = messages.index("stop requested by the test's Stop")
        seen = messages.index(f"stop request seen: stopping after step {step}")
        assert asked < seen
    assert asked < stopped
    assert not any("stop requested" in m for m in messages[stopped:])  # nothing said after the fact
    assert f"evaluation at step {step}:" in "\n".join(messages)

    at = open_run_page(monkeypatch, run.id)
    [bar] = at.get("progress")
    assert f"step {step:,} / {max_steps:,}" in bar.proto.text
    assert any(f"**Latest sample** (step {step:,})" in m.value for m in at.markdown)
    assert any(f"stopped at step {step}" in c.value for c in at.caption)  # the log's latest line
    assert shown_rate(at) == format_rate(run.summary[KEY])
