"""Results out to trackers: a tiny run's config, metric series and final metrics, exported to
TensorBoard and MLflow (after the fact and live), read back with the libraries' own readers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.cli import main
from core.config import default_config, validate_config
from core.export.tracking import config_params, final_metrics, stored_rows
from core.runs import create_run, execute_run

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")


def tiny_classifier(**training: Any) -> dict:
    raw = default_config("classification")
    raw["data"] = {"name": "topics", "n_examples": 200}
    raw["task"] = {"name": "classification", "max_length": 16}
    raw["model"] = {"name": "lstm", "embed_dim": 8, "hidden_size": 8, "pooling": "mean"}
    raw["training"] = {"max_steps": 12, "batch_size": 8, "eval_every": 6, "log_every": 3,
                       "eval_max_batches": 2, "attention_snapshots": False, **training}
    return raw


def trained(store, **training: Any):
    run = create_run(store, validate_config(tiny_classifier(**training)), name="tiny")
    execute_run(store, run.id)
    return store.get_run(run.id)


def tensorboard_points(logdir: Path) -> tuple[dict[str, list[tuple[int, float]]], Any]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    series = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    return series, acc


def check_tensorboard(logdir: Path, store, run) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    series, acc = tensorboard_points(logdir)
    rows = stored_rows(store, run.id)
    assert rows, "the run logged nothing"
    for split, name in {(r[1], r[2]) for r in rows}:
        want = [(step, np.float32(value)) for step, s, n, value, _ in rows if (s, n) == (split, name)]
        assert series[f"{split}/{name}"] == want  # every point, at its step (float32 in events)
    final = final_metrics(run.summary)
    assert final["final/val/accuracy"] == run.summary["val"]["accuracy"]
    for key, value in final.items():  # (a resumed run's stop wrote earlier final points)
        assert series[key][-1] == (run.summary["step"], np.float32(value))
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    for key, value in config_params(run.config).items():
        got = hparams[key]
        if isinstance(value, int | float):  # booleans too: torch writes them as 1 / 0
            assert got.number_value == pytest.approx(float(value)), key
        else:
            assert got.string_value == value, key


def check_mlflow(uri: str, run) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("lm-workbench")
    found = client.search_runs([experiment.experiment_id], filter_string=f"tags.`lmwb.run_id` = '{run.id}'")
    assert len(found) == 1
    ml = found[0]
    assert ml.info.status == "FINISHED" and ml.info.run_name == run.name
    assert ml.data.params == {k: str(v) for k, v in config_params(run.config).items()}
    assert ml.data.params["model.hidden_size"] == "8" and ml.data.params["training.max_steps"] == "12"
    return client, ml


def check_mlflow_series(client, ml, store, run) -> None:
    rows = stored_rows(store, run.id)
    for split, name in {(r[1], r[2]) for r in rows}:
        want = [(step, value) for step, s, n, value, _ in rows if (s, n) == (split, name)]
        history = client.get_metric_history(ml.info.run_id, f"{split}/{name}")
        assert sorted((m.step, m.value) for m in history) == sorted(want)
    for key, value in final_metrics(run.summary).items():
        assert ml.data.metrics[key] == value, key
    assert math.isclose(ml.data.metrics["final/val/accuracy"], run.summary["val"]["accuracy"])


def test_export_to_tensorboard_and_mlflow_reads_back_the_same_numbers(store, tmp_path: Path, capsys) -> None:
    run = trained(store)
    assert main(["runs", "export", run.id, "--to", "tensorboard", "--out", str(tmp_path / "tb")]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    check_tensorboard(tmp_path / "tb" / run.id, store, run)

    assert main(["runs", "export", run.id, "--to", "mlflow", "--out", str(tmp_path / "mlruns")]) == 0
    uri = (tmp_path / "mlruns").as_uri()
    client, ml = check_mlflow(uri, run)
    check_mlflow_series(client, ml, store, run)

    # Again into the same places: refused, nothing doubled.
    for to, out in (("tensorboard", "tb"), ("mlflow", "mlruns")):
        assert main(["runs", "export", run.id, "--to", to, "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and run.id in err
    check_mlflow(uri, run)


def test_live_trackers_record_what_the_store_records(store, workbench_home: Path) -> None:
    uri = (workbench_home.parent / "live-mlruns").as_uri()
    run = trained(store, trackers="tensorboard+mlflow", mlflow_tracking_uri=uri)
    assert run.status == "completed"
    check_tensorboard(workbench_home / "tensorboard" / run.id, store, run)
    client, ml = check_mlflow(uri, run)
    check_mlflow_series(client, ml, store, run)


def test_a_resumed_run_continues_its_tensorboard_folder_and_mlflow_run(store, workbench_home: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = (workbench_home.parent / "live-mlruns").as_uri()
    run = create_run(store, validate_config(tiny_classifier(trackers="tensorboard+mlflow", mlflow_tracking_uri=uri)))

    class CrashAt9:  # after step 9's points reached store and trackers; the checkpoint is step 6's
        def on_log(self, step: int, metrics: dict) -> None:
            if step == 9:
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        execute_run(store, run.id, callbacks=[CrashAt9()])
    assert execute_run(store, run.id, resume=True).status == "completed"
    run = store.get_run(run.id)
    # TensorBoard shows exactly the store's series: the first session's step 9 is purged.
    check_tensorboard(workbench_home / "tensorboard" / run.id, store, run)
    client, ml = check_mlflow(uri, run)  # one MLflow run, continued, FINISHED
    history = sorted((m.step, m.value) for m in MlflowClient(tracking_uri=uri).get_metric_history(ml.info.run_id, "train/loss"))
    stored = [(step, value) for step, split, name, value, _ in stored_rows(store, run.id) if (split, name) == ("train", "loss")]
    # MLflow cannot delete points: the first session's step 9 stays beside the resumed one (documented).
    assert history == sorted([*stored, next(p for p in stored if p[0] == 9)])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "export", "rnosuch", "--to", "mlflow"], "no run"),
        (["runs", "export", "tiny", "--to", "mlflow", "--out", "{tmp}/m", "--tracking-uri", "file:///x"], "not both"),
        (["runs", "export", "tiny", "--to", "tensorboard", "--tracking-uri", "file:///x"], "--tracking-uri is for MLflow"),
        (["runs", "export", "tiny", "--to", "tensorboard", "--out", "{home}/tb"], "inside the workbench home"),
        (["runs", "export", "tiny", "--to", "mlflow", "--tracking-uri", "{home}/mlruns"], "inside the workbench home"),
        (["runs", "export", "tiny", "--to", "mlflow", "--tracking-uri", " "], "--tracking-uri is empty"),
        (["runs", "export", "tiny", "--to", "tensorboard", "--out", "{tmp}/a-file"], "is a file"),
        (["runs", "export", "tiny", "--to", "tensorboard", "--out", "{tmp}/no/such/dir"], "does not exist"),
    ],
)
def test_bad_export_requests_exit_2_with_one_line(store, tmp_path: Path, workbench_home: Path, capsys,
                                                   args: list[str], message: str) -> None:
    create_run(store, validate_config(tiny_classifier()), name="tiny")
    (tmp_path / "a-file").write_text("x")
    argv = [a.format(tmp=tmp_path, home=workbench_home) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_unknown_tracker_is_refused_by_the_parser(capsys) -> None:
    assert main(["runs", "export", "x", "--to", "wandb"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bad_tracker_setting_is_refused_by_validation() -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="training.trackers"):
        validate_config(tiny_classifier(trackers="wandb"))


@pytest.mark.parametrize(("missing", "args"), [
    ("mlflow", ["runs", "export", "tiny", "--to", "mlflow", "--out", "{tmp}/m"]),
    ("tensorboard", ["runs", "export", "tiny", "--to", "tensorboard", "--out", "{tmp}/t"]),
    ("onnxruntime", ["export", "tiny", "--format", "onnx", "{tmp}/o"]),
    ("mlflow", ["train", "--task", "classification", "--set", "training.trackers=tensorboard+mlflow"]),
])
def test_a_missing_library_names_the_export_extra(store, tmp_path: Path, capsys, monkeypatch,
                                                  missing: str, args: list[str]) -> None:
    run = create_run(store, validate_config(tiny_classifier(max_steps=1, eval_every=1)), name="tiny")
    if args[0] == "export":
        execute_run(store, run.id)  # a checkpoint to export
    monkeypatch.setitem(__import__("sys").modules, missing, None)  # import now raises ImportError
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert "pip install 'lm-workbench[export]'" in err and missing in err and len(err.strip().splitlines()) == 1
