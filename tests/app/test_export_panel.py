"""The Run page's "Take results out" panel through AppTest: a tracker export writes what the
CLI writes, a model export that cannot be done says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.store import Store
from tests.app.test_home_train_run import make_run, open_page

pytest.importorskip("tensorboard")


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def test_run_page_exports_metrics_and_explains_a_refused_model_export(store: Store, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = make_run(store, status="completed")
    at = open_page("run", run=run.id)
    at.text_input(key="run.export.tensorboard.out").set_value(str(tmp_path / "tb")).run()
    at.button(key="run.export.track").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("metric points" in s.value for s in at.success), [e.value for e in at.error]
    acc = EventAccumulator(str(tmp_path / "tb" / run.id))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("val/accuracy")] == [(25, 0.75), (50, 1.0)]

    # No checkpoint (nothing trained in this test): refused in a sentence, nothing written.
    at.text_input(key="run.export.model.out").set_value(str(tmp_path / "onnx")).run()
    at.button(key="run.export.model").click().run()
    assert not at.exception
    assert any("no checkpoint" in e.value for e in at.error)
    assert not (tmp_path / "onnx").exists()
