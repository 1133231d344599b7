"""Live trackers: the store plus TensorBoard and/or MLflow while a run trains.

``training.trackers`` picks them; :func:`live_sink` returns the store itself when it picks none,
so a run that asks for nothing pays nothing. Otherwise a :class:`TrackedSink` stands in for the
store as the trainer's ``MetricSink``: every call goes to the store first, and metric points,
the config and the final metrics are copied to each tracker. A tracker that fails mid-run is
dropped with a warning in the run's log (the store still has every number, and
``lmwb runs export`` can send them again); one that cannot start fails the run at once.

A resumed run continues its TensorBoard folder (points after the checkpoint are purged, as the
store truncates them) and its MLflow run (MLflow cannot delete points: a step logged before
the interruption may appear twice there).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from core.config import RunConfig
from core.errors import WorkbenchError
from core.export import need
from core.export.tracking import EXPERIMENT, MlflowTracker, TensorBoardTracker, as_uri, run_tags

MLFLOW_RUN_FILE = "mlflow_run.json"  # in the run folder: which MLflow run a resume continues


def live_sink(store: Any, run: Any, config: RunConfig) -> Any:
    """The trainer's MetricSink for ``run``: the store, or the store plus its trackers."""
    wanted = config["training"].get("trackers", "none")
    if wanted == "none":
        return store
    return TrackedSink(store, run, config, wanted.split("+"))


def finish(sink: Any, status: str) -> None:
    """Close the trackers of a :func:`live_sink` (nothing for the bare store)."""
    if isinstance(sink, TrackedSink):
        sink.close(status)


class TrackedSink:
    """A MetricSink: the store, with a copy of the numbers for each tracker."""

    def __init__(self, store: Any, run: Any, config: RunConfig, trackers: list[str]) -> None:
        run = store.get_run(run.id)  # now running: its start time is set
        self.store, self.run, self.config = store, run, config.to_dict()
        self.run_dir = store.run_dir(run.id)
        self.summary: dict[str, Any] = dict(run.summary or {})
        self.start = run.started_at or run.created_at
        self.purge_step: int | None = None
        self.tensorboard: TensorBoardTracker | None = None
        self.wants_tensorboard = "tensorboard" in trackers
        self.mlflow = self._open_mlflow(config) if "mlflow" in trackers else None
        if self.wants_tensorboard:  # a missing package fails the run now, not at the first point
            need("tensorboard", "the live TensorBoard tracker")

    def _open_mlflow(self, config: RunConfig) -> MlflowTracker:
        uri = as_uri(config["training"]["mlflow_tracking_uri"] or str(self.store.home / "mlruns"))
        saved = self.run_dir / MLFLOW_RUN_FILE
        earlier = None
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads(saved.read_text())
            earlier = doc["run_id"] if doc.get("tracking_uri") == uri else None
        tracker = MlflowTracker(uri, run_name=self.run.name, tags=run_tags(self.run), experiment=EXPERIMENT,
                                run_id=earlier)
        if earlier is None:
            tracker.log_config(self.config)  # MLflow parameters cannot change, so only once
            self.run_dir.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps({"tracking_uri": uri, "run_id": tracker.run_id}))
        return tracker

    def _tb(self) -> TensorBoardTracker | None:
        """Opened at the first point, so a resume's purge step (truncate_metrics) is known."""
        if self.wants_tensorboard and self.tensorboard is None:
            self.tensorboard = TensorBoardTracker(self.store.home / "tensorboard" / self.run.id,
                                                  purge_step=self.purge_step)
        return self.tensorboard

    def _each(self, what: str, call: Any) -> None:
        for kind in ("tensorboard", "mlflow"):
            tracker = None
            try:
                tracker = self._tb() if kind == "tensorboard" else self.mlflow
                if tracker is not None:
                    call(tracker)
            except Exception as exc:  # a tracker must never stop training
                self._drop(kind, f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    def _drop(self, kind: str, why: str) -> None:
        with contextlib.suppress(WorkbenchError):
            self.store.log_event(self.run.id, "warning", f"the live {kind} tracker stopped ({why}); "
                                 f"`lmwb runs export {self.run.id} --to {kind}` sends the numbers again")
        if kind == "mlflow":
            self.mlflow = None
        else:
            self.wants_tensorboard, self.tensorboard = False, None

    # -- MetricSink ---------------------------------------------------------------------------------
    def log_metrics(self, run_id: str, rows: list[tuple[int, str, str, float, float]]) -> None:
        self.store.log_metrics(run_id, rows)
        self._each("logging metrics", lambda t: t.log_metrics(rows, self.start))

    def set_summary(self, run_id: str, summary: dict[str, Any]) -> None:
        self.summary = self.store.set_summary(run_id, summary)

    def truncate_metrics(self, run_id: str, after_step: int) -> None:
        self.store.truncate_metrics(run_id, after_step)
        self.purge_step = after_step + 1

    def set_progress(self, run_id: str, progress: dict[str, Any]) -> None:
        self.store.set_progress(run_id, progress)

    def stop_requested(self, run_id: str) -> bool:
        return bool(self.store.stop_requested(run_id))

    def heartbeat(self, run_id: str) -> None:
        self.store.heartbeat(run_id)

    def check_writable(self, run_id: str) -> None:
        self.store.check_writable(run_id)

    # -- the end ------------------------------------------------------------------------------------
    def close(self, status: str) -> None:
        """Final metrics (a run that trained) and the tracker's end; failures only warn."""
        if self.summary.get("step"):
            self._each("writing final metrics", lambda t: t.log_final(self.config, self.summary))
        self._each("closing", lambda t: t.close(status))
