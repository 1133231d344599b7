"""Hyperparameter sweeps: Optuna studies built from the parameter declarations.

A sweep is a base run config, a search space, a method, an objective (a validation metric and
its direction), a budget (trials and/or a time limit) and a pruning option. Optuna does the
searching (its samplers, pruners and RDB storage); this module only translates:

* the search space is written against the declarations (``model.hidden_size: {low: 32,
  high: 256, log: true}``) and validated against them: undeclared or non-sweepable keys and
  ranges outside the declared range are :class:`ConfigError`\\ s naming the key;
* every trial is an ordinary run in the store (``runs.sweep_id`` set, tagged ``sweep-<id>``),
  trained in-process by :func:`core.runs.execute_run`; its periodic validation metric is
  reported to the trial, and a trial the pruner stops is marked ``pruned`` with its step;
* the Optuna study lives in the same database as the store (SQLite by default; a PostgreSQL
  URL lets workers on several machines share one study: Optuna's documented distributed mode).

Concurrency
    The sweep row (``core.store.sweeps_table``) holds an atomic trial counter: a worker takes
    a slot with a conditional UPDATE before it asks Optuna for a trial, so any number of
    workers on any number of machines start exactly the budgeted number of trials. A grid
    trial's grid point is its trial number (Optuna's GridSampler does that for the first
    ``grid size`` trials), so parallel workers never evaluate a point twice. On SQLite every
    Optuna transaction starts with ``BEGIN IMMEDIATE`` (as the store's writes do), because
    Optuna's read-then-write updates rely on row locks that SQLite does not have.

Failures
    A trial whose training raises is FAIL in Optuna and ``failed`` in the store; the sweep
    goes on. A worker process that dies is noticed by the local driver within a second (its
    trial and run are failed, a replacement worker starts); on other machines Optuna's
    heartbeat fails the trial after a grace period and the callback fails its run.

Stopping and resuming
    :func:`stop_sweep` asks the running trials' runs to stop (they stop after their current
    step); such trials are FAIL in Optuna with the user attribute ``stopped``. Starting a
    stopped sweep again continues the same study: the interrupted trials' parameters are
    enqueued again and the budget counts only trials that really finished.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import sqlalchemy as sa
import yaml
from optuna.trial import FrozenTrial, TrialState

from core.config import (
    SECTION_REGISTRIES,
    SECTIONS,
    RunConfig,
    apply_overrides,
    read_text_file,
    section_params,
    validate_config,
)
from core.errors import ConfigError, WorkbenchError
from core.metrics.catalog import METRICS, check_objective
from core.params import Param
from core.registry import TASKS
from core.store import STORE_ENV, Run, Store, SweepRecord

log = logging.getLogger(__name__)

METHODS: dict[str, str] = {
    "grid": "Grid: every combination once (numeric ranges become a few grid points).",
    "random": "Random search: independent uniform / log-uniform draws.",
    "tpe": "Bayesian (TPE): models good vs bad regions from finished trials.",
    "gp": "Bayesian (Gaussian process): Optuna's GP sampler; best for few, numeric parameters.",
}
PRUNERS: dict[str, str] = {
    "none": "No pruning: every trial trains to the end.",
    "median": "Median: stop a trial whose metric is worse than the median of earlier trials at the same step.",
    "successive_halving": "Successive halving: keep the best 1/3 at each rung of evaluations.",
    "hyperband": "Hyperband: successive halving over several brackets of aggressiveness.",
}
SPACE_KEYS = frozenset({"low", "high", "log", "step", "points", "choices", "values", "when"})
MAX_GRID = 100_000
DEFAULT_GRID_POINTS = 3
HEARTBEAT_S = 5  # Optuna heartbeat interval while a trial runs (integer seconds)
GRACE_ENV = "LMWB_SWEEP_GRACE_S"  # seconds without heartbeat before a remote trial is failed
DEFAULT_GRACE_S = 30
STUDY_PREFIX = "lmwb-sweep-"

# Trial states as shown to people (Optuna's, plus "stopped": FAIL because someone stopped it).
STOPPED_ATTR = "stopped"


# --------------------------------------------------------------------------------------------
# The search space
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    """One swept parameter. ``kind``: int, float (a range) or categorical (a list).

    ``when`` makes it conditional: ``{"model.name": ("transformer_encoder",)}`` means it is
    sampled only in trials where model.name is one of those values.
    """

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    points: int | None = None
    choices: tuple[Any, ...] | None = None
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    list_kind: bool = False  # an ints/floats parameter: choices are "3,4,5" strings

    def active(self, values: Mapping[str, Any]) -> bool:
        return all(values.get(key) in allowed for key, allowed in self.when)

    def grid_values(self) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        lo, hi = self.low, self.high
        if self.step is not None:
            count = int(math.floor((hi - lo) / self.step + 1e-9)) + 1
            raw = [lo + i * self.step for i in range(count)]
        else:
            n = self.points
            if n is None:
                n = int(hi - lo) + 1 if self.kind == "int" and hi - lo + 1 <= 5 else DEFAULT_GRID_POINTS
            raw = list(np.geomspace(lo, hi, n) if self.log else np.linspace(lo, hi, n))
        if self.kind == "int":
            return sorted({min(max(int(round(v)), int(lo)), int(hi)) for v in raw})
        # 0.000316228 reads better than 0.00031622776...; rounding must not leave the range.
        return [min(max(float(f"{v:.6g}"), lo), hi) for v in raw]

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        if self.choices is not None:
            text = "one of " + ", ".join(_fmt(c) for c in self.choices)
        else:
            scale = "log " if self.log else ""
            step = f" step {_fmt(self.step)}" if self.step else ""
            text = f"{self.kind} {scale}[{_fmt(self.low)}, {_fmt(self.high)}]{step}"
        if self.when:
            text += " when " + " and ".join(
                f"{k} in {{{', '.join(_fmt(v) for v in vs)}}}" for k, vs in self.when
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """The YAML form this dimension was written in (normalised)."""
        out: dict[str, Any] = {}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high)
            if self.log:
                out["log"] = True
            if self.step is not None:
                out["step"] = self.step
            if self.points is not None:
                out["points"] = self.points
        if self.when:
            out["when"] = {k: list(vs) if len(vs) > 1 else vs[0] for k, vs in self.when}
        return out


@dataclass(frozen=True)
class SearchSpace:
    """Validated dimensions, ordered so that every condition's target comes first."""

    dims: tuple[Dimension, ...]

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dims]

    @property
    def conditional(self) -> bool:
        return any(d.when for d in self.dims)

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest every active dimension (define-by-run: inactive ones are never asked)."""
        values: dict[str, Any] = {}
        for dim in self.dims:
            if dim.active(values):
                values[dim.key] = dim.suggest(trial)
        return values

    def grid(self) -> dict[str, list[Any]]:
        """Values per key: GridSampler's search space."""
        return {d.key: d.grid_values() for d in self.dims}

    def grid_points(self, limit: int = MAX_GRID) -> list[dict[str, Any]]:
        """Every combination, conditions respected (an inactive key is simply absent)."""
        points: list[dict[str, Any]] = [{}]
        for dim in self.dims:
            grown: list[dict[str, Any]] = []
            values = dim.grid_values()
            for point in points:
                if dim.active(point):
                    grown.extend({**point, dim.key: v} for v in values)
                else:
                    grown.append(point)
                if len(grown) > limit:
                    raise ConfigError(
                        "space", f"more than {limit:,} combinations",
                        f"a grid of at most {limit:,} points (fewer points or values)",
                        reason="grid too large",
                    )
            points = grown
        return points

    def grid_size(self) -> int:
        if not self.conditional:
            return math.prod(len(d.grid_values()) for d in self.dims)
        return len(self.grid_points())

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {d.key: d.to_dict() for d in self.dims}


