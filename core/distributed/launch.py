"""Starting a run on several processes: torchrun's own launcher, called in this process.

:func:`launch_run` trains a stored run (a worker's claimed run, ``lmwb resume``);
:func:`launch_new` trains a new one (``lmwb train``), which rank 0 creates. Both build the
argument list ``torchrun`` would take (:func:`torchrun_args`; ``--max-restarts 0``: a failed
process fails the run, nothing restarts behind the user's back) and hand it to
``torch.distributed.run.run``, so the launcher *is* torchrun's agent:

* one process fewer between the caller and the ranks: the launcher's label is the run's
  ``worker`` while the ranks train, alive exactly as long as the agent; a launcher killed
  outright leaves ranks whose parent is gone, and they stop (see :mod:`core.distributed.rank`);
* a failure comes back as torchrun's ``ChildFailedError``, per rank: exit code, signal, and
  the message the rank wrote to its error file, from which the run gets a readable reason;
* the agent handles only SIGHUP and SIGQUIT: SIGINT and SIGTERM stay the caller's (Ctrl-C in
  ``lmwb train``, a worker's shutdown), which ask the run to stop through the store, the way
  ``lmwb runs stop`` does, so rank 0 saves a checkpoint and every rank ends at the same step.

The ranks get the store through the environment (never the command line, which ``ps``
shows), with ``LMWB_LAUNCHER`` (the label to show) and ``LMWB_RUN_ID_FILE`` (where each node's
local rank 0 writes the id of the run, so the launcher of a new run learns it).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import processes_wanted, validate_config
from core.errors import ConfigError, WorkbenchError

if TYPE_CHECKING:  # torch and the trainer load when a launch happens, not on import
    from core.config import RunConfig
    from core.store import Store
    from core.store.claims import Claim
    from core.train import TrainResult

LAUNCHER_ENV = "LMWB_LAUNCHER"  # the label a run trained by these ranks shows as its worker
RUN_ID_FILE_ENV = "LMWB_RUN_ID_FILE"  # where local rank 0 writes the id of the run it trains
CLAIM_EPOCH_ENV = "LMWB_CLAIM_EPOCH"  # the launching worker's claim on the run: rank 0 writes under it
AGENT_SIGNALS = "SIGHUP,SIGQUIT"  # the rest stay the launcher's (see the module's docstring)
_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


def launched_by_torchrun() -> bool:
    """Whether this process is one rank of a group that torchrun (or a scheduler) started."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def torchrun_args(training: Mapping[str, Any], entry: Sequence[str], rdzv_id: str) -> list[str]:
    """torchrun's arguments for a run's ``training`` section, then the ranks' ``entry``
    (``-m module args...``). One node without an endpoint: ``--standalone`` (a rendezvous on a
    free local port, so runs never collide); otherwise c10d at ``rdzv_endpoint``."""
    nproc, nnodes = int(training.get("nproc_per_node") or 1), int(training.get("nnodes") or 1)
    endpoint = str(training.get("rdzv_endpoint") or "").strip()
    args = ["--nnodes", str(nnodes), "--nproc-per-node", str(nproc), "--max-restarts", "0",
            "--signals-to-handle", AGENT_SIGNALS]
    if endpoint:
        check_endpoint(endpoint)
        args += ["--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", rdzv_id]
    elif nnodes > 1:
        raise ConfigError("training.rdzv_endpoint", "", "host:port of a machine every node reaches, e.g. node0:29400",
                          reason=f"{nnodes} nodes need a rendezvous to meet at")
    else:
        args.append("--standalone")
    return [*args, *entry]


def check_endpoint(endpoint: str) -> None:
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("training.rdzv_endpoint", endpoint, "host:port, e.g. node0:29400 or 10.0.0.5:29400")


def torchrun_command(args: Sequence[str]) -> str:
    """The shell line that starts the same processes by hand."""
    return "torchrun " + shlex.join(args)


