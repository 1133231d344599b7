""""How is this computed?": where a concept is used in practice, a link opens its Learn chapter
on the same run (Compare's metrics: the chapter that computes them by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import page_path
from core.learn.chapters import CHAPTERS, explaining
from core.metrics import METRICS
from tests.learn_pages import MAIN
from tests.unit.test_learn_attention import home  # noqa: F401  (the module's trained runs)


def test_every_metric_a_chapter_explains_is_declared() -> None:
    for c in CHAPTERS:
        assert set(c.explains) <= set(METRICS), c.name
    assert [c.name for c in explaining(["roc_auc"])] == ["classification_metrics"]


def test_compare_links_a_classifiers_metrics_to_their_chapter(home: tuple[Path, dict[str, str]],  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.query_params["runs"] = ",".join([ids["cls"], ids["gpt"]])
    at.switch_page(str(page_path("compare"))).run()
    assert not at.exception, [e.value for e in at.exception]
    links = {p.proto.label: p.proto.query_string for p in at.get("page_link") if "computed" in p.proto.label}
    [classifier] = [q for label, q in links.items() if "ROC-AUC" in label]
    assert "chapter=classification_metrics" in classifier and f"run={ids['cls']}" in classifier
    [loss] = [q for label, q in links.items() if "Perplexity" in label]  # the GPT's section
    assert "chapter=output" in loss and f"run={ids['gpt']}" in loss