def parse_space(raw: Mapping[str, Any], base: RunConfig) -> SearchSpace:
    """Validate a search space against the parameter declarations of ``base``'s components.

    ``raw`` maps ``section.param`` to ``{low, high, log?, step?, points?}`` (numbers),
    ``{choices: [...]}`` (or a bare list) and optionally ``when: {section.param: value(s)}``.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("space", raw, "a mapping of section.param to a range or choices",
                          reason="empty search space" if not raw else "invalid value")
    specs: dict[str, dict[str, Any]] = {}
    for key, spec in raw.items():
        key = str(key).strip()
        if isinstance(spec, list | tuple):
            spec = {"choices": list(spec)}
        if not isinstance(spec, Mapping):
            raise ConfigError(key, spec, "{low, high, log} or {choices: [...]}, optionally with when")
        unknown = sorted(set(spec) - SPACE_KEYS)
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", spec[unknown[0]],
                              "one of " + ", ".join(sorted(SPACE_KEYS)), reason="unknown setting")
        spec = dict(spec)
        if "values" in spec:
            spec["choices"] = spec.pop("values")
        specs[key] = spec
    # Component choices first: a component's parameters are looked up in the chosen ones.
    names = {k: s for k, s in specs.items() if k.endswith(".name")}
    dims: dict[str, Dimension] = {}
    for key, spec in names.items():
        dims[key] = _component_dimension(key, spec, base)
    for key, spec in specs.items():
        if key not in names:
            dims[key] = _param_dimension(key, spec, base, dims, specs)
    for key, spec in specs.items():
        when = _parse_when(key, spec.get("when"), dims)
        if when:
            dims[key] = _replace(dims[key], when=when)
    return SearchSpace(tuple(_ordered(dims)))


def _component_dimension(key: str, spec: Mapping[str, Any], base: RunConfig) -> Dimension:
    section = key.split(".", 1)[0]
    if section not in SECTION_REGISTRIES or section == "task":
        sections = ", ".join(s for s in SECTION_REGISTRIES if s != "task")
        raise ConfigError(key, spec, f"a component choice of one of the sections {sections}",
                          reason="cannot be swept")
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ConfigError(key, spec, "{choices: [name, ...]}", reason="a component needs choices")
    registry = SECTION_REGISTRIES[section]
    task = base.task
    allowed = registry.names(tasks=task) if section in ("model", "data") else registry.names()
    for name in choices:
        if name not in allowed:
            raise ConfigError(key, name, "one of " + ", ".join(allowed),
                              reason=f"not a {registry.kind} for {task}")
    if len(set(choices)) != len(choices):
        raise ConfigError(key, choices, "distinct choices", reason="repeated choice")
    return Dimension(key, "categorical", choices=tuple(choices))


def _param_dimension(
    key: str, spec: Mapping[str, Any], base: RunConfig, dims: Mapping[str, Dimension],
    specs: Mapping[str, Mapping[str, Any]],
) -> Dimension:
    if "." not in key:
        raise ConfigError(key, spec, "section.param, e.g. optimizer.lr", reason="malformed key")
    section, name = key.split(".", 1)
    if section not in SECTIONS:
        raise ConfigError(key, spec, "a key in one of the sections " + ", ".join(SECTIONS),
                          reason="unknown section")
    # Which components must declare this parameter: those the condition names, else every
    # swept choice of the section's component, else the base config's component.
    if section == "training":
        components: list[str | None] = [None]
    else:
        when = spec.get("when") or {}
        selector = f"{section}.name"
        if isinstance(when, Mapping) and selector in when:
            picked = when[selector]
            components = list(picked) if isinstance(picked, list | tuple) else [picked]
        elif selector in dims:
            components = list(dims[selector].choices or ())
        else:
            components = [base[section]["name"]]
    declared: list[Param] = []
    for comp in components:
        params = {p.name: p for p in section_params(section, comp)}
        where = f"{section} {comp}" if comp else section
        sweepable = ", ".join(p.name for p in params.values() if p.sweepable) or "none"
        if name not in params:
            hint = ""
            if section != "training" and len(components) > 1:
                owners = [c for c in components if name in {p.name for p in section_params(section, c)}]
                hint = f", or add when: {{{section}.name: {owners}}}" if owners else ""
            raise ConfigError(key, spec, f"a parameter {where} declares (sweepable: {sweepable}){hint}",
                              reason=f"{where} declares no parameter {name!r}")
        if not params[name].sweepable:
            raise ConfigError(key, spec, f"a sweepable parameter of {where}: {sweepable}",
                              reason="not sweepable")
        declared.append(params[name])
    param = declared[0]
    if param.kind in ("bool", "str", "ints", "floats") or param.choices is not None or "choices" in spec:
        return _choice_dimension(key, spec, declared)
    return _range_dimension(key, spec, declared)


def _choice_dimension(key: str, spec: Mapping[str, Any], declared: list[Param]) -> Dimension:
    param = declared[0]
    choices = spec.get("choices")
    if choices is None:
        if param.kind == "bool":
            choices = [True, False]
        elif param.choices is not None:
            choices = list(param.choices)
        else:
            raise ConfigError(key, spec, "{choices: [...]}", reason=f"a {param.kind} parameter needs choices")
    extra = sorted(set(spec) & {"low", "high", "log", "step", "points"})
    if extra:
        raise ConfigError(f"{key}.{extra[0]}", spec[extra[0]], "choices only",
                          reason=f"{key} is swept over choices")
    if not isinstance(choices, list | tuple) or not choices:
        raise ConfigError(key, choices, "a non-empty list of values", reason="no choices")
    list_kind = param.kind in ("ints", "floats")
    out = []
    for value in choices:
        for p in declared:
            coerced = p.coerce(value, path=key)  # each value inside every declaration
        if list_kind:
            coerced = ",".join(_fmt(v) for v in coerced)  # Optuna choices must be scalars
        out.append(coerced)
    if len(set(map(repr, out))) != len(out):
        raise ConfigError(key, choices, "distinct choices", reason="repeated choice")
    return Dimension(key, "categorical", choices=tuple(out), list_kind=list_kind)


def _range_dimension(key: str, spec: Mapping[str, Any], declared: list[Param]) -> Dimension:
    param = declared[0]
    if "low" not in spec or "high" not in spec:
        raise ConfigError(key, dict(spec), "{low: ..., high: ...} (and log: true for a log scale)",
                          reason="a numeric parameter needs low and high")
    low = high = None
    for p in declared:  # inside the declared range of every component that declares it
        low = p.coerce(spec["low"], path=f"{key}.low")
        high = p.coerce(spec["high"], path=f"{key}.high")
    assert low is not None and high is not None
    if not low < high:
        raise ConfigError(f"{key}.high", high, f"a number greater than low ({_fmt(low)})",
                          reason="empty range")
    log = spec.get("log", param.log)
    if not isinstance(log, bool):
        raise ConfigError(f"{key}.log", log, "true or false")
    if log and low <= 0:
        raise ConfigError(f"{key}.low", low, "a positive number on a log scale (or log: false)",
                          reason="log scale needs low > 0")
    step = spec.get("step")
    if step is not None:
        try:
            step = int(step) if param.kind == "int" else float(step)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}.step", step, "a positive number") from None
        if step <= 0 or step > high - low:
            raise ConfigError(f"{key}.step", step, f"a positive number up to {_fmt(high - low)}")
        if log:
            raise ConfigError(f"{key}.step", step, "no step on a log scale", reason="step with log")
    points = spec.get("points")
    if points is not None and (not isinstance(points, int) or isinstance(points, bool) or not 2 <= points <= 1000):
        raise ConfigError(f"{key}.points", points, "an integer in [2, 1000] (grid points)")
    return Dimension(key, param.kind, low=low, high=high, log=log, step=step, points=points)


def _parse_when(
    key: str, raw: Any, dims: Mapping[str, Dimension]
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{key}.when", raw, "a mapping like {model.name: transformer_encoder}")
    out = []
    for target, wanted in raw.items():
        target = str(target)
        if target == key:
            raise ConfigError(f"{key}.when", target, "another swept parameter", reason="refers to itself")
        dim = dims.get(target)
        if dim is None or dim.choices is None:
            swept = ", ".join(k for k, d in dims.items() if d.choices is not None) or "none"
            raise ConfigError(f"{key}.when.{target}", wanted,
                              f"a key swept over choices in this space ({swept})",
                              reason="condition on a parameter that is not swept")
        values = tuple(wanted) if isinstance(wanted, list | tuple) else (wanted,)
        for value in values:
            if value not in dim.choices:
                raise ConfigError(f"{key}.when.{target}", value,
                                  "one of " + ", ".join(_fmt(c) for c in dim.choices))
        out.append((target, values))
    return tuple(out)


def _ordered(dims: Mapping[str, Dimension]) -> list[Dimension]:
    """Dependency order: a dimension comes after the ones its condition reads."""
    done: dict[str, Dimension] = {}
    pending = dict(dims)
    while pending:
        ready = [k for k, d in pending.items() if all(t in done for t, _ in d.when)]
        if not ready:
            raise ConfigError("space", sorted(pending), "conditions without a cycle",
                              reason="conditions form a cycle")
        for k in ready:
            done[k] = pending.pop(k)
    return list(done.values())


def _replace(dim: Dimension, **changes: Any) -> Dimension:
    return Dimension(**{**asdict(dim), **changes})


SWEEP_FILE_KEYS = frozenset({"space", "method", "metric", "direction", "trials", "timeout_min", "pruner", "seed",
                             "workers", "name"})


def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read a search-space YAML file: either the space itself (``section.param: ...``), or a
    sweep file with ``space:`` and optional settings (method, metric, direction, trials,
    timeout_min, pruner, seed, workers, name)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(read_text_file(path, "--space", "YAML file"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(where, getattr(exc, "problem", str(exc)), "valid YAML", reason="syntax error") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(str(path), raw, "a mapping of section.param to a range or choices")
    if "space" not in raw:
        return {"space": raw}
    unknown = sorted(set(raw) - SWEEP_FILE_KEYS)
    if unknown:  # a typo ("methd") must not silently fall back to a default
        raise ConfigError(f"{path}: {unknown[0]}", raw[unknown[0]], "one of " + ", ".join(sorted(SWEEP_FILE_KEYS)),
                          reason="unknown setting")
    return raw


# --------------------------------------------------------------------------------------------
# Trial configs
# --------------------------------------------------------------------------------------------
def trial_config(base: Mapping[str, Any], values: Mapping[str, Any]) -> RunConfig:
    """The run config of one trial: ``base`` with the sampled ``values``.

    A swept component change keeps the base's values of the parameters the new component also
    declares (an LSTM's hidden_size carries over to a GRU), then applies the other values.
    """
    raw = copy.deepcopy(dict(base))
    for key, value in values.items():
        section, name = key.split(".", 1)
        if name == "name" and raw.get(section, {}).get("name") != value:
            keep = {p.name for p in section_params(section, value)}
            raw[section] = {"name": value, **{k: v for k, v in raw[section].items() if k in keep}}
    rest = {k: v for k, v in values.items() if not k.endswith(".name")}
    return validate_config(apply_overrides(raw, rest))


# --------------------------------------------------------------------------------------------
# The sweep definition
# --------------------------------------------------------------------------------------------
@dataclass
class SweepSpec:
    """What a sweep is (stored as JSON in the sweeps row)."""

    base: dict[str, Any]
    space: dict[str, Any]
    method: str = "tpe"
    metric: str = ""
    direction: str = ""  # maximize | minimize; empty: from the metric
    n_trials: int | None = None
    timeout_s: float | None = None
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "none"})
    seed: int = 0
    workers: int = 1
    startup_trials: int | None = None  # random trials before TPE/GP model (None: from budget)
    study_name: str = ""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SweepSpec:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def config(self) -> RunConfig:
        return validate_config(self.base)

    def search_space(self) -> SearchSpace:
        return parse_space(self.space, self.config())

    def expected_trials(self) -> int | None:
        """How many trials the budget allows (grid: the grid size, capped by n_trials)."""
        if self.method == "grid":
            size = self.search_space().grid_size()
            return min(size, self.n_trials) if self.n_trials else size
        return self.n_trials

    def startup(self) -> int:
        if self.startup_trials is not None:
            return self.startup_trials
        # Optuna's default of 10 random trials would leave a 12-trial sweep almost all random.
        return 10 if not self.n_trials else max(2, min(10, self.n_trials // 4))


def build_spec(
    base: RunConfig | Mapping[str, Any],
    space: Mapping[str, Any],
    *,
    method: str = "tpe",
    metric: str | None = None,
    direction: str | None = None,
    n_trials: int | None = None,
    timeout_s: float | None = None,
    pruner: str | Mapping[str, Any] | None = None,
    seed: int = 0,
    workers: int = 1,
    startup_trials: int | None = None,
) -> SweepSpec:
    """Validate everything a sweep needs and return its spec (nothing is stored)."""
    config = base if isinstance(base, RunConfig) else validate_config(dict(base))
    if method not in METHODS:
        raise ConfigError("method", method, "one of " + ", ".join(METHODS))
    parsed = parse_space(space, config)
    metric = (metric or "").strip() or TASKS.get(config.task).factory.default_metric
    check_objective(config.task, metric, "metric")
    direction = _direction(metric, direction)
    if n_trials is not None and (not isinstance(n_trials, int) or n_trials < 1):
        raise ConfigError("trials", n_trials, "a whole number >= 1")
    if timeout_s is not None and not (isinstance(timeout_s, int | float) and timeout_s > 0):
        raise ConfigError("timeout", timeout_s, "a positive number of seconds")
    if method != "grid" and n_trials is None and timeout_s is None:
        raise ConfigError("budget", None, f"set a number of trials and/or a time limit: a {method} search "
                          "never ends on its own", reason="invalid combination")
    if not isinstance(workers, int) or not 1 <= workers <= 64:
        raise ConfigError("workers", workers, "a whole number in [1, 64]")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ConfigError("seed", seed, "a whole number in [0, 4294967295]")
    spec = SweepSpec(
        base=config.to_dict(), space=parsed.to_dict(), method=method, metric=metric,
        direction=direction, n_trials=n_trials, timeout_s=timeout_s,
        pruner=_pruner_spec(pruner, config), seed=seed, workers=workers,
        startup_trials=startup_trials,
    )
    if method == "grid":
        points = parsed.grid_points()
        if spec.n_trials is None or spec.n_trials > len(points):
            spec.n_trials = len(points)
        # Catch combinations the declarations allow one by one but not together (e.g.
        # d_model not divisible by n_heads) before any trial runs.
        for point in points[:2000]:
            try:
                trial_config(spec.base, point)
            except ConfigError as exc:
                raise ConfigError("space", point, "combinations that are valid configs",
                                  reason=f"grid point is invalid: {exc}") from None
    else:
        trial_config(spec.base, {})  # the base itself must be a valid trial
    return spec


def _direction(metric: str, direction: str | None) -> str:
    text = (direction or "").strip().lower()
    if not text:
        return METRICS[metric].optuna_direction
    aliases = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
    if text not in aliases:
        raise ConfigError("direction", direction, "maximize or minimize (max / min)")
    return aliases[text]


def _pruner_spec(pruner: str | Mapping[str, Any] | None, config: RunConfig) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": pruner} if isinstance(pruner, str) else dict(pruner or {"name": "none"})
    name = raw.get("name", "none") or "none"
    if name not in PRUNERS:
        raise ConfigError("pruner", name, "one of " + ", ".join(PRUNERS))
    t = config["training"]
    out: dict[str, Any] = {"name": name}
    ints = {
        "median": {"startup_trials": 2, "warmup_steps": 0},
        "successive_halving": {"min_resource": t["eval_every"], "reduction_factor": 3},
        "hyperband": {"min_resource": t["eval_every"], "reduction_factor": 3},
    }.get(name, {})
    for key, default in ints.items():
        value = raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < (2 if key == "reduction_factor" else 0):
            raise ConfigError(f"pruner.{key}", value, "a whole number" + (" >= 2" if key == "reduction_factor" else " >= 0"))
        out[key] = value
    unknown = sorted(set(raw) - {"name", *ints})
    if unknown:
        raise ConfigError(f"pruner.{unknown[0]}", raw[unknown[0]], "one of " + ", ".join(["name", *ints]),
                          reason="unknown setting")
    return out


# --------------------------------------------------------------------------------------------
# Optuna plumbing: storage, sampler, pruner, study
# --------------------------------------------------------------------------------------------
_STORAGES: dict[tuple[str, int], optuna.storages.RDBStorage] = {}
_STORAGES_LOCK = threading.Lock()


def store_url(store: Store) -> str:
    """The store's real URL (with any password): Optuna's tables go in the same database."""
    return store.__getstate__()["url"]


def optuna_storage(store: Store) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on the store's database (one per process and URL)."""
    url = store_url(store)
    key = (url, os.getpid())
    with _STORAGES_LOCK:
        cached = _STORAGES.get(key)
        if cached is not None:
            return cached
        sqlite = url.startswith("sqlite")
        engine_kwargs: dict[str, Any] = (
            {"connect_args": {"timeout": 60}} if sqlite else {"pool_pre_ping": True, "pool_size": 3}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                grace_period=_grace_s(), heartbeat_stale_trial_callback=_StaleTrialHandler(store),
            )
        if sqlite:
            # Optuna updates trials read-then-write under SELECT ... FOR UPDATE, a no-op on
            # SQLite: take the write lock up front instead so concurrent workers queue.
            sa.event.listen(storage.engine, "connect", _optuna_sqlite_connect)
            sa.event.listen(storage.engine, "begin", _optuna_sqlite_begin)
            storage.engine.dispose()  # connections made so far lack the hooks
        _STORAGES[key] = storage
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no INFO line per trial
        return storage


def _grace_s() -> int:
    raw = os.environ.get(GRACE_ENV, "").strip()
    try:
        return max(2 * HEARTBEAT_S, int(raw)) if raw else DEFAULT_GRACE_S
    except ValueError:
        return DEFAULT_GRACE_S


def _optuna_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's begin hook below emits BEGIN itself
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _optuna_sqlite_begin(conn: sa.engine.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class _StaleTrialHandler:
    """Optuna failed a trial whose worker stopped sending heartbeats: fail its run too."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get("run_id")
        worker = trial.user_attrs.get("worker", "?")
        _fail_run(self.store, run_id, f"sweep worker {worker} stopped sending heartbeats; trial {trial.number} failed")


def make_sampler(spec: SweepSpec, space: SearchSpace, slot: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler for ``spec.method``. Grid keeps the sweep's seed in every worker (trial
    number -> grid point must agree); the others get a per-worker seed so two workers never
    draw the same sequence."""
    seed = spec.seed if slot == 0 else (spec.seed + 1_000_003 * slot) % (2**32 - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if spec.method == "grid":
            return optuna.samplers.GridSampler(space.grid(), seed=spec.seed)
        if spec.method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if spec.method == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=spec.startup(), multivariate=True,
                group=space.conditional, constant_liar=True,
            )
        if spec.method == "gp":
            return optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=spec.startup(), warn_independent_sampling=False
            )
    raise ConfigError("method", spec.method, "one of " + ", ".join(METHODS))


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    p = spec.pruner
    name = p.get("name", "none")
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p["startup_trials"], n_warmup_steps=p["warmup_steps"]
        )
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p["min_resource"], reduction_factor=p["reduction_factor"]
        )
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p["min_resource"], max_resource=spec.base["training"]["max_steps"],
            reduction_factor=p["reduction_factor"],
        )
    return optuna.pruners.NopPruner()


