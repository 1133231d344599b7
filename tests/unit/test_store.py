"""core.store: runs, metric series, events, the queue, the schema, and several processes at once."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from core.errors import RunNotFound, WorkbenchError
from core.store import Run, Store, StoreSchemaError
from core.store import schema as store_module


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv("LMWB_STORE", raising=False)
    s = Store(home=tmp_path / "home")
    yield s
    s.close()


def _run(store: Store, **kw: object) -> Run:
    args: dict = {"task": "classification", "arch": "lstm"} | kw
    return store.create_run({"model": {"name": args["arch"]}}, **args)


# -- runs ------------------------------------------------------------------------------------
def test_create_and_get(store: Store) -> None:
    cfg = {"model": {"name": "gru", "hidden": 64}, "optimizer": {"lr": np.float32(0.5)}}
    run = store.create_run(cfg, task="classification", arch="gru", tags=["a", " b ", "a", ""])
    assert run.id.startswith("r") and len(run.id) == 9
    int(run.id[1:], 16)
    assert run.name == f"gru-{run.id[1:]}"
    assert run.status == "queued" and run.started_at is None and run.finished_at is None
    assert run.config == {"model": {"name": "gru", "hidden": 64}, "optimizer": {"lr": 0.5}}
    assert run.tags == ["a", "b"]
    assert run.summary == {} and run.progress == {} and run.stop_requested is False
    assert store.get_run(run.id) == run
    json.dumps(run.to_dict())


def test_store_location_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_HOME", str(tmp_path / "wb"))
    monkeypatch.delenv("LMWB_STORE", raising=False)
    s = Store()
    assert s.url == f"sqlite:///{(tmp_path / 'wb' / 'store.db').resolve()}"
    assert s.run_dir("r0000abcd") == (tmp_path / "wb" / "runs" / "r0000abcd").resolve()
    assert s.run_dir("r0000abcd").is_dir()
    monkeypatch.setenv("LMWB_STORE", str(tmp_path / "other.db"))  # a bare path means SQLite
    assert Store().url.endswith("other.db")
    with pytest.raises(WorkbenchError):
        s.run_dir("../escape")


def test_sqlite_settings(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_unstorable_values_are_refused(store: Store) -> None:
    with pytest.raises(WorkbenchError, match=r"config\.bad"):
        store.create_run({"bad": object()}, task="t", arch="a")
    with pytest.raises(WorkbenchError, match="status"):
        store.create_run({}, task="t", arch="a", status="done")
    with pytest.raises(WorkbenchError, match="task"):
        store.create_run({}, task="", arch="a")
    run = _run(store)
    store.set_summary(run.id, {"loss": float("nan"), "curve": np.array([1.0, 2.0])})
    assert store.get_run(run.id).summary == {"loss": None, "curve": [1.0, 2.0]}


def test_get_by_prefix_and_name(store: Store) -> None:
    a = _run(store, name="baseline")
    b = _run(store, name="twin")
    c = _run(store, name="twin")
    assert store.get_run("baseline").id == a.id
    assert store.get_run(f"  {a.id}  ").id == a.id
    prefix = a.id[:6]
    if not (b.id.startswith(prefix) or c.id.startswith(prefix)):
        assert store.get_run(prefix).id == a.id
    with pytest.raises(WorkbenchError, match="several runs named 'twin'"):
        store.get_run("twin")
    with pytest.raises(WorkbenchError, match="several runs"):
        store.get_run("r")  # every id starts with r
    for missing in ("nope", "rzz", "", "r%", "r_"):
        with pytest.raises(RunNotFound):
            store.get_run(missing)


def test_list_and_filter(store: Store) -> None:
    a = _run(store, tags=["x"])
    b = _run(store, task="language_model", arch="gpt", tags=["x", "y"], sweep_id="s1")
    c = _run(store, status="running", sweep_id="s1", parent_id=a.id)
    assert [r.id for r in store.list_runs()] == [c.id, b.id, a.id]  # newest first
    assert [r.id for r in store.list_runs(status="queued")] == [b.id, a.id]
    assert [r.id for r in store.list_runs(status=["running", "queued"], limit=2)] == [c.id, b.id]
    assert [r.id for r in store.list_runs(task="language_model")] == [b.id]
    assert [r.id for r in store.list_runs(tag="x")] == [b.id, a.id]
    assert [r.id for r in store.list_runs(tag="x", limit=1)] == [b.id]
    assert [r.id for r in store.list_runs(sweep_id="s1")] == [c.id, b.id]
    assert [r.id for r in store.list_runs(parent_id=a.id)] == [c.id]
    assert store.list_runs(tag="none") == []
    with pytest.raises(WorkbenchError):
        store.list_runs(status="bogus")


def test_update_rename_tags(store: Store) -> None:
    run = _run(store)
    store.update_run(run.id, device="cuda:0", config={"a": 1}, worker="host:1")
    store.rename_run(run.id, "  my run ")
    store.set_tags(run.id, ["b", "a", "b"])
    got = store.get_run(run.id)
    assert (got.device, got.config, got.worker, got.name, got.tags) == (
        "cuda:0",
        {"a": 1},
        "host:1",
        "my run",
        ["b", "a"],
    )
    assert got.updated_at >= run.updated_at
    with pytest.raises(TypeError, match="created_at"):
        store.update_run(run.id, created_at=0.0)
    with pytest.raises(TypeError, match="colour"):
        store.update_run(run.id, colour="red")
    with pytest.raises(RunNotFound):
        store.update_run("rdeadbeef", device="cpu")
    with pytest.raises(RunNotFound):
        store.rename_run("rdeadbeef", "x")
    with pytest.raises(WorkbenchError):
        store.rename_run(run.id, "   ")
    other = _run(store)
    with pytest.raises(WorkbenchError, match=f"already used by run {run.id}"):
        store.rename_run(other.id, "my run")  # names refer to runs: one name, one run
    store.rename_run(run.id, "my run")  # its own name again is fine


def test_status_transitions(store: Store) -> None:
    run = _run(store)
    store.set_status(run.id, "running")
    r1 = store.get_run(run.id)
    assert r1.status == "running" and r1.started_at is not None and r1.finished_at is None
    assert r1.heartbeat_at is not None and not r1.finished
    store.set_status(run.id, "failed", error="CUDA out of memory")
    r2 = store.get_run(run.id)
    assert r2.status == "failed" and r2.finished_at >= r1.started_at and r2.finished
    assert r2.error == "CUDA out of memory"
    assert r2.duration_s == pytest.approx(r2.finished_at - r2.started_at)
    store.set_status(run.id, "queued")  # re-queued to resume
    r3 = store.get_run(run.id)
    assert r3.finished_at is None and r3.error is None and r3.started_at == r1.started_at
    store.set_status(run.id, "running")
    assert store.get_run(run.id).started_at == r1.started_at  # kept across resumes
    store.set_status(run.id, "completed")
    assert store.get_run(run.id).status == "completed"
    with pytest.raises(WorkbenchError):
        store.set_status(run.id, "finished")
    with pytest.raises(RunNotFound):
        store.set_status("rdeadbeef", "running")


def test_summary_merge_progress_heartbeat(store: Store) -> None:
    run = _run(store)
    assert store.set_summary(run.id, {"best_val_loss": 1.5, "step": 10}) == {
        "best_val_loss": 1.5,
        "step": 10,
    }
    store.set_summary(run.id, {"best_val_loss": 1.2, "final": {"acc": 0.9}})
    assert store.get_run(run.id).summary == {
        "best_val_loss": 1.2,
        "step": 10,
        "final": {"acc": 0.9},
    }
    store.set_progress(run.id, {"step": 5, "max_steps": 100, "tokens_per_s": 1e4, "eta_s": 3.0})
    got = store.get_run(run.id)
    assert got.progress["step"] == 5 and got.heartbeat_at is not None
    before = got.heartbeat_at
    time.sleep(0.01)
    store.heartbeat(run.id)
    assert store.get_run(run.id).heartbeat_at > before
    with pytest.raises(RunNotFound):
        store.set_summary("rdeadbeef", {"a": 1})
    with pytest.raises(RunNotFound):
        store.heartbeat("rdeadbeef")


def test_delete_removes_row_series_and_folder(store: Store) -> None:
    run = _run(store)
    keep = _run(store)
    folder = store.run_dir(run.id)
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "model.safetensors").write_bytes(b"x")
    store.log_metrics(run.id, [(1, "train", "loss", 1.0, 0.1)])
    store.log_metrics(keep.id, [(1, "train", "loss", 2.0, 0.1)])
    store.log_event(run.id, "info", "started")
    store.delete_run(run.id)
    assert not folder.exists()
    with pytest.raises(RunNotFound):
        store.get_run(run.id)
    assert store.metrics(run.id).empty and store.events(run.id) == []
    assert len(store.metrics(keep.id)) == 1
    with pytest.raises(RunNotFound):
        store.delete_run(run.id)
    store.delete_run(keep.id)  # no folder: fine


# -- metrics and events ----------------------------------------------------------------------
def test_metrics_round_trip_and_truncate(store: Store) -> None:
    run = _run(store)
    assert store.last_step(run.id) is None
    assert list(store.metrics(run.id).columns) == ["step", "split", "name", "value", "wall_time"]
    rows = [(s, "train", "loss", 10.0 / s, s * 0.5) for s in range(10, 0, -1)]  # out of order
    rows += [(s, "val", "loss", 5.0 / s, s * 0.5) for s in (5, 10)]
    rows += [(s, "val", "accuracy", s / 10, s * 0.5) for s in (5, 10)]
    store.log_metrics(run.id, rows)
    store.log_metrics(run.id, [(11, "train", "loss", float("nan"), 6.0)])  # diverged
    store.log_metrics(run.id, [])

    frame = store.metrics(run.id)
    assert len(frame) == 15
    assert frame["step"].is_monotonic_increasing
    assert frame["step"].dtype == np.int64 and frame["value"].dtype == np.float64
    train = store.metrics(run.id, names="loss", split="train")
    assert train["step"].tolist() == list(range(1, 12))
    assert train["value"].iloc[0] == pytest.approx(10.0) and math.isnan(train["value"].iloc[-1])
    both = store.metrics(run.id, names=["loss", "accuracy"], split="val")
    assert sorted(set(both["name"])) == ["accuracy", "loss"] and len(both) == 4

    other = _run(store)
    store.log_metrics(other.id, [(1, "val", "loss", 3.0, 0.1), (2, "val", "loss", 2.0, 0.2)])
    cmp = store.metrics_for_runs([other.id, run.id], "loss", split="val")
    assert list(cmp.columns) == ["run_id", "step", "split", "name", "value", "wall_time"]
    assert cmp["run_id"].tolist() == [other.id, other.id, run.id, run.id]
    assert cmp["step"].tolist() == [1, 2, 5, 10]
    assert store.metrics_for_runs([], "loss").empty

    assert store.last_step(run.id) == 11
    assert store.truncate_metrics(run.id, after_step=5) == 8  # train 6..11, val 10 x2
    assert store.last_step(run.id) == 5
    assert store.metrics(run.id)["step"].max() == 5
    assert len(store.metrics(other.id)) == 2


def test_log_metrics_errors(store: Store) -> None:
    with pytest.raises(RunNotFound):
        store.log_metrics("rdeadbeef", [(1, "train", "loss", 1.0, 0.0)])
    run = _run(store)
    with pytest.raises(WorkbenchError, match="each row"):
        store.log_metrics(run.id, [(1, "train", "loss", "high", 0.0)])
    with pytest.raises(WorkbenchError):
        store.log_metrics(run.id, [(1, "train", "loss")])  # type: ignore[list-item]
    assert store.metrics(run.id).empty


def test_events(store: Store) -> None:
    run = _run(store)
    store.log_event(run.id, "INFO", "started on cpu")
    store.log_event(run.id, "warn", "loss is high")
    store.log_event(run.id, "error", "boom")
    events = store.events(run.id)
    assert [(e.level, e.message) for e in events] == [
        ("info", "started on cpu"),
        ("warning", "loss is high"),
        ("error", "boom"),
    ]
    assert [e.message for e in store.events(run.id, after_id=events[0].id)] == [
        "loss is high",
        "boom",
    ]
    assert [e.message for e in store.events(run.id, limit=1)] == ["boom"]
    with pytest.raises(WorkbenchError, match="level"):
        store.log_event(run.id, "loud", "x")
    with pytest.raises(RunNotFound):
        store.log_event("rdeadbeef", "info", "x")


# -- stopping and the queue ------------------------------------------------------------------
def test_request_stop(store: Store) -> None:
    queued = _run(store)
    running = _run(store, status="running")
    store.request_stop(queued.id)
    store.request_stop(running.id)
    assert store.get_run(queued.id).status == "stopped"  # never started: stopped at once
    assert store.get_run(queued.id).finished_at is not None
    assert store.get_run(running.id).status == "running"  # the worker stops it
    assert store.stop_requested(running.id) is True
    other = _run(store, status="running")
    assert store.stop_requested(other.id) is False
    store.delete_run(other.id)
    assert store.stop_requested(other.id) is True  # deleted while training: stop
    with pytest.raises(RunNotFound):
        store.request_stop("rdeadbeef")


def test_claim_next_queued_in_order(store: Store) -> None:
    first = _run(store)
    second = _run(store)
    stopped = _run(store)
    store.request_stop(stopped.id)
    _run(store, status="running")
    claimed = store.claim_next_queued("host:1")
    assert claimed is not None and claimed.id == first.id
    assert claimed.status == "running" and claimed.worker == "host:1"
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
    assert store.claim_next_queued("host:2").id == second.id
    assert store.claim_next_queued("host:1") is None


# -- schema ----------------------------------------------------------------------------------
def test_schema_version_recorded_and_newer_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = Store(url, home=tmp_path)
    assert s.schema_version() == store_module.SCHEMA_VERSION
    Store(url, home=tmp_path).close()  # reopening is fine
    with s.engine.begin() as conn:
        conn.execute(
            sa.update(store_module.meta_table).values(value=str(store_module.SCHEMA_VERSION + 1))
        )
    s.close()
    with pytest.raises(StoreSchemaError, match="upgrade"):
        Store(url, home=tmp_path)


def test_migration_hook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = Store(url, home=tmp_path)
    run = _run(s)
    s.close()
    seen: list[int] = []

    def upgrade(conn: sa.Connection) -> None:
        seen.append(
            conn.execute(sa.select(sa.func.count()).select_from(store_module.runs_table)).scalar()
        )

    current = store_module.SCHEMA_VERSION
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", current + 1)
    monkeypatch.setattr(store_module, "MIGRATIONS", {current: upgrade})
    s2 = Store(url, home=tmp_path)
    assert seen == [1] and s2.schema_version() == current + 1
    assert s2.get_run(run.id).id == run.id
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", current + 2)  # no migration for it
    with pytest.raises(StoreSchemaError, match="no migration"):
        Store(url, home=tmp_path)


def test_a_version_1_store_gets_claim_epochs(tmp_path: Path) -> None:
    """Version 2 added runs.claim_epoch: a store written before it opens, keeps its runs (at
    epoch 0), and the next claim of one starts a new epoch."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = Store(url, home=tmp_path)
    run = _run(s)
    with s.engine.begin() as conn:  # back to version 1: the column did not exist
        conn.execute(sa.text("ALTER TABLE runs DROP COLUMN claim_epoch"))
        conn.execute(sa.update(store_module.meta_table).values(value="1"))
    s.close()
    upgraded = Store(url, home=tmp_path)
    assert upgraded.schema_version() == store_module.SCHEMA_VERSION
    assert upgraded.get_run(run.id).claim_epoch == 0
    assert upgraded.claim_next_queued("host:1").claim_epoch == 1


