"""Hyperparameter sweeps: Optuna studies built from the parameter declarations.

A sweep is a base run config, a search space, a method, an objective (a validation metric and
its direction), a budget (trials and/or a time limit) and a pruning option. Optuna does the
searching (its samplers, pruners and RDB storage); this package only translates.

Modules
    * :mod:`~core.sweep.settings`: the sweep settings declared once (method, metric, direction,
      trials, time limit, pruner, workers, seed, name), with the methods' and pruners'
      descriptions; CLI flags, sweep files, :func:`build_spec` and the page derive from them.
    * :mod:`~core.sweep.space`: the search-space language (:class:`Dimension`,
      :class:`SearchSpace`, :func:`parse_space`) and space/sweep files.
    * :mod:`~core.sweep.spec`: :class:`SweepSpec`, :func:`build_spec`, :func:`trial_config`.
    * :mod:`~core.sweep.study`: the Optuna study in the store's database, samplers, pruners,
      trial states.
    * :mod:`~core.sweep.lifecycle`: create, start/resume, stop, finalize.
    * :mod:`~core.sweep.trials`: :func:`run_trials`, a sweep worker's loop, and its objective.
    * :mod:`~core.sweep.schedule`: which sweeps want trials now (read by every worker).
    * :mod:`~core.sweep.report`: trials table, status, best trial, promotion.

Running a sweep on this machine (the supervisor's workers train its trials) is
:mod:`core.workers.sweeps`, a layer above.

The names below are re-exported lazily: ``import core.sweep.settings`` (the CLI builds its
flags from it at start-up) loads neither Optuna nor pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Submodules in dependency order; a name is looked up in them on first use.
_MODULES = ("settings", "space", "spec", "study", "lifecycle", "trials", "report")

__all__ = [
    "METHODS", "PRUNERS", "SETTINGS", "STOPPED_ATTR", "Choice", "Dimension", "SearchSpace", "SweepSpec",
    "TrialReporter", "TrialStopped", "WorkerState", "best_so_far", "best_trial", "budget_problem",
    "build_spec", "create_sweep", "describe_space", "finalize", "format_trials",
    "load_space_file", "load_study", "make_pruner", "make_sampler", "optuna_storage", "parse_space",
    "promote_best", "run_trials", "start_sweep", "stop_sweep",
    "sweep_status", "trial_config", "trial_status", "trials_frame", "validate_settings",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use: from the first submodule (in dependency order) that
    has it, which is the one defining it."""
    if name in __all__:
        for module in _MODULES:
            found = importlib.import_module(f"{__name__}.{module}")
            if hasattr(found, name):
                value = globals()[name] = getattr(found, name)  # later lookups skip this function
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and editors see
    from core.sweep.lifecycle import create_sweep, finalize, start_sweep, stop_sweep
    from core.sweep.report import (
        best_so_far,
        best_trial,
        format_trials,
        promote_best,
        sweep_status,
        trials_frame,
    )
    from core.sweep.settings import (
        METHODS,
        PRUNERS,
        SETTINGS,
        Choice,
        budget_problem,
        validate_settings,
    )
    from core.sweep.space import (
        Dimension,
        SearchSpace,
        describe_space,
        load_space_file,
        parse_space,
    )
    from core.sweep.spec import SweepSpec, build_spec, trial_config
    from core.sweep.study import (
        STOPPED_ATTR,
        load_study,
        make_pruner,
        make_sampler,
        optuna_storage,
        trial_status,
    )
    from core.sweep.trials import TrialReporter, TrialStopped, WorkerState, run_trials
