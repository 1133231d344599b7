"""Learn: the formulas behind the workbench, each computed live on the learner's own trained run
and typed input (the Learn page, ``lmwb learn``).

* :mod:`core.learn.walkthrough`: what a chapter computes, as data (formula, symbols, steps with
  the real numbers, checks against the engine's own computation); drawn by the app, printed by
  the CLI, so both show the same numbers;
* :mod:`core.learn.chapters`: every chapter declared once (title, part, the runs it reads, its
  knobs), its computation imported on first use;
* one module per chapter (:mod:`core.learn.attention`, ...): a pure function from a trained run
  and an input to a :class:`~core.learn.walkthrough.Walkthrough`.

A chapter reads the model's tensors through its named hook points and weights, recomputes the
formula step by step, and checks its result against what the model itself produced.
"""
