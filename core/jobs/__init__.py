"""The run queue and the liveness of the processes that drain it (DESIGN principle 4): a low
layer, over the store. What executes runs (worker processes, the supervisor) is
:mod:`core.workers`, above runs, sweeps and distributed training.

The UI (or ``lmwb train --queue``) puts a run in the store with status ``queued`` and returns
at once; a worker process claims it atomically (:meth:`Store.claim_next_queued`) and trains it.
Pages only ever read the store.

Modules
    * :mod:`~core.jobs.queue`: :func:`queue_run`, :func:`stop_run`, :func:`request_resume`,
      :func:`checkpoint_step`, and the race and sweep tags: what a page or the CLI calls.
    * :mod:`~core.jobs.liveness`: worker labels, whether a worker's pid is alive (psutil), and
      :func:`mark_orphans`, which fails ``running`` runs whose worker is gone (a dead local
      pid, or a stale heartbeat for a worker on another machine) and revokes its claim.
    * :mod:`~core.jobs.environment`: the environment of a training process this machine starts.

Only the standard library, psutil and the store are imported here: nothing loads torch.
"""

from core.jobs.environment import worker_env
from core.jobs.liveness import mark_orphans, pid_alive, reap_orphans, worker_label
from core.jobs.queue import RESUME_KEY, checkpoint_step, queue_run, request_resume, stop_run

__all__ = [
    "RESUME_KEY", "checkpoint_step", "mark_orphans", "pid_alive", "queue_run", "reap_orphans",
    "request_resume", "stop_run", "worker_env", "worker_label",
]
