"""``lmwb sweep create|start|status|stop|best|worker`` (see core/sweep/)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import yaml

from core import sweep as sw
from core.cli.common import add_param_flag, config_error_in, open_store, output_file
from core.config import (
    absolute_file_paths,
    apply_overrides,
    default_config,
    load_config_file,
)
from core.errors import ConfigError, WorkbenchError
from core.sweep.settings import SETTINGS, SPACE_KEY, spec_keywords


def cmd_sweep(args: argparse.Namespace) -> int:
    """`lmwb sweep create|start|status|stop|best|worker` (see core/sweep/)."""
    from core.workers import sweeps as local  # a sweep on this machine: the supervisor's workers

    store = open_store(args)
    if args.action == "create":
        settings = sw.load_space_file(args.space) if args.space else {}
        if SPACE_KEY not in settings:
            raise WorkbenchError("`lmwb sweep create` needs --space FILE (YAML: section.param: {low, high} or {choices})")
        base = load_config_file(args.config) if args.config else default_config(args.task)
        # A flag given on the command line wins over the same setting in the file.
        flags = {p.name: getattr(args, p.name) for p in SETTINGS if getattr(args, p.name) is not None}
        chosen = {**settings, **flags}
        try:
            spec = sw.build_spec(absolute_file_paths(apply_overrides(base, args.set or [])), settings[SPACE_KEY],
                                 **spec_keywords(chosen))
        except ConfigError as exc:  # the file that set the field: the sweep file, else the base config
            from_file = [*settings[SPACE_KEY], *(k for k in settings if k not in flags)] \
                if isinstance(settings[SPACE_KEY], dict) else [SPACE_KEY]
            raise config_error_in(exc, [(args.space, from_file), (args.config, [])], args.set or []) from None
        record = sw.create_sweep(store, spec, name=chosen.get("name") or None)
        print(f"sweep {record.id} ({record.name}) created in {store.url}")
        print(f"  method {spec.method}, objective {spec.direction} val {spec.metric}, "
              f"pruner {spec.pruner['name']}, expected trials {spec.expected_trials() or 'until the time limit'}")
        for line in sw.describe_space(spec.search_space()):
            print(f"  {line}")
        print(f"start it with: lmwb sweep start {record.id} [--workers N]")
        return 0
    if args.action == "status" and not args.sweep:
        sweeps = store.list_sweeps()
        if not sweeps:
            print("no sweeps yet: try `lmwb sweep create --space space.yaml`")
        for s in sweeps:
            print(f"{s.id:10} {s.name[:28]:28} {s.status:10} {s.spec.get('method', ''):7} "
                  f"{s.trials_claimed:>4}/{s.spec.get('n_trials') or '-'} trials")
        return 0
    if not args.sweep:
        raise WorkbenchError(f"`lmwb sweep {args.action}` needs a SWEEP id or name")
    if args.action == "start":
        if args.detach:
            proc = local.launch_detached(store, args.sweep, args.workers)
            where = "the workers of `lmwb ui` train its trials" if proc is None else f"in the background (pid {proc.pid})"
            print(f"sweep {args.sweep} started: {where}; watch it with `lmwb sweep status {args.sweep}`")
            return 0

        def on_trial(trial: Any) -> None:
            value = "" if trial.value is None else f" {trial.value:.4f}"
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
            print(f"trial {trial.number} {sw.trial_status(trial)}{value} ({params})", flush=True)

        final = local.run_local(store, args.sweep, args.workers, on_trial=on_trial)
        print(f"sweep {final.id}: {final.status}" + (f" ({final.error})" if final.error else ""))
        return _print_best(sw, store, final.id)
    if args.action == "worker":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s")
        print(f"sweep worker on {store.url}: running trials of {args.sweep}", flush=True)
        done = local.worker_main(store, args.sweep)
        record = store.get_sweep(args.sweep)
        print(f"sweep worker exiting after {done} trial(s); sweep {record.id} is {record.status}"
              + (f" (resume it with `lmwb sweep start {record.id}`)" if record.status in ("stopped", "failed") else ""))
        return 0
    if args.action == "stop":
        record = sw.stop_sweep(store, args.sweep)
        print(f"sweep {record.id}: {record.status}; running trials stop after their current step")
        return 0
    if args.action == "status":
        info = sw.sweep_status(store, args.sweep)
        record, spec = info["sweep"], info["spec"]
        counts = ", ".join(f"{v} {k}" for k, v in info["counts"].items() if v)
        print(f"sweep {record.id} ({record.name}): {record.status} | {spec.method}, {spec.direction} "
              f"val {spec.metric} | {info['trials']} of {info['expected_trials'] or '?'} trials"
              + (f" ({counts})" if counts else ""))
        print(sw.format_trials(sw.trials_frame(store, record)))
        return _print_best(sw, store, record.id)
    if args.action == "best":
        code = _print_best(sw, store, args.sweep, show_config=True,
                           output=output_file(args.output, args) if args.output else None)
        if args.promote:
            run = sw.promote_best(store, args.sweep)
            print(f"queued run {run.id} ({run.name}) from the best trial; a worker (`lmwb worker`) trains it")
        return code
    raise WorkbenchError(f"unknown sweep action {args.action!r}")


def _print_best(sw: Any, store: Any, ref: str, *, show_config: bool = False, output: Path | None = None) -> int:
    record = store.get_sweep(ref)
    best = sw.best_trial(store, record)
    if best is None:
        print("no complete trial yet")
        return 0
    metric = record.spec.get("metric")
    print(f"best: trial {best['trial']} val {metric} {best['value']:.4f} (run {best['run_id']}) "
          + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items()))
    if output:
        Path(output).write_text(yaml.safe_dump(best["config"], sort_keys=False))
        print(f"wrote the best config to {output}")
    elif show_config:
        print(yaml.safe_dump(best["config"], sort_keys=False), end="")
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("sweep", help="hyperparameter sweeps: create, start, status, stop, best, worker")
    p.add_argument("action", choices=["create", "start", "status", "stop", "best", "worker"])
    p.add_argument("sweep", nargs="?", help="sweep id (or unique prefix, or name)")
    # Also accepted after the subcommand (`lmwb sweep worker S --store URL`); SUPPRESS keeps
    # the global value when they are not given here.
    p.add_argument("--store", default=argparse.SUPPRESS, help="database URL shared by all workers")
    p.add_argument("--home", default=argparse.SUPPRESS, help="workbench home folder")
    p.add_argument("--config", help="create: base run config (YAML/JSON); default: the task's defaults")
    p.add_argument("--task", default="classification", help="create: task whose defaults to start from")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="create: override a base config value")
    p.add_argument("--space", help="create: search space YAML (section.param: {low, high, log} | {choices}; when: ...)")
    # The sweep settings: flags from their declarations (core/sweep/settings.py). Unset flags
    # stay None, so a setting from the --space file (or the declared default) applies.
    for param in SETTINGS:
        declared = "none" if param.default is None else param.default
        add_param_flag(p, param, default=None, default_text=f"the --space file's {param.name}, else {declared}")
    p.add_argument("--detach", action="store_true", help="start: run the workers in the background and return")
    p.add_argument("--promote", action="store_true", help="best: queue a full run from the best trial's config")
    p.add_argument("--output", "-o", help="best: write the best config to this YAML file")
    p.set_defaults(func=cmd_sweep)
