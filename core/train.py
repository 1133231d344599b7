"""The training loop: device, precision, schedule, clipping, evaluation, checkpoints, resume.

The task says *what* a step computes (batch, loss, metrics); this module says *how* it runs.
Bookkeeping is kept off the hot path: the loss is read back only every ``log_every`` steps,
metrics are written to the store in batches, and the stop flag is polled by a side thread.

As one of several processes (``ranks``: :mod:`core.distributed`) it steps through DDP, draws
its own batch stream, and meets the other ranks only where the loop pauses anyway: each loss
read-back (one all-reduce: loss, tokens, stop votes) and each evaluation (rank 0's alone).
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
from core.budget import step_budget
from core.config import RunConfig
from core.data.types import DatasetSplits
from core.device import (
    autocast,
    configure_backends,
    device_label,
    pick_device,
    precision_label,
    resolve_precision,
)
from core.distributed.group import Ranks, peer_state_tensors, rank_seed, rank_states
from core.errors import ConfigError, TrainingDiverged
from core.inspect import SnapshotRecorder
from core.metrics import HELDOUT, direction
from core.optim import build_optimizer, build_schedule
from core.registry import DATASETS, TASKS, TOKENIZERS
from core.seeding import restore_rng_states, rng_states, seed_everything
from core.stop_watch import start_stop_watcher
from core.tasks.base import Task
from core.tasks.pairs import fitting_texts
from core.throughput import KEY as THROUGHPUT
from core.throughput import TrainClock
from core.throughput import tokens_per_s as throughput
from core.tokenize import Tokenizer, load_tokenizer


class Callback(Protocol):
    """Hooks for progress displays (CLI bar, tests). All optional to implement."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_log(self, step: int, metrics: dict[str, float]) -> None: ...
    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None: ...
    def on_stop(self, step: int, by: str) -> None: ...  # a stop seen after ``step``; ``by``: who ("" the store)
    def on_end(self, result: TrainResult) -> None: ...


class MetricSink(Protocol):
    """Where metrics and progress go; the run store implements it."""

    def log_metrics(self, run_id: str, rows: list[tuple[int, str, str, float, float]]) -> None: ...
    def set_progress(self, run_id: str, progress: dict[str, Any]) -> None: ...
    def set_summary(self, run_id: str, summary: dict[str, Any]) -> None: ...
    def stop_requested(self, run_id: str) -> bool: ...
    def truncate_metrics(self, run_id: str, after_step: int) -> None: ...
    def heartbeat(self, run_id: str) -> None: ...
    def check_writable(self, run_id: str) -> None:
        """Raise if this process may no longer write the run (its claim was taken over)."""


@dataclass
class TrainResult:
    status: str  # completed | stopped (| failed, from a launcher of several processes)
    step: int
    summary: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def load_dataset(config: RunConfig) -> DatasetSplits:
    comp = DATASETS.get(config["data"]["name"], path="data.name")
    return comp.factory(config.params("data"), task=config.task, seed=config["training"]["seed"])


def fit_tokenizer(config: RunConfig, data: DatasetSplits) -> Tokenizer:
    comp = TOKENIZERS.get(config["tokenizer"]["name"], path="tokenizer.name")
    texts = list(data.train.texts)
    if data.extras.get("text_pair"):  # "a [SEP] b": the mark is not a word of the vocabulary
        texts = fitting_texts(texts)
    # Translation with separate vocabularies fits the target side itself (TranslationTask).
    if data.train.targets and config["task"].get("shared_vocab", True):
        texts += data.train.targets
    params = config.params("tokenizer")
    if not (comp.meta.get("from_model") and not params.get("model")):
        return comp.factory(params, texts)
    params["model"] = config["model"].get("model") or ""  # a pretrained model's own tokenizer
    try:
        return comp.factory(params, texts)
    except ConfigError as exc:  # the folder the user named is model.model: say that one
        if exc.path != "tokenizer.model":
            raise
        raise ConfigError("model.model", exc.value, exc.allowed, reason=exc.reason) from None


def build_task(config: RunConfig, tokenizer: Tokenizer, state: dict[str, Any] | None, device: torch.device) -> Task:
    return TASKS.get(config.task).factory(config, tokenizer, state, device)


