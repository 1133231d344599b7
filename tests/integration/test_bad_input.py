"""Input that used to be misread or to end in a traceback: each is refused with a message that
names the file or field, and the store is left as it was."""

from __future__ import annotations

import codecs
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cli import main
from core.data.reading import read_text
from core.errors import DataError
from core.store import Store
from tests.conftest import trained_tiny_classifier

CSV = "text,label\nan utterly charming story,pos\nnot a good film at all,neg\n"


@pytest.mark.parametrize("name", ["deep.yaml", "deep.json"])
def test_deeply_nested_config_files_are_config_errors(tmp_path: Path, capsys, name: str) -> None:
    deep = tmp_path / name
    deep.write_text('{"task": ' + "[" * 5000 + "]" * 5000 + "}")
    assert main(["train", "--config", str(deep)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {deep}") and "nested too deeply" in err and "Traceback" not in err
    block = tmp_path / "block.yaml"  # nesting by indentation, no brackets to count
    block.write_text("task:\n" + "".join("  " * i + "b:\n" for i in range(1, 3000)))
    assert main(["train", "--config", str(block)]) == 2
    assert "nested too deeply" in capsys.readouterr().err
    assert main(["train", "--set", "model.hidden_size=" + "[" * 3000]) == 2
    assert "model.hidden_size" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "translate"])
def test_an_empty_text_argument_is_refused_before_loading_anything(capsys, command: str) -> None:
    assert main([command, "no-such-run", "a sentence", "  "]) == 2
    assert "TEXT argument 2 is empty" in capsys.readouterr().err


@pytest.mark.parametrize(("encoding", "bom"), [("utf-16-le", b""), ("utf-16-be", b"")])
def test_utf16_without_a_byte_order_mark_is_named(tmp_path: Path, encoding: str, bom: bytes) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes(bom + CSV.encode(encoding))
    with pytest.raises(DataError, match=rf"reviews.csv: looks like {encoding[:6].upper()} {encoding[-2:].upper()} text without a byte-order mark"):
        read_text(path)


@pytest.mark.parametrize("bom_encoding", [("utf_16", codecs.BOM_UTF16_LE), ("utf_8_sig", codecs.BOM_UTF8)])
def test_text_with_a_byte_order_mark_is_read(tmp_path: Path, bom_encoding: tuple[str, bytes]) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes(CSV.encode(bom_encoding[0]))
    assert path.read_bytes().startswith(bom_encoding[1])
    assert read_text(path) == CSV


@contextlib.contextmanager
def read_only_view(folder: Path, mount: Path) -> Iterator[Path]:
    """``folder`` seen through a read-only bind mount (the only way to make a folder read-only
    for root, who runs CI); skips where mounting is not allowed."""
    mount.mkdir()
    bind = subprocess.run(["mount", "--bind", str(folder), str(mount)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True, capture_output=True)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)  # lazy: pooled connections may hold it


@pytest.mark.faults
def test_a_read_only_home_reads_and_names_itself_when_asked_to_write(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    store = Store(home=home)
    trained_tiny_classifier(store, "kept", max_steps=5, eval_every=5)
    store.close()
    with read_only_view(home, tmp_path / "ro") as ro:
        assert main(["--home", str(ro), "runs", "list"]) == 0
        assert "kept" in capsys.readouterr().out
        assert main(["--home", str(ro), "predict", "kept", "a film"]) == 0
        assert "a film" in capsys.readouterr().out
        assert main(["--home", str(ro), "train", "--set", "training.max_steps=2"]) == 2
        err = capsys.readouterr().err
        assert f"the store {ro / 'store.db'} is read-only" in err and "Traceback" not in err
        assert main(["--home", str(ro / "new"), "runs", "list"]) == 2
        assert f"workbench home {ro / 'new'}: cannot be created" in capsys.readouterr().err
    assert [r.name for r in Store(home=home).list_runs()] == ["kept"]  # nothing stored was lost


@pytest.mark.parametrize(("argv", "field", "allowed"), [
    (["train", "--set", "training.early_stopping_metric=bogus_metric", "--queue"],
     "training.early_stopping_metric", "accuracy"),
    (["train", "--task", "language_model", "--set", "training.early_stopping_metric=accuracy", "--queue"],
     "training.early_stopping_metric", "perplexity"),
    (["sweep", "create", "--metric", "bleu", "--space", "SPACE"], "metric", "f1_macro"),
])
def test_metrics_a_task_does_not_report_are_refused(tmp_path: Path, capsys, argv: list[str], field: str,
                                                    allowed: str) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("optimizer.lr: {low: 0.0001, high: 0.01, log: true}\n")
    assert main([a if a != "SPACE" else str(space) for a in argv]) == 2
    err = capsys.readouterr().err
    assert f"{field} = " in err and "not a validation metric of" in err and allowed in err
    assert Store().list_runs() == [] and Store().list_sweeps() == []  # nothing was stored


def test_a_missing_data_file_is_refused_before_a_run_exists(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "cfg.yaml"
    config.write_text("task: classification\ndata: {name: file, path: nope/train.tsv}\ntrainig: {max_steps: 4}\n")
    assert main(["train", "--config", str(config)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {config}, line 3: trainig: unknown section; ")  # the file and line
    config.write_text("task: classification\ndata: {name: file, path: nope/train.tsv}\n")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}, line 2: data.path = '{tmp_path / 'nope' / 'train.tsv'}': file not found")
    assert f"read from the folder lmwb runs in, here {tmp_path}" in err
    assert main(["train", "--config", str(config), "--set", f"data.path={tmp_path}"]) == 2
    assert capsys.readouterr().err.startswith(f"error: data.path = '{tmp_path}': is a folder")  # from --set
    assert Store().list_runs() == []


def test_a_data_file_that_does_not_parse_leaves_no_run(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "reviews.csv"
    bad.write_text("text,label\nfine film,pos\nthree,fields,here\n")
    assert main(["train", "--set", "data.name=file", "--set", f"data.path={bad}"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 3" in err and "Traceback" not in err
    assert Store().list_runs() == []  # a refused start leaves the store as it was