def test_schema_is_portable_to_postgresql() -> None:
    statements: list[str] = []
    engine = sa.create_mock_engine(
        "postgresql+psycopg://",
        lambda sql, *a, **k: statements.append(str(sql.compile(dialect=engine.dialect))),
    )
    store_module.metadata.create_all(engine, checkfirst=False)
    ddl = "\n".join(statements)
    assert "CREATE TABLE runs" in ddl and "DOUBLE PRECISION" in ddl and "BIGSERIAL" in ddl
    assert "CREATE INDEX ix_metrics_run_name ON metrics (run_id, name)" in ddl


def test_store_pickles_for_worker_processes(store: Store) -> None:
    run = _run(store)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get_run(run.id) == run and clone.home == store.home


# -- several processes -----------------------------------------------------------------------
N_BATCHES = 40  # x 50 rows = 2,000 metric points per process
BATCH = 50


def _write_metrics(url: str, home: str, run_id: str, shared_id: str, who: int, barrier) -> None:
    s = Store(url, Path(home))
    barrier.wait(timeout=60)  # start together so the writes really interleave
    s.set_status(run_id, "running")
    for b in range(N_BATCHES):
        rows = [(b * BATCH + i, "train", "loss", float(i), 0.01 * i) for i in range(BATCH)]
        s.log_metrics(run_id, rows)
        s.log_metrics(shared_id, [(b, f"p{who}", "loss", float(b), 0.0)])
        s.set_progress(run_id, {"step": (b + 1) * BATCH, "max_steps": N_BATCHES * BATCH})
        s.set_summary(shared_id, {f"p{who}_{b}": b})  # read-modify-write under contention
    s.set_status(run_id, "completed")