# -- launching --------------------------------------------------------------------------------------
def launch_run(
    store: Store, run_id: str, *, resume: bool = False, stop_event: threading.Event | None = None,
    worker: str | None = None, env: Mapping[str, str] | None = None, progress: bool = False,
    claim: Claim | None = None,
) -> TrainResult:
    """Train the stored run ``run_id`` on ``training.nproc_per_node`` processes of this node
    (of ``nnodes``: every node calls this with the same run); return when they have exited.

    ``stop_event``: set it to stop the run gracefully (after the ranks' next read-back, with a
    checkpoint). ``worker``: the label the run shows (default: this process). ``env``: extra
    variables for the ranks (e.g. ``CUDA_VISIBLE_DEVICES`` for a placement: local rank r takes
    the r-th visible GPU). ``progress``: rank 0 prints the CLI's progress line. ``claim``: the
    caller's claim on the run (a queue worker's): rank 0 and the launcher write under it.
    A failure is recorded on the run with its cause and raised as a WorkbenchError, like
    :func:`core.runs.execute_run`'s.
    """
    run = store.get_run(run_id)
    training = validate_config(run.config)["training"]
    entry = ["-m", "core.distributed", run.id, *(["--resume"] if resume else []), *(["--progress"] if progress else [])]
    args = torchrun_args(training, entry, rdzv_id=f"lmwb-{run.id}")
    if claim is not None:
        worker, env = claim.worker, {**(env or {}), CLAIM_EPOCH_ENV: str(claim.epoch)}
    _, failure = _launch(store, args, training, run_id=run.id, worker=worker, stop_event=stop_event, env=env)
    return _outcome(store, run.id, failure, claim)


def launch_new(
    store: Store, config: RunConfig, cli_args: Sequence[str], *, stop_event: threading.Event | None = None,
    announce: bool = True,
) -> TrainResult:
    """Train a new run of ``config`` on several processes: each runs ``python -m core.cli
    cli_args`` (an ``lmwb train`` line), rank 0 creates the run. Every node of a multi-node
    run calls this with the same config; the rendezvous id is fixed (``lmwb``), so one
    endpoint serves one new run at a time."""
    training = config["training"]
    args = torchrun_args(training, ["-m", "core.cli", *cli_args], rdzv_id="lmwb")
    if announce:
        print(f"training on {processes_wanted(config)} processes: {torchrun_command(args)}", flush=True)
    run_id, failure = _launch(store, args, training, run_id=None, worker=None, stop_event=stop_event, env=None)
    if run_id is None:
        raise WorkbenchError(failure.text if failure else "the processes exited before creating the run")
    return _outcome(store, run_id, failure)


@dataclass
class Failure:
    """Why the processes failed, as the run's error will say it."""

    rank: int | None
    text: str
    own: bool = True  # the rank's own error or death, not the consequence of another's


def _launch(
    store: Store, args: list[str], training: Mapping[str, Any], *, run_id: str | None, worker: str | None,
    stop_event: threading.Event | None, env: Mapping[str, str] | None,
) -> tuple[str | None, Failure | None]:
    """Run torchrun's agent here until every local rank has exited; (run id, failure)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import parse_args
    from torch.distributed.run import run as torchrun

    from core.jobs.environment import worker_env
    from core.jobs.liveness import worker_label

    nproc = int(training.get("nproc_per_node") or 1)
    with tempfile.TemporaryDirectory(prefix="lmwb-launch-") as tmp:
        id_file = Path(tmp) / "run_id"
        if run_id is not None:
            id_file.write_text(run_id)
        ranks_env = worker_env(store.connect_url, store.home)
        ranks_env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
        ranks_env.update({LAUNCHER_ENV: worker or worker_label(), RUN_ID_FILE_ENV: str(id_file), **(env or {})})
        done = threading.Event()
        bridge = threading.Thread(target=_bridge_stop, args=(store, stop_event, id_file, done), daemon=True,
                                  name="stop-bridge")
        if stop_event is not None:
            bridge.start()
        failure: Failure | None = None
        try:
            with _environ(ranks_env), _own_signal_handlers():
                torchrun(parse_args(args))
        except ChildFailedError as exc:
            failure = root_cause(exc.failures)
        except SignalException as exc:
            failure = Failure(None, f"the launcher received {exc.sigval.name}; the processes were stopped")
        except RendezvousError as exc:
            failure = Failure(None, f"the processes could not meet at the rendezvous: {exc}")
        except KeyboardInterrupt:
            _record(store, _read_id(id_file), Failure(None, "interrupted"))
            raise
        finally:
            done.set()
        return _read_id(id_file), failure


def _bridge_stop(store: Store, stop_event: threading.Event, id_file: Path, done: threading.Event) -> None:
    """Turn the caller's stop event into the run's stop flag (rank 0 polls it)."""
    while not stop_event.wait(0.2):
        if done.is_set():
            return
    while not done.is_set():
        run_id = _read_id(id_file)  # a new run has an id once rank 0 created it
        if run_id is not None:
            with contextlib.suppress(Exception):  # a deleted run, a busy database: nothing to stop
                store.request_stop(run_id)
            return
        done.wait(0.2)


def _read_id(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` (the agent hands its environment to the ranks), put back
    afterwards together with whatever torchrun set in it."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)


@contextlib.contextmanager
def _own_signal_handlers() -> Iterator[None]:
    """Give back the handlers torchrun's agent installs in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {name: signal.getsignal(getattr(signal, name)) for name in _SIGNALS if hasattr(signal, name)}
    try:
        yield
    finally:
        for name, handler in saved.items():
            if handler is not None:
                signal.signal(getattr(signal, name), handler)


