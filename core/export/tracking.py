"""A run's config, metric series and final metrics in TensorBoard and MLflow.

Both trackers take the same three things, in the store's own numbers:

* the config, flattened to ``section.key`` (TensorBoard: the HParams dashboard and a ``config``
  text; MLflow: run parameters);
* every metric point as ``split/name`` at its step (``train/loss``, ``val/accuracy``), its
  wall time being the run's start plus the point's elapsed seconds;
* the final metrics (the last evaluation, the best value, steps, tokens, duration) as
  ``final/...`` (TensorBoard: scalars at the last step; MLflow: metrics).

:func:`export_run` writes a stored run (``lmwb runs export RUN --to tensorboard|mlflow``);
``core.export.live`` feeds the same trackers while a run trains.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import WorkbenchError
from core.export import need
from core.export.folders import output_folder

Row = tuple[int, str, str, float | None, float]  # step, split, name, value, elapsed seconds
TRACKERS = ("tensorboard", "mlflow")
EXPERIMENT = "lm-workbench"
# A stored run's status as MLflow says it (a run still training stays RUNNING there too).
MLFLOW_STATUS = {"completed": "FINISHED", "failed": "FAILED", "stopped": "KILLED"}


def config_params(config: Mapping[str, Mapping[str, Any]]) -> dict[str, str | int | float | bool]:
    """``{"model.d_model": 128, ...}``: scalars as they are, anything else (a list, null) as its
    JSON text, since both trackers take only scalars."""
    out: dict[str, str | int | float | bool] = {}
    for section, values in config.items():
        for key, value in values.items():
            ok = isinstance(value, bool | int | str) or (isinstance(value, float) and math.isfinite(value))
            out[f"{section}.{key}"] = value if ok else json.dumps(value)
    return out


def final_metrics(summary: Mapping[str, Any] | None) -> dict[str, float]:
    """The run's final numbers from its summary, named ``final/...``: each metric of the last
    evaluation (``final/val/accuracy``), the best value of the watched metric
    (``final/best/accuracy`` and its step) and the run's totals (steps, tokens, seconds)."""
    summary = summary or {}
    out: dict[str, Any] = {}  # kept below: the finite numbers
    for key, value in (summary.get("val") or {}).items():
        out[f"final/val/{key}"] = value
    best = summary.get("best") or {}
    if summary.get("metric") and best.get("value") is not None:
        out[f"final/best/{summary['metric']}"] = best["value"]
        out["final/best/step"] = best.get("step", 0)
    for key in ("step", "tokens_seen", "duration_s", "tokens_per_s", "params"):
        out[f"final/{key}"] = summary.get(key)
    return {_key(k): float(v) for k, v in out.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


def _key(name: str) -> str:
    """A metric name both trackers accept (MLflow: letters, digits, ``_ - . / :`` and spaces)."""
    return re.sub(r"[^\w.\-/: ]", "_", name)


def metric_key(split: str, name: str) -> str:
    return _key(f"{split}/{name}")


# -- TensorBoard --------------------------------------------------------------------------------

class TensorBoardTracker:
    """Event files in ``logdir`` (one TensorBoard run). ``purge_step``: a resumed run's first
    step; TensorBoard hides what an earlier session logged from there on."""

    name = "TensorBoard"

    def __init__(self, logdir: Path, *, purge_step: int | None = None) -> None:
        need("tensorboard", "TensorBoard export")
        from torch.utils.tensorboard import SummaryWriter

        self.logdir = logdir
        self.writer = SummaryWriter(log_dir=str(logdir), purge_step=purge_step)

    def log_metrics(self, rows: Iterable[Row], start: float) -> int:
        n = 0
        for step, split, name, value, wall in rows:
            if value is None or not math.isfinite(value):  # the store keeps no NaN; neither do we
                continue
            self.writer.add_scalar(metric_key(split, name), value, int(step), walltime=start + wall)
            n += 1
        return n

    def log_final(self, config: Mapping[str, Any], summary: Mapping[str, Any] | None) -> None:
        """The config (HParams dashboard and a readable text) and the final metrics."""
        from torch.utils.tensorboard.summary import hparams

        final = final_metrics(summary)
        step = int((summary or {}).get("step") or 0)
        for key, value in final.items():
            self.writer.add_scalar(key, value, step)
        # What SummaryWriter.add_hparams writes, but into this run's own folder (add_hparams
        # would start a second run in a sub-folder).
        for part in hparams(config_params(config), final):
            # torch types file_writer as None, the value its __init__ starts it with
            self.writer.file_writer.add_summary(part, step)  # type: ignore[attr-defined]
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=1) + "\n```", step)

    def close(self, status: str = "completed") -> None:
        self.writer.close()


