"""The ``lmwb`` command line; :func:`main` is the entry point (see core/cli/main.py)."""

from core.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
