"""Question answering trained from the Train page (AppTest): the form offers the task with its own
readers and data, Start queues a valid qa run, and that run, trained as a worker trains it,
answers well above the first-word baseline and shows its F1 on the Run page as declared."""

from __future__ import annotations

import pytest

from core.config import validate_config
from core.metrics import METRICS
from core.qa.squad import squad_metrics
from core.store import Store
from core.train import load_dataset
from tests.app.test_home_train_run import open_page, wkey
from tests.trained_runs import execute_on_one_thread


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def test_a_qa_reader_is_trained_from_the_train_page(store: Store) -> None:
    at = open_page("train")
    at.selectbox(key="train.task").set_value("qa").run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert at.multiselect(key=wkey(at, "archs")).value == ["transformer_encoder"]
    assert at.selectbox(key=wkey(at, "data")).value == "news_qa"
    [command] = [c.value for c in at.code if c.value.startswith("lmwb train --task")]
    assert command.startswith("lmwb train --task qa")
    at.number_input(key=wkey(at, "training.max_steps")).set_value(400).run()
    [start] = [b for b in at.button if b.label == "Start"]
    start.click().run()
    assert not at.exception, [e.value for e in at.exception]
    [run] = store.list_runs()
    assert run.status == "queued" and run.task == "qa" and run.config["training"]["max_steps"] == 400
    validate_config(run.config)

    execute_on_one_thread(store, run.id)  # what a worker does (this test runs with none)
    run = store.get_run(run.id)
    assert run.status == "completed", run.error
    frame = store.metrics(run.id)
    f1 = frame[(frame["split"] == "val") & (frame["name"] == "qa_f1")]["value"].iloc[-1]
    # The first-word baseline on the same validation questions (the reader must beat it by far).
    val = load_dataset(validate_config(run.config)).validation
    baseline = squad_metrics([c.split()[0] for c in val.contexts], val.golds())["f1"]
    assert f1 > baseline + 30, (f1, baseline)

    page = open_page("run", run=run.id)  # its Run page, now that it has finished
    tiles = {m.proto.label: m.value for m in page.metric}
    summary_f1 = store.get_run(run.id).summary["val"]["qa_f1"]
    assert tiles[f"val {METRICS['qa_f1'].label}"] == METRICS["qa_f1"].shown(summary_f1)
