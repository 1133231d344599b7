"""What is available: ``lmwb data list|show`` and ``lmwb params``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.config import SECTION_REGISTRIES, TRAINING_PARAMS
from core.data.arrow import is_hub_name, load_splits
from core.data.columns import HEADER_CHOICES
from core.data.tables import describe_file
from core.errors import WorkbenchError
from core.registry import DATASETS
from core.reproduce import override_text


def cmd_data(args: argparse.Namespace) -> int:
    if args.action == "list":
        rows = [(comp.name, ",".join(comp.meta.get("tasks", ())), comp.help) for comp in DATASETS]
        name_w, tasks_w = (max(len(row[i]) for row in [("name", "tasks", ""), *rows]) for i in (0, 1))
        for name, tasks, text in [("name", "tasks", "description"), *rows]:  # columns as wide as their longest
            print(f"{name:{name_w}}  {tasks:{tasks_w}}  {text}")
        return 0

    if not args.path:
        raise WorkbenchError("`lmwb data show` needs a FILE")

    local = Path(args.path).expanduser()
    if local.is_dir() or (not local.exists() and is_hub_name(args.path)):  # save_to_disk folder or hub name
        _, tables = load_splits(args.path)
        print(json.dumps({split: {"rows": len(t.rows), "columns": t.columns, "label_names": t.class_names}
                          for split, t in tables.items()}, indent=2))
        return 0
    print(json.dumps(describe_file(args.path, header=args.header), indent=2, default=str))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    """Print parameter declarations: the same ones the UI form and sweeps use."""
    sections = [args.section] if args.section else [*SECTION_REGISTRIES, "training"]
    for section in sections:
        if section == "training":
            comps = [("training", TRAINING_PARAMS, "the training loop")]
        elif section in SECTION_REGISTRIES:
            reg = SECTION_REGISTRIES[section]
            names = [args.name] if args.name else [c.name for c in reg]
            comps = [(n, reg.get(n).params, reg.get(n).help) for n in names]
        else:
            raise WorkbenchError(f"unknown section {section!r}; choose from {', '.join([*SECTION_REGISTRIES, 'training'])}")
        for name, params, help_text in comps:
            print(f"[{section}] {name}: {help_text}")
            rows = [(f"{section}.{p.name} = {_shown(p.default)}", p.allowed(), p.help) for p in params]
            width = max((len(r[0]) for r in rows), default=0)
            allowed = max((len(r[1]) for r in rows), default=0)
            for key, allowed_text, help_line in rows:
                print(f"  {key:<{width}}  {allowed_text:<{allowed}}  {help_line}")
    return 0


def _shown(value: Any) -> str:
    """A default as it is written in a config or after --set (null, true, '')."""
    return "''" if value == "" else override_text(value)


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("data", help="built-in datasets and file previews")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("path", nargs="?")

    p.add_argument("--header", choices=HEADER_CHOICES, default="auto",
                   help="does a CSV/TSV file's first row name the columns (as data.header)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("params", help="show declared hyperparameters (what --set accepts)")
    p.add_argument("section", nargs="?")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_params)
