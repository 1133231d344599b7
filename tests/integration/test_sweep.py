"""Sweeps: search spaces from the declarations, Optuna methods and pruners, trials as runs,
parallel workers on SQLite and PostgreSQL, stop/resume, dead workers.

Trials train tiny GRUs for a few dozen steps; the synthetic-objective tests drive the same
samplers and search spaces without training.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
import yaml
from optuna.trial import TrialState

from core import sweep as sw
from core.cli import main
from core.config import default_config, validate_config
from core.errors import ConfigError
from core.store import Store, SweepRecord
from core.sweep.settings import spec_keywords
from core.workers.sweeps import run_local
from tests.conftest import wait_until as _wait

HOST = socket.gethostname()


def _base(max_steps: int = 20, eval_every: int = 10, **training: Any) -> dict[str, Any]:
    raw = default_config("classification")
    raw["task"] = {"name": "classification", "max_length": 16}
    raw["data"] = {"name": "sentiment", "n_examples": 300}
    raw["model"] = {"name": "gru", "embed_dim": 8, "hidden_size": 8}
    raw["training"] = {"max_steps": max_steps, "eval_every": eval_every, "log_every": 10,
                       "eval_max_batches": 1, "batch_size": 16, "checkpoint": False, **training}
    return validate_config(raw).to_dict()


GRID_SPACE = {
    "optimizer.lr": {"choices": [0.001, 0.003, 0.01]},
    "model.hidden_size": {"choices": [4, 8]},
}


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models in this process: one thread avoids OpenMP spin contention on a busy box."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _trials(store: Store, sweep: SweepRecord) -> list[optuna.trial.FrozenTrial]:
    return sw.load_study(store, store.get_sweep(sweep.id)).get_trials(deepcopy=False)


def _assert_each_grid_point_once(store: Store, sweep: SweepRecord, space: dict[str, Any]) -> None:
    """Exactly the Cartesian product, once each, every trial a finished run of this sweep."""
    trials = _trials(store, sweep)
    keys = list(space)
    combos = [tuple(t.params[k] for k in keys) for t in trials]
    product = set(itertools.product(*(space[k]["choices"] for k in keys)))
    assert len(combos) == len(product) == len(set(combos)) and set(combos) == product
    assert sorted(t.number for t in trials) == list(range(len(product)))
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    runs = store.list_runs(sweep_id=sweep.id)
    assert sorted(r.id for r in runs) == sorted(t.user_attrs["run_id"] for t in trials)
    assert all(f"sweep-{sweep.id}" in r.tags and r.status in ("completed", "pruned") for r in runs)
    assert store.get_sweep(sweep.id).status == "completed"


# -- search space ------------------------------------------------------------------------------
def test_space_is_validated_against_the_declarations() -> None:
    base = validate_config(_base())

    def error(space: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as info:
            sw.parse_space(space, base)
        return str(info.value)

    message = error({"model.hiden_size": {"low": 4, "high": 64}})
    assert "model.hiden_size" in message and "hidden_size" in message  # names what is allowed
    assert "not sweepable" in error({"training.max_steps": {"low": 10, "high": 100}})
    assert "nope" in error({"nope.lr": {"low": 0.1, "high": 1}})
    # Inside the declared range: dropout is declared in [0, 0.9].
    assert "model.dropout.high" in error({"model.dropout": {"low": 0.1, "high": 0.95}})
    assert "[0, 0.9]" in error({"model.dropout": {"low": 0.1, "high": 0.95}})
    assert "log scale" in error({"model.dropout": {"low": 0.0, "high": 0.5, "log": True}})
    assert "empty range" in error({"optimizer.lr": {"low": 0.1, "high": 0.01}})
    # gru declares no n_heads: conditional on the transformer it is fine.
    assert "gru declares no parameter 'n_heads'" in error({"model.n_heads": {"choices": [2, 4]}})
    assert "not swept" in error({"model.n_heads": {"choices": [2, 4], "when": {"model.name": "transformer_encoder"}}})
    message = error({"model.name": {"choices": ["gru", "bogus"]}})
    assert "'bogus'" in message and "lstm" in message
    assert "step" in error({"optimizer.lr": {"low": 1e-4, "high": 1e-2, "log": True, "step": 1e-3}})

    space = sw.parse_space({
        "model.n_heads": {"choices": [2, 4], "when": {"model.name": "transformer_encoder"}},
        "model.name": {"choices": ["gru", "transformer_encoder"]},
        "model.dropout": {"low": 0.0, "high": 0.5},  # declared by both architectures
        "optimizer.lr": {"low": 1e-4, "high": 1e-2, "log": True, "points": 3},
        "model.bidirectional": {"when": {"model.name": "gru"}},  # bool: both values
    }, base)
    assert space.keys.index("model.name") < space.keys.index("model.n_heads")  # condition first
    # gru: 3 dropout x 3 lr x 2 bidirectional; transformer: x 2 heads; no duplicates.
    points = space.grid_points()
    assert space.grid_size() == len(points) == 3 * 3 * 2 + 3 * 3 * 2
    assert len({repr(sorted(p.items())) for p in points}) == len(points)
    assert all(("model.n_heads" in p) == (p["model.name"] == "transformer_encoder") for p in points)
    lr = next(d for d in space.dims if d.key == "optimizer.lr")
    assert lr.grid_values() == pytest.approx([1e-4, 1e-3, 1e-2])  # log-spaced grid points
    # A switched component keeps the base values it also declares.
    config = sw.trial_config(_base(), {"model.name": "lstm", "model.dropout": 0.3})
    assert config["model"]["hidden_size"] == 8 and config["model"]["dropout"] == 0.3


def test_invalid_grid_combinations_are_refused_before_any_trial() -> None:
    raw = _base()
    raw["model"] = {"name": "transformer_encoder", "d_model": 16, "n_heads": 2, "d_ff": 16}
    with pytest.raises(ConfigError, match="divisible"):
        sw.build_spec(raw, {"model.n_heads": {"choices": [2, 3]}}, method="grid")
    with pytest.raises(ConfigError, match="budget"):
        sw.build_spec(_base(), GRID_SPACE, method="tpe")


def test_a_base_config_on_several_processes_is_refused_at_creation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial trains in its sweep worker's process: a base asking for several (nproc_per_node
    x nnodes > 1) is refused by build_spec in one line naming the key, before anything is stored."""
    with pytest.raises(ConfigError) as info:
        sw.build_spec(_base(nproc_per_node=2), GRID_SPACE, method="grid")
    assert str(info.value) == "training.nproc_per_node = 2: a sweep trains each trial in one process; expected 1"
    with pytest.raises(ConfigError, match=r"^training\.nnodes = 2: a sweep trains each trial in one process"):
        sw.build_spec(_base(nnodes=2, rdzv_endpoint="host:29500"), GRID_SPACE, method="grid")
    # The CLI goes through build_spec: the same line, naming the base config file and its line.
    space = tmp_path / "sweep.yaml"
    space.write_text(yaml.safe_dump({"space": GRID_SPACE, "method": "grid"}))
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(_base(nproc_per_node=4), sort_keys=False))
    capsys.readouterr()
    assert main(["sweep", "create", "--space", str(space), "--config", str(base)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {base}, line ") and err.endswith(
        "training.nproc_per_node = 4: a sweep trains each trial in one process; expected 1"), err
    assert "\n" not in err
    assert main(["sweep", "create", "--space", str(space), "--set", "training.nproc_per_node=2"]) == 2
    assert capsys.readouterr().err.strip() == \
        "error: training.nproc_per_node = 2: a sweep trains each trial in one process; expected 1"
    assert Store().list_sweeps() == []


def test_sweep_files_and_flags_are_checked_against_the_setting_declarations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = {"optimizer.lr": {"choices": [0.001, 0.01]}}

    def error(**settings: Any) -> str:
        path = tmp_path / "sweep.yaml"
        path.write_text(yaml.safe_dump({"space": space, **settings}))
        with pytest.raises(ConfigError) as info:
            sw.load_space_file(path)
        assert str(path) in str(info.value)  # names the file...
        return str(info.value)

    assert "timeout_min = 'soon'" in error(timeout_min="soon")  # ...and the field
    assert "method = 'bayes'" in error(method="bayes") and "'tpe'" in error(method="bayes")
    assert "workers = 65" in error(workers=65) and "[1, 64]" in error(workers=65)
    assert "pruner.startup" in error(pruner={"name": "median", "startup": 2})
    assert "direction = 'max'" in error(direction="max")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"space": space, "method": "grid", "timeout_min": "1e1",
                                    "pruner": {"name": "median", "startup_trials": 1}}))
    loaded = sw.load_space_file(good)
    assert loaded["timeout_min"] == 10.0 and loaded["pruner"] == {"name": "median", "startup_trials": 1,
                                                                  "warmup_steps": 0}
    spec = sw.build_spec(_base(), space, **spec_keywords(loaded))
    assert spec.timeout_s == 600 and spec.pruner["startup_trials"] == 1 and spec.method == "grid"
    # A flag wins over the file; a bad flag is refused by argparse with the declared range.
    assert main(["sweep", "create", "--space", str(good), "--method", "random", "--trials", "2",
                 "--name", "flags"]) == 0
    record = Store().get_sweep("flags")
    assert record.spec["method"] == "random" and record.spec["n_trials"] == 2
    assert record.spec["timeout_s"] == 600  # from the file
    capsys.readouterr()
    assert main(["sweep", "create", "--space", str(good), "--workers", "65"]) == 2
    assert "argument --workers" in capsys.readouterr().err


