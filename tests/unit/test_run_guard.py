"""The run guard: the one place a training run's stop flag is polled and its heartbeat written."""

from __future__ import annotations

import threading
import time

from core.config import default_config, validate_config
from core.jobs import queue_run
from core.run_guard import RunGuard, StopEvent
from core.store import Store
from core.store.claims import Claim, ClaimedRun
from tests.conftest import wait_until


def _claimed(store: Store) -> ClaimedRun:
    run = queue_run(store, validate_config(default_config("classification")))
    claimed = store.claim_next_queued("here:1")
    return ClaimedRun(store, Claim(run.id, claimed.claim_epoch, "here:1"))


def test_it_beats_the_heartbeat_while_the_run_is_quiet_and_after_a_stop(store: Store) -> None:
    writer = _claimed(store)
    store.update_run(writer.run_id, heartbeat_at=0.0)
    stop = StopEvent()
    with RunGuard(writer, stop, poll_s=0.01, heartbeat_s=0.05):
        wait_until(lambda: store.get_run(writer.run_id).heartbeat_at > 0, 5, "a heartbeat")
        store.request_stop(writer.run_id)
        wait_until(stop.is_set, 5, "the stop to reach the run")
        before = store.get_run(writer.run_id).heartbeat_at
        wait_until(lambda: store.get_run(writer.run_id).heartbeat_at > before, 5,
                   "a heartbeat while the stopped run still writes")
    after = store.get_run(writer.run_id).heartbeat_at
    time.sleep(0.2)
    assert store.get_run(writer.run_id).heartbeat_at == after  # the guard ends with the block


def test_a_shutdown_of_the_process_stops_the_run_with_its_reason(store: Store) -> None:
    writer = _claimed(store)
    shutdown, stop = StopEvent(), StopEvent()
    with RunGuard(writer, stop, also=(shutdown,), poll_s=0.01):
        shutdown.request("the worker received SIGTERM")
        wait_until(stop.is_set, 5, "the shutdown to reach the run")
    assert stop.reason == "the worker received SIGTERM"
    plain = threading.Event()
    with RunGuard(writer, plain, also=(threading.Event(),), poll_s=0.01):
        time.sleep(0.05)
    assert not plain.is_set()


def test_a_lost_claim_stops_the_run(store: Store) -> None:
    writer = _claimed(store)
    stop = threading.Event()
    with RunGuard(writer, stop, poll_s=0.01):
        assert store.revoke_claim(writer.run_id, "here:1", "orphaned")
        wait_until(stop.is_set, 5, "the lost claim to stop the run")
    assert writer.lost is not None and "no longer holds run" in str(writer.lost)