def load_study(store: Store, sweep: SweepRecord, slot: int = 0) -> optuna.Study:
    spec = SweepSpec.from_dict(sweep.spec)
    space = spec.search_space()
    return optuna.load_study(
        study_name=spec.study_name, storage=optuna_storage(store),
        sampler=make_sampler(spec, space, slot), pruner=make_pruner(spec),
    )


# --------------------------------------------------------------------------------------------
# Creating, starting, stopping
# --------------------------------------------------------------------------------------------
def create_sweep(store: Store, spec: SweepSpec, *, name: str | None = None) -> SweepRecord:
    """Store a validated spec and create its (empty) Optuna study in the same database."""
    config = spec.config()
    record = store.create_sweep(spec.to_dict(), name=name, task=config.task)
    spec.study_name = STUDY_PREFIX + record.id
    storage = optuna_storage(store)
    study = optuna.create_study(
        storage=storage, study_name=spec.study_name, direction=spec.direction,
        sampler=optuna.samplers.RandomSampler(),
    )
    space = spec.search_space()
    if spec.method == "grid" and space.conditional:
        # GridSampler grids are products; a conditional grid is enumerated here instead (an
        # inactive key is not a separate point), in the sampler's seeded order.
        points = space.grid_points()
        order = np.random.default_rng(spec.seed).permutation(len(points))
        for i in order[: spec.n_trials]:
            study.enqueue_trial(points[int(i)])
    store.update_sweep(record.id, spec=spec.to_dict())
    return store.get_sweep(record.id)