# -- samplers on a synthetic objective -----------------------------------------------------------
SYNTH_SPACE = {
    "optimizer.lr": {"low": 1e-5, "high": 1.0, "log": True},
    "model.hidden_size": {"low": 8, "high": 512, "log": True},
    "model.dropout": {"low": 0.0, "high": 0.8},
}


def _synthetic(p: dict[str, Any]) -> float:
    """A bowl with its minimum (0) at lr 10^-2.5, hidden 128, dropout 0.3."""
    return ((math.log10(p["optimizer.lr"]) + 2.5) ** 2
            + (math.log2(p["model.hidden_size"]) - 7) ** 2 / 4 + 4 * (p["model.dropout"] - 0.3) ** 2)


def _optimize(method: str, n_trials: int, seed: int, startup: int | None = None) -> tuple[optuna.Study, list[dict[str, Any]]]:
    spec = sw.build_spec(_base(), SYNTH_SPACE, method=method, n_trials=n_trials, seed=seed,
                         startup_trials=startup)
    space = spec.search_space()
    study = optuna.create_study(sampler=sw.make_sampler(spec, space), direction="minimize")
    seen: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        values = space.sample(trial)
        seen.append(values)
        return _synthetic(values)

    study.optimize(objective, n_trials=n_trials)
    return study, seen


