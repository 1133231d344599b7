"""A step budget that follows the size of the data (``training.max_epochs``).

A fixed ``max_steps`` is many passes over a few hundred rows: the model learns them by heart
and validation falls. With ``max_epochs`` set, a run trains for at most that many passes over
its training examples (examples seen / examples available, as the trainer counts epochs),
and evaluates often enough on the way for early stopping to act.
"""

from __future__ import annotations

import math
from typing import Any

# With the budget cut, at least this many evaluations: early stopping needs several to act.
MIN_EVALS = 8
# Below this many training rows the Train page says the data is small for a model that has
# many more parameters than rows (every model here has).
SMALL_ROWS = 1_000


def step_budget(training: dict[str, Any], data: dict[str, Any], processes: int = 1) -> tuple[dict[str, Any], str | None]:
    """``training`` with ``max_steps`` capped at ``max_epochs`` passes over the training examples
    (and ``eval_every`` shortened to leave ``MIN_EVALS`` evaluations), and a note saying so; the
    same dict and None when the cap does not bite or the task counts no examples."""
    epochs, examples = training.get("max_epochs"), data.get("train_examples")
    if not epochs or not examples:
        return training, None
    per_step = training["batch_size"] * training["grad_accum"] * processes
    steps = max(1, math.ceil(epochs * examples / per_step))
    if steps >= training["max_steps"]:
        return training, None
    every = min(training["eval_every"], max(1, steps // MIN_EVALS))
    note = (f"{examples:,} training examples: {steps:,} steps ({epochs:g} epochs, training.max_epochs) "
            f"instead of {training['max_steps']:,}, evaluating every {every} steps")
    return {**training, "max_steps": steps, "eval_every": every}, note


def small_data_warning(rows: int, params: int) -> str | None:
    """A sentence for the Train page when ``rows`` training examples are few for a model of
    ``params`` parameters, else None."""
    if rows >= SMALL_ROWS or params <= rows:
        return None
    return (f"About {rows:,} training rows for a model of {params:,} parameters: a small data set, which "
            "such a model can learn by heart. Early stopping (training.early_stopping_patience), a decaying "
            "learning rate and training.max_epochs keep it from overfitting; a smaller model, more dropout "
            "or a held-out file (data.heldout_path) tell you how far to trust the validation figure.")