def start_sweep(store: Store, ref: str) -> SweepRecord:
    """Mark a sweep running (new, stopped or failed: resuming continues the same study).

    Trials a stop interrupted are enqueued again; the trial budget then counts only trials
    that finished (complete, pruned, or failed on their own); the time budget is what the
    earlier sessions left. Starting a running sweep changes nothing (more workers may join).
    """
    sweep = store.get_sweep(ref)
    if sweep.status == "running":
        return sweep
    if sweep.status == "completed":
        raise WorkbenchError(f"sweep {sweep.id} already completed; create a new sweep for more trials")
    if sweep.status == "stopping":
        raise WorkbenchError(f"sweep {sweep.id} is still stopping; start it again once it has stopped")
    spec = SweepSpec.from_dict(sweep.spec)
    study = load_study(store, sweep)
    trials = study.get_trials(deepcopy=False)
    if trials and spec.method == "grid":
        _enqueue_rest_of_grid(study, spec, trials)
    else:
        retried = {t.user_attrs.get("retry_of") for t in trials}
        for t in trials:
            if _was_stopped(t) and t.number not in retried:
                study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})
    finished = sum(1 for t in trials if _counts_for_budget(t))
    now = time.time()
    deadline = None
    if spec.timeout_s:
        deadline = now + max(0.0, spec.timeout_s - sweep.time_used_s)
    store.update_sweep(
        sweep.id, status="running", started_at=now, finished_at=None, error=None,
        trials_claimed=finished, deadline_at=deadline,
        only_if_status=("created", "stopped", "failed"),
    )
    return store.get_sweep(sweep.id)


