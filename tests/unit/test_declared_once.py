"""Small facts the engine, the CLI and the app share, each declared in one place. Each test
fails if a second copy comes back: a scan of the source for the copy where one could creep in,
or a check that what the users see derives from the declaration."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from core.config import default_config, processes_wanted, validate_config

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("core", "app", "pages")


def python_files() -> Iterator[tuple[str, ast.Module]]:
    """(path relative to the repository, parsed module) for every module the package ships."""
    for top in SOURCES:
        for path in sorted((REPO / top).rglob("*.py")):
            yield str(path.relative_to(REPO)), ast.parse(path.read_text(encoding="utf-8"))


# -- how many processes a run asks for ------------------------------------------------------------
def test_processes_wanted_reads_validated_raw_and_stored_configs() -> None:
    config = validate_config(default_config("classification"))
    assert processes_wanted(config) == 1
    assert processes_wanted(config.with_overrides(["training.nproc_per_node=4", "training.nnodes=2",
                                                   "training.rdzv_endpoint=host:29500"])) == 8
    assert processes_wanted({"training": {"nproc_per_node": 3}}) == 3  # a stored config, nnodes left out
    assert processes_wanted({"task": {"name": "classification"}}) == 1  # no training section
    assert processes_wanted(None) == 1  # a run row without a config


def test_the_process_count_is_taken_in_one_place() -> None:
    """nproc_per_node x nnodes is multiplied only by core.config.processes_wanted (the store,
    the supervisor, the launcher, the CLI and sweeps ask it)."""
    found = []
    for path, module in python_files():
        for node in ast.walk(module):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                source = ast.unparse(node)
                if "nproc_per_node" in source and "nnodes" in source:
                    found.append(f"{path}:{node.lineno}")
    assert len(found) == 1 and found[0].startswith("core/config.py:"), found
