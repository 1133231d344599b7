"""``lmwb export RUN --format hf|onnx OUT``: a trained model for other runtimes (core/export)."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.common import open_store
from core.export.models import FORMATS, export_model


def cmd_export(args: argparse.Namespace) -> int:
    from core.runs import load_trained

    print(export_model(open_store(args), args.run, args.format, args.out,
                       load_run=lambda store, run_id: load_trained(store, run_id, device="cpu")))
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("export", help="write a trained model as a Hugging Face folder (GPT) or ONNX (classifiers)",
                       description="Formats: " + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()) +
                       ". The result is loaded back and checked against the run's own outputs.")
    p.add_argument("run", help="run id (or unique prefix, or name)")
    p.add_argument("--format", required=True, choices=list(FORMATS), help="hf or onnx")
    p.add_argument("out", help="a new or empty folder to write (not inside the workbench home)")
    p.set_defaults(func=cmd_export)