# -- MLflow -------------------------------------------------------------------------------------

class MlflowTracker:
    """One MLflow run in ``tracking_uri`` (a ``file:`` folder, ``sqlite:///...``, ``http://...``).

    ``run_id``: continue that MLflow run (a resumed training) instead of starting one.
    """

    name = "MLflow"

    def __init__(self, tracking_uri: str, *, run_name: str, tags: Mapping[str, str],
                 experiment: str = EXPERIMENT, run_id: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.client = mlflow_client(tracking_uri)
        try:
            if run_id is not None:
                self.run_id = run_id
                self.client.update_run(run_id, status="RUNNING")
            else:
                self.run_id = self.client.create_run(experiment_id(self.client, experiment), run_name=run_name,
                                                     tags=dict(tags)).info.run_id
        except Exception as exc:  # a bad URI, a server that does not answer
            raise WorkbenchError(f"MLflow at {tracking_uri}: {_first_line(exc)}") from None

    def log_config(self, config: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(k, str(v)) for k, v in config_params(config).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters a call
            self.client.log_batch(self.run_id, params=params[i : i + 100])

    def log_metrics(self, rows: Iterable[Row], start: float) -> int:
        from mlflow.entities import Metric

        metrics = [Metric(metric_key(split, name), float(value), int(1000 * (start + wall)), int(step))
                   for step, split, name, value, wall in rows if value is not None and math.isfinite(value)]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics a call
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])
        return len(metrics)

    def log_final(self, config: Mapping[str, Any], summary: Mapping[str, Any] | None) -> None:
        from mlflow.entities import Metric

        now, step = int(1000 * time.time()), int((summary or {}).get("step") or 0)
        metrics = [Metric(k, v, now, step) for k, v in final_metrics(summary).items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, status: str = "completed") -> None:
        if status in MLFLOW_STATUS:
            self.client.set_terminated(self.run_id, MLFLOW_STATUS[status])


def urlparse_scheme(text: str) -> str:
    return urlparse(text).scheme


def as_uri(text: str) -> str:
    """A tracking URI as given, or a plain folder path (``./mlruns``) as its ``file:`` URI, so
    a folder typed without a scheme gets the same treatment as ``--out``."""
    return text if len(urlparse_scheme(text)) > 1 else Path(text).expanduser().resolve().as_uri()  # (C:\ is a path)


def mlflow_client(tracking_uri: str) -> Any:
    """An ``MlflowClient`` for ``tracking_uri``; a URI MLflow cannot use is a WorkbenchError."""
    need("mlflow", "MLflow export")
    from mlflow.tracking import MlflowClient

    if tracking_uri.startswith("file:"):
        # MLflow 3 refuses folder stores unless told; a folder is what the user asked for.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no "creating tables" chatter
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except Exception as exc:
        raise WorkbenchError(f"MLflow at {tracking_uri}: {_first_line(exc)}") from None


def experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_tags(run: Any) -> dict[str, str]:
    """What identifies the workbench run in MLflow (searchable: ``tags.`lmwb.run_id` = 'r...'``)."""
    return {"lmwb.run_id": run.id, "lmwb.task": run.task, "lmwb.arch": run.arch, "mlflow.source.name": "lmwb"}


