"""The search-space language: which parameters a sweep varies, over what, and when.

A space is written against the parameter declarations (``model.hidden_size: {low: 32,
high: 256, log: true}``, ``optimizer.name: [adamw, sgd]``, ``when: {model.name: gru}``) and
validated against them: undeclared or non-sweepable keys and ranges outside the declared range
are :class:`ConfigError`\\ s naming the key. :func:`parse_space` turns it into a
:class:`SearchSpace` of :class:`Dimension`\\ s that Optuna samples define-by-run, and that a
grid enumerates. :func:`load_space_file` reads a space (or a whole sweep file) from YAML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from core.config import SECTION_REGISTRIES, SECTIONS, RunConfig, section_params
from core.documents import parse_document, read_text_file
from core.errors import ConfigError
from core.params import Param
from core.sweep.settings import GRID_POINTS, SPACE_KEY, validate_settings

SPACE_KEYS = frozenset({"low", "high", "log", "step", "points", "choices", "values", "when"})
MAX_GRID = 100_000


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
                n = int(hi - lo) + 1 if self.kind == "int" and hi - lo + 1 <= 5 else GRID_POINTS.default
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
    if points is not None:
        points = GRID_POINTS.coerce(points, path=f"{key}.points")
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



def load_space_file(path: str | Path) -> dict[str, Any]:
    """Read a search-space YAML file: either the space itself (``section.param: ...``), or a
    sweep file with ``space:`` and any of the declared settings
    (:data:`core.sweep.settings.SETTINGS`: method, metric, direction, trials, timeout_min,
    pruner, workers, seed, name), each checked against its declaration. Returns
    ``{"space": ..., **settings}``."""
    path = Path(path)
    # The config files' reader: syntax errors and duplicate keys name the file and line.
    raw = parse_document(read_text_file(path, "--space", "YAML file"), path)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(str(path), raw, "a mapping of section.param to a range or choices")
    if SPACE_KEY not in raw:
        return {SPACE_KEY: raw}
    return validate_settings(raw, where=str(path))


def describe_space(space: SearchSpace) -> list[str]:
    """One line per dimension, for the terminal."""
    return [f"{d.key}: {d.describe()}" for d in space.dims]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
