"""The sweep settings, declared once (no Optuna, no torch here).

Method, objective metric, direction, trial budget, time limit, pruner, workers, seed and name
are :class:`core.params.Param` declarations. Everything else derives from them: the
``lmwb sweep create`` flags, the settings a sweep YAML file may hold and their validation,
:func:`core.sweep.spec.build_spec`'s checks and the Sweeps page's widgets. The methods and
pruners are :class:`Choice`\\ s: their descriptions live here, with their declaration, and
so do a pruner's own options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.params import Param, validate_params


@dataclass(frozen=True)
class Choice:
    """One value of a choice setting: its name (what the CLI and files say), a short label
    for menus, a description in whole sentences, and the options it takes (pruners)."""

    name: str
    label: str
    help: str
    options: tuple[Param, ...] = ()


# -- method -------------------------------------------------------------------------------------
METHODS: tuple[Choice, ...] = (
    Choice("grid", "Grid", "Grid search tries every combination of the swept values once, however many "
           "workers share it. A numeric range contributes a few evenly spaced points (log-spaced on a log "
           "scale)."),
    Choice("random", "Random search", "Random search draws every value of every trial independently: "
           "uniformly, or log-uniformly on a log scale."),
    Choice("tpe", "Bayesian (TPE)", "The Tree-structured Parzen Estimator models which regions gave good "
           "and which gave bad trials so far, and samples where good ones are likelier."),
    Choice("gp", "Bayesian (Gaussian process)", "Optuna's Gaussian-process sampler fits a model to the "
           "finished trials and tries the most promising point next. It suits a few numeric parameters."),
)

# -- pruner -------------------------------------------------------------------------------------
_MIN_RESOURCE = Param("min_resource", "int", None, "Steps a trial trains before it is first judged "
                      "(null: the run's training.eval_every).", low=1, high=10**9, optional=True)
_REDUCTION = Param("reduction_factor", "int", 3, "At each rung, one trial in this many goes on.",
                   low=2, high=100)
PRUNERS: tuple[Choice, ...] = (
    Choice("none", "No pruning", "Every trial trains to the end."),
    Choice("median", "Median", "A trial stops when its metric is worse than the median of earlier trials "
           "at the same step.", options=(
               Param("startup_trials", "int", 2, "Trials that run to the end before any is pruned.",
                     low=0, high=100_000),
               Param("warmup_steps", "int", 0, "Steps of each trial before it may be pruned.",
                     low=0, high=10**9),
           )),
    Choice("successive_halving", "Successive halving", "At each rung of evaluations only the best third "
           "of the trials (with the default reduction factor of 3) trains on.",
           options=(_MIN_RESOURCE, _REDUCTION)),
    Choice("hyperband", "Hyperband", "Hyperband runs successive halving in several brackets, from "
           "aggressive to lenient pruning, so no single rung schedule decides.",
           options=(_MIN_RESOURCE, _REDUCTION)),
)


def _names(choices: tuple[Choice, ...]) -> tuple[str, ...]:
    return tuple(c.name for c in choices)


# -- the settings -------------------------------------------------------------------------------
METHOD = Param("method", "str", "tpe", "How each trial's values are picked.", choices=_names(METHODS),
               sweepable=False, label="Method")
METRIC = Param("metric", "str", None, "The validation metric to optimise; one the task reports "
               "(null: the task's own, e.g. accuracy or perplexity).", optional=True, sweepable=False,
               label="Objective (validation metric)")
DIRECTION = Param("direction", "str", "auto", "Whether a higher or a lower objective is better (auto: "
                  "from the metric, so scores go up and losses down).",
                  choices=("auto", "maximize", "minimize"), sweepable=False, label="Direction")
TRIALS = Param("trials", "int", None, "How many trials to run (null: a grid runs every point; the other "
               "methods then need a time limit).", low=1, high=1_000_000, optional=True, sweepable=False,
               label="Trials")
# The Sweeps page's starting budget for a method that never ends on its own (random, TPE, GP):
# enough trials for a Bayesian sampler to learn something, few enough for a CPU.
SUGGESTED_TRIALS = 12
TIME_LIMIT = Param("timeout_min", "float", None, "Minutes after which no new trial starts; running "
                   "trials finish (null: no limit).", low=0.1, high=1e6, optional=True, sweepable=False,
                   label="Time limit (min)")
PRUNER = Param("pruner", "str", "none", "Whether to stop unpromising trials early, judged at each "
               "evaluation.", choices=_names(PRUNERS), sweepable=False, label="Pruning")
WORKERS = Param("workers", "int", 1, "Trials trained at once, each in a worker process of its own. A machine "
                "also caps what it trains at once (LMWB_MAX_WORKERS: one per GPU, else 1): beyond that cap, trials "
                "take turns; `lmwb sweep start` without the app running trains this many.",
                low=1, high=64, sweepable=False, label="Parallel workers")
SEED = Param("seed", "int", 0, "Seed of the trials' draws: a trial's values come from this seed and its trial "
             "number, whichever worker trains it. The same seed and settings repeat a random sweep (with any "
             "number of workers) and a grid's order; TPE and GP repeat only with one worker (with several, "
             "each proposal also depends on which trials have finished by then).",
             low=0, high=2**32 - 1, sweepable=False, label="Seed")
NAME = Param("name", "str", "", "A name for the sweep (empty: sweep-<id>).", sweepable=False,
             label="Sweep name")

SETTINGS: tuple[Param, ...] = (METHOD, METRIC, DIRECTION, TRIALS, TIME_LIMIT, PRUNER, WORKERS, SEED, NAME)
SPACE_KEY = "space"  # a sweep file's search space; every other key is one of SETTINGS
FILE_KEYS: tuple[str, ...] = (SPACE_KEY, *(p.name for p in SETTINGS))

# The grid points of a numeric range (a search-space setting, per swept parameter).
GRID_POINTS = Param("points", "int", 3, "Grid points of a numeric range (log-spaced on a log scale).",
                    low=2, high=1000, sweepable=False, label="points")


def choice(choices: tuple[Choice, ...], name: str) -> Choice:
    """The :class:`Choice` called ``name`` (a KeyError for an undeclared one)."""
    for c in choices:
        if c.name == name:
            return c
    raise KeyError(name)


def validate_settings(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check the settings of a sweep file (or of flags) against the declarations.

    Returns only the keys given, coerced (``space`` passes through). An unknown key or a bad
    value is a :class:`ConfigError` whose field reads ``"{where}: {key}"`` (the file and the
    field), so a typo never falls back to a default silently.
    """
    declared = {p.name: p for p in SETTINGS}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        key = str(key)
        if key == SPACE_KEY:
            out[key] = value
        elif key == PRUNER.name:
            out[key] = pruner_settings(value, f"{where}: {key}")
        elif key in declared:
            out[key] = declared[key].coerce(value, path=f"{where}: {key}")
        else:
            raise ConfigError(f"{where}: {key}", value, "one of " + ", ".join(FILE_KEYS),
                              reason="unknown setting")
    return out


