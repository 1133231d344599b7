"""Knowledge distillation (issue 27): a classification or language-model run learns from a
finished run of the same task, its teacher (``task.teacher``), as well as from the labels.

- :mod:`core.distill.loss`: the loss, α·CE(labels) + (1 − α)·T²·KL(softmax(teacher/T) ‖
  softmax(student/T)); torch only.
- :mod:`core.distill.teacher`: which runs may teach (finished, same task, a checkpoint), the
  checks a loaded teacher must pass (the same labels in the same order; for a language model
  the same vocabulary), the teacher's logits cached by text, and :class:`Distiller`, what the
  task's loss calls.

The knobs (``task.teacher``, ``task.distill_alpha``, ``task.distill_temperature``) are declared
with the tasks' other parameters (core.tasks.catalog). The teacher is loaded by core.runs
(``load_trained``, a layer above) and handed to the task here: loaders are passed down, never
imported upward.
"""
