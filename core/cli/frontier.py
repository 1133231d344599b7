"""``lmwb frontier [RUN ...]``: every run and variant at the task's metric against examples per
second, size on disk and parameters, as ``lmwb eval RUN --speed`` measured them, with the Pareto
frontier marked (core/metrics/frontier.py); Compare's Frontier view shows the same table."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.cli.common import open_store
from core.errors import WorkbenchError
from core.metrics import METRICS, metric_label, metric_value
from core.metrics.frontier import (
    TIMED_TASKS,
    SpeedPoint,
    load_spread,
    measure_command,
    missing_speed,
    on_frontier,
    speed_points,
)
from core.variants import BATCHES, SUMMARY_KEY, size_text, speed_table, stored_variants

if TYPE_CHECKING:  # the store loads SQLAlchemy: `lmwb` starts without it until a command opens one
    from core.store import Run, Store

FRONT_MARK = "*"


def cmd_frontier(args: argparse.Namespace) -> int:
    from core.distill.teacher import teacher_ref  # deferred: core.config loads torch

    store = open_store(args)
    if args.all and not args.measure:
        raise WorkbenchError("--all re-measures runs that already have figures: use it with --measure")
    runs = _runs(store, args.run)
    if args.measure:
        for run in runs:
            have = list(stored_variants(store, run.id))
            if run.finished and (args.all or missing_speed(_speed(run), have)):
                print(f"measuring {run.name} ({run.id}) and its variants…", flush=True)
                speed_table(store, run.id)
        runs = [store.get_run(run.id) for run in runs]
    points = [p for run in runs for p in speed_points(run.id, run.name, _speed(run), teacher_ref(run.config))]
    if points:
        print_frontier(points, args.batch, {run.id: run.name for run in runs})
    _print_missing(store, runs, measured=bool(points))
    return 0


def _speed(run: Run) -> dict[str, Any] | None:
    return (run.summary or {}).get(SUMMARY_KEY)


def _runs(store: Store, refs: Sequence[str]) -> list[Run]:
    """The named runs (each must be of a task that can be timed), or every run measured so far."""
    if not refs:
        measured = [r for r in store.list_runs() if _speed(r)]
        if not measured:
            raise WorkbenchError("no run has been measured yet: `lmwb eval RUN --speed` measures a "
                                 "classification run and its variants, or name runs here and add --measure")
        return measured
    runs = [store.get_run(ref) for ref in refs]
    if wrong := [r for r in runs if r.task not in TIMED_TASKS]:
        raise WorkbenchError(f"speed is measured for {', '.join(TIMED_TASKS)} runs; "
                             + ", ".join(f"{r.name} ({r.id}) is a {r.task} run" for r in wrong))
    return list({r.id: r for r in runs}.values())


def print_frontier(points: Sequence[SpeedPoint], batch: int, names: dict[str, str]) -> None:
    """One table per metric, fastest first at ``batch``, frontier members marked."""
    flags = on_frontier(points, batch)
    for metric in dict.fromkeys(p.metric for p in points):
        mine = sorted((pf for pf in zip(points, flags, strict=True) if pf[0].metric == metric),
                      key=lambda pf: -pf[0].speed(batch))
        declared = METRICS.get(metric)
        better = "lower" if declared is not None and declared.direction == "min" else "higher"
        label = metric_label(metric)
        print(f"\n{label} ({better} is better) against examples per second at batch {batch}; "
              f"{FRONT_MARK} on the frontier (no other model is at least as fast and as good, and better at "
              "one)")
        width = max(len(p.run) for p, _ in mine)
        rates = " ".join(f"{f'ex/s b{b}':>9}" for b in BATCHES)
        print(f"  {'run':<{width}} {'model':<5} {label:>10} {rates} {'size':>9} {'parameters':>11}  "
              "measured on")
        for point, front in mine:
            value = "-" if point.value is None else metric_value(metric, point.value)
            rates = " ".join(f"{point.speed(b):>9,.0f}" for b in BATCHES)
            print(f"{FRONT_MARK if front else ' '} {point.run:<{width}} {point.variant:<5} {value:>10} {rates} "
                  f"{size_text(point.bytes):>9} {point.params:>11,}  {point.where}")
        students = {p.run_id: p for p, _ in mine if p.teacher_id}
        for student in students.values():
            teacher = names.get(student.teacher_id or "")
            print(f"  {student.run} was distilled from "
                  + (teacher or f"run {student.teacher_id}, not among these runs"))
        if len({(p.processor, p.threads) for p, _ in mine}) > 1:
            print("  note: measured on different processors or thread counts; their speeds are not comparable")
        if spread := load_spread([p for p, _ in mine]):
            print(f"  note: measured at loads from {spread[0]:.2f} to {spread[1]:.2f} (1-minute average); a busier "
                  "machine times slower, so their speeds are not comparable: --measure --all times them again "
                  "together")


def _print_missing(store: Store, runs: Sequence[Run], measured: bool) -> None:
    """The runs without (complete) figures, each with the command that measures it."""
    lines = []
    for run in runs:
        why = missing_speed(_speed(run), list(stored_variants(store, run.id)))
        if why is None:
            continue
        if not run.finished:
            lines.append(f"  {run.name} ({run.id}): {run.status}; it can be measured once it stops")
        else:
            lines.append(f"  {run.name} ({run.id}): {why}; {measure_command(run.id)}")
    if lines:
        print(("\n" if measured else "") + "Not measured (add --measure to measure them now):")
        print("\n".join(lines))


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser(
        "frontier", help="runs and their variants at the task's metric against examples/s, size and "
                         "parameters, with the Pareto frontier marked (the figures of `lmwb eval RUN --speed`)")
    p.add_argument("run", nargs="*",
                   help="runs (id, unique prefix or name); default: every run measured so far")
    p.add_argument("--batch", type=int, choices=BATCHES, default=BATCHES[-1],
                   help="the batch size whose examples per second the frontier is drawn at")
    p.add_argument("--measure", action="store_true",
                   help="first measure the named runs that have no figures (or a variant made since), as "
                        "`lmwb eval RUN --speed` does")
    p.add_argument("--all", action="store_true",
                   help="with --measure: measure every run listed (default: every run measured so far) again, "
                        "not only those without figures, so all are timed at the same load")
    p.set_defaults(func=cmd_frontier)