def _enqueue_rest_of_grid(study: optuna.Study, spec: SweepSpec, trials: list[FrozenTrial]) -> None:
    """Resuming a grid: enqueue the points not yet done, explicitly. (GridSampler would pick
    them at random for trial numbers past the grid size, and two workers could pick the same
    one; a queued trial is popped by exactly one worker.)"""
    def key(params: Mapping[str, Any]) -> str:
        return repr(sorted(params.items()))

    taken = {key(t.params) for t in trials if _counts_for_budget(t) or t.state == TrialState.RUNNING}
    taken |= {key(t.system_attrs.get("fixed_params", {})) for t in trials if t.state == TrialState.WAITING}
    points = spec.search_space().grid_points()
    order = np.random.default_rng(spec.seed).permutation(len(points))
    room = (spec.expected_trials() or len(points)) - sum(1 for t in trials if _counts_for_budget(t))
    for i in order:
        if room <= 0:
            break
        if key(points[int(i)]) not in taken:
            study.enqueue_trial(points[int(i)])
            room -= 1


def stop_sweep(store: Store, ref: str) -> SweepRecord:
    """Stop a sweep: no new trials; running trials stop after their current step (their runs
    keep a checkpoint). The sweep is ``stopped`` once the last of them has wound down."""
    sweep = store.get_sweep(ref)
    if sweep.status == "created":
        store.update_sweep(sweep.id, status="stopped", only_if_status=("created",))
        return store.get_sweep(sweep.id)
    store.update_sweep(sweep.id, status="stopping", only_if_status=("running",))
    for run in store.list_runs(sweep_id=sweep.id, status=["running", "queued"]):
        with contextlib.suppress(WorkbenchError):
            store.request_stop(run.id)
    return finalize(store, sweep.id)


def finalize(store: Store, sweep_id: str) -> SweepRecord:
    """Close a sweep whose work is done: ``stopped`` after a stop, ``completed`` when the
    budget is spent; nothing while a trial still runs. Safe to call from anywhere, any time
    (workers call it as they exit; ``status`` calls it too). Fails stale remote trials first."""
    sweep = store.get_sweep(sweep_id)
    if sweep.status not in ("running", "stopping"):
        return sweep
    study = load_study(store, sweep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.RUNNING for t in trials):
        return sweep
    spec = SweepSpec.from_dict(sweep.spec)
    now = time.time()
    if sweep.status == "stopping":
        new = "stopped"
    else:
        spent = sum(1 for t in trials if _counts_for_budget(t))
        out_of_time = sweep.deadline_at is not None and now >= sweep.deadline_at
        out_of_trials = spec.expected_trials() is not None and spent >= (spec.expected_trials() or 0)
        if not (out_of_time or out_of_trials):
            return sweep  # trials left: more workers may still come
        new = "completed"
    used = sweep.time_used_s + (now - sweep.started_at if sweep.started_at else 0.0)
    store.update_sweep(sweep.id, status=new, finished_at=now, time_used_s=used,
                       only_if_status=(sweep.status,))
    return store.get_sweep(sweep.id)


