"""``lmwb quantize RUN``: the run's int8 variant, kept beside it (core/variants.py); ``predict``,
``eval`` and the Playground then take ``--variant int8``."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.common import open_store
from core.variants import VARIANTS, make_variant


def cmd_quantize(args: argparse.Namespace) -> int:
    print(make_variant(open_store(args), args.run, args.variant, which=args.checkpoint))
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser(
        "quantize", help="make a low-precision variant of a classification run (int8, through ONNX Runtime)",
        description="Variants: " + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()) + ". Kept in the run's "
                    "folder; `lmwb predict RUN --variant int8` and `lmwb eval RUN --variant int8 [--speed]` use it.")
    p.add_argument("run", help="run id (or unique prefix, or name)")
    p.add_argument("--variant", choices=list(VARIANTS), default=next(iter(VARIANTS)))
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_quantize)