@pytest.mark.parametrize(("method", "n"), [("random", 300), ("tpe", 60), ("gp", 8)])
def test_samplers_respect_bounds_and_log_scales(method: str, n: int) -> None:
    study, seen = _optimize(method, n, seed=3, startup=3 if method == "gp" else None)
    assert len(seen) == n
    for values in seen:
        assert 1e-5 <= values["optimizer.lr"] <= 1.0
        assert 0.0 <= values["model.dropout"] <= 0.8
        assert isinstance(values["model.hidden_size"], int) and 8 <= values["model.hidden_size"] <= 512
    dist = study.trials[0].distributions
    assert dist["optimizer.lr"].log and dist["model.hidden_size"].log and not dist["model.dropout"].log
    if method == "random":
        # Log-uniform: half the draws below the geometric middle (10^-2.5), where a linear
        # scale would put under 1% of them.
        below = sum(v["optimizer.lr"] < 10**-2.5 for v in seen) / n
        assert 0.4 < below < 0.6, below
        below_mid = sum(v["model.dropout"] < 0.4 for v in seen) / n  # linear: half below 0.4
        assert 0.4 < below_mid < 0.6, below_mid


def test_median_pruner_stops_a_clearly_bad_trial_at_its_first_evaluation() -> None:
    spec = sw.build_spec(_base(max_steps=50), SYNTH_SPACE, method="random", n_trials=5,
                         pruner={"name": "median", "startup_trials": 2})
    study = optuna.create_study(direction="maximize", pruner=sw.make_pruner(spec))
    curves = [[0.6, 0.7, 0.8, 0.85, 0.9], [0.62, 0.72, 0.8, 0.84, 0.88],
              [0.65, 0.75, 0.82, 0.86, 0.9], [0.5, 0.5, 0.5, 0.5, 0.5]]
    reporters = []
    for curve in curves:
        trial = study.ask()
        stop = threading.Event()
        reporter = sw.TrialReporter(trial, "accuracy", "maximize", stop, max_steps=50)
        for i, value in enumerate(curve):
            if stop.is_set():
                break
            reporter.on_eval(10 * (i + 1), {"accuracy": value}, {})
        study.tell(trial, state=TrialState.PRUNED) if reporter.pruned_at else study.tell(trial, reporter.best)
        reporters.append(reporter)
    assert [r.pruned_at for r in reporters] == [None, None, None, 10]
    assert reporters[0].best == 0.9  # the objective is the best evaluation


