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
        "task.group_by_length=true",  # about a third faster here; measured best 0.786, last 0.786
    ])
    run = create_run(store, config)
    result = execute_run(store, run.id)
    accuracy = store.get_run(run.id).summary["val"]["accuracy"]
    best = result.summary["best"]["value"]
    assert best > 0.75 and accuracy > 0.72, f"val accuracy {accuracy:.3f}, best {best:.3f}"


def test_char_gpt_on_tinyshakespeare_learns_beyond_character_pairs(store) -> None:
    """nanoGPT's small CPU recipe, cut to 400 steps (about 35 s on one thread): its validation
    loss must go below 2.48 nats, what the best character-bigram model reaches on the same split
    (add-one smoothed; unigram: 3.35), so the model uses context. Measured: 2.342 and 2.332
    (seeds 0 and 1; 600 steps: 2.27). The full 2,000-step parity with nanoGPT (1.90) is
    bench/nanogpt_reference.py."""
    config = load_config(REPO / "examples" / "char_gpt_shakespeare.yaml",
                         ["training.max_steps=400", "training.eval_every=400"])
    run = create_run(store, config)
    result = execute_run(store, run.id)
    assert result.summary["val"]["loss"] < 2.48, result.summary["val"]
