"""The queue API: what a page or the CLI calls to queue, stop and resume a run.

A queued run is a row with status ``queued``; a worker (:mod:`core.workers.worker`) claims it
atomically. Resuming: :func:`request_resume` puts a stopped/failed run back in the queue with
``progress["resume"] = True`` when its folder holds a ``last`` checkpoint; the worker that
claims it then calls ``execute_run(..., resume=True)``. The flag only has to survive until
the claim: the trainer replaces ``progress`` with live values at its first log. A run
without a checkpoint restarts from scratch (its old metric points are deleted).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.distill.teacher import link_teacher
from core.errors import WorkbenchError
from core.finetune import link_parent
from core.store import Run, Store

if TYPE_CHECKING:  # core.config imports torch: keep this module light to import
    from core.config import RunConfig

RESUME_KEY = "resume"  # progress[RESUME_KEY] = True: the claiming worker resumes from "last"

# -- tags that group runs --------------------------------------------------------------------------
# Runs tagged race-<id> are one race: the supervisor starts their workers together, the Run view
# shows them side by side. Runs tagged sweep-<id> are the trials of one sweep. Declared here
# only: the supervisor, the worker, the sweep's trials and the pages ask these helpers.
RACE_TAG_PREFIX = "race-"
SWEEP_TAG_PREFIX = "sweep-"


def new_race_tag() -> str:
    """A fresh race tag: ``race-`` and six hex digits."""
    return f"{RACE_TAG_PREFIX}{secrets.token_hex(3)}"


def race_tag(run: Run) -> str | None:
    """The run's race tag (``race-<id>``), or None when it is in no race."""
    return next((t for t in run.tags if t.startswith(RACE_TAG_PREFIX)), None)


def in_race(run: Run) -> bool:
    """Whether the run is an entrant of a race."""
    return race_tag(run) is not None


def race_id(run: Run) -> str | None:
    """The id of the run's race (its tag without ``race-``), or None."""
    tag = race_tag(run)
    return None if tag is None else tag.removeprefix(RACE_TAG_PREFIX)


def sweep_tag(sweep_id: str) -> str:
    """The tag every trial run of the sweep ``sweep_id`` carries."""
    return f"{SWEEP_TAG_PREFIX}{sweep_id}"


def group_tag(run: Run) -> str | None:
    """The tag that groups the run with others (its race's, else its sweep's), or None."""
    return race_tag(run) or next((t for t in run.tags if t.startswith(SWEEP_TAG_PREFIX)), None)


def queue_run(
    store: Store,
    config: RunConfig,
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
    parent_id: str | None = None,
    sweep_id: str | None = None,
) -> Run:
    """Create the run with status ``queued`` and return it at once; a worker trains it."""
    # A fine-tune records the run it starts from (task.init_from_run, resolved to an id).
    config, parent_id = link_parent(store, config, parent_id)
    config = link_teacher(store, config)  # a distilled run names its teacher by id (task.teacher)
    return store.create_run(
        config.to_dict(), name=name, task=config.task, arch=config.arch, status="queued",
        tags=list(tags), parent_id=parent_id, sweep_id=sweep_id,
    )


def stop_run(store: Store, run_id: str, by: str = "") -> Run:
    """Stop a run: a queued one becomes ``stopped`` at once; a running one is asked to stop
    after its current step (the worker saves a checkpoint, so it stays resumable).

    A finished run is left as it is. Returns the run as it is now (``stop_requested`` is
    True while a running run winds down). ``by``: who asks, for the run's log (written
    before the flag, so it precedes the trainer's "stopped at step N").
    """
    run = store.get_run(run_id)
    if run.status in ("queued", "running"):
        store.log_event(run.id, "info", "stop requested" + (f" by {by}" if by else ""))
        # request_stop is atomic: a queued run is marked stopped in the same transaction, so
        # a worker racing to claim it either loses or sees the flag.
        store.request_stop(run.id)
    return store.get_run(run.id)


def request_resume(store: Store, run_id: str, *, force: bool = False) -> Run:
    """Put a stopped or failed run back in the queue to continue from its last checkpoint.

    Without a checkpoint the run starts again from scratch (old metric points are dropped).
    A completed or pruned run is refused unless ``force``. Returns the queued run.
    """
    from core.checkpoint import has_checkpoint  # imports torch; only needed here

    run = store.get_run(run_id)
    if run.status in ("queued", "running"):
        raise WorkbenchError(f"run {run.id} is already {run.status}")
    if run.status in ("completed", "pruned") and not force:
        raise WorkbenchError(
            f"run {run.id} is {run.status}; to train longer, start a new run with a higher "
            "training.max_steps"
        )
    folder = store.run_files(run.id)  # trained on a machine whose files this one cannot see: say so
    if has_checkpoint(folder / "checkpoints" / "last"):
        step = checkpoint_step(folder)
        store.update_run(run.id, progress={**run.progress, RESUME_KEY: True})
        note = f"queued to resume from the checkpoint at step {step}"
    else:
        # Nothing to continue from: forget the old attempt so its points don't mix with new.
        store.truncate_metrics(run.id, -1)
        store.update_run(run.id, progress={RESUME_KEY: False}, summary={}, started_at=None)
        note = "no checkpoint yet: queued to start again from scratch"
    # Status last: only a queued run can be claimed, so the flag is in place before any worker
    # can see the run. set_status("queued") also clears error, worker and stop_requested.
    store.set_status(run.id, "queued")
    store.log_event(run.id, "info", note)
    return store.get_run(run.id)


def checkpoint_step(run_folder: Path) -> int | None:
    """The step of the run's ``last`` checkpoint, or None (read from its JSON, no torch)."""
    state = Path(run_folder) / "checkpoints" / "last" / "state.json"
    try:
        return int(json.loads(state.read_text())["state"]["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
