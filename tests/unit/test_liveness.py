"""Worker liveness with psutil: a live pid, a dead one, a zombie, and a pid reused by a process
that started after the run's last heartbeat."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psutil

from core.jobs.liveness import parse_worker_label, pid_alive, worker_label


def test_a_live_pid_is_alive_whatever_the_age_of_its_heartbeat() -> None:
    assert pid_alive(os.getpid())
    assert pid_alive(os.getpid(), started_before=time.time())  # a heartbeat just now
    assert pid_alive(os.getpid(), started_before=psutil.Process().create_time())


def test_a_dead_pid_and_a_zombie_are_gone() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: the pid no longer exists
    assert not pid_alive(dead.pid)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.02)  # exited but not reaped yet
        assert not pid_alive(zombie.pid)
    finally:
        zombie.wait()


def test_a_pid_started_after_the_heartbeat_is_a_reused_pid() -> None:
    started = psutil.Process().create_time()
    # The last heartbeat of the run was written a day before this process existed: whoever
    # wrote it was another process that had this pid.
    assert not pid_alive(os.getpid(), started_before=started - 86400)
    # Within the start-time precision it may still be the same process.
    assert pid_alive(os.getpid(), started_before=started - 1.0)


def test_worker_labels_round_trip() -> None:
    assert worker_label() == f"{socket.gethostname()}:{os.getpid()}"
    assert parse_worker_label(worker_label(42)) == (socket.gethostname(), 42)
    assert parse_worker_label("host:x") == ("host", None) and parse_worker_label(None) == (None, None)