def _was_stopped(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and bool(trial.user_attrs.get(STOPPED_ATTR))


def _counts_for_budget(trial: FrozenTrial) -> bool:
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not _was_stopped(trial)


def _fail_run(store: Store, run_id: str | None, reason: str) -> None:
    if not run_id:
        return
    try:
        run = store.get_run(run_id)
    except WorkbenchError:
        return
    if run.status in ("running", "queued"):
        store.set_status(run.id, "failed", error=reason)
        store.log_event(run.id, "error", reason)


# --------------------------------------------------------------------------------------------
# The worker: one trial at a time, each a normal run
# --------------------------------------------------------------------------------------------
class TrialStopped(WorkbenchError):
    """The trial's run was stopped by a sweep stop or a worker shutdown (not a failure of
    its own: resuming the sweep runs its parameters again)."""


class TrialReporter:
    """Trainer callback: reports the objective metric at every evaluation to the trial and
    stops the run when the pruner says so (or when the sweep is being stopped)."""

    def __init__(
        self, trial: optuna.Trial, metric: str, direction: str, stop: threading.Event,
        max_steps: int, should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.trial = trial
        self.metric = metric
        self.maximize = direction == "maximize"
        self.stop = stop
        self.max_steps = max_steps
        self.should_stop = should_stop
        self.best: float | None = None
        self.last_step = 0
        self.pruned_at: int | None = None
        self.error: str | None = None

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        self.last_step = step
        # Stopped from outside (sweep stop, shutdown): this is the trainer's final score of a
        # stopped run, not a point for the pruner to judge.
        stopping = self.stop.is_set()
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            self.error = (
                f"objective metric {self.metric!r} is not among this run's validation metrics "
                f"({', '.join(sorted(metrics))})" if value is None else
                f"objective metric {self.metric} became {value} at step {step}"
            )
            self.stop.set()
            return
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best = value
        self.trial.report(value, step)
        if stopping:
            return
        # The last evaluation is the trial's result: nothing left to save by pruning it.
        if step < self.max_steps and self.trial.should_prune():
            self.pruned_at = step
            self.stop.set()
        elif self.should_stop is not None and self.should_stop():
            self.stop.set()


@dataclass
class WorkerState:
    """What a worker's signal handler needs: the shutdown flag and the current trial's stop."""

    shutdown: threading.Event = field(default_factory=threading.Event)
    current: threading.Event | None = None

    def request_stop(self) -> None:
        self.shutdown.set()
        if self.current is not None:
            self.current.set()


def run_worker(
    store: Store, ref: str, *, slot: int | None = None, state: WorkerState | None = None,
    max_trials: int | None = None,
) -> int:
    """Run trials of a sweep until its budget is spent or it is stopped; return how many.

    Any number of these may run at once, in other processes or on other machines sharing the
    database: each trial slot is claimed atomically. ``slot`` picks the sampler's seed
    (0: the sweep's own; default: from the process id).
    """
    from core.registry import load_components
    from core.runs import worker_label

    load_components()
    from core.jobs import warm_up  # lazily, like queue_run below

    warm_up()
    state = state or WorkerState()
    sweep = store.get_sweep(ref)
    spec = SweepSpec.from_dict(sweep.spec)
    space = spec.search_space()
    slot = slot if slot is not None else os.getpid() % 10_000 + 1
    study = load_study(store, sweep, slot)
    label = worker_label()
    done = 0
    db_errors = 0
    while not state.shutdown.is_set() and (max_trials is None or done < max_trials):
        if not store.claim_sweep_trial(sweep.id, spec.expected_trials()):
            break
        entered = threading.Event()
        objective = _objective(store, sweep, spec, space, label, state, entered)
        try:
            study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=True)
            db_errors = 0
        except Exception as exc:  # Optuna's own bookkeeping failed (database trouble)
            log.warning("sweep %s: trial bookkeeping failed: %s", sweep.id, exc)
            if not entered.is_set():
                store.release_sweep_trial(sweep.id)
            db_errors += 1
            if db_errors >= 5:
                raise
            time.sleep(min(10.0, 0.5 * 2**db_errors))
            continue
        done += 1
    with contextlib.suppress(Exception):
        finalize(store, sweep.id)
    return done


def _objective(
    store: Store, sweep: SweepRecord, spec: SweepSpec, space: SearchSpace, label: str,
    state: WorkerState, entered: threading.Event,
) -> Callable[[optuna.Trial], float]:
    from core.runs import create_run, execute_run

    def sweep_stopping() -> bool:
        try:
            return store.get_sweep(sweep.id).status != "running"
        except Exception:
            return False

    def objective(trial: optuna.Trial) -> float:
        entered.set()
        trial.set_user_attr("worker", label)  # first: lets the driver fail it if we die
        values = space.sample(trial)
        try:
            config = trial_config(spec.base, values)
        except ConfigError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        run = create_run(
            store, config, name=f"{sweep.name}-t{trial.number}", status="running",
            tags=[f"sweep-{sweep.id}", f"trial-{trial.number}"], sweep_id=sweep.id,
        )
        trial.set_user_attr("run_id", run.id)
        store.update_run(run.id, worker=label, summary={"sweep_trial": trial.number})
        stop = threading.Event()
        state.current = stop
        if state.shutdown.is_set() or sweep_stopping():
            stop.set()
        reporter = TrialReporter(
            trial, spec.metric, spec.direction, stop, config["training"]["max_steps"],
            should_stop=lambda: state.shutdown.is_set() or sweep_stopping(),
        )
        try:
            result = execute_run(store, run.id, callbacks=[reporter], stop_event=stop)
        except BaseException as exc:
            trial.set_user_attr("error", str(exc)[:1000] or type(exc).__name__)
            raise
        finally:
            state.current = None
        if reporter.error is not None:
            store.set_status(run.id, "failed", error=reporter.error)
            trial.set_user_attr("error", reporter.error)
            raise WorkbenchError(reporter.error)
        if reporter.pruned_at is not None and result.status == "stopped":
            step = reporter.pruned_at
            store.set_status(run.id, "pruned")
            store.set_summary(run.id, {"pruned_at_step": step})
            store.log_event(run.id, "info", f"pruned by the sweep's {spec.pruner['name']} pruner at step {step}")
            trial.set_user_attr("pruned_at_step", step)
            raise optuna.TrialPruned(f"pruned at step {step}")
        if result.status == "stopped":
            trial.set_user_attr(STOPPED_ATTR, True)
            store.log_event(run.id, "info", f"sweep trial {trial.number} stopped at step {result.step}")
            raise TrialStopped(f"trial {trial.number} stopped at step {result.step}")
        if reporter.best is None:
            message = f"run {run.id} finished without an evaluation of {spec.metric}"
            trial.set_user_attr("error", message)
            raise WorkbenchError(message)
        return reporter.best

    return objective


# --------------------------------------------------------------------------------------------
# Local parallel workers (one machine)
# --------------------------------------------------------------------------------------------
@dataclass
class _Child:
    slot: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def label(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"


def run_local(
    store: Store, ref: str, workers: int | None = None, *, poll_s: float = 0.5,
    on_trial: Callable[[FrozenTrial], None] | None = None, max_restarts: int | None = None,
) -> SweepRecord:
    """Start (or resume) a sweep and drive ``workers`` local worker processes until it ends.

    A worker that dies (killed, out of memory) has its trial and run marked failed within
    about ``poll_s`` and is replaced while trials remain. Ctrl-C / SIGTERM stop the sweep
    gracefully. ``on_trial`` is called once for each trial that finishes.
    """
    sweep = start_sweep(store, ref)
    spec = SweepSpec.from_dict(sweep.spec)
    n = workers or spec.workers
    children: list[_Child] = []
    restarts = 0
    max_restarts = 3 * n if max_restarts is None else max_restarts
    seen: set[int] = set()

    def handle(signum: int, _frame: Any) -> None:
        log.warning("sweep %s: stopping (signal %d)", sweep.id, signum)
        stop_sweep(store, sweep.id)

    restore = _install_handlers(handle)
    try:
        for slot in range(n):
            children.append(_spawn_worker(store, sweep.id, slot, n))
        while children:
            time.sleep(poll_s)
            for child in list(children):
                code = child.process.poll()
                if code is None:
                    continue
                children.remove(child)
                if code != 0:
                    _fail_trials_of(store, sweep.id, child, code)
                    current = finalize(store, sweep.id)
                    if current.status == "running" and restarts < max_restarts:
                        restarts += 1
                        children.append(_spawn_worker(store, sweep.id, child.slot, n))
            if on_trial is not None:
                _report_new_trials(store, sweep.id, seen, on_trial)
    finally:
        restore()
        for child in children:  # only on an exception here: don't leave workers behind
            with contextlib.suppress(ProcessLookupError):
                child.process.terminate()
    final = finalize(store, sweep.id)
    if on_trial is not None:
        _report_new_trials(store, sweep.id, seen, on_trial)
    if final.status == "running" and restarts >= max_restarts:
        # Workers kept dying and trials remain: say so. (Still running otherwise: trials of
        # workers on other machines are in progress; the last of them closes the sweep.)
        store.update_sweep(sweep.id, status="failed", only_if_status=("running",),
                           error="all local workers exited before the budget was spent; start it again to resume")
        final = store.get_sweep(sweep.id)
    return final


def spawn_driver(store: Store, ref: str, workers: int | None = None) -> subprocess.Popen[bytes]:
    """Run :func:`run_local` in a detached process (the UI's "launch": it returns at once, and
    the sweep outlives the browser tab). Its log is ``{home}/logs/sweep-<id>.log``."""
    sweep = store.get_sweep(ref)
    cmd = [sys.executable, "-m", "core.cli", "sweep", "start", sweep.id]
    if workers:
        cmd += ["--workers", str(workers)]
    log_dir = store.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"sweep-{sweep.id}.log").open("ab") as out:
        return subprocess.Popen(
            cmd, env=_child_env(store, 1), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )


def _spawn_worker(store: Store, sweep_id: str, slot: int, n: int) -> _Child:
    log_dir = store.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"sweep-{sweep_id}-worker-{slot}.log"
    cmd = [sys.executable, "-m", "core.cli", "sweep", "worker", sweep_id, "--slot", str(slot)]
    with log_path.open("ab") as out:
        # Own session: a Ctrl-C in the terminal reaches only the driver, which stops the
        # sweep gracefully; the workers then finish their step and exit.
        process = subprocess.Popen(
            cmd, env=_child_env(store, n), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    return _Child(slot, process, log_path)


def _child_env(store: Store, n_workers: int) -> dict[str, str]:
    env = dict(os.environ)
    env[STORE_ENV] = store_url(store)  # through the environment: `ps` never shows a password
    env["LMWB_HOME"] = str(store.home)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see core.jobs: spinning threads starve others
    if n_workers > 1 and "OMP_NUM_THREADS" not in env:
        # N CPU workers share the cores instead of each starting one thread per core.
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n_workers))
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _fail_trials_of(store: Store, sweep_id: str, child: _Child, code: int) -> None:
    how = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit code {code}"
    study = load_study(store, store.get_sweep(sweep_id))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker") != child.label:
            continue
        run_id = trial.user_attrs.get("run_id")
        step = None
        if run_id:
            with contextlib.suppress(WorkbenchError):
                step = store.get_run(run_id).progress.get("step")
        reason = (f"sweep worker {child.label} died ({how}) during trial {trial.number}"
                  + (f" at step {step}" if step is not None else "") + f"; log: {child.log_path}")
        with contextlib.suppress(Exception):  # the attribute first: a finished trial is frozen
            study._storage.set_trial_user_attr(trial._trial_id, "error", reason)  # noqa: SLF001
        with contextlib.suppress(Exception):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        _fail_run(store, run_id, reason)
        log.warning("sweep %s: %s", sweep_id, reason)


