"""``lmwb train``, ``lmwb resume`` and ``lmwb worker``: start runs here or queue them.

A run that asks for several processes (``training.nproc_per_node`` x ``nnodes``) is trained
through torchrun (:mod:`core.distributed`); under torchrun, each of these commands is one rank.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.cli.common import add_param_flag, config_error_in, number, open_store
from core.config import (
    TRAINING_PARAMS,
    absolute_file_paths,
    apply_overrides,
    check_files,
    default_config,
    load_config_file,
    own_settings_text,
    processes_wanted,
    validate_config,
)
from core.distributed import launch_new, launch_run, launched_by_torchrun
from core.distributed.rank import train_new, train_stored
from core.errors import ConfigError, TrainingDiverged, WorkbenchError
from core.progress import ProgressPrinter


def cmd_train(args: argparse.Namespace) -> int:
    from core.runs import create_run
    from core.store.records import run_name

    if args.name is not None:
        run_name(args.name, "--name")  # refused before anything is made
    if args.config:
        raw = load_config_file(args.config)
    else:
        raw = default_config(args.task)
    try:
        config = validate_config(absolute_file_paths(apply_overrides(raw, args.set or [])))
        check_files(config)
    except ConfigError as exc:  # a field the --config file set: say which file
        raise config_error_in(exc, [(args.config, [])], args.set or []) from None

    store = open_store(args)
    if launched_by_torchrun():  # one rank of `torchrun ... -m core.cli train ...`
        if args.queue:
            raise WorkbenchError("--queue under torchrun would queue one run per process; queue it without torchrun")

        run_id, result = train_new(store, config, name=args.name, tags=args.tag or [])
        return _report(store, run_id, result)
    if args.queue and int(config["training"]["nnodes"]) > 1:
        raise WorkbenchError("the queue places runs on one machine; start a run on several machines with "
                             "`lmwb train` (or torchrun) on each of them")
    if processes_wanted(config) > 1 and not args.queue:
        # The ranks run this same command under torchrun; rank 0 creates the run.
        _in_foreground(lambda stop: launch_new(store, config, _rank_argv(args), stop_event=stop))
        return 0  # rank 0 printed the run's progress and how it ended
    run = create_run(store, config, name=args.name, tags=args.tag or [])
    print(f"run {run.id} ({run.name}) created in {store.url}")
    if own := own_settings_text(config):
        print(f"note: {own}")
    if args.queue:
        print("queued; a worker (`lmwb worker`) will pick it up")
        return 0
    try:
        return _run_in_foreground(store, run.id, resume=False)
    except WorkbenchError as exc:
        # Refused before its first step (a data file that does not parse, a setting the data or
        # the model rules out, a model folder that cannot be loaded): the run never trained, so
        # it is not kept; the message says what to fix. A run that diverged stays, to be looked at.
        if not isinstance(exc, TrainingDiverged) and store.last_step(run.id) is None:
            store.delete_run(run.id)
            print(f"run {run.id} removed: it never started training")
        if isinstance(exc, ConfigError):  # a setting the data rules out: the file and line that set it
            raise config_error_in(exc, [(args.config, [])], args.set or []) from None
        raise


def _rank_argv(args: argparse.Namespace) -> list[str]:
    """The ``lmwb train`` arguments each rank runs (the store comes through the environment)."""
    argv = ["train", "--task", args.task]
    if args.config:
        argv += ["--config", str(Path(args.config).resolve())]
    for override in args.set or []:
        argv += ["--set", override]
    if args.name:
        argv += ["--name", args.name]
    for tag in args.tag or []:
        argv += ["--tag", tag]
    return argv


def _report(store: Any, run_id: str, result: Any) -> int:
    """A rank's last line: rank 0 says how the run ended, the others say nothing."""
    if os.environ.get("RANK", "0") == "0":
        print(f"run {run_id}: {result.status}. Folder: {store.run_dir(run_id)}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from core.jobs.liveness import reap_orphans

    store = open_store(args)
    reap_orphans(store)  # a run whose worker is gone is failed now, so it can be resumed
    run = store.get_run(args.run)
    if launched_by_torchrun():  # one rank of `torchrun ... -m core.cli resume RUN`
        return _report(store, run.id, train_stored(store, run.id, resume=True, progress=True))
    if run.status == "queued":  # never started: nothing to resume, and nothing to fail
        return _start_queued(store, run, args)
    if not args.queue:
        store.run_files(run.id)  # trained on another machine, files not shared: say where, change nothing
    _set_processes(store, run, args)
    run = store.get_run(run.id)
    if args.queue:
        from core.jobs import request_resume

        queued = request_resume(store, run.id, force=args.force)
        print(f"run {queued.id} queued to resume; a worker (`lmwb worker`) will pick it up")
        return 0
    if run.status == "running":
        raise WorkbenchError(f"run {run.id} is already running (worker {run.worker}); "
                             f"`lmwb runs stop {run.id}` stops it after its current step")
    if run.status == "completed" and not args.force:
        raise WorkbenchError(
            f"run {run.id} already completed; --force trains it again from its last checkpoint up to "
            f"training.max_steps ({run.config['training']['max_steps']}, which it has reached unless it stopped "
            "early); to train longer, start a new run with a larger training.max_steps (--set)")
    steps = int(run.config["training"]["max_steps"])
    if run.status == "completed" and (store.last_step(run.id) or 0) >= steps:
        raise WorkbenchError(f"run {run.id} has trained all of its training.max_steps ({steps}); to train "
                             "longer, start a new run with a larger training.max_steps (--set)")
    if processes_wanted(run.config) > 1:
        store.update_run(run.id, stop_requested=False)  # a stop from an earlier session is spent
        result = _in_foreground(lambda stop: launch_run(store, run.id, resume=True, stop_event=stop, progress=True))
        print(f"run {run.id}: {result.status}. Folder: {store.run_dir(run.id)}")
        return 0
    return _run_in_foreground(store, run.id, resume=True)


def _start_queued(store: Any, run: Any, args: argparse.Namespace) -> int:
    """``lmwb resume`` of a run waiting in the queue: with ``--queue`` it stays there as it is;
    otherwise it is taken from the queue (atomically: no worker can take it too) and trained
    here as a worker would: from its checkpoint when it was queued to resume, else from step 1."""
    from core.jobs import RESUME_KEY, checkpoint_step
    from core.jobs.liveness import worker_label
    from core.runs import execute_run
    from core.store.claims import Claim

    resume = bool(run.progress.get(RESUME_KEY))
    if args.queue:
        what = "queued to resume" if resume else "queued and has not started yet"
        print(f"run {run.id} is {what}; a worker (`lmwb worker`) will pick it up")
        return 0
    _set_processes(store, run, args)  # refused while it waits: a worker may claim it at any moment
    label = worker_label()
    claimed = store.claim_next_queued(label, only_run=run.id)
    if claimed is None:
        now = store.get_run(run.id)
        held = f" (worker {now.worker})" if now.worker else ""
        raise WorkbenchError(f"run {run.id} left the queue meanwhile: it is {now.status}{held}")
    claim = Claim(claimed.id, claimed.claim_epoch, label)
    resume = bool(claimed.progress.get(RESUME_KEY))
    step = checkpoint_step(store.run_folder(run.id)) if resume else None
    print(f"run {run.id} was queued: " + (f"resuming it here from the checkpoint at step {step}" if resume
                                          else "training it here from step 1"))
    if processes_wanted(claimed.config) > 1:
        result = _in_foreground(lambda stop: launch_run(store, run.id, resume=resume, stop_event=stop, progress=True,
                                                        claim=claim))
    else:
        result = _in_foreground(lambda stop: execute_run(store, run.id, resume=resume, callbacks=[ProgressPrinter()],
                                                         stop_event=stop, claim=claim), when="after this step")
    print(f"run {run.id}: {result.status}. Folder: {store.run_dir(run.id)}")
    return 0


PROCESS_FLAGS = ("nproc_per_node", "nnodes", "dist_backend", "rdzv_endpoint")  # what `resume` may change


def _set_processes(store: Any, run: Any, args: argparse.Namespace) -> None:
    """Resume on another number of processes (the checkpoint holds the unwrapped model and
    every rank's streams): the run's stored config says how it trains from now on."""
    changes = {k: getattr(args, k) for k in PROCESS_FLAGS if getattr(args, k, None) is not None}
    if not changes:
        return
    if run.status in ("queued", "running"):
        raise WorkbenchError(f"run {run.id} is {run.status}; change how many processes train it once it has stopped")
    config = validate_config(run.config).with_overrides({f"training.{k}": v for k, v in changes.items()})
    store.update_run(run.id, config=config.to_dict())
    shown = ", ".join(f"training.{k}={v}" for k, v in changes.items())
    store.log_event(run.id, "info", f"resumed with {shown}")


def _run_in_foreground(store: Any, run_id: str, resume: bool) -> int:
    from core.runs import execute_run

    store.update_run(run_id, stop_requested=False)  # a stop from an earlier session is spent
    result = _in_foreground(lambda stop: execute_run(store, run_id, resume=resume, callbacks=[ProgressPrinter()],
                                                     stop_event=stop), when="after this step")
    print(f"run {run_id}: {result.status}. Folder: {store.run_dir(run_id)}")
    return 0


def _in_foreground(launch: Callable[[threading.Event], Any], when: str = "at the next logged step") -> Any:
    """Train in this terminal: Ctrl-C (or SIGTERM) stops the run ``when`` it can (one process:
    after its step; several: after the ranks' next read-back), a second one aborts (torchrun's
    agent then stops the processes)."""
    from core.run_guard import StopEvent

    stop = StopEvent()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print(f"\nstopping {when} (Ctrl-C again to abort)...", file=sys.stderr)
        what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        # Who asked, for the run's log (the trainer writes it: a store write here could meet
        # the loop's own write).
        stop.request(f"{what} to lmwb (pid {os.getpid()} on {socket.gethostname()})")

    main_thread = threading.current_thread() is threading.main_thread()  # (else signals are not ours)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    try:
        return launch(stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_worker(args: argparse.Namespace) -> int:
    from core.workers import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = open_store(args)
    print(f"worker on {store.url}: training queued runs one at a time (Ctrl-C stops after the current step)", flush=True)
    done = run_worker(store, once=args.once, idle_exit_s=args.idle_exit, poll_s=args.poll)
    print(f"worker exiting after {done} run(s)")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("train", help="train a model from a config file and/or --set overrides")
    p.add_argument("--config", help="YAML or JSON run config")
    p.add_argument("--task", default="classification", help="task whose defaults to start from when no --config")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--name", help="run name")
    p.add_argument("--tag", action="append", help="tag the run (repeatable)")
    p.add_argument("--queue", action="store_true", help="only queue the run for a worker")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("resume", help="continue a stopped or failed run from its last checkpoint")
    p.add_argument("run")
    p.add_argument("--force", action="store_true", help="resume even a completed run")
    p.add_argument("--queue", action="store_true", help="only queue it for a worker instead of training here")

    for param in TRAINING_PARAMS:  # resume on another number of processes: declared once, in core.config
        if param.name in PROCESS_FLAGS:
            add_param_flag(p, param, default=None, default_text=f"the run's own training.{param.name}")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("worker", help="train queued runs in this process, one at a time")
    p.add_argument("--once", action="store_true", help="train at most one run, then exit")
    p.add_argument("--idle-exit", type=number(float, 0, 1e7, above=True), metavar="S",
                   help="exit after S seconds without queued runs")
    p.add_argument("--poll", type=number(float, 0.01, 3600), default=0.5, metavar="S",
                   help="how often to look at the queue (default 0.5)")
    p.set_defaults(func=cmd_worker)