def mlflow_uri(out: str | None, tracking_uri: str | None, home: Path) -> str:
    """The tracking URI an export writes to: ``tracking_uri`` as given, else the folder ``out``
    (default ``./mlruns``, as MLflow's own default) as a ``file:`` URI."""
    if out and tracking_uri is not None:
        raise WorkbenchError("give --out DIR (a local mlruns folder) or --tracking-uri URI, not both")
    if tracking_uri is not None:
        if not tracking_uri.strip():
            raise WorkbenchError("--tracking-uri is empty; give an MLflow tracking URI")
        if len(urlparse_scheme(tracking_uri.strip())) <= 1:  # a folder path: the same rules as --out
            return output_folder(tracking_uri.strip(), home, may_exist_with=True).as_uri()
        return tracking_uri.strip()
    return output_folder(out or "mlruns", home, may_exist_with=True).as_uri()


# -- a stored run, exported ----------------------------------------------------------------------

def stored_rows(store: Any, run_id: str) -> list[Row]:
    frame = store.metrics(run_id)
    return [(int(r.step), str(r.split), str(r.name), None if r.value is None or r.value != r.value else float(r.value),
             float(r.wall_time)) for r in frame.itertuples(index=False)]


def export_run(store: Any, run_ref: str, to: str, *, out: str | None = None,
               tracking_uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    """Write stored run ``run_ref`` to ``to`` (tensorboard | mlflow); return what was done, in
    a line. TensorBoard: ``out`` is a log folder (default ``./tensorboard``) that may hold other
    runs; this one goes into its sub-folder named by the run id, which must not exist yet.
    MLflow: ``out`` (a folder, default ``./mlruns``) or ``tracking_uri``; a run exported there
    before is refused rather than doubled."""
    if to not in TRACKERS:
        raise WorkbenchError(f"--to {to}: unknown tracker; expected one of {', '.join(TRACKERS)}")
    run = store.get_run(run_ref)
    rows = stored_rows(store, run.id)
    start = run.started_at or run.created_at
    if to == "tensorboard":
        if tracking_uri:
            raise WorkbenchError("--tracking-uri is for MLflow; TensorBoard writes to a folder (--out DIR)")
        logdir = output_folder(out or "tensorboard", store.home, may_exist_with=True)
        target = logdir / run.id
        if target.exists() and any(target.iterdir()):
            raise WorkbenchError(f"{target} exists and is not empty: run {run.id} was exported there before; "
                                 "remove that folder or choose another --out")
        tb = TensorBoardTracker(target)
        try:
            n = tb.log_metrics(rows, start)
            tb.log_final(run.config, run.summary)
        finally:
            tb.close()
        return f"wrote run {run.id}: {n} metric points to {target}; view with: tensorboard --logdir {logdir}"
    uri = mlflow_uri(out, tracking_uri, store.home)
    client = mlflow_client(uri)
    try:
        earlier = client.search_runs([experiment_id(client, experiment)],
                                     filter_string=f"tags.`lmwb.run_id` = '{run.id}'")
    except Exception as exc:
        raise WorkbenchError(f"MLflow at {uri}: {_first_line(exc)}") from None
    if earlier:
        raise WorkbenchError(f"run {run.id} is already in MLflow experiment {experiment!r} at {uri} "
                             f"(MLflow run {earlier[0].info.run_id}); delete it there first")
    ml = MlflowTracker(uri, run_name=run.name, tags=run_tags(run), experiment=experiment)
    try:
        ml.log_config(run.config)
        n = ml.log_metrics(rows, start)
        ml.log_final(run.config, run.summary)
        ml.close(run.status)
    except WorkbenchError:
        raise
    except Exception as exc:  # the store answered the first call but not a later one
        raise WorkbenchError(f"MLflow at {uri}: {_first_line(exc)}") from None
    return (f"wrote run {run.id}: {n} metric points to MLflow run {ml.run_id} "
            f"(experiment {experiment!r}) at {uri}")
