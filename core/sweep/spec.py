"""What a sweep is: :class:`SweepSpec` (stored as JSON in the sweeps row), :func:`build_spec`,
which validates every setting against its declaration (:mod:`core.sweep.settings`) and the
space against the parameter declarations, and :func:`trial_config`, one trial's run config.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from core.config import (
    RunConfig,
    apply_overrides,
    processes_wanted,
    section_params,
    validate_config,
)
from core.errors import ConfigError
from core.metrics.catalog import METRICS, check_objective
from core.sweep import settings
from core.sweep.space import SearchSpace, parse_space
from core.tasks.catalog import default_metric


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


@dataclass
class SweepSpec:
    """What a sweep is (stored as JSON in the sweeps row)."""

    base: dict[str, Any]
    space: dict[str, Any]
    method: str = settings.METHOD.default
    metric: str = ""
    direction: str = ""  # maximize | minimize; empty: from the metric
    n_trials: int | None = None  # the `trials` setting (grid: filled in with the grid size)
    timeout_s: float | None = None  # the `timeout_min` setting, in seconds
    pruner: dict[str, Any] = field(default_factory=lambda: settings.pruner_settings(None))
    seed: int = settings.SEED.default
    workers: int = settings.WORKERS.default
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
    method: str = settings.METHOD.default,
    metric: str | None = settings.METRIC.default,
    direction: str | None = settings.DIRECTION.default,
    n_trials: int | None = settings.TRIALS.default,
    timeout_min: float | None = settings.TIME_LIMIT.default,
    pruner: str | Mapping[str, Any] | None = settings.PRUNER.default,
    seed: int = settings.SEED.default,
    workers: int = settings.WORKERS.default,
    startup_trials: int | None = None,
) -> SweepSpec:
    """Validate everything a sweep needs and return its spec (nothing is stored).

    The keywords are the declared settings (``n_trials`` is the ``trials`` setting); each is
    checked against its declaration, so a bad value is a ConfigError naming the setting.
    ``metric`` None: the task's default; ``direction`` None or ``auto``: the metric's.
    A base config that asks for several processes (``training.nproc_per_node`` x ``nnodes``)
    is refused: each trial trains in one process.
    """
    config = base if isinstance(base, RunConfig) else validate_config(dict(base))
    if processes_wanted(config) > 1:  # a trial trains in its sweep worker's own process
        key = next(k for k in ("nproc_per_node", "nnodes") if int(config["training"][k]) > 1)
        raise ConfigError(f"training.{key}", config["training"][key], "1",
                          reason="a sweep trains each trial in one process")
    method = settings.METHOD.coerce(method)
    parsed = parse_space(space, config)
    metric = (metric or "").strip() or default_metric(config.task)
    check_objective(config.task, metric, settings.METRIC.name)
    direction = settings.DIRECTION.coerce(direction or settings.DIRECTION.default)
    if direction == "auto":
        direction = METRICS[metric].optuna_direction
    n_trials = settings.TRIALS.coerce(n_trials)
    timeout_min = settings.TIME_LIMIT.coerce(timeout_min)
    problem = settings.budget_problem(method, n_trials, timeout_min)
    if problem:
        raise ConfigError("budget", None, problem, reason="invalid combination")
    pruned = settings.pruner_settings(pruner)
    if pruned.get("min_resource", 0) is None:  # first judged at the first evaluation
        pruned["min_resource"] = config["training"]["eval_every"]
    spec = SweepSpec(
        base=config.to_dict(), space=parsed.to_dict(), method=method, metric=metric,
        direction=direction, n_trials=n_trials,
        timeout_s=None if timeout_min is None else timeout_min * 60,
        pruner=pruned, seed=settings.SEED.coerce(seed), workers=settings.WORKERS.coerce(workers),
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
