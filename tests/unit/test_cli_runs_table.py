"""`lmwb runs list`: columns as wide as their widest cell, the best score beside its metric."""

from __future__ import annotations

import pytest

from core.cli.runs import print_runs
from core.store import Run


def _run(name: str, task: str, arch: str, summary: dict) -> Run:
    return Run(id="r" + name[:8].ljust(8, "0"), name=name, task=task, arch=arch, config={}, status="completed",
               created_at=0.0, summary=summary)


def test_long_names_keep_their_columns_and_each_best_names_its_metric(capsys: pytest.CaptureFixture[str]) -> None:
    print_runs([
        _run("transformer_decoder-4c63b9fd", "language_model", "transformer_decoder",
             {"step": 1500, "best": {"value": 1.1606, "step": 1500}, "metric": "loss"}),
        _run("lstm-1", "classification", "lstm", {"step": 500, "best": {"value": 0.93, "step": 500}, "metric": "accuracy"}),
        _run("queued-1", "classification", "lstm", {}),
    ])
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["id", "name", "task", "arch", "status", "step", "best", "metric"]
    starts = [header.index(h) for h in ("name", "task", "arch", "status")]
    for line in lines:  # every column starts where its header does, after two spaces at least
        for start in starts:
            assert line[start - 2:start] == "  " and line[start] != " "
    assert lines[0].split()[-2:] == ["1.1606", "loss"]
    assert lines[1].split()[-2:] == ["0.9300", "accuracy"]
    assert lines[2].split()[-1] == "0"  # no score yet: step 0, no best, no metric