# -- real trials -----------------------------------------------------------------------------------
def test_grid_runs_the_cartesian_product_once_and_prunes_a_bad_trial(store: Store) -> None:
    spec = sw.build_spec(_base(), GRID_SPACE, method="grid", seed=0, pruner="none")
    sweep = sw.create_sweep(store, spec, name="grid")
    assert spec.expected_trials() == 6
    sw.start_sweep(store, sweep.id)
    assert sw.run_trials(store, sweep.id) == 6
    _assert_each_grid_point_once(store, sweep, GRID_SPACE)
    assert sw.run_trials(store, sweep.id) == 0  # the budget is spent

    # Pruning: val loss, a far too high learning rate against two sane ones. Seed 1 orders
    # the grid sane, sane, bad, so the bad trial meets a median to fall below.
    space = {"optimizer.lr": {"choices": [0.003, 0.01, 5.0]}}
    spec = sw.build_spec(_base(max_steps=40), space, method="grid", seed=1, metric="loss",
                         pruner={"name": "median", "startup_trials": 2})
    sweep = sw.create_sweep(store, spec, name="pruned")
    sw.start_sweep(store, sweep.id)
    sw.run_trials(store, sweep.id)
    trials = {t.params["optimizer.lr"]: t for t in _trials(store, sweep)}
    bad = trials[5.0]
    assert [t.params["optimizer.lr"] for t in sorted(trials.values(), key=lambda t: t.number)][-1] == 5.0
    assert bad.state == TrialState.PRUNED and bad.user_attrs["pruned_at_step"] == 10
    run = store.get_run(bad.user_attrs["run_id"])
    assert run.status == "pruned" and run.summary["pruned_at_step"] == 10
    assert store.metrics(run.id, names="loss", split="val")["step"].max() == 10  # cut short
    assert all(trials[lr].state == TrialState.COMPLETE for lr in (0.003, 0.01))
    frame = sw.trials_frame(store, store.get_sweep(sweep.id))
    assert frame.set_index("trial").loc[bad.number, "step"] == 10


def test_a_failing_trial_is_marked_failed_and_the_sweep_goes_on(store: Store) -> None:
    # The objective names a metric the runs never report (build_spec refuses one, so the stored
    # spec is edited, as by an older version): each trial fails, the sweep goes on.
    raw = _base()
    space = {"optimizer.lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    with pytest.raises(ConfigError, match="f1_nope"):
        sw.build_spec(raw, space, method="random", n_trials=3, metric="f1_nope")
    spec = sw.build_spec(raw, space, method="random", n_trials=3, seed=0)
    sweep = sw.create_sweep(store, spec)
    store.update_sweep(sweep.id, spec={**sweep.spec, "metric": "f1_nope"})
    sw.start_sweep(store, sweep.id)
    assert sw.run_trials(store, sweep.id) == 3
    trials = _trials(store, sweep)
    assert [t.state for t in trials] == [TrialState.FAIL] * 3
    assert "f1_nope" in trials[0].user_attrs["error"] and "accuracy" in trials[0].user_attrs["error"]
    assert {r.status for r in store.list_runs(sweep_id=sweep.id)} == {"failed"}
    assert store.get_sweep(sweep.id).status == "completed"


def _two_workers(store_url: str | None, home: Path, tmp_path: Path, n_trials: int = 8) -> tuple[Store, SweepRecord]:
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump({"optimizer.lr": {"low": 1e-3, "high": 3e-2, "log": True},
                                          "model.hidden_size": {"choices": [4, 8]}}))
    config_file = tmp_path / "base.yaml"
    config_file.write_text(yaml.safe_dump(_base(max_steps=30)))
    name = f"two-{os.getpid()}-{time.time_ns()}"
    prefix = ["--home", str(home)] + (["--store", store_url] if store_url else [])
    assert main([*prefix, "sweep", "create", "--config", str(config_file), "--space", str(space_file),
                 "--method", "random", "--trials", str(n_trials), "--name", name]) == 0
    assert main([*prefix, "sweep", "start", name, "--workers", "2"]) == 0
    store = Store(store_url, home)
    return store, store.get_sweep(name)