def pruner_settings(raw: str | Mapping[str, Any] | None, where: str = "pruner") -> dict[str, Any]:
    """A pruner as a name (``median``) or a mapping with its options (``{name: median,
    startup_trials: 5}``) -> ``{"name": ..., **options}``, options checked against the pruner's
    declarations and filled with their defaults (``min_resource`` may stay None)."""
    if isinstance(raw, Mapping):
        options = dict(raw)
        name = PRUNER.coerce(options.pop("name", PRUNER.default), path=f"{where}.name")
    else:
        options = {}
        name = PRUNER.coerce(PRUNER.default if raw is None else raw, path=where)
    return {"name": name, **validate_params(choice(PRUNERS, name).options, options, where)}


def budget_problem(method: str, trials: int | None, timeout_min: float | None) -> str | None:
    """Why this budget cannot work, as a sentence, or None: only a grid ends on its own."""
    if method != "grid" and trials is None and timeout_min is None:
        label = choice(METHODS, method).label if method in _names(METHODS) else method
        return (f"set a number of trials (trials, --trials) and/or a time limit (timeout_min, --timeout-min): "
                f"{label} never ends on its own; only a grid does")
    return None


def spec_keywords(values: Mapping[str, Any]) -> dict[str, Any]:
    """Settings by their declared names -> :func:`core.sweep.spec.build_spec` keywords (the
    ``trials`` setting is its ``n_trials``; ``name`` names the sweep, not the spec)."""
    out = {k: v for k, v in values.items() if k not in (SPACE_KEY, NAME.name, TRIALS.name)}
    if TRIALS.name in values:
        out["n_trials"] = values[TRIALS.name]
    return out