# -- what went wrong ------------------------------------------------------------------------------
def root_cause(failures: Mapping[int, Any]) -> Failure:
    """The failure that explains the others, from torchrun's per-rank ``ProcessFailure``s:
    a process killed by a signal (kill -9, the OOM killer), then a rank's own error, then an
    unexplained exit; a rank that lost contact with a dead peer, or that the agent stopped
    with SIGTERM while tearing the group down, comes last. Ties: the earliest, lowest rank."""
    def weigh(rank: int, failure: Any) -> tuple[int, Failure]:
        who = f"process {rank} (pid {failure.pid})"
        data = failure.error_file_data if isinstance(failure.error_file_data, dict) else {}
        if failure.exitcode < 0:
            name = failure.signal_name()
            if name == "SIGTERM":
                return 4, Failure(rank, f"{who} was stopped by SIGTERM", own=False)
            hint = " (out of memory, or kill -9)" if name == "SIGKILL" else ""
            return 0, Failure(rank, f"{who} was killed by {name}{hint}; the other processes were stopped")
        if data.get("message"):
            message = data["message"] if isinstance(data["message"], str) else data["message"].get("message", "")
            consequence = bool(data.get("lmwb_consequence"))
            return (3 if consequence else 1), Failure(rank, f"{who} failed: {message}", own=not consequence)
        return 2, Failure(rank, f"{who} exited with code {failure.exitcode}; the other processes were stopped")

    weighed = sorted((weigh(rank, f) + (f.timestamp, rank) for rank, f in failures.items()),
                     key=lambda item: (item[0], item[2], item[3]))
    return weighed[0][1]


def _record(store: Store, run_id: str | None, failure: Failure | None, claim: Claim | None = None) -> None:
    """Fail the run with ``failure`` if it is still running; replace rank 0's message when the
    cause lies elsewhere (rank 0 then only saw its peer vanish). Under ``claim`` when given:
    nothing is written once another worker holds the run."""
    from core.jobs.liveness import resume_hint
    from core.store.claims import ClaimedRun, ClaimLost

    if run_id is None or failure is None:
        # (Processes that all exited cleanly leave the status to rank 0, which may still be
        # finishing on another node.)
        return
    try:
        run = store.get_run(run_id)
    except WorkbenchError:  # deleted meanwhile
        return
    cause_elsewhere = failure.own and failure.rank != 0
    killed_rank0 = failure.rank == 0 and "was killed" in failure.text
    if run.status == "running" or (run.status == "failed" and (cause_elsewhere or killed_rank0)):
        reason = failure.text + resume_hint(store, run_id)
        writer = ClaimedRun(store, claim) if claim is not None else store
        with contextlib.suppress(ClaimLost):
            writer.set_status(run_id, "failed", error=reason)
            writer.log_event(run_id, "error", reason)


def _outcome(store: Store, run_id: str, failure: Failure | None, claim: Claim | None = None) -> TrainResult:
    from core.store.claims import ClaimedRun
    from core.train import TrainResult

    _record(store, run_id, failure, claim)
    if claim is not None:
        ClaimedRun(store, claim).check_writable(run_id)  # taken over meanwhile: ClaimLost says by whom
    run = store.get_run(run_id)
    if run.status == "failed":
        raise WorkbenchError(run.error or "the run failed")
    summary = dict(run.summary or {})
    step = int(summary.get("step") or (run.progress or {}).get("step") or 0)
    return TrainResult(status=run.status, step=step, summary=summary)
