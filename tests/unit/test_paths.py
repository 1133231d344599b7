"""core.paths: the workbench home, paths built from user strings, upload file names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import WorkbenchError
from core.paths import safe_join, sanitize_filename, workbench_home


def test_workbench_home_from_env_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "deep" / "home"
    monkeypatch.setenv("LMWB_HOME", str(target))
    home = workbench_home()
    assert home == target.resolve()
    assert home.is_dir()


def test_workbench_home_defaults_to_dot_lmwb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMWB_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert workbench_home() == (tmp_path / ".lmwb").resolve()


def test_safe_join_allows_names_and_subfolders(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "runs", "r1234abcd") == tmp_path.resolve() / "runs" / "r1234abcd"
    assert (
        safe_join(tmp_path, "samples/step_10.txt") == tmp_path.resolve() / "samples" / "step_10.txt"
    )
    assert safe_join(tmp_path, "./a") == tmp_path.resolve() / "a"
    assert safe_join(tmp_path) == tmp_path.resolve()


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "a/..",
        "..",
        "..\\x",
        "C:\\Windows",
        "\\\\server\\share",
        "a\x00b",
        "",
        "  ",
    ],
)
@pytest.mark.faults
def test_safe_join_refuses_escapes(tmp_path: Path, name: str) -> None:
    with pytest.raises(WorkbenchError) as err:
        safe_join(tmp_path, "runs", name)
    assert repr(name)[1:-1] in str(err.value)  # the message names the offending string


@pytest.mark.faults
def test_safe_join_refuses_a_symlink_leading_outside(tmp_path: Path) -> None:
    base = tmp_path / "base"
    outside = tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    os.symlink(outside, base / "link")
    with pytest.raises(WorkbenchError, match="link"):
        safe_join(base, "link")
    with pytest.raises(WorkbenchError, match="link/secret"):
        safe_join(base, "link/secret")
    # A symlink that stays inside the base is fine.
    (base / "real").mkdir()
    os.symlink(base / "real", base / "inner")
    assert safe_join(base, "inner", "f.txt") == (base / "real" / "f.txt").resolve()


@pytest.mark.faults
def test_safe_join_refuses_non_text(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError):
        safe_join(tmp_path, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("data.csv", "data.csv"),
        ("C:\\Users\\me\\my data.csv", "my_data.csv"),
        ("../../etc/passwd", "passwd"),
        (".bashrc", "bashrc"),
        ("..", "file"),
        ("", "file"),
        ("a\x00b.txt", "ab.txt"),
        ("con.txt", "_con.txt"),
        ("résumé (final).txt", "résumé_final_.txt"),
        ("x;rm -rf *.txt", "x_rm_-rf_.txt"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_caps_length_keeping_extension() -> None:
    name = sanitize_filename("é" * 300 + ".jsonl")
    assert name.endswith(".jsonl")
    assert len(name.encode("utf-8")) <= 200
    assert "/" not in name