def _assert_no_duplicate_no_lost(store: Store, sweep: SweepRecord, n_trials: int) -> None:
    trials = _trials(store, sweep)
    assert sorted(t.number for t in trials) == list(range(n_trials))  # none lost, none extra
    assert all(t.state == TrialState.COMPLETE for t in trials)
    run_ids = [t.user_attrs["run_id"] for t in trials]
    runs = store.list_runs(sweep_id=sweep.id)
    assert len(set(run_ids)) == n_trials and sorted(run_ids) == sorted(r.id for r in runs)
    assert all(r.status == "completed" for r in runs)
    # Two different processes shared the work.
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    assert store.get_sweep(sweep.id).status == "completed"
    # Each trial drew its own values: those its trial number gives with the sweep's seed,
    # whichever worker trained it (here replayed in this process, one trial after another).
    params = [t.params for t in sorted(trials, key=lambda t: t.number)]
    assert len({p["optimizer.lr"] for p in params}) == n_trials
    spec = sw.SweepSpec.from_dict(sweep.spec)
    space = spec.search_space()
    replay = optuna.create_study(sampler=sw.make_sampler(spec, space))
    assert params == [space.sample(replay.ask()) for _ in range(n_trials)]


@pytest.mark.slow
def test_two_worker_processes_share_one_sqlite_study(workbench_home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    store, sweep = _two_workers(None, workbench_home, tmp_path)
    _assert_no_duplicate_no_lost(store, sweep, 8)
    out = capsys.readouterr().out
    assert "completed" in out and "best: trial" in out
    # status / best from the CLI
    assert main(["sweep", "status", sweep.id]) == 0
    assert main(["sweep", "best", sweep.id, "-o", str(tmp_path / "best.yaml")]) == 0
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    info = sw.best_trial(store, sweep)
    assert info is not None and best == store.get_run(info["run_id"]).config




@pytest.mark.slow
def test_two_worker_processes_share_one_postgres_study(postgres_url: str, workbench_home: Path,
                                                       tmp_path: Path) -> None:
    with sa.create_engine(postgres_url).connect() as conn:  # reachable at all?
        conn.execute(sa.text("SELECT 1"))
    store, sweep = _two_workers(postgres_url, workbench_home, tmp_path)
    _assert_no_duplicate_no_lost(store, sweep, 8)
    assert store.connect_url.startswith("postgresql")


def _worker_pid_of_running_trial(store: Store, sweep: SweepRecord, min_step: int) -> int | None:
    for t in _trials(store, sweep):
        if t.state != TrialState.RUNNING or "run_id" not in t.user_attrs:
            continue
        run = store.get_run(t.user_attrs["run_id"])
        if (run.progress.get("step") or 0) >= min_step:
            return int(t.user_attrs["worker"].rpartition(":")[2])
    return None


def _drive(store: Store, sweep: SweepRecord) -> tuple[threading.Thread, list[SweepRecord]]:
    result: list[SweepRecord] = []
    thread = threading.Thread(target=lambda: result.append(run_local(store, sweep.id, 1, poll_s=0.2)))
    thread.start()
    return thread, result


@pytest.mark.slow
@pytest.mark.faults
def test_a_killed_trial_worker_leaves_its_trial_failed_and_the_sweep_completes(store: Store) -> None:
    space = {"optimizer.lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    spec = sw.build_spec(_base(max_steps=400, eval_every=100), space, method="random", n_trials=2, seed=0)
    sweep = sw.create_sweep(store, spec)
    thread, result = _drive(store, sweep)
    pid = _wait(lambda: _worker_pid_of_running_trial(store, sweep, 10), 60, "a trial to train")
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=120)
    assert result and result[0].status == "completed"
    trials = _trials(store, sweep)
    killed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(killed) == 1 and "SIGKILL" in killed[0].user_attrs["error"]
    run = store.get_run(killed[0].user_attrs["run_id"])
    assert run.status == "failed" and "SIGKILL" in (run.error or "")
    assert [t.state for t in trials if t is not killed[0]] == [TrialState.COMPLETE]  # the replacement's


def test_stop_stops_running_trials_and_resume_continues_the_study(store: Store) -> None:
    space = {"optimizer.lr": {"low": 1e-3, "high": 1e-2, "log": True}}
    spec = sw.build_spec(_base(max_steps=5000, eval_every=1000), space, method="tpe", n_trials=2, seed=0)
    sweep = sw.create_sweep(store, spec)
    sw.start_sweep(store, sweep.id)
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(sw.run_trials(store, sweep.id)))
    worker.start()
    _wait(lambda: _worker_pid_of_running_trial(store, sweep, 10), 60, "a trial to train")
    assert sw.stop_sweep(store, sweep.id).status in ("stopping", "stopped")
    worker.join(timeout=60)
    assert done == [1] and store.get_sweep(sweep.id).status == "stopped"
    (first,) = _trials(store, sweep)
    assert first.state == TrialState.FAIL and first.user_attrs[sw.STOPPED_ATTR]
    stopped_run = store.get_run(first.user_attrs["run_id"])
    assert stopped_run.status == "stopped" and stopped_run.summary["step"] < 5000

    # Resume: the interrupted parameters run again, then the rest of the budget.
    store.update_sweep(sweep.id, spec={**store.get_sweep(sweep.id).spec,
                                       "base": _base(max_steps=20, eval_every=10)})
    assert sw.start_sweep(store, sweep.id).status == "running"
    assert sw.run_trials(store, sweep.id) == 2
    assert store.get_sweep(sweep.id).status == "completed"
    trials = _trials(store, sweep)
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETE] * 2
    assert trials[1].user_attrs["retry_of"] == 0 and trials[1].params == first.params
    assert len(store.list_runs(sweep_id=sweep.id)) == 3


