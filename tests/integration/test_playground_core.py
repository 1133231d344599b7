"""What the Playground's new panels stand on, without Streamlit: ``fill_mask`` on a really
trained (tiny) masked-LM run and its CLI twin ``lmwb fill-mask``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.cli import main
from core.config import default_config, validate_config
from core.errors import WorkbenchError
from core.runs import TrainedRun, create_run, execute_run, fill_mask, load_trained
from core.store import Store


@pytest.fixture
def mlm(store: Store) -> Iterator[TrainedRun]:
    """A masked-LM run trained for 10 steps on the built-in sentiment sentences (about a second)."""
    raw = default_config("masked_lm")
    raw["data"]["n_examples"] = 300
    raw["task"]["max_length"] = 16
    raw["model"].update(d_model=16, n_heads=2, d_ff=32, n_layers=1)
    raw["training"].update(max_steps=10, eval_every=10, batch_size=16, device="cpu")
    run = create_run(store, validate_config(raw), name="tiny-mlm")
    execute_run(store, run.id)
    yield load_trained(store, run.id)


def test_fill_mask_gives_k_sorted_probabilities_per_mask(mlm: TrainedRun) -> None:
    guesses = fill_mask(mlm, "the film was [MASK] and <MASK> .", k=4)
    assert len(guesses) == 2
    vocab = {mlm.tokenizer.id_to_token(i) for i in range(mlm.tokenizer.vocab_size)}
    for options in guesses:
        assert len(options) == 4
        probs = [p for _, p in options]
        assert probs == sorted(probs, reverse=True) and all(0.0 <= p <= 1.0 for p in probs)
        assert sum(probs) <= 1.0 + 1e-6
        assert {token for token, _ in options} <= vocab
    # The tokenizer's own mask string works too, and k larger than the vocabulary is capped.
    own = mlm.tokenizer.id_to_token(mlm.tokenizer.mask_id)
    (options,) = fill_mask(mlm, f"{own} film", k=10_000)
    assert len(options) == mlm.tokenizer.vocab_size
    assert sum(p for _, p in options) == pytest.approx(1.0, abs=1e-4)


def test_fill_mask_depends_on_the_context(mlm: TrainedRun) -> None:
    # Same position, different neighbours: a model that ignored its input would agree.
    first = fill_mask(mlm, "[MASK] film was good", k=3)[0]
    second = fill_mask(mlm, "[MASK] was never quite funny , although i laughed", k=3)[0]
    assert first != second


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no hidden token here", "no mask"),
        ("[MASK] " + "word " * 40, "at most 16"),
    ],
)
def test_fill_mask_rejects_bad_text(mlm: TrainedRun, text: str, message: str) -> None:
    with pytest.raises(WorkbenchError, match=message):
        fill_mask(mlm, text)


def test_fill_mask_needs_a_masked_lm_run(mlm: TrainedRun) -> None:
    other = TrainedRun(mlm.run, validate_config(default_config("classification")), mlm.tokenizer,
                       mlm.task, mlm.model, mlm.checkpoint)
    with pytest.raises(WorkbenchError, match="needs a masked_lm run"):
        fill_mask(other, "the [MASK]")


def test_cli_fill_mask_prints_guesses_and_exits_2_without_a_mask(
    mlm: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fill-mask", "tiny-mlm", "the film was [MASK] .", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "mask 1 of 1 in: the film was [MASK] ."
    assert len(lines) == 4
    probs = [float(line.split()[0]) for line in lines[1:]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-3

    assert main(["fill-mask", "tiny-mlm", "nothing hidden"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "no mask" in captured.err and "Traceback" not in captured.err
    assert main(["fill-mask", "tiny-mlm", "a [MASK]", "-k", "0"]) == 2
    assert "argument --guesses/-k: expected an integer in [1, 1000], got 0" in capsys.readouterr().err
