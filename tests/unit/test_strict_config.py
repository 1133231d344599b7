"""Configs a reader would take wrongly are refused, by key and line: duplicate keys (YAML and
JSON keep the last one silently), sections that are not mappings, paths that are no text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.config import (
    absolute_file_paths,
    apply_overrides,
    default_config,
    load_config_file,
    validate_config,
)
from core.documents import key_line, key_lines
from core.errors import ConfigError
from core.params import shown_text, text_problem
from core.sweep import load_space_file

NESTED_TWICE = """\
task: {name: classification}
model:
  name: lstm
  hidden_size: 64
  hidden_size: 128
"""


def _refused(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    return str(err.value)


def test_a_key_given_twice_is_refused_at_any_depth_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(NESTED_TWICE)
    assert _refused(path) == (f"{path}, line 5: model.hidden_size = 128: duplicate key, first set on line 4; "
                              "expected each key once in a mapping (a YAML or JSON reader keeps only the last "
                              "value, silently)")
    path.write_text("task: classification\ntraining: {max_steps: 5}\ntraining:\n  seed: 1\n")
    assert _refused(path).startswith(f"{path}, line 3: training = {{'seed': 1}}: duplicate key, first set on line 2")
    path.write_text("data:\n  name: file\n  extras:\n    - {a: 1, b: 2, a: 3}\n")  # inside a list
    assert _refused(path).startswith(f"{path}, line 4: data.extras.a = 3: duplicate key, first set on line 4")
    path.write_text("training:\n  checkpoint: yes\n  true: 1\n  yes: 2\n")  # one key for YAML (True)
    assert "training.yes = 2: duplicate key, first set on line 3" in _refused(path)


def test_keys_that_differ_and_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("base: &base {max_steps: 5, seed: 1}\ntraining:\n  <<: *base\n  seed: 2\n"
                    "model: {name: lstm, '1': a, 1: b}\n")
    raw = load_config_file(path)
    assert raw["training"] == {"max_steps": 5, "seed": 2} and raw["model"] == {"name": "lstm", "1": "a", 1: "b"}


def test_a_json_key_given_twice_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{\n "task": {"name": "classification"},\n "training": {\n  "seed": 1,\n  "seed": 2\n }\n}\n')
    assert _refused(path).startswith(f"{path}, line 5: training.seed = 2: duplicate key, first set on line 4")
    path.write_text('{"training": {"seed": 1,\t"seed": 2}}')  # a tab: JSON, but no YAML to find lines in
    assert _refused(path).startswith(f"{path}: seed = 2: duplicate key; expected each key once in an object")


def test_a_sweep_file_reads_like_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("method: random\nspace:\n  optimizer.lr: {low: 0.001, high: 0.1}\n  optimizer.lr: [0.1]\n")
    with pytest.raises(ConfigError, match=rf"^{path}, line 4: space.optimizer.lr = \[0.1\]: duplicate key, "
                                          "first set on line 3;"):
        load_space_file(path)
    path.write_text("method: random\nspace:\n  optimizer.lr: {low: 0.001, high: 0.1}\n")
    lines = key_lines(path.read_text(), path)
    assert key_line(lines, "method") == 1 and key_line(lines, "optimizer.lr") == 3  # found under space:


def test_key_lines_find_the_key_or_its_section(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    text = "task: classification\nmodel: lstm\ndata:\n  name: file\n  path: a.csv\n"
    lines = key_lines(text, path)
    assert lines == {"task": 1, "model": 2, "data": 3, "data.name": 4, "data.path": 5}
    assert key_line(lines, "data.path") == 5 and key_line(lines, "model.name") == 2  # `model: lstm`
    assert key_line(lines, "optimizer.lr") is None and key_lines("a: [", path) == {}


@pytest.mark.parametrize(("section", "value"), [("model", [1, 2]), ("model", [[1, 2], [3, 4]]), ("model", []),
                                                ("task", 5), ("training", 5), ("training", "fast"), ("data", True)])
def test_a_section_that_is_not_a_mapping_is_refused(section: str, value: object) -> None:
    raw = {**default_config("classification"), section: value}
    with pytest.raises(ConfigError, match=rf"^{section} = .*: not a mapping; expected a mapping of parameter "
                                          rf"names to values \({section}: {{"):
        validate_config(raw)
    # An override on top never reads it as a mapping (dict([[1, 2], [3, 4]]) would be {1: 2, 3: 4}).
    with pytest.raises(ConfigError, match=rf"^{section} = .*: not a mapping"):
        apply_overrides(raw, [f"{section}.name=x" if section != "training" else "training.seed=1"])


def test_a_section_that_is_not_a_mapping_is_named_before_a_missing_task() -> None:
    # A file holding only `model: [1, 2]` lacks the task too: the section is the error to name.
    with pytest.raises(ConfigError, match=r"^model = \[1, 2\]: not a mapping"):
        validate_config({"model": [1, 2]})


def test_an_empty_section_and_a_name_alone_are_still_sections() -> None:
    config = validate_config({"task": "classification", "model": "gru", "data": None, "training": ""})
    assert config.arch == "gru" and config["data"]["name"] == "sentiment"


def test_set_of_a_whole_section_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(default_config("classification"), ["model=[1, 2]"])
    assert str(err.value) == ("--set = 'model=[1, 2]': sets a whole section; expected one parameter at a time, "
                              "section.key=value (model.name=..., or --set model.KEY=VALUE for each of its parameters)")


@pytest.mark.parametrize(("path", "problem"), [
    ("in\tput.csv", "a tab (U+0009) at position 3"),
    ("in\nput.csv", "a line feed (U+000A) at position 3"),
    ("rev\x1b[31m.csv", "an escape character (U+001B) at position 4"),
    ("x\u202eput.csv", "a bidirectional control character (U+202E) at position 2"),
    (os.fsdecode(b"caf\xe9.csv"), "byte 0xe9 at position 4 is not UTF-8"),  # Latin-1 bytes, as argv brings them
])
def test_a_data_path_that_is_no_printable_text_is_refused_by_key(path: str, problem: str) -> None:
    raw = apply_overrides(default_config("classification"), {"data.name": "file", "data.path": path})
    with pytest.raises(ConfigError) as err:
        absolute_file_paths(raw)
    assert str(err.value).startswith(f"data.path = {path!r}: {problem}; expected a file path of printable UTF-8 "
                                     "text (no control characters")
    names = {**raw, "data": {"name": "file", "path": "ok.csv", "label_names_file": path}}
    with pytest.raises(ConfigError, match=r"^data.label_names_file = "):
        absolute_file_paths(names)
    assert absolute_file_paths({**raw, "data": {"name": "file", "path": "café ü.csv"}})  # any printable text


def test_text_problems_and_how_text_is_shown() -> None:
    assert text_problem("lstm baseline – ü 🙂") is None
    assert text_problem("a\x7fb") == "a control character (U+007F) at position 2"
    assert shown_text("a\x1b[2Jb" + os.fsdecode(b"\xff")) == "'a\\x1b[2Jb\\xff'"