def _claim_all(url: str, home: str, who: int, out_file: str, barrier) -> None:
    s = Store(url, Path(home))
    claimed: list[str] = []
    barrier.wait(timeout=60)
    while (run := s.claim_next_queued(f"worker:{who}")) is not None:
        claimed.append(run.id)
    Path(out_file).write_text(json.dumps(claimed))


def _join_all(procs: list) -> None:
    for p in procs:
        p.join(timeout=120)
    for p in procs:
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in procs] == [0] * len(procs)


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    ctx = mp.get_context("spawn")
    n_procs = 2
    runs = [_run(store) for _ in range(n_procs)]
    shared = _run(store)
    barrier = ctx.Barrier(n_procs)
    procs = [
        ctx.Process(
            target=_write_metrics,
            args=(store.url, str(store.home), runs[i].id, shared.id, i, barrier),
        )
        for i in range(n_procs)
    ]
    for p in procs:
        p.start()
    _join_all(procs)
    for run in runs:
        frame = store.metrics(run.id)
        assert len(frame) == N_BATCHES * BATCH
        assert frame["step"].tolist() == list(range(N_BATCHES * BATCH))
        got = store.get_run(run.id)
        assert got.status == "completed" and got.progress["step"] == N_BATCHES * BATCH
    assert len(store.metrics(shared.id)) == n_procs * N_BATCHES
    assert len(store.get_run(shared.id).summary) == n_procs * N_BATCHES  # no merge was lost


def test_concurrent_claims_take_each_run_once(store: Store, tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    n_procs = 2
    queued = {_run(store).id for _ in range(20)}
    barrier = ctx.Barrier(n_procs)
    outs = [tmp_path / f"claimed{i}.json" for i in range(n_procs)]
    procs = [
        ctx.Process(target=_claim_all, args=(store.url, str(store.home), i, str(outs[i]), barrier))
        for i in range(n_procs)
    ]
    for p in procs:
        p.start()
    _join_all(procs)
    claims = [json.loads(out.read_text()) for out in outs]
    flat = [run_id for claimed in claims for run_id in claimed]
    assert len(flat) == 20 and set(flat) == queued  # each exactly once
    for i, claimed in enumerate(claims):
        for run_id in claimed:
            run = store.get_run(run_id)
            assert run.status == "running" and run.worker == f"worker:{i}"
    assert store.claim_next_queued("late") is None
