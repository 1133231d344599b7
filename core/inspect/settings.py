"""The knobs of looking inside a trained model, declared once (no torch here: the CLI's flags and
the forms read them without loading a model): token salience, and word-vector lookups."""

from __future__ import annotations

from core.params import Param

METHODS = {"ig": "Integrated Gradients", "grad_x_input": "Gradient × input"}
METHOD = Param("method", "str", "ig",
               "Attribution method: Integrated Gradients (path from an all-<pad> baseline; comes with a "
               "completeness check) or gradient x input (one backward pass).", choices=tuple(METHODS),
               label="Method")
STEPS = Param("steps", "int", 50, "Integrated Gradients: points on the path from baseline to input "
              "(more: a smaller completeness gap, slower).", low=4, high=1000, log=True, label="IG steps")
COMPLETENESS_TOLERANCE = 0.05  # IG attributions within 5% of the output's change count as complete
FLAT_OUTPUT = 1e-3  # an output that moves less than this (relative to its size) from baseline to input does not move

