"""The ``lmwb train`` line that recreates a run's config: shown on the Train, Run and Runs pages
and by ``lmwb runs show``."""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml


def reproduce_command(config: dict[str, Any]) -> str:
    """The `lmwb train` line that recreates a run's config exactly, quoted for a POSIX shell
    (a tokenizer pattern like ``\\w+|[^\\w\\s]`` would otherwise become a pipe and a glob)."""
    from core.config import validate_config

    parts = ["lmwb", "train"]
    for key, value in validate_config(config).flat().items():
        parts += ["--set", shlex.quote(f"{key}={override_text(value)}")]
    return " ".join(parts)


def override_text(value: Any) -> str:
    """``value`` written so that ``--set key=...`` (which reads a YAML scalar) gives it back."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        try:
            plain = bool(value.strip()) and yaml.safe_load(value) == value
        except yaml.YAMLError:
            plain = False
        return value if plain else json.dumps(value)  # a JSON string is a YAML string
    return str(value)