def _report_new_trials(store: Store, sweep_id: str, seen: set[int], on_trial: Callable[[FrozenTrial], None]) -> None:
    with contextlib.suppress(Exception):
        study = load_study(store, store.get_sweep(sweep_id))
        for trial in study.get_trials(deepcopy=False):
            if trial.state.is_finished() and trial.number not in seen:
                seen.add(trial.number)
                on_trial(trial)


def _install_handlers(handler: Callable[[int, Any], None]) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def worker_main(store: Store, ref: str, slot: int | None = None) -> int:
    """A worker process's main (``lmwb sweep worker``): starts a new (``created``) sweep;
    SIGTERM / Ctrl-C stop the current trial after its step (the trial can run again when the
    sweep resumes) and exit."""
    state = WorkerState()
    if store.get_sweep(ref).status == "created":
        start_sweep(store, ref)  # the first worker to arrive starts a new sweep

    def handle(signum: int, _frame: Any) -> None:
        if state.shutdown.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state.request_stop()

    restore = _install_handlers(handle)
    try:
        return run_worker(store, ref, slot=slot, state=state)
    finally:
        restore()


# --------------------------------------------------------------------------------------------
# Reading a sweep: what the CLI and the page show
# --------------------------------------------------------------------------------------------
def trial_status(trial: FrozenTrial) -> str:
    if _was_stopped(trial):
        return "stopped"
    return trial.state.name.lower()