def test_promote_best_queues_a_full_run_from_the_best_config(store: Store) -> None:
    spec = sw.build_spec(_base(), {"optimizer.lr": {"choices": [0.003, 0.01]}}, method="grid")
    sweep = sw.create_sweep(store, spec)
    sw.start_sweep(store, sweep.id)
    sw.run_trials(store, sweep.id)
    best = sw.best_trial(store, store.get_sweep(sweep.id))
    assert best is not None
    run = sw.promote_best(store, sweep.id, overrides={"training.max_steps": 50})
    assert run.status == "queued" and run.parent_id == best["run_id"]
    assert run.config["optimizer"]["lr"] == best["params"]["optimizer.lr"]
    assert run.config["training"]["max_steps"] == 50 and run.sweep_id is None
    history = sw.best_so_far([0.5, None, 0.7, 0.6], "maximize")
    assert history == [0.5, 0.5, 0.7, 0.7]


@pytest.mark.slow
def test_one_supervisor_trains_queued_runs_and_sweep_trials_under_one_cap(store: Store) -> None:
    """Sweep trials take the machine's workers like queued runs (which go first), and the one
    cap (max_workers) holds for both: never two trainings at once with a cap of one."""
    from core.jobs import queue_run
    from core.workers import Supervisor

    spec = sw.build_spec(_base(), {"optimizer.lr": {"choices": [0.001, 0.01]}}, method="grid", workers=2)
    sweep = sw.start_sweep(store, sw.create_sweep(store, spec).id)
    queued = [queue_run(store, validate_config(_base()), name=f"plain-{i}") for i in range(2)]
    most = 0
    with Supervisor(store.connect_url, store.home, max_workers=1, idle_exit_s=3.0, poll_s=0.1) as supervisor:
        supervisor.ensure_workers()
        deadline = time.monotonic() + 180
        while sw.finalize(store, sweep.id).status == "running" or any(
                store.get_run(r.id).status != "completed" for r in queued):
            most = max(most, len(store.list_runs(status="running")))
            assert time.monotonic() < deadline, "the queue and the sweep did not drain"
            time.sleep(0.05)
    assert most == 1
    trial_runs = store.list_runs(sweep_id=sweep.id)
    assert len(trial_runs) == 2 and all(r.status == "completed" for r in trial_runs)
    first_trial = min(r.started_at for r in trial_runs)
    assert all(store.get_run(r.id).finished_at <= first_trial for r in queued)  # queued runs first


