"""The sidebar's GPU line: which GPU of this machine trains which run, from what runs record."""

from __future__ import annotations

from app.state import gpu_use
from core.store import Run


def _run(name: str, **summary: object) -> Run:
    return Run(id=f"r{name:0>8}"[:9], name=name, task="classification", arch="lstm", config={}, status="running",
               created_at=0.0, summary=dict(summary))


def test_gpu_use_names_the_run_on_each_gpu_of_this_host() -> None:
    runs = [_run("ddp", gpus=["0", "1"], host="here"), _run("solo", gpus=["3"], host="here"),
            _run("elsewhere", gpus=["2"], host="other"), _run("cpu")]
    assert gpu_use(runs, ["0", "1", "2", "3"], "here") == {"0": "ddp", "1": "ddp", "2": None, "3": "solo"}
    assert gpu_use([], [], "here") == {}
