"""An unknown ``--flag`` on a command that takes ``--set`` says, in one line, which declared
setting it most likely means (there are no alias flags: ``--set`` is the way)."""

from __future__ import annotations

import pytest

from core.cli.main import main


@pytest.mark.parametrize(("argv", "meant"), [
    (["train", "--task", "classification", "--steps", "100"], "--set training.max_steps=100"),
    (["train", "--lr=0.01"], "--set optimizer.lr=0.01"),
    (["train", "--set", "model.name=gru", "--hidden", "32"], "--set model.hidden_size=32"),
    (["sweep", "create", "--epochs", "3"], "--set training.max_epochs=3"),
])
def test_an_unknown_flag_names_the_setting_it_means(argv: list[str], meant: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err  # one line, no usage block
    assert f"did you mean {meant}?" in err and "`lmwb params` lists every setting" in err


def test_a_flag_like_no_setting_still_says_how_settings_are_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--frobnicate"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--set SECTION.KEY=VALUE" in err and "lmwb params" in err and "\n" not in err


def test_commands_without_set_keep_argparse_s_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "list", "--steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --steps 3" in err and "did you mean" not in err
