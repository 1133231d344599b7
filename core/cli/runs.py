"""``lmwb runs list|show|stop|export|delete``; export: CSV, TensorBoard or MLflow (core/export)."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.cli.common import number, open_store, output_file, strip_details
from core.errors import WorkbenchError
from core.export.tracking import export_run
from core.registry import TASKS
from core.reproduce import short_command

if TYPE_CHECKING:  # core.store loads SQLAlchemy and pandas: `lmwb --help` should not
    from core.store import Run


def cmd_runs(args: argparse.Namespace) -> int:
    from core.jobs.liveness import reap_orphans

    store = open_store(args)
    # A run whose worker died (kill -9, a crashed machine) is "running" until someone looks:
    # looking marks it failed, with the reason and how to resume.
    reaped = set(reap_orphans(store))
    if args.action == "list":
        if args.task is not None:
            TASKS.get(args.task, path="--task")  # an unknown task is an error, not "no runs"
        runs = store.list_runs(status=args.status, task=args.task, limit=args.limit)
        if not runs:
            filtered = args.status is not None or args.task is not None
            print("no runs match --status/--task" if filtered else "no runs yet: try `lmwb train --task classification`")
            return 0
        print_runs(runs)
        return 0
    if not args.run:
        raise WorkbenchError(f"`lmwb runs {args.action}` needs a RUN id or name")
    run = store.get_run(args.run)
    if args.action == "show":
        info = {
            "id": run.id, "name": run.name, "task": run.task, "arch": run.arch, "status": run.status,
            "error": run.error, "device": run.device, "tags": run.tags, "created_at": _when(run.created_at),
            "started_at": _when(run.started_at), "finished_at": _when(run.finished_at),
            "parent_id": run.parent_id,  # the run a fine-tune started from (task.init_from_run)
            "folder": str(store.run_folder(run.id)), "summary": strip_details(run.summary),
            # What the data and the trainer said at each start (held-out sets, cut rows...).
            "notes": list(dict.fromkeys(e.message.removeprefix("note: ") for e in store.events(run.id)
                                        if e.message.startswith("note: "))),
            "config": run.config,
            # What differs from the task's defaults; the config above holds every setting.
            "reproduce": short_command(run.config),
        }
        print(json.dumps(info, indent=2, default=str))  # JSON only: `runs show RUN | jq` works
    elif args.action == "delete":
        if not args.yes and run.status == "running":
            raise WorkbenchError(f"run {run.id} is running; stop it first or pass --yes")
        store.delete_run(run.id)
        print(f"deleted run {run.id}")
    elif args.action == "stop":
        from core.store import ACTIVE_STATUSES

        if run.id in reaped:
            print(f"run {run.id}: {run.error}")
            print(f"marked failed; `lmwb resume {run.id}` continues it")
            return 0
        if run.status not in ACTIVE_STATUSES:
            print(f"run {run.id} is {run.status}: nothing to stop")
            return 0
        from core.jobs import stop_run
        from core.jobs.liveness import worker_label

        stop_run(store, run.id, by=f"`lmwb runs stop` (process {worker_label()})")
        print(f"stop requested for run {run.id}; it stops after its current step")
    elif args.action == "export" and args.to != "csv":
        print(export_run(store, run.id, args.to, out=args.output, tracking_uri=args.tracking_uri,
                         experiment=args.experiment))
    elif args.action == "export":
        df = store.metrics(run.id)
        out = output_file(args.output or f"{run.id}_metrics.csv", args)
        df.to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
        print(f"wrote {len(df)} metric points to {out}")
    return 0


def _when(timestamp: float | None) -> str | None:
    """A stored UTC epoch time as local ISO 8601 (what a person reads), or None."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("runs", help="list, show, stop, export or delete runs")
    p.add_argument("action", choices=["list", "show", "delete", "stop", "export"])
    p.add_argument("run", nargs="?", help="run id (or unique prefix, or name)")
    p.add_argument("--status")
    p.add_argument("--task")
    p.add_argument("--limit", type=number(int, 1))
    p.add_argument("--yes", action="store_true", help="delete without asking even if running")
    p.add_argument("--output", "-o", "--out", help="export: the CSV file (--to csv), the TensorBoard log folder "
                   "(default ./tensorboard) or the MLflow folder (default ./mlruns)")
    p.add_argument("--to", choices=["csv", "tensorboard", "mlflow"], default="csv",
                   help="export: the metric points as CSV (default), or config, series and final metrics "
                   "to TensorBoard event files or an MLflow run")
    p.add_argument("--tracking-uri", metavar="URI", help="export --to mlflow: a tracking URI (sqlite:///mlflow.db, "
                   "http://host:5000) instead of a folder")
    p.add_argument("--experiment", default="lm-workbench", help="export --to mlflow: the MLflow experiment "
                   "(default lm-workbench)")
    p.set_defaults(func=cmd_runs)


def print_runs(runs: list[Run]) -> None:
    """One line per run, columns as wide as their widest cell (two spaces apart), the best
    validation score beside the metric it is of (runs of different tasks score different ones)."""
    header = ("id", "name", "task", "arch", "status", "step", "best", "metric")
    rows = []
    for r in runs:
        s = r.summary or {}
        best = (s.get("best") or {}).get("value")
        rows.append((r.id, r.name, r.task, r.arch, r.status, str(s.get("step", 0)),
                     f"{best:.4f}" if isinstance(best, float) else "", str(s.get("metric") or "") if best is not None else ""))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {"step", "best"}  # numbers line up on their last digit
    for row in (header, *rows):
        cells = [c.rjust(w) if h in right else c.ljust(w) for c, w, h in zip(row, widths, header, strict=True)]
        print("  ".join(cells).rstrip())
