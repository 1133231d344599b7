"""The run queue and the worker processes that drain it (DESIGN principle 4).

The UI (or ``lmwb train --queue``) puts a run in the store with status ``queued`` and returns
at once; a worker process claims it atomically (:meth:`Store.claim_next_queued`), trains it
with :func:`core.runs.execute_run` and goes back to polling. Pages only ever read the store.

Modules
    * :mod:`~core.jobs.queue`: :func:`queue_run`, :func:`stop_run`, :func:`request_resume`,
      :func:`checkpoint_step`: what a page or the CLI calls.
    * :mod:`~core.jobs.liveness`: worker labels, whether a worker's pid is alive (psutil), and
      :func:`mark_orphans`, which fails ``running`` runs whose worker is gone (a dead local
      pid, or a stale heartbeat for a worker on another machine).
    * :mod:`~core.jobs.worker`: :func:`worker_loop`, the body of a worker process (one run at a
      time, a failing run never takes the worker down), its heartbeat, signal handling and
      parent-death watch; :func:`run_worker` and :func:`~core.jobs.worker.main`
      (``python -m core.jobs``, ``lmwb worker``).
    * :mod:`~core.jobs.supervisor`: :class:`Supervisor`, held by the Streamlit app
      (``st.cache_resource``); starts worker subprocesses lazily, notices within about a second
      when one dies and marks its run failed with a readable reason, restarts workers while
      runs are queued.

Only the standard library, psutil and the store are imported here: torch is loaded by the
functions that train.
"""

from core.jobs.liveness import mark_orphans, pid_alive, worker_label
from core.jobs.queue import RESUME_KEY, checkpoint_step, queue_run, request_resume, stop_run
from core.jobs.supervisor import (
    MAX_WORKERS_ENV,
    Supervisor,
    WorkerInfo,
    default_max_workers,
    visible_gpus,
    worker_env,
)
from core.jobs.worker import (
    run_worker,
    warm_up,
    watch_parent,
    worker_loop,
)

__all__ = [
    "MAX_WORKERS_ENV", "RESUME_KEY", "Supervisor", "WorkerInfo",
    "checkpoint_step", "default_max_workers", "mark_orphans", "pid_alive", "queue_run",
    "request_resume", "run_worker", "stop_run", "visible_gpus", "warm_up", "watch_parent",
    "worker_env", "worker_label", "worker_loop",
]
