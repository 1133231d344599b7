"""One rank's process: join the group, train (rank 0 records), and leave cleanly.

Two entries, both under torchrun (ours or one started by hand or by a scheduler):

* ``python -m core.distributed RUN [--resume]`` (:func:`main`): a stored run, as a worker's
  :func:`~core.distributed.launch.launch_run` starts it.
* ``python -m core.cli train ...`` under torchrun (:func:`train_new`): a new run. Rank 0
  creates it, then broadcasts its id; each node's local rank 0 writes the id where the
  launcher reads it (``LMWB_RUN_ID_FILE``).

Stopping: SIGINT or SIGTERM (torchrun forwards them) asks for a graceful stop, as does the
death of the launching agent (its ranks live in sessions of their own, so they watch their
parent); the ranks vote at their next read-back and end at the same step, rank 0 with a
checkpoint. A second signal aborts. A rank that fails writes why to torchrun's error file
(``TORCHELASTIC_ERROR_FILE``), marking errors that only say a peer vanished, so the launcher
can tell the cause from its consequences.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.config import validate_config
from core.distributed.launch import CLAIM_EPOCH_ENV, LAUNCHER_ENV, RUN_ID_FILE_ENV
from core.errors import ConfigError, WorkbenchError

if TYPE_CHECKING:
    from core.config import RunConfig
    from core.run_guard import StopEvent
    from core.store import Store
    from core.strategies.group import Ranks
    from core.train import Callback, TrainResult


@contextlib.contextmanager
def rank_session(training: Mapping[str, Any]) -> Iterator[tuple[Ranks, StopEvent]]:
    """Join the group for a run's ``training`` section; yields (ranks, stop event)."""
    from core.run_guard import StopEvent, watch_parent
    from core.strategies.group import first_line, is_comm_failure, join, leave

    stop = StopEvent()
    restore = _graceful_signals(stop)
    watch_parent(stop, os.getppid())  # the agent gone (the launcher killed): stop, with a checkpoint
    try:
        yield join(str(training.get("device", "auto")), str(training.get("dist_backend", "auto"))), stop
    except BaseException as exc:
        write_error_file(exc)
        if isinstance(exc, Exception) and is_comm_failure(exc):  # one line, not a traceback per rank
            raise WorkbenchError(f"lost contact with another process of this run: {first_line(exc)}") from None
        raise
    finally:
        leave()
        restore()


def train_new(
    store: Store, config: RunConfig, *, name: str | None, tags: Sequence[str], progress: bool = True,
) -> tuple[str, TrainResult]:
    """A new run on this process group (``torchrun ... -m core.cli train ...``)."""
    from core.runs import create_run, execute_run

    with rank_session(config["training"]) as (ranks, stop):
        config = agree_world(config, ranks)
        run_id = None
        if ranks.is_main:
            run = create_run(store, config, name=name, tags=tags, status="running")
            print(f"run {run.id} ({run.name}) created in {store.url}", flush=True)
            run_id = run.id
        run_id = ranks.broadcast(run_id)
        if ranks.local_rank == 0 and os.environ.get(RUN_ID_FILE_ENV):
            with open(os.environ[RUN_ID_FILE_ENV], "w") as f:
                f.write(run_id)
        result = execute_run(store, run_id, callbacks=_callbacks(ranks, progress), stop_event=stop, ranks=ranks,
                             worker=os.environ.get(LAUNCHER_ENV))
        return run_id, result


def train_stored(store: Store, run_id: str, *, resume: bool, progress: bool) -> TrainResult:
    """A stored run on this process group (a launcher's ranks, or ``torchrun ... -m core.cli
    resume RUN`` by hand)."""
    from core.runs import execute_run
    from core.store.claims import Claim

    run = store.get_run(run_id)
    launcher, epoch = os.environ.get(LAUNCHER_ENV), os.environ.get(CLAIM_EPOCH_ENV)
    # Under a worker's claim (its launcher passes the epoch); by hand, rank 0 claims the run itself.
    claim = Claim(run.id, int(epoch), launcher) if launcher and epoch else None
    with rank_session(validate_config(run.config)["training"]) as (ranks, stop):
        if ranks.is_main and not launcher:
            store.update_run(run.id, stop_requested=False)  # by hand: a stop from an earlier session is spent
        return execute_run(store, run.id, resume=resume, callbacks=_callbacks(ranks, progress), stop_event=stop,
                           ranks=ranks, worker=launcher, claim=claim)


def agree_world(config: RunConfig, ranks: Ranks) -> RunConfig:
    """``config`` with the processes torchrun really started: a config that left
    ``nproc_per_node`` / ``nnodes`` at 1 takes them, one that names other counts is refused."""
    nodes = max(1, ranks.world // max(1, ranks.local_world))
    for key, actual in (("nproc_per_node", ranks.local_world), ("nnodes", nodes)):
        asked = int(config["training"][key])
        if asked not in (1, actual):
            raise ConfigError(f"training.{key}", asked, f"{actual} (what torchrun started) or 1 (take torchrun's)",
                              reason="torchrun started a different number of processes")
    return config.with_overrides({"training.nproc_per_node": ranks.local_world, "training.nnodes": nodes})


def _callbacks(ranks: Ranks, progress: bool) -> list[Callback]:
    if not (progress and ranks.is_main):
        return []
    from core.progress import ProgressPrinter

    return [ProgressPrinter()]


def _graceful_signals(stop: StopEvent) -> Any:
    """SIGINT/SIGTERM: stop after the next read-back; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.request(f"this process received {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in previous.items()]


def write_error_file(exc: BaseException) -> None:
    """Tell torchrun's agent why this rank failed (read back as ``ProcessFailure.message``)."""
    from core.strategies.group import first_line, is_comm_failure

    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path or isinstance(exc, SystemExit) or os.path.exists(path):
        return  # (the first word is the cause: an error re-raised further out adds nothing)
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    else:
        message = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {first_line(exc)}"
    with contextlib.suppress(OSError), open(path, "w") as f:
        json.dump({"message": message, "timestamp": int(time.time()),
                   "lmwb_consequence": is_comm_failure(exc)}, f)


def main(argv: list[str] | None = None) -> int:
    """``python -m core.distributed RUN [--resume] [--progress]``: one rank of a stored run."""
    from core.store import Store

    parser = argparse.ArgumentParser(prog="python -m core.distributed",
                                     description="One training process of an LM Workbench run (started by torchrun).")
    parser.add_argument("run", help="the run's id")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--progress", action="store_true", help="rank 0 prints the progress line")
    args = parser.parse_args(argv)
    try:
        train_stored(Store(), args.run, resume=args.resume, progress=args.progress)
    except BaseException as exc:
        write_error_file(exc)  # (an error before the group was joined)
        if not isinstance(exc, WorkbenchError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
