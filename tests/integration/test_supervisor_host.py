"""One supervisor per workbench home: whoever holds the home's lock hosts it (`lmwb ui`'s
supervisor process, else the app, else `lmwb sweep start`); every other caller attaches, and
takes over once the host ends, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.store import Store
from core.workers.host import AttachedSupervisor, host_supervisor, machine_supervisor
from core.workers.supervisor import Supervisor
from tests.conftest import REPO, wait_until

HOST = """
import sys, time
from pathlib import Path
from core.workers.host import Supervisor, host_supervisor
s = host_supervisor(sys.argv[1], Path(sys.argv[2]), idle_exit_s=5.0)
print("host" if isinstance(s, Supervisor) else "attached", flush=True)
time.sleep(600)
"""


def test_a_second_caller_attaches_and_takes_over_when_the_host_shuts_down(store: Store) -> None:
    first = host_supervisor(store.connect_url, store.home, idle_exit_s=5.0)
    try:
        assert isinstance(first, Supervisor)
        assert machine_supervisor(store.home) == os.getpid()
        second = host_supervisor(store.connect_url, store.home, idle_exit_s=5.0)
        assert isinstance(second, AttachedSupervisor)
        assert second.ensure_workers() == 0 and second.own is None  # the host starts workers
    finally:
        first.shutdown()
    assert second.ensure_workers() == 0 and isinstance(second.own, Supervisor)  # took over
    assert not isinstance(host_supervisor(store.connect_url, store.home), Supervisor)
    second.shutdown()
    assert machine_supervisor(store.home) is None  # nobody hosts it now
    third = host_supervisor(store.connect_url, store.home)
    assert isinstance(third, Supervisor)
    third.shutdown()


def test_a_host_killed_outright_is_replaced_by_an_attached_caller(store: Store) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    host = subprocess.Popen([sys.executable, "-c", HOST, store.connect_url, str(store.home)], env=env,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert host.stdout is not None and host.stdout.readline().strip() == "host"
        assert machine_supervisor(store.home) == host.pid
        attached = host_supervisor(store.connect_url, Path(store.home))
        assert isinstance(attached, AttachedSupervisor) and attached.host_pid == host.pid
        attached.ensure_workers()
        assert attached.own is None
        os.killpg(host.pid, signal.SIGKILL)  # no clean-up at all: the kernel frees the lock
        host.wait()
        wait_until(lambda: attached.ensure_workers() is not None and attached.own is not None, 10,
                   "the attached caller to host the supervisor")
        assert attached.host_pid == os.getpid() == machine_supervisor(store.home)
        attached.shutdown()
    finally:
        if host.poll() is None:
            os.killpg(host.pid, signal.SIGKILL)
            host.wait()
