"""Execution: the processes that train runs on this machine, on top of runs, sweeps and
distributed training.

Modules
    * :mod:`~core.workers.worker`: :func:`worker_loop`, the body of a worker process (one run at a
      time, a failing run never takes the worker down), its signal handling; :func:`run_worker`
      and :func:`~core.workers.worker.main` (``python -m core.workers``, ``lmwb worker``).
    * :mod:`~core.workers.supervisor`: :class:`Supervisor`, the one owner of a home's worker
      processes (:func:`host_supervisor`: hosted by `lmwb ui`'s supervisor process, else the
      app, else `lmwb sweep start`; others attach); starts workers while runs are queued or
      sweeps want trials, notices within about a second when one dies and fails its run.
    * :mod:`~core.workers.host`: which process hosts a home's supervisor (a file lock), and
      :func:`~core.workers.host.serve`, `lmwb ui`'s supervisor process.
    * :mod:`~core.workers.sweeps`: a sweep on this machine (:func:`run_local`,
      :func:`launch_detached`, :func:`worker_main`): the supervisor's workers train its trials.
"""

from core.workers.host import AttachedSupervisor, host_supervisor
from core.workers.supervisor import (
    MAX_WORKERS_ENV,
    Supervisor,
    WorkerInfo,
    default_max_workers,
    visible_gpus,
)
from core.workers.worker import run_worker, worker_loop

__all__ = [
    "MAX_WORKERS_ENV", "AttachedSupervisor", "Supervisor", "WorkerInfo", "default_max_workers",
    "host_supervisor", "run_worker", "visible_gpus", "worker_loop",
]
