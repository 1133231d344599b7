"""The training loop: schedule, accumulation, clipping, read-backs, evaluation, resume.

The task says *what* a step computes (batch, loss, metrics); this module says *how* the steps
follow each other. Where they run and what several processes agree on is a strategy's business
(:mod:`core.strategies`: one device, or one DDP rank), how a step's numbers are computed is a
precision's (fp32, bf16/fp16 autocast with fp16's loss scaler), and what happens at an
evaluation besides scoring is the callbacks' (:mod:`core.callbacks`: early stopping,
checkpoints, attention snapshots, then the progress displays and the run's log).

Bookkeeping is kept off the hot path: the loss is read back only every ``log_every`` steps
(with several ranks: one all-reduce that also carries the tokens and stop votes), metrics are
written to the store in batches, and the stop flag is polled by the run's guard (core.run_guard).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from core import checkpoint as ckpt
from core import finetune
from core.assemble import build_task, fit_tokenizer, load_dataset  # (imported from here too)
from core.budget import step_budget
from core.callbacks import (
    AttentionSnapshots,
    BestScore,
    Callback,
    Checkpointing,
    EarlyStopping,
    EvalCallback,
    GradNormLogger,
    resume_point,
)
from core.config import RunConfig
from core.data.types import DatasetSplits
from core.device import configure_backends, pick_device
from core.errors import TrainingDiverged
from core.inspect import SnapshotRecorder
from core.metrics import HELDOUT
from core.optim import build_optimizer, build_schedule
from core.seeding import seed_everything
from core.strategies import RandomStreams, SingleDevice, Strategy, choose_precision
from core.throughput import KEY as THROUGHPUT
from core.throughput import TrainClock
from core.throughput import tokens_per_s as throughput
from core.tokenize import load_tokenizer


class MetricSink(Protocol):
    """Where metrics and progress go; the run store implements it."""

    def log_metrics(self, run_id: str, rows: list[tuple[int, str, str, float, float]]) -> None: ...
    def set_progress(self, run_id: str, progress: dict[str, Any]) -> None: ...
    def set_summary(self, run_id: str, summary: dict[str, Any]) -> None: ...
    def stop_requested(self, run_id: str) -> bool: ...
    def truncate_metrics(self, run_id: str, after_step: int) -> None: ...
    def check_writable(self, run_id: str) -> None:
        """Raise if this process may no longer write the run (its claim was taken over)."""


@dataclass
class TrainResult:
    status: str  # completed | stopped (| failed, from a launcher of several processes)
    step: int
    summary: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class Trainer:
    """Trains one run. ``run_dir`` receives tokenizer, task state, checkpoints and samples.

    ``strategy``: where the steps run (:mod:`core.strategies`); None: one device, the one
    ``training.device`` picks. ``callbacks`` are called after the trainer's own."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        *,
        sink: MetricSink | None = None,
        run_id: str | None = None,
        callbacks: Sequence[Callback] = (),
        stop_event: threading.Event | None = None,
        strategy: Strategy | None = None,
    ) -> None:
        self.config = config
        self.t = config["training"]
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.sink = sink
        self.run_id = run_id
        self.callbacks = list(callbacks)
        self.stop_event = stop_event or threading.Event()
        self._given_strategy = strategy
        self._rows: list[tuple[int, str, str, float, float]] = []

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, resume: bool = False) -> None:
        """Data, tokenizer, task, model, optimizer, schedule, the run's own callbacks; then the
        checkpoint a resume continues from; then the module the steps run through."""
        seed_everything(self.t["seed"])
        strategy = self.strategy = self._given_strategy or SingleDevice(pick_device(self.t["device"]))
        self.device = strategy.device
        configure_backends(self.device)
        strategy.setup()
        self.precision, precision_note = choose_precision(self.device, self.t["precision"])
        data = load_dataset(self.config)
        start_from = resume_point(self.run_dir / "checkpoints") if resume else None
        parent = self._prepare_task(data, resume, resuming=start_from is not None)
        self.data_notes = [*data.notes, *([precision_note] if precision_note else [])]
        self.model = self.precision.convert_module(self.task.build_model().to(self.device))
        if parent is not None:
            finetune.load_backbone(self.model, parent, self.config)
        self.n_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.optimizer = build_optimizer(self.model, self.config["optimizer"])
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        # A few hundred rows get a few passes, not max_steps of them (training.max_epochs).
        self.t, cut = step_budget(self.t, self.task.data_summary(), strategy.world)
        self.data_notes += [cut] if cut else []
        self.schedule = build_schedule(self.config["schedule"], self.t["max_steps"])
        self.streams = RandomStreams(self.t["seed"], strategy.rank, self.device)
        self._own_callbacks(data)
        self.step = 0
        self.elapsed_before = self.eval_wall = 0.0  # wall time of earlier sessions; at the last evaluation
        self.tokens_seen = 0
        self.train_clock = TrainClock()  # training time, evaluations left out (core.throughput)
        if start_from is not None:
            self.restore(start_from)
            if start_from.name != "last":
                self.data_notes.append(f"checkpoints/last is missing: resumed from the {start_from.name} "
                                       f"checkpoint (step {self.step})")
            if self.sink and self.run_id:
                self.sink.truncate_metrics(self.run_id, self.step)
        elif resume and self.sink and self.run_id:  # nothing to continue from: a new series, said aloud
            self.sink.truncate_metrics(self.run_id, 0)
            self.data_notes.append(f"no checkpoint in {self.run_dir / 'checkpoints'}: training starts again "
                                   "from step 1")
        probe = torch.Generator().manual_seed(self.t["seed"])  # DDP's check for parameters without gradients
        self.train_model: nn.Module = strategy.prepare(self.model, lambda: self.task.loss(
            self.model, self.task.train_batch(min(self.t["batch_size"], 4), probe)), self.t["compile"])

    def _prepare_task(self, data: DatasetSplits, resume: bool, resuming: bool) -> finetune.Parent | None:
        """The tokenizer and the task, fitted once: rank 0 writes them (with the run's config),
        a resume and the other ranks read them back, so every process has the same ids. A
        fine-tune (task.init_from_run) starts from its parent's vocabulary: returns the parent,
        whose backbone rank 0 loads (DDP's first broadcast gives it to the others)."""
        strategy, tok_dir = self.strategy, self.run_dir / "tokenizer"
        reread = resume or not strategy.is_main
        if not strategy.is_main:
            strategy.barrier()  # until rank 0 has written them
        parent = None if resuming or not strategy.is_main else finetune.find_parent(self.config, self.sink)
        if reread and (tok_dir / "tokenizer.json").exists():
            self.tokenizer = load_tokenizer(tok_dir)
        else:
            self.tokenizer = load_tokenizer(parent.folder / "tokenizer") if parent else fit_tokenizer(self.config, data)
            self.tokenizer.save(tok_dir)
        self.task = build_task(self.config, self.tokenizer, None, self.device)
        if reread:
            self.task.load_artifacts(self.run_dir)
        self.task.set_data(data)
        self.task.prepare_training()  # every rank: the same copies under the same seed
        if strategy.is_main:
            self.task.save_artifacts(self.run_dir)
            (self.run_dir / "task_state.json").write_text(json.dumps(self.task.state))
            (self.run_dir / "config.json").write_text(json.dumps(self.config.to_dict(), indent=1))
            strategy.barrier()
        return parent

    def _own_callbacks(self, data: DatasetSplits) -> None:
        """The trainer's callbacks, called at each evaluation (rank 0's) before the given ones:
        early stopping, then the checkpoints (which keep its count), then attention snapshots."""
        self.best = BestScore(self.t["early_stopping_metric"] or self.task.default_metric)
        self.early_stopping = EarlyStopping(self.best, self.t["early_stopping_patience"])
        self.checkpointing = Checkpointing(
            self.run_dir / "checkpoints", self.model, self.optimizer, self._checkpoint_contents, self.best,
            before_commit=self._check_writable) if self.t["checkpoint"] else None
        self.snapshots = SnapshotRecorder.create(
            self.t["attention_snapshots"], self.run_dir, data, self.n_params) if self.strategy.is_main else None
        # Per step, not per evaluation: the loop calls it itself (measure, then at each log).
        wanted = self.t["log_grad_norm"] and self.strategy.is_main  # only rank 0 writes metrics
        self.grad_norm = GradNormLogger() if wanted else None
        self.own_callbacks: list[EvalCallback] = [self.early_stopping]
        self.own_callbacks += [self.checkpointing] if self.checkpointing is not None else []
        self.own_callbacks += [AttentionSnapshots(self.snapshots, self)] if self.snapshots is not None else []

    def restore(self, folder: Path) -> None:
        """Continue from the checkpoint in ``folder``: weights and optimizer, the step, clocks
        and token count, the best score and early stopping's count, the precision's state
        (fp16's loss scale) and this rank's random streams."""
        state, tensors = ckpt.load_checkpoint(folder, self.model, self.optimizer, self.device)
        self.step = int(state["step"])
        self.elapsed_before = float(state.get("elapsed", 0.0))
        self.tokens_seen = int(state.get("tokens_seen", 0))
        self.train_clock = TrainClock(state.get("train_s", self.elapsed_before))  # (older: with evaluations)
        self.best.load_state_dict(state)
        self.early_stopping.load_state_dict(state)
        self.precision.load_state_dict(state)
        self.streams.restore(tensors, self.step)

    def _checkpoint_contents(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """What :meth:`restore` reads besides weights and optimizer: the loop's state and every
        rank's random streams."""
        state = {
            "step": self.step, "elapsed": self.eval_wall, "tokens_seen": self.tokens_seen,
            "train_s": self.train_clock.seconds(),
            **self.best.state_dict(), **self.early_stopping.state_dict(), **self.precision.state_dict(),
        }
        return state, self.strategy.stream_tensors(self.streams.state())

    def _check_writable(self) -> None:
        """A process that lost the run to another worker must not replace its checkpoints."""
        if self.sink and self.run_id:
            self.sink.check_writable(self.run_id)

    # -- loop ------------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        t, strategy, precision = self.t, self.strategy, self.precision
        max_steps, accum = t["max_steps"], t["grad_accum"]
        deadline = None if t["max_minutes"] is None else time.monotonic() + 60 * t["max_minutes"]
        start = time.perf_counter()
        self.train_clock.start()
        self._emit("on_start", {
            "device": strategy.describe(), "precision": precision.label,
            "params": self.n_params, "total_params": sum(p.numel() for p in self.model.parameters()), "step": self.step,
            "max_steps": max_steps, "data": self.task.data_summary(), "notes": self.data_notes,
        })
        model, optimizer = self.train_model, self.optimizer
        model.train()
        window_loss = torch.zeros((), device=self.device)
        window_steps, window_tokens, window_time = 0, 0, 0.0
        fresh_tokens = 0  # this process's tokens since the last read-back (then: every rank's, counted)
        unread, mean = False, math.nan  # steps since the last read-back; its mean loss
        self._last_loss: float | None = None
        status, reason = "completed", ""
        halt = None  # (status, reason) of the stop agreed on at the last read-back
        while self.step < max_steps:
            if strategy.stops_anywhere:  # alone, a stop or the time budget is honoured at any step
                halt = self._halt(*self._votes(deadline))
            if halt is not None:
                status, reason = halt
                if status == "stopped":  # logged before the evaluation and "stopped at step N"
                    self._emit("on_stop", self.step, self._stop_source())
                break
            step_start = time.perf_counter()
            factor = self.schedule(self.step)
            for group, base in zip(optimizer.param_groups, self.base_lrs, strict=True):
                group["lr"] = base * factor
            for micro in range(accum):
                batch = self.task.train_batch(t["batch_size"], self.streams.generator)
                with strategy.micro_batch(last=micro == accum - 1):
                    with precision.autocast():
                        loss = self.task.loss(model, batch)
                    precision.backward(loss / accum if accum > 1 else loss)
                window_loss += loss.detach()
                fresh_tokens += batch.n_tokens
            precision.unscale_(optimizer)
            if t["grad_clip"] > 0:
                # clip_grad_norm_ returns the norm it compared with grad_clip: no second norm
                norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), t["grad_clip"])
                if self.grad_norm is not None:
                    self.grad_norm.record(norm)
            elif self.grad_norm is not None:  # opt-in, and no clipping measured it
                self.grad_norm.measure(self.model.parameters())
            precision.step(optimizer)
            optimizer.zero_grad(set_to_none=True)
            self.step += 1
            window_steps += 1
            window_time += time.perf_counter() - step_start
            unread = True
            # Step 1 is logged too, so a live chart shows a point as soon as training starts.
            due = self.step % t["eval_every"] == 0 or self.step == max_steps
            if self.step % t["log_every"] == 0 or self.step in (1, max_steps) or due:
                # The window's sum holds every loss since the last log: a NaN or inf in any
                # of them makes it non-finite. Checked before each evaluation too, so a
                # diverged model is never evaluated, sampled from or checkpointed.
                read = strategy.read_back(window_loss, window_steps * accum, fresh_tokens, *self._votes(deadline))
                mean, halt, unread = read.mean, self._halt(read.stop, read.late), False
                # Counted at each read-back, so an evaluation's checkpoint holds the exact count.
                self.tokens_seen += read.tokens
                window_tokens += read.tokens
                fresh_tokens = 0
                if not math.isfinite(mean):
                    raise self._diverged(mean, window_steps)
            if self.step % t["log_every"] == 0 or self.step in (1, max_steps):
                self._log_train(mean, window_tokens / max(window_time, 1e-9), factor, start)
                window_loss.zero_()
                window_steps, window_tokens, window_time = 0, 0, 0.0
            if due and self._evaluate_ranks(start):
                reason = self.early_stopping.reason
                break
        if window_steps:  # ended between logged steps (a stop, early stopping, the time budget)
            # Its last steps are logged at the step it ended, as the progress bar, the sample and
            # the log name it. (Several ranks end only right after a read-back, so they never
            # read back here: `mean` and the tokens are the ones they agreed on.)
            if unread:
                read = strategy.read_back(window_loss, window_steps * accum, fresh_tokens, False, False)
                mean = read.mean
                self.tokens_seen += read.tokens
                window_tokens += read.tokens
            if not math.isfinite(mean):  # a diverged model is never evaluated or checkpointed
                raise self._diverged(mean, window_steps)
            self._log_train(mean, window_tokens / max(window_time, 1e-9), factor, start)
        if self.step % t["eval_every"] != 0 and self.step != max_steps and self.step > 0:
            self._evaluate_ranks(start)  # stopped between evaluations: score and save where we are
        result = TrainResult(status=status, step=self.step, summary=self._summary(start), reason=reason)
        self._flush()
        if self.sink and self.run_id:
            self.sink.set_summary(self.run_id, result.summary)
            # The last progress: the step the run ended at, with the summary's own figures.
            self.sink.set_progress(self.run_id, self._progress(
                result.summary["duration_s"], 0.0, result.summary[THROUGHPUT]))
        self._emit("on_end", result)
        return result

    def _votes(self, deadline: float | None) -> tuple[bool, bool]:
        """This process's (stop asked, time budget spent)."""
        return self.stop_event.is_set(), deadline is not None and time.monotonic() > deadline

    def _halt(self, stop: bool, late: bool) -> tuple[str, str] | None:
        """(status, reason) of a run that ends here, or None to go on."""
        if stop:  # who asked is logged before the run stops (on_stop), not as its reason
            return "stopped", ""
        return ("completed", f"time budget of {self.t['max_minutes']:g} min reached") if late else None

    def _evaluate_ranks(self, start: float) -> bool:
        """:meth:`_evaluate` on rank 0 (the others wait); True on every rank to stop early.
        With checkpoints on, every rank's random streams go to rank 0 first. Not training time
        (core.throughput)."""
        with self.train_clock.paused():
            if self.checkpointing is not None:
                self.strategy.share_streams(self.streams.state)
            stop = self._evaluate(start) if self.strategy.is_main else False
            return self.strategy.any(stop)

    def _stop_source(self) -> str:
        """Who asked for the stop, for the run's log: the stop event's own reason (Ctrl-C in the
        CLI), "" for a request through the store (whoever made it logged it), else the process
        that trains the run."""
        if why := getattr(self.stop_event, "reason", ""):
            return str(why)
        if self.sink and self.run_id:
            with contextlib.suppress(Exception):  # a busy database: say what is known
                if self.sink.stop_requested(self.run_id):
                    return ""
        return "the process training it (a signal, its worker's shutdown or its sweep)"

    # -- pieces ------------------------------------------------------------------------------------
    def _diverged(self, value: float, window_steps: int) -> TrainingDiverged:
        first = self.step - window_steps + 1
        where = f"at step {self.step}" if first >= self.step else f"between steps {first} and {self.step}"
        return TrainingDiverged(
            f"loss became {value} {where}; try a lower optimizer.lr (now {self.base_lrs[0]:g}) or "
            "gradient clipping (training.grad_clip)"
        )

    def _elapsed(self, start: float) -> float:
        return self.elapsed_before + time.perf_counter() - start

    def tokens_per_s(self) -> float:
        """The run's throughput as core.throughput declares it: tokens trained on over training
        time, whole run so far. The one place it is computed."""
        return throughput(self.tokens_seen, self.train_clock.seconds())

    def _log_train(self, loss: float, window_rate: float, lr_factor: float, start: float) -> None:
        wall = self._elapsed(start)
        lr = self.base_lrs[0] * lr_factor
        self._rows += [
            (self.step, "train", "loss", loss, wall),
            (self.step, "train", "lr", lr, wall),
            (self.step, "train", "tokens_per_s", window_rate, wall),  # this window's own (bench/)
        ]
        # grad_norm, only when training.log_grad_norm asked for it
        extra = self.grad_norm.metrics() if self.grad_norm is not None else {}
        self._rows += [(self.step, "train", name, value, wall) for name, value in extra.items()]
        self._flush()
        self._last_loss = loss
        rate = self.step / max(wall, 1e-9)
        eta = (self.t["max_steps"] - self.step) / rate if rate > 0 else None
        progress = self._progress(wall, eta, self.tokens_per_s())
        if self.sink and self.run_id:
            self.sink.set_progress(self.run_id, progress)
        self._emit("on_log", self.step, {"loss": loss, "lr": lr, THROUGHPUT: progress[THROUGHPUT], "eta_s": eta or 0.0,
                                         **extra})

    def _progress(self, wall: float, eta: float | None, tokens_per_s: float) -> dict[str, Any]:
        return {
            "step": self.step, "max_steps": self.t["max_steps"], "fraction": self.step / self.t["max_steps"],
            THROUGHPUT: tokens_per_s, "eta_s": eta, "elapsed_s": wall, "train_loss": self._last_loss,
        }

    def _evaluate(self, start: float) -> bool:
        """Score on validation (and the held-out set), record it, then the trainer's own
        callbacks, the run's summary and the given callbacks. Returns True to stop early."""
        eval_bs = max(self.t["batch_size"], 64)
        try:
            with self.precision.autocast():
                result = self.task.evaluate(self.model, self.t["eval_max_batches"], eval_bs)
                held = self.task.evaluate_heldout(self.model, self.t["eval_max_batches"], eval_bs)
        except TrainingDiverged as exc:  # e.g. sampling from non-finite scores
            raise TrainingDiverged(f"evaluation at step {self.step}: {exc}") from None
        val_loss = result.metrics.get("loss")
        if val_loss is not None and not math.isfinite(val_loss):
            raise TrainingDiverged(
                f"validation loss became {val_loss} at step {self.step} while the training loss was finite; "
                f"try a lower optimizer.lr (now {self.base_lrs[0]:g}) or training.precision=fp32"
            )
        self.eval_wall = wall = self._elapsed(start)  # its rows' time and its checkpoint's
        self._rows += [(self.step, "val", k, float(v), wall) for k, v in result.metrics.items()]
        heldout = None
        if held is not None:  # scored beside validation; never watched for stopping or the best
            heldout = {k: float(v) for k, v in held.metrics.items()}
            self._rows += [(self.step, HELDOUT, k, v, wall) for k, v in heldout.items()]
        self._flush()
        self.last_eval = result
        self.best.update(self.step, result.metrics, heldout)
        if "sample" in result.details:
            with (self.run_dir / "samples.jsonl").open("a") as f:
                f.write(json.dumps({"step": self.step, "text": result.details["sample"]}) + "\n")
        for callback in self.own_callbacks:  # early stopping, checkpoints, snapshots: before the summary names them
            callback.on_eval(self.step, result.metrics, result.details)
        if self.sink and self.run_id:
            self.sink.set_summary(self.run_id, self._summary(start))
        self._emit("on_eval", self.step, result.metrics, result.details)
        return self.early_stopping.should_stop

    def _summary(self, start: float) -> dict[str, Any]:
        last = getattr(self, "last_eval", None)
        summary: dict[str, Any] = {
            "step": self.step,
            "params": self.n_params,
            "device": self.strategy.describe(),
            "precision": self.precision.label,
            "duration_s": self._elapsed(start),
            "tokens_seen": self.tokens_seen,
            THROUGHPUT: self.tokens_per_s(),
            "data": self.task.data_summary(),
            **self.best.summary(),  # metric, best (with its held-out figures), the last held-out ones
            **self.strategy.summary(),  # several ranks: how many, and where each trained
        }
        if last is not None:
            summary["val"] = dict(last.metrics)
            summary["details"] = {k: v for k, v in last.details.items() if k != "sample"}
            if "sample" in last.details:
                summary["sample"] = last.details["sample"]
        return summary

    def _flush(self) -> None:
        if self._rows and self.sink and self.run_id:
            self.sink.log_metrics(self.run_id, self._rows)
        self._rows = []

    def _emit(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn: Callable[..., None] | None = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)
