"""Training on the real data sets in ../shared/data (skipped only where they are absent)."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.runs import create_run, execute_run
from tests.conftest import REPO, needs_shared_data

pytestmark = [needs_shared_data, pytest.mark.slow, pytest.mark.usefixtures("all_cores")]


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    # Example configs use paths relative to the repo root, as a user would run them.
    monkeypatch.chdir(REPO)


def test_lstm_on_sst2_beats_75_percent(store) -> None:
    config = load_config(REPO / "examples" / "lstm_sst2.yaml", [
        "training.max_steps=600", "training.eval_every=200",
    ])
    run = create_run(store, config)
    result = execute_run(store, run.id)
    accuracy = store.get_run(run.id).summary["val"]["accuracy"]
    best = result.summary["best"]["value"]
    assert best > 0.75 and accuracy > 0.72, f"val accuracy {accuracy:.3f}, best {best:.3f}"


@pytest.mark.timeout(1800)  # ~3 min on an idle 2-core machine; far longer when it is shared
def test_char_gpt_on_tinyshakespeare_matches_nanogpt(store) -> None:
    """nanoGPT's small CPU setting: nanoGPT quotes val loss ~1.88 from a 20-batch estimate.

    The engine scores the whole validation split; over seeds 0, 1, 2 it measured 1.903, 1.911
    and 1.899 (mean 1.904), so the bound allows seed-to-seed spread around nanoGPT's figure.
    """
    config = load_config(REPO / "examples" / "char_gpt_shakespeare.yaml")
    run = create_run(store, config)
    result = execute_run(store, run.id)
    val_loss = result.summary["val"]["loss"]
    print(f"val loss {val_loss:.4f}, {result.summary['duration_s']:.1f} s, {result.summary['tokens_per_s']:,.0f} tok/s")
    assert val_loss <= 1.92
