"""The stop flag, polled from the store off the training loop's hot path.

The loop checks a ``threading.Event`` (free); a daemon thread asks the store every 0.25 s
whether someone pressed Stop, and beats the run's heartbeat every ~5 s so slow log intervals
never make a live run look orphaned.
"""

from __future__ import annotations

import threading
from typing import Any


class StopEvent(threading.Event):
    """A stop flag that can say who raised it (the trainer logs it before the run stops)."""

    reason = ""

    def request(self, reason: str) -> None:
        if not self.is_set():
            self.reason = reason
        self.set()


def start_stop_watcher(sink: Any, run_id: str | None, stop: threading.Event) -> threading.Event | None:
    """Start the watcher; set the returned Event to end it. None without a store to ask."""
    if not (sink and run_id):
        return None
    done = threading.Event()

    def watch() -> None:
        ticks = 0
        while not done.wait(0.25):
            ticks += 1
            try:
                if sink.stop_requested(run_id):
                    stop.set()
                    return
                if ticks % 20 == 0:  # every ~5 s, so slow log intervals never look orphaned
                    sink.heartbeat(run_id)
            except Exception:  # a busy database must not kill training
                continue

    threading.Thread(target=watch, name="stop-watcher", daemon=True).start()
    return done
