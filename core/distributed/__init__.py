"""Training one run on several processes: DDP under torchrun, on one node or many.

A run asks for ``training.nproc_per_node`` x ``training.nnodes`` processes (both 1 by
default: one process, no process group, no DDP wrapper: the trainer's code for several ranks
never runs). More than one, and ``lmwb train``, ``lmwb resume`` and the queue workers start
them through torchrun's own launcher (:mod:`~core.distributed.launch`); ``torchrun ... -m
core.cli train ...`` started by hand or by a scheduler works the same (rank 0 creates the run,
the others learn its id by a broadcast).

What several processes mean (docs/user-guide.md, "Training on several processes"):

* the global batch is ``batch_size`` x processes x ``grad_accum``; DDP averages the ranks'
  gradients, so a step equals one process's step over the union of the ranks' batches
  (exactly, for losses that are a mean over equally many items on every rank);
* rank r draws batches from its own stream (seed + 1 + 1,000,003 r; rank 0's is the stream a
  one-process run draws) and, after the identical initialisation, its own dropout masks;
* the learning-rate schedule counts optimizer steps, as alone;
* rank 0 alone evaluates (on the unwrapped model: the same numbers as one process) and writes
  metrics, samples, attention snapshots and checkpoints; checkpoints hold the unwrapped model
  and every rank's random streams, so any number of ranks resumes them;
* a stop request, the time budget or a NaN on any rank ends every rank at the same step: the
  ranks vote in the all-reduce that already carries the logged loss (every ``log_every`` steps
  and before each evaluation), so no step gains a host synchronisation;
* a rank that dies fails the run: torchrun's agent (``--max-restarts 0``) stops the others,
  and the launcher records which process died and how.

Modules: :mod:`~core.distributed.launch` (torchrun, failures), :mod:`~core.distributed.rank`
(a rank's process); the process group, DDP and the collectives the trainer uses are the DDP
strategy's (:mod:`core.strategies.group`, below the trainer). Importing this package does not import torch.
"""

from core.distributed.launch import (
    LAUNCHER_ENV,
    RUN_ID_FILE_ENV,
    launch_new,
    launch_run,
    launched_by_torchrun,
    torchrun_args,
    torchrun_command,
)

__all__ = [
    "LAUNCHER_ENV", "RUN_ID_FILE_ENV", "launch_new", "launch_run", "launched_by_torchrun",
    "torchrun_args", "torchrun_command",
]