def trials_frame(store: Store, sweep: SweepRecord, study: optuna.Study | None = None) -> pd.DataFrame:
    """One row per trial: trial, status, value, one column per parameter, duration_s, step
    (pruned: the step it stopped at), run_id, run_status, error."""
    study = study or load_study(store, sweep)
    spec = SweepSpec.from_dict(sweep.spec)
    runs = {r.id: r for r in store.list_runs(sweep_id=sweep.id)}
    keys = spec.search_space().keys
    rows = []
    now = time.time()
    for t in study.get_trials(deepcopy=False):
        run = runs.get(t.user_attrs.get("run_id", ""))
        if t.datetime_start is not None:
            end = t.datetime_complete.timestamp() if t.datetime_complete else now
            duration = max(0.0, end - t.datetime_start.timestamp())
        else:
            duration = None
        step = t.user_attrs.get("pruned_at_step")
        if step is None and run is not None:
            step = (run.progress or {}).get("step") or (run.summary or {}).get("step")
        row: dict[str, Any] = {
            "trial": t.number,
            "status": trial_status(t),
            "value": t.value if t.state == TrialState.COMPLETE else _last_intermediate(t),
        }
        row.update({k: t.params.get(k) for k in keys})
        row.update({
            "duration_s": duration,
            "step": step,
            "run_id": run.id if run else t.user_attrs.get("run_id"),
            "run_status": run.status if run else None,
            "error": t.user_attrs.get("error") or (run.error if run else None),
        })
        rows.append(row)
    columns = ["trial", "status", "value", *keys, "duration_s", "step", "run_id", "run_status", "error"]
    return pd.DataFrame(rows, columns=columns)


def _last_intermediate(trial: FrozenTrial) -> float | None:
    if not trial.intermediate_values:
        return None
    return trial.intermediate_values[max(trial.intermediate_values)]


def sweep_status(store: Store, ref: str) -> dict[str, Any]:
    """Counts, budget and best trial of a sweep (after :func:`finalize`)."""
    sweep = finalize(store, store.get_sweep(ref).id)
    spec = SweepSpec.from_dict(sweep.spec)
    study = load_study(store, sweep)
    trials = study.get_trials(deepcopy=False)
    counts = dict.fromkeys(("complete", "pruned", "fail", "stopped", "running", "waiting"), 0)
    for t in trials:
        counts[trial_status(t)] += 1
    best = best_trial(store, sweep, study)
    return {
        "sweep": sweep,
        "spec": spec,
        "counts": counts,
        "expected_trials": spec.expected_trials(),
        "best": best,
        "trials": len(trials),
    }


def best_trial(store: Store, sweep: SweepRecord, study: optuna.Study | None = None) -> dict[str, Any] | None:
    """The best complete trial: number, value, params, run_id, config; None before one."""
    study = study or load_study(store, sweep)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    run_id = best.user_attrs.get("run_id")
    config: dict[str, Any] | None = None
    if run_id:
        with contextlib.suppress(WorkbenchError):
            config = store.get_run(run_id).config
    if config is None:
        spec = SweepSpec.from_dict(sweep.spec)
        config = trial_config(spec.base, best.params).to_dict()
    return {"trial": best.number, "value": best.value, "params": dict(best.params),
            "run_id": run_id, "config": config}


def best_so_far(values: Sequence[float | None], direction: str) -> list[float | None]:
    """Running best of objective values in trial order (None where no trial finished yet)."""
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            better = best is None or (v > best if direction == "maximize" else v < best)
            best = v if better else best
        out.append(best)
    return out


def promote_best(
    store: Store, ref: str, *, overrides: Mapping[str, Any] | None = None, name: str | None = None,
) -> Run:
    """Queue a full run from the best trial's config (plus ``overrides``, e.g. more steps):
    a worker trains it like any other run. Its parent is the best trial's run."""
    from core.jobs import queue_run

    sweep = store.get_sweep(ref)
    best = best_trial(store, sweep)
    if best is None:
        raise WorkbenchError(f"sweep {sweep.id} has no complete trial yet")
    config = validate_config(apply_overrides(best["config"], dict(overrides or {})))
    return queue_run(
        store, config, name=name or f"{sweep.name}-best", parent_id=best["run_id"],
        tags=[f"promoted-from-sweep-{sweep.id}"],
    )


def curves_frame(store: Store, sweep: SweepRecord, metric: str | None = None) -> pd.DataFrame:
    """The objective metric's validation series of every trial's run, for an overlay plot:
    columns run (trial label), trial, status, step, value, wall_time, name, split."""
    spec = SweepSpec.from_dict(sweep.spec)
    metric = metric or spec.metric
    runs = store.list_runs(sweep_id=sweep.id)
    if not runs:
        return pd.DataFrame(columns=["run", "trial", "status", "step", "split", "name", "value", "wall_time"])
    frame = store.metrics_for_runs([r.id for r in runs], metric, split="val")
    info = {r.id: r for r in runs}
    frame["trial"] = frame["run_id"].map(lambda i: (info[i].summary or {}).get("sweep_trial"))
    frame["status"] = frame["run_id"].map(lambda i: info[i].status)
    frame["run"] = frame["trial"].map(lambda n: f"trial {n}")
    return frame


def format_trials(frame: pd.DataFrame) -> str:
    """A plain-text trials table for the terminal."""
    if frame.empty:
        return "no trials yet"
    shown = frame.drop(columns=["error", "run_status"]).copy()
    shown["duration_s"] = shown["duration_s"].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.1f}")
    return shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")


def describe_space(space: SearchSpace) -> list[str]:
    return [f"{d.key}: {d.describe()}" for d in space.dims]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


__all__ = [
    "METHODS", "PRUNERS", "Dimension", "SearchSpace", "SweepSpec",
    "TrialReporter", "TrialStopped", "WorkerState", "best_so_far", "best_trial", "build_spec",
    "create_sweep", "curves_frame", "describe_space", "finalize", "format_trials",
    "load_space_file", "load_study", "make_pruner", "make_sampler", "optuna_storage",
    "parse_space", "promote_best", "run_local", "run_worker", "spawn_driver", "start_sweep",
    "stop_sweep", "sweep_status", "trial_config", "trials_frame", "worker_main",
]

