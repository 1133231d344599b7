"""The ``lmwb train`` line that recreates a run's config, in full or as only what differs from
the task's defaults (shown on the Train, Run and Runs pages and by ``lmwb runs show``), and the
settings that tell several configs apart (a race's entrants, runs being compared)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from typing import Any

import yaml

from core.config import apply_overrides, default_config, validate_config
from core.errors import ConfigError


def reproduce_command(config: dict[str, Any]) -> str:
    """The `lmwb train` line that recreates a run's config exactly, every setting spelled out,
    quoted for a POSIX shell (a tokenizer pattern like ``\\w+|[^\\w\\s]`` would otherwise become
    a pipe and a glob)."""
    parts = ["lmwb", "train"]
    for key, value in validate_config(config).flat().items():
        parts += ["--set", shlex.quote(f"{key}={override_text(value)}")]
    return " ".join(parts)


def changed_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``config`` (flattened, ``section.key``) that differ from what
    ``lmwb train --task TASK`` would use, component choices first.

    The reference is the task's defaults with the same components chosen the way ``--set
    section.name=...`` chooses them (a new component starts from its own defaults), so
    applying these settings as overrides to the task's defaults gives ``config`` back.
    """
    checked = validate_config(config)
    base = default_config(checked.task)
    names = {
        f"{section}.name": values["name"] for section, values in checked.sections.items()
        if section != "task" and "name" in values and values["name"] != base[section].get("name")
    }
    reference, refused = _valid_reference(apply_overrides(base, names), checked.flat())
    out: dict[str, Any] = {**names, **{key: checked.flat()[key] for key in refused}}
    for key, value in checked.flat().items():
        if not key.endswith(".name") and reference.get(key) != value:
            out[key] = value
    return out


def short_command(config: dict[str, Any]) -> str:
    """`lmwb train --task TASK` plus only the settings that differ from the task's defaults
    (:func:`changed_settings`): the same run as :func:`reproduce_command`, in a line a person
    can read."""
    parts = ["lmwb", "train", "--task", shlex.quote(validate_config(config).task)]
    for key, value in changed_settings(config).items():
        parts += ["--set", shlex.quote(f"{key}={override_text(value)}")]
    return " ".join(parts)


def differing_settings(configs: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The flattened settings whose values differ among ``configs`` (stored configs, not
    re-validated), each with one value per config in order; None where a config has no such
    setting (an LSTM has no ``model.d_model``). Lists are compared as written."""
    flats = [_flat(c) for c in configs]
    keys = list(dict.fromkeys(k for flat in flats for k in flat))
    out: dict[str, list[Any]] = {}
    for key in keys:
        values = [flat.get(key) for flat in flats]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            out[key] = values
    return out


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    return {f"{section}.{k}": v for section, values in (config or {}).items() if isinstance(values, dict)
            for k, v in values.items()}


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


def _valid_reference(raw: dict[str, Any], wanted: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The flattened config of ``raw`` once valid, and the settings that had to take the run's
    value for that: a component's own defaults need not make a run by themselves
    (hf_pretrained's default folder holds a classifier, which a generative task refuses), so
    those settings are always part of the command."""
    refused: list[str] = []
    while True:
        try:
            return validate_config(raw).flat(), refused
        except ConfigError as exc:
            if exc.path not in wanted or exc.path in refused:
                raise
            refused.append(exc.path)
            raw = apply_overrides(raw, {exc.path: wanted[exc.path]})

