"""Which runs may teach, and the checks a teacher must pass. Torch-free: the job queue links a
run to its teacher, and the Train page lists the runs that may teach, without loading torch.

A teacher is a finished run (completed, or stopped with its checkpoint) of the student's task
with a checkpoint on this machine. ``task.teacher`` may name it by id or name; the run's stored
config keeps its id (:func:`link_teacher`), so a renamed teacher still teaches. What needs the
student's data (a classifier's labels) or tokenizer (a language model's vocabulary) is checked
once both are loaded (:func:`check_labels`, :func:`check_vocabulary`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.config import RunConfig, validate_config
from core.errors import ConfigError, RunNotFound, WorkbenchError

if TYPE_CHECKING:
    from core.store import Run, Store

# Tasks a run can be distilled in: a classifier's class distribution, a language model's next token.
DISTILLED_TASKS = ("classification", "language_model")
FINISHED = ("completed", "stopped")
CHECKPOINTS = ("best", "last")  # load_trained's order: the best checkpoint, else the last


def teacher_ref(config: RunConfig | dict[str, Any] | None) -> str:
    """The run ``task.teacher`` names ("" for none), in a config or a stored run's config."""
    task = (config.to_dict() if isinstance(config, RunConfig) else config or {}).get("task") or {}
    return str(task.get("teacher") or "").strip() if isinstance(task, dict) else ""


def allowed(task: str) -> str:
    """What task.teacher takes, in words (every refusal says it)."""
    return (f"the id or name of a finished {task} run in the store that has a checkpoint (`lmwb runs list "
            f"--task {task}`), or empty for no teacher")


def has_checkpoint(store: Store, run: Run) -> bool:
    """Whether the run's files here hold a checkpoint load_trained can read (best or last)."""
    try:
        folder = store.run_files(run.id)
    except WorkbenchError:  # its files are on another machine
        return False
    return any((folder / "checkpoints" / which / "model.safetensors").exists() for which in CHECKPOINTS)


def teacher_candidates(store: Store, task: str) -> list[Run]:
    """The runs that may teach a ``task`` run, newest first: finished, with a checkpoint here."""
    if task not in DISTILLED_TASKS:
        return []
    return [r for r in store.list_runs(task=task, status=FINISHED) if has_checkpoint(store, r)]


def find_teacher(store: Store, config: RunConfig) -> Run | None:
    """The run ``task.teacher`` names, checked (:class:`ConfigError` on ``task.teacher`` naming
    what is allowed and why this one is not); None when it is empty."""
    ref = teacher_ref(config)
    if not ref:
        return None
    task = config.task
    if task not in DISTILLED_TASKS:  # the knob is declared for these tasks only; a guard for callers
        raise ConfigError("task.teacher", ref, f"empty: only {' and '.join(DISTILLED_TASKS)} runs distil")
    try:
        run = store.get_run(ref)
    except RunNotFound:
        raise ConfigError("task.teacher", ref, allowed(task), reason="no such run") from None
    except WorkbenchError as exc:  # a name or prefix several runs share: the message lists them
        raise ConfigError("task.teacher", ref, allowed(task), reason=str(exc)) from None
    if run.task != task:
        raise ConfigError("task.teacher", ref, allowed(task), reason=f"run {run.id} is a {run.task} run")
    if run.status not in FINISHED:
        raise ConfigError("task.teacher", ref, allowed(task), reason=f"run {run.id} is {run.status}, not finished")
    if not has_checkpoint(store, run):
        raise ConfigError("task.teacher", ref, allowed(task),
                          reason=f"run {run.id} has no checkpoint on this machine")
    return run


def link_teacher(store: Store, config: RunConfig) -> RunConfig:
    """The config a new run records: ``task.teacher`` checked and resolved to the teacher's id."""
    run = find_teacher(store, config)
    if run is None or teacher_ref(config) == run.id:
        return config
    raw = config.to_dict()
    raw["task"] = {**raw["task"], "teacher": run.id}
    return validate_config(raw)


def check_labels(student: Sequence[str], teacher: Sequence[str], teacher_id: str) -> None:
    """A classifier learns from a teacher with its own classes, in its own order: the soft
    targets are read column by column."""
    if list(student) != list(teacher):
        order = " (the same names in another order)" if sorted(student) == sorted(teacher) else ""
        raise ConfigError("task.teacher", teacher_id,
                          f"a classifier of this run's labels {list(student)}, in that order",
                          reason=f"the teacher run {teacher_id} has the labels {list(teacher)}{order}")


def check_vocabulary(student: Sequence[str], teacher: Sequence[str], student_kind: str, teacher_kind: str,
                     teacher_id: str) -> None:
    """A language model learns token by token from a teacher of the same vocabulary (the ids
    must mean the same tokens); the first difference is named."""
    where = None
    if student_kind != teacher_kind:
        where = f"the teacher's tokenizer is {teacher_kind}, this run's {student_kind}"
    elif len(student) != len(teacher):
        where = f"the teacher's vocabulary has {len(teacher):,} tokens, this run's {len(student):,}"
    else:
        with contextlib.suppress(StopIteration):
            i = next(i for i, (a, b) in enumerate(zip(student, teacher, strict=True)) if a != b)
            where = f"token {i} is {teacher[i]!r} for the teacher, {student[i]!r} here"
    if where:
        raise ConfigError("task.teacher", teacher_id, "a language model with this run's tokenizer and vocabulary "
                          "(the same tokenizer settings and training text)", reason=where)
