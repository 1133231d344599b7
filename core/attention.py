"""Moved to :mod:`core.inspect` (engine) and ``app/components/bertviz`` (drawing).

Only ``core/train.py`` still imports from here; delete this file once its import reads
``from core.inspect import SnapshotRecorder``.
"""

from core.inspect.snapshots import SnapshotRecorder

__all__ = ["SnapshotRecorder"]