class Trainer:
    """Trains one run. ``run_dir`` receives tokenizer, task state, checkpoints and samples."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        *,
        sink: MetricSink | None = None,
        run_id: str | None = None,
        callbacks: Sequence[Callback] = (),
        stop_event: threading.Event | None = None,
        ranks: Ranks | None = None,
    ) -> None:
        self.config = config
        self.ranks = ranks  # None: one process, no process group (the default)
        self.is_main = ranks is None or ranks.is_main
        self.t = config["training"]
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.sink = sink
        self.run_id = run_id
        self.callbacks = list(callbacks)
        self.stop_event = stop_event or threading.Event()
        self._rows: list[tuple[int, str, str, float, float]] = []

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, resume: bool = False) -> None:
        seed_everything(self.t["seed"])
        ranks = self.ranks
        self.device = ranks.device if ranks is not None else pick_device(self.t["device"])
        configure_backends(self.device)
        # The Run page lists where each rank trains; only rank 0's summary is written.
        self.rank_devices = ranks.gather(device_label(self.device)) if ranks is not None else None
        self.amp_dtype = resolve_precision(self.device, self.t["precision"])
        data = load_dataset(self.config)
        tok_dir = self.run_dir / "tokenizer"
        start_from = self._resume_checkpoint() if resume else None
        resuming = start_from is not None
        # Ranks other than 0 read rank 0's vocabulary and task files, as a resume does (one fit,
        # the same ids everywhere); a parent's weights reach them with DDP's first broadcast.
        reread = resume or not self.is_main
        if ranks is not None and not self.is_main:
            ranks.barrier()  # until rank 0 has written them
        # A fine-tune (task.init_from_run) starts from its parent's backbone and vocabulary.
        parent = None if resuming or not self.is_main else finetune.find_parent(self.config, self.sink)
        if reread and (tok_dir / "tokenizer.json").exists():
            self.tokenizer = load_tokenizer(tok_dir)
        else:
            self.tokenizer = load_tokenizer(parent.folder / "tokenizer") if parent else fit_tokenizer(self.config, data)
            self.tokenizer.save(tok_dir)
        self.task = build_task(self.config, self.tokenizer, None, self.device)
        if reread:
            self.task.load_artifacts(self.run_dir)
        self.task.set_data(data)
        if self.is_main:
            self.task.save_artifacts(self.run_dir)
            (self.run_dir / "task_state.json").write_text(json.dumps(self.task.state))
            (self.run_dir / "config.json").write_text(json.dumps(self.config.to_dict(), indent=1))
            if ranks is not None:
                ranks.barrier()
        self.data_notes = list(data.notes)
        asked = self.t["precision"]
        if asked in ("bf16", "fp16") and self.amp_dtype is None:
            # Portable configs: a GPU recipe still runs on a laptop, and says what it did.
            self.data_notes.append(f"training.precision={asked} needs a CUDA GPU; on {self.device.type} "
                                   "this run trains in fp32")
        self.model = self.task.build_model().to(self.device)
        if parent is not None:
            finetune.load_backbone(self.model, parent, self.config)
        self.n_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.snapshots = SnapshotRecorder.create(
            self.t["attention_snapshots"], self.run_dir, data, self.n_params) if self.is_main else None
        self.optimizer = build_optimizer(self.model, self.config["optimizer"])
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        # A few hundred rows get a few passes, not max_steps of them (training.max_epochs).
        self.t, cut = step_budget(self.t, self.task.data_summary(), ranks.world if ranks is not None else 1)
        self.data_notes += [cut] if cut else []
        self.schedule = build_schedule(self.config["schedule"], self.t["max_steps"])
        # fp16 gradients underflow without loss scaling; the scaler's state is checkpointed.
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        rank = ranks.rank if ranks is not None else 0  # rank r > 0: batches and dropout of its own
        self.generator = torch.Generator().manual_seed(rank_seed(self.t["seed"], rank) + 1)
        if rank > 0:
            torch.manual_seed(rank_seed(self.t["seed"], rank))
        self.metric = self.t["early_stopping_metric"] or self.task.default_metric
        self.direction = direction(self.metric)
        self.step = 0
        self.elapsed_before = 0.0  # wall time of earlier sessions of a resumed run
        self.best: float | None = None
        self.best_step = 0
        self.heldout: dict[str, dict[str, float]] = {}  # held-out metrics: "last" and at the "best" step
        self.bad_evals = 0
        self.tokens_seen = 0
        self.train_clock = TrainClock()  # training time, evaluations left out (core.throughput)
        if start_from is not None:
            state, extra = ckpt.load_checkpoint(start_from, self.model, self.optimizer, self.device)
            if start_from.name != "last":
                self.data_notes.append(f"checkpoints/last is missing: resumed from the {start_from.name} "
                                       f"checkpoint (step {int(state['step'])})")
            self.step = int(state["step"])
            self.elapsed_before = float(state.get("elapsed", 0.0))
            self.best = state.get("best")
            self.best_step = int(state.get("best_step", 0))
            self.heldout = dict(state.get("heldout") or {})
            self.bad_evals = int(state.get("bad_evals", 0))
            self.tokens_seen = int(state.get("tokens_seen", 0))
            self.train_clock = TrainClock(state.get("train_s", self.elapsed_before))  # (older: with evaluations)
            mine = rank_states(extra, rank)
            if "generator" in mine:
                self.generator.set_state(mine["generator"])
            elif rank > 0:  # a rank the saving run did not have: a stream of its own from here
                self.generator.manual_seed(rank_seed(self.t["seed"], rank) + 1 + self.step)
            restore_rng_states(mine, self.device)
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            if self.sink and self.run_id:
                self.sink.truncate_metrics(self.run_id, self.step)
        elif resume and self.sink and self.run_id:  # nothing to continue from: a new series, said aloud
            self.sink.truncate_metrics(self.run_id, 0)
            self.data_notes.append(f"no checkpoint in {self.run_dir / 'checkpoints'}: training starts again "
                                   "from step 1")
        self.ddp: nn.Module | None = None
        if ranks is not None:  # a probe batch tells DDP whether some parameters never get gradients
            probe = torch.Generator().manual_seed(self.t["seed"])
            self.ddp = ranks.wrap(self.model, lambda: self.task.loss(
                self.model, self.task.train_batch(min(self.t["batch_size"], 4), probe)))
        stepped = self.ddp if self.ddp is not None else self.model
        self.train_model: nn.Module = torch.compile(stepped) if self.t["compile"] else stepped

    # -- loop ------------------------------------------------------------------------------------
    def _resume_checkpoint(self) -> Path | None:
        """What a resume continues from: the last checkpoint, else the best (when ``last`` was
        deleted because it was damaged), else nothing (the run trains again from the start)."""
        for name in ("last", "best"):
            folder = self.run_dir / "checkpoints" / name
            if ckpt.has_checkpoint(folder):
                return folder
        return None

    def fit(self) -> TrainResult:
        t = self.t
        max_steps, accum = t["max_steps"], t["grad_accum"]
        deadline = None if t["max_minutes"] is None else time.monotonic() + 60 * t["max_minutes"]
        start = time.perf_counter()
        self.train_clock.start()
        self._emit("on_start", {
            "device": self._device_text(), "precision": precision_label(self.amp_dtype),
            "params": self.n_params, "total_params": sum(p.numel() for p in self.model.parameters()), "step": self.step,
            "max_steps": max_steps, "data": self.task.data_summary(), "notes": self.data_notes,
        })
        watcher = start_stop_watcher(self.sink, self.run_id, self.stop_event)
        model, optimizer = self.train_model, self.optimizer
        model.train()
        window_loss = torch.zeros((), device=self.device)
        window_steps, window_tokens, window_time = 0, 0, 0.0
        fresh_tokens = 0  # this process's tokens since the last read-back (then: every rank's, counted)
        self._last_loss: float | None = None
        status, reason = "completed", ""
        ranks, halt = self.ranks, None  # halt: the stop every rank agreed on at the last read-back
        # Accumulated micro-batches skip DDP's gradient all-reduce except the last one.
        no_sync = self.ddp.no_sync if self.ddp is not None and accum > 1 else None  # type: ignore[operator]
        try:
            while self.step < max_steps:
                if ranks is None:  # alone, a stop or the time budget is honoured at any step
                    halt = self._halt(self.stop_event.is_set(), deadline is not None and time.monotonic() > deadline)
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
                    batch = self.task.train_batch(t["batch_size"], self.generator)
                    with no_sync() if no_sync is not None and micro < accum - 1 else contextlib.nullcontext():
                        with autocast(self.device, self.amp_dtype):
                            loss = self.task.loss(model, batch)
                        scaled = loss / accum if accum > 1 else loss
                        if self.scaler is not None:
                            self.scaler.scale(scaled).backward()
                        else:
                            scaled.backward()
                    window_loss += loss.detach()
                    fresh_tokens += batch.n_tokens
                if self.scaler is not None:
                    self.scaler.unscale_(optimizer)
                if t["grad_clip"] > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), t["grad_clip"])
                if self.scaler is not None:
                    self.scaler.step(optimizer)
                    self.scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                self.step += 1
                window_steps += 1
                window_time += time.perf_counter() - step_start
                # Step 1 is logged too, so a live chart shows a point as soon as training starts.
                due = self.step % t["eval_every"] == 0 or self.step == max_steps
                if self.step % t["log_every"] == 0 or self.step in (1, max_steps) or due:
                    # The window's sum holds every loss since the last log: a NaN or inf in any
                    # of them makes it non-finite. Checked before each evaluation too, so a
                    # diverged model is never evaluated, sampled from or checkpointed.
                    if ranks is None:
                        mean, counted = (window_loss / (window_steps * accum)).item(), fresh_tokens
                    else:  # the global batch's loss; a NaN on any rank is a NaN on all
                        mean, counted, halt = self._agree(window_loss, window_steps, fresh_tokens, deadline)
                    # Counted at each read-back, so an evaluation's checkpoint holds the exact count.
                    self.tokens_seen += counted
                    window_tokens += counted
                    fresh_tokens = 0
                    if not math.isfinite(mean):
                        raise self._diverged(mean, window_steps)
                if self.step % t["log_every"] == 0 or self.step in (1, max_steps):
                    self._log_train(mean, window_tokens / max(window_time, 1e-9), factor, start)
                    window_loss.zero_()
                    window_steps, window_tokens, window_time = 0, 0, 0.0
                if due and self._evaluate_ranks(start):
                    reason = (
                        f"early stopping: val {self.metric} did not improve for "
                        f"{t['early_stopping_patience']} evaluations"
                    )
                    break
        finally:
            if watcher is not None:
                watcher.set()
        if window_steps:  # ended between logged steps (a stop, early stopping, the time budget)
            # Its last steps are logged at the step it ended, as the progress bar, the sample and
            # the log name it. (Several ranks end only right after a read-back: `mean` and the
            # tokens are the ones they agreed on.)
            if ranks is None:
                mean = (window_loss / (window_steps * accum)).item()
                self.tokens_seen += fresh_tokens
                window_tokens += fresh_tokens
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

    # -- several ranks ---------------------------------------------------------------------------
    def _agree(self, window_loss: torch.Tensor, steps: int, tokens: int, deadline: float | None) -> tuple[float, int, Any]:
        """One all-reduce at a read-back: the mean loss over every rank's window, their tokens,
        and whether any rank was asked to stop or ran out of time (then: status and reason)."""
        assert self.ranks is not None
        late = deadline is not None and time.monotonic() > deadline
        total, tokens_all, stops, lates = self.ranks.sum([window_loss, tokens, self.stop_event.is_set(), late])
        return total / (steps * self.t["grad_accum"] * self.ranks.world), int(tokens_all), self._halt(stops > 0, lates > 0)

    def _halt(self, stop: bool, late: bool) -> tuple[str, str] | None:
        """(status, reason) of a run that ends here, or None to go on."""
        if stop:  # who asked is logged before the run stops (on_stop), not as its reason
            return "stopped", ""
        return ("completed", f"time budget of {self.t['max_minutes']:g} min reached") if late else None

    def _evaluate_ranks(self, start: float) -> bool:
        """:meth:`_evaluate` on rank 0 (the others wait); True on every rank to stop early.
        With checkpoints on, every rank's random streams go into rank 0's checkpoint first.
        Not training time (core.throughput)."""
        with self.train_clock.paused():
            if self.ranks is None:
                return self._evaluate(start)
            if self.t["checkpoint"]:
                self._peer_states = self.ranks.gather({"generator": self.generator.get_state(),
                                                       **rng_states(self.device)})
            stop = self._evaluate(start) if self.ranks.is_main else False
            return self.ranks.any(stop)

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

    def _device_text(self) -> str:
        return device_label(self.device) + (f" x {self.ranks.label}" if self.ranks is not None else "")

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
        self._flush()
        self._last_loss = loss
        rate = self.step / max(wall, 1e-9)
        eta = (self.t["max_steps"] - self.step) / rate if rate > 0 else None
        progress = self._progress(wall, eta, self.tokens_per_s())
        if self.sink and self.run_id:
            self.sink.set_progress(self.run_id, progress)
        self._emit("on_log", self.step, {"loss": loss, "lr": lr, THROUGHPUT: progress[THROUGHPUT], "eta_s": eta or 0.0})

    def _progress(self, wall: float, eta: float | None, tokens_per_s: float) -> dict[str, Any]:
        return {
            "step": self.step, "max_steps": self.t["max_steps"], "fraction": self.step / self.t["max_steps"],
            THROUGHPUT: tokens_per_s, "eta_s": eta, "elapsed_s": wall, "train_loss": self._last_loss,
        }

    def _evaluate(self, start: float) -> bool:
        """Score on validation, checkpoint, track the best. Returns True to stop early."""
        eval_bs = max(self.t["batch_size"], 64)
        try:
            with autocast(self.device, self.amp_dtype):
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
        wall = self._elapsed(start)
        self._rows += [(self.step, "val", k, float(v), wall) for k, v in result.metrics.items()]
        if held is not None:  # scored beside validation; never watched for stopping or the best
            self.heldout["last"] = {k: float(v) for k, v in held.metrics.items()}
            self._rows += [(self.step, HELDOUT, k, v, wall) for k, v in self.heldout["last"].items()]
        self._flush()
        self.last_eval = result
        value = result.metrics.get(self.metric)
        improved = False
        if value is not None:
            better = self.best is None or (value < self.best if self.direction == "min" else value > self.best)
            if better:
                self.best, self.best_step, self.bad_evals, improved = value, self.step, 0, True
                if "last" in self.heldout:
                    self.heldout["best"] = self.heldout["last"]
            else:
                self.bad_evals += 1
        if "sample" in result.details:
            with (self.run_dir / "samples.jsonl").open("a") as f:
                f.write(json.dumps({"step": self.step, "text": result.details["sample"]}) + "\n")
        if self.t["checkpoint"]:
            self._save_checkpoint(wall, improved)
        if self.snapshots is not None:
            self.snapshots.snapshot(self, self.step)  # attention of the probe input, for the Evolution view
        if self.sink and self.run_id:
            self.sink.set_summary(self.run_id, self._summary(start))
        self._emit("on_eval", self.step, result.metrics, result.details)
        patience = self.t["early_stopping_patience"]
        return patience > 0 and self.bad_evals >= patience

    def _save_checkpoint(self, wall: float, improved: bool) -> None:
        folder = self.run_dir / "checkpoints"
        state = {
            "step": self.step, "elapsed": wall, "best": self.best, "best_step": self.best_step,
            "bad_evals": self.bad_evals, "tokens_seen": self.tokens_seen, "metric": self.metric,
            "train_s": self.train_clock.seconds(),
            "heldout": self.heldout,
        }
        if self.scaler is not None:  # its loss scale and growth tracker: plain numbers
            state["scaler"] = self.scaler.state_dict()
        extra = {"generator": self.generator.get_state(), **rng_states(self.device)}
        extra.update(peer_state_tensors(getattr(self, "_peer_states", None)))  # ranks 1.. (several ranks)
        fence = self._check_writable
        ckpt.save_checkpoint(folder / "last", self.model, self.optimizer, state, extra, before_commit=fence)
        if improved:
            ckpt.save_checkpoint(folder / "best", self.model, None, state, before_commit=fence)

    def _check_writable(self) -> None:
        """A process that lost the run to another worker must not replace its checkpoints."""
        if self.sink and self.run_id:
            self.sink.check_writable(self.run_id)

    def _summary(self, start: float) -> dict[str, Any]:
        last = getattr(self, "last_eval", None)
        summary: dict[str, Any] = {
            "step": self.step,
            "params": self.n_params,
            "device": self._device_text(),
            "precision": precision_label(self.amp_dtype),
            "duration_s": self._elapsed(start),
            "tokens_seen": self.tokens_seen,
            THROUGHPUT: self.tokens_per_s(),
            "data": self.task.data_summary(),
            "metric": self.metric,
            "best": {"value": self.best, "step": self.best_step, **({HELDOUT: self.heldout["best"]}
                                                                     if "best" in self.heldout else {})},
            **({HELDOUT: self.heldout["last"]} if "last" in self.heldout else {}),
        }
        if self.ranks is not None:
            summary.update(processes=self.ranks.world, rank_devices=self.rank_devices)
        if last is not None:
            summary["val"] = dict(last.metrics)
            summary["details"] = {k: v for k, v in last.details.items() if k != "sample"}
            if "sample" in last.details:
                summary["sample"] = last.details["sample"]
        return summary

    def _flush(self) -> None:
        if self._rows and self.sink and self.run_id:
            self.sink.log_metrics(self.run_id, self._rows)
            self.sink.heartbeat(self.run_id)
        self._rows = []

    def _emit(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            fn: Callable[..., None] | None = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)
