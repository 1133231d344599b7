"""Attention snapshots during training: a fixed probe input, captured at each evaluation.

The trainer builds a :class:`SnapshotRecorder` (``core/train.py``); each evaluation writes
``<run>/attention/step_<N>.json``, which the Evolution view replays as a slider over steps.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from pathlib import Path
from typing import Any

from core.inspect.maps import (
    AttentionCapture,
    ModelSource,
    NoAttentionError,
    capture_from_dict,
    capture_to_dict,
)

# Snapshots: on by default, but only for models this small (a snapshot per evaluation of a big
# model is disk and time nobody asked for); capped so one file stays ~200 KB.
SNAPSHOT_DIR = "attention"
SNAPSHOT_MAX_PARAMS = 20_000_000
SNAPSHOT_MAX_VALUES = 32_768
SNAPSHOT_MAX_TOKENS = 48
SNAPSHOT_DECIMALS = 4  # ~float16 precision; JSON stays compact


def probe_input(data: Any) -> tuple[str, str | None] | None:
    """The fixed probe of a run: its first validation example (and its target, for translation)."""
    for split in (data.validation, data.train):
        if split.texts:
            target = split.targets[0] if getattr(split, "targets", None) else None
            return split.texts[0][:2000], target  # a long document only needs its start
    return None


def snapshot_folder(run_dir: str | Path) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR


class SnapshotRecorder:
    """Saves ``attention/step_<N>.json`` for the run's probe input at each evaluation.

    Built by the trainer with :meth:`create`, which returns None when snapshots are off, the
    model is too big, or there is no probe. A model without attention turns it off at the first
    try; any other failure is a warning, never a failed run.
    """

    def __init__(self, run_dir: str | Path, probe: tuple[str, str | None], max_tokens: int = SNAPSHOT_MAX_TOKENS) -> None:
        self.folder = snapshot_folder(run_dir)
        self.text, self.target = probe
        self.max_tokens = max_tokens
        self.enabled = True

    @classmethod
    def create(
        cls, enabled: bool, run_dir: str | Path, data: Any, n_params: int,
    ) -> SnapshotRecorder | None:
        probe = probe_input(data) if enabled and n_params <= SNAPSHOT_MAX_PARAMS else None
        return None if probe is None else cls(run_dir, probe)

    def _capture(self, source: ModelSource) -> AttentionCapture:
        from core.inspect.capture import capture_attention  # torch: only to record, never to read

        capture = capture_attention(source, self.text, self.target, max_tokens=self.max_tokens)
        values = sum(m.weights.size for m in capture.maps.values())
        if values > SNAPSHOT_MAX_VALUES:
            # A wide model: shorten the probe once (values grow with tokens^2), so every later
            # snapshot shows the same tokens.
            longest = max(max(m.weights.shape[-2:]) for m in capture.maps.values())
            self.max_tokens = max(2, int(longest * math.sqrt(SNAPSHOT_MAX_VALUES / values)))
            capture = capture_attention(source, self.text, self.target, max_tokens=self.max_tokens)
        return capture

    def snapshot(self, source: ModelSource, step: int) -> Path | None:
        if not self.enabled:
            return None
        try:
            capture = self._capture(source)
        except NoAttentionError:
            self.enabled = False
            return None
        except Exception as exc:  # a view must never cost a training run
            warnings.warn(f"attention snapshot at step {step} failed: {exc}", stacklevel=2)
            return None
        return save_snapshot(self.folder, step, capture)


def save_snapshot(folder: Path, step: int, capture: AttentionCapture) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"step": step, **capture_to_dict(capture, SNAPSHOT_DECIMALS)}
    path = folder / f"step_{step}.json"
    tmp = path.with_suffix(".json.tmp")  # write then rename: a reader never sees half a file
    tmp.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)
    return path


def snapshot_steps(run_dir: str | Path) -> list[int]:
    """Steps with a saved snapshot, ascending."""
    folder = snapshot_folder(run_dir)
    if not folder.is_dir():
        return []
    steps = []
    for path in folder.glob("step_*.json"):
        with contextlib.suppress(ValueError):
            steps.append(int(path.stem.removeprefix("step_")))
    return sorted(steps)


def load_snapshot(run_dir: str | Path, step: int) -> AttentionCapture:
    path = snapshot_folder(run_dir) / f"step_{step}.json"
    return capture_from_dict(json.loads(path.read_text(encoding="utf-8")))
