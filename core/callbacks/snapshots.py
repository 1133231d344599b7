"""Attention snapshots at each evaluation (the Evolution view), as a callback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.inspect.maps import ModelSource
    from core.inspect.snapshots import SnapshotRecorder


class AttentionSnapshots:
    """Hands each evaluation's step to ``recorder``, which captures the probe input's attention
    from ``source`` (the trainer: its model and task). A failed snapshot never fails the run."""

    def __init__(self, recorder: SnapshotRecorder, source: ModelSource) -> None:
        self.recorder, self.source = recorder, source

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        self.recorder.snapshot(self.source, step)