# -- trials drawn as the method says, whichever worker trains them ---------------------------------
# These go through the job workers, as the app runs sweeps: a supervisor starts worker processes,
# and each trial is one `run_trials(max_trials=1)` call in whichever worker is free.
LR = {"optimizer.lr": {"low": 5e-4, "high": 5e-2, "log": True}}


def _through_the_workers(store: Store, *specs: sw.SweepSpec) -> list[list[optuna.trial.FrozenTrial]]:
    """Start the sweeps and let one supervisor's workers train them (as `lmwb ui`'s do), up to
    the largest ``workers`` setting at once; each sweep's trials, by trial number."""
    from core.workers import Supervisor

    sweeps = [sw.start_sweep(store, sw.create_sweep(store, spec).id) for spec in specs]
    workers = max(spec.workers for spec in specs)
    with Supervisor(store.connect_url, store.home, max_workers=workers, idle_exit_s=3.0, poll_s=0.1) as supervisor:
        supervisor.ensure_workers()
        _wait(lambda: all(sw.finalize(store, s.id).status == "completed" for s in sweeps), 180, "the sweeps to complete")
    out = []
    for sweep in sweeps:
        trials = sorted(_trials(store, sweep), key=lambda t: t.number)
        assert all(t.state == TrialState.COMPLETE for t in trials)
        for t in trials:  # the run trained what the trial says
            assert store.get_run(t.user_attrs["run_id"]).config["optimizer"]["lr"] == t.params["optimizer.lr"]
        out.append(trials)
    return out


@pytest.mark.slow
def test_a_random_sweep_in_one_worker_draws_a_new_value_per_trial_and_its_seed_repeats_it(store: Store) -> None:
    # Two sweeps with the same seed, one after the other in one worker process.
    a, b = (sw.build_spec(_base(), LR, method="random", n_trials=n, seed=11, workers=1) for n in (6, 3))
    trials = _through_the_workers(store, a, b)
    assert len({t.user_attrs["worker"] for t in trials[0] + trials[1]}) == 1
    first, again = ([t.params["optimizer.lr"] for t in sweep] for sweep in trials)
    assert len(set(first)) == 6 and all(5e-4 <= lr <= 5e-2 for lr in first), first
    assert again == first[:3]  # the same seed: the same value for each trial number


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_grid_with_two_workers_gives_each_point_once(
    database: str, workbench_home: Path, request: pytest.FixtureRequest
) -> None:
    store = Store(request.getfixturevalue("fresh_postgres_db") if database == "postgresql" else None,
                  workbench_home)
    spec = sw.build_spec(_base(), GRID_SPACE, method="grid", seed=0, workers=2)
    (trials,) = _through_the_workers(store, spec)
    _assert_each_grid_point_once(store, store.list_sweeps()[0], GRID_SPACE)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers trained trials


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # study.ask, as a worker would
def test_a_stopped_grid_trial_keeps_its_point_when_the_sweep_resumes(store: Store) -> None:
    """A grid taking 3 of its 6 points: the first trial is stopped (as by `lmwb sweep stop`);
    resumed, the sweep trains that point again and two others, each once. (Seed 3: the old
    resume re-planned the grid from scratch and dropped the stopped trial's point.)"""
    spec = sw.build_spec(_base(), GRID_SPACE, method="grid", n_trials=3, seed=3)
    sweep = sw.start_sweep(store, sw.create_sweep(store, spec).id)
    status = sw.sweep_status(store, sweep.id)  # the queued points are no trials yet
    assert status["trials"] == 0 and status["counts"]["waiting"] == 3
    assert sw.trials_frame(store, sweep).empty
    study = sw.load_study(store, sweep)
    trial = study.ask()  # what a worker's first trial gets
    held = spec.search_space().sample(trial)
    trial.set_user_attr(sw.STOPPED_ATTR, True)
    study.tell(trial, state=TrialState.FAIL)
    assert sw.stop_sweep(store, sweep.id).status == "stopped"

    assert sw.start_sweep(store, sweep.id).status == "running"
    assert sw.run_trials(store, sweep.id) == 3
    trained = [t.params for t in _trials(store, sweep) if t.state == TrialState.COMPLETE]
    assert held in trained and len(trained) == 3
    assert len({repr(sorted(p.items())) for p in trained}) == 3
    assert store.get_sweep(sweep.id).status == "completed"
