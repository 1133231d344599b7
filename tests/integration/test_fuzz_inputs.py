"""Generated bad input at every entry point of the CLI (380 cases): `--set` overrides, config files, data
files and sweep files. None may end in a traceback, and every refusal must name the field or the
file it is about. The generator is seeded, so a failure is reproducible from its case number."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.cli import main
from core.config import SECTIONS, default_config, section_params
from core.registry import TASKS

SEED = 20261201
BAD_VALUES: tuple[Any, ...] = (
    "", "  ", "nan", "inf", "-inf", "1e999", "-1", "0", "99999999999999999999999", "abc", "[1, 2",
    "{a: 1}", "[" * 60, "\x00", "é" * 300, "true", "null", "1.5", "-0.0", "0x10", "1_000", "${HOME}",
    "../../etc/passwd", "'", '"', "a=b=c", "\n", "[]", "{}", "- a\n- b", "!!python/object:os.system",
    ".inf", "~", "1,2,,3", "2e5", "∞",
)
BAD_KEYS = ("model.nope", "nosection.x", "model", ".x", "model.", "a.b.c", "training.", "task.name.x",
            "MODEL.d_model", " training.max_steps", "data.path/../x")


def _declared_keys(task: str) -> list[str]:
    config = default_config(task)
    keys = []
    for section in SECTIONS:
        component = None if section == "training" else config[section]["name"]
        keys += [f"{section}.{p.name}" for p in section_params(section, component)]
    return keys + [f"{s}.name" for s in SECTIONS if s != "training"]


def _value(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return str(rng.choice(BAD_VALUES))
    alphabet = "abc123-_.,:;[]{}()'\"\\/ \t#!&*%é☃\x01"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))


def _check(code: int, err: str, *names: str) -> None:
    """No traceback; a refusal is one ``error:`` (or argparse usage) message naming one of
    ``names``."""
    assert "Traceback" not in err, err
    if code == 0:
        return  # the generator hit a valid input: it is accepted, which is right
    assert code == 2, (code, err)
    named = [n for n in names if n and n.strip() and n.strip() in err]
    # A mangled document can still parse (a key 'da[ta'): then the field as written is named.
    field_named = re.match(r"error: [^\n=]+ = .*: .+; expected ", err) is not None
    assert named or field_named, f"the message names none of {names}, nor a field: {err!r}"


def set_cases() -> Iterator[tuple[str, str, str]]:
    rng = random.Random(SEED)
    tasks = TASKS.names()
    for _ in range(120):
        task = rng.choice(tasks)
        key = rng.choice(BAD_KEYS) if rng.random() < 0.15 else rng.choice(_declared_keys(task))
        yield task, key, _value(rng)


@pytest.mark.parametrize(("task", "key", "value"), list(set_cases()))
def test_fuzzed_set_overrides(capsys, task: str, key: str, value: str) -> None:
    code = main(["train", "--task", task, "--set", f"{key}={value}", "--queue", "--name", "fuzz"])
    err = capsys.readouterr().err
    section = key.strip().split(".")[0]
    _check(code, err, key.strip(), key.strip().rstrip("."), section, "--set")


def _as_yaml(text: str) -> Any:
    """``text`` read as YAML, or the text itself when it is no YAML ("[" * 60): the generator's
    own parse must not be what fails."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _mutated_config(rng: random.Random) -> tuple[str, list[str]]:
    """A config file's text and the names its error may give (besides the file)."""
    task = rng.choice(TASKS.names())
    raw: Any = default_config(task)
    kind = rng.randrange(8)
    if kind == 0:  # a declared parameter with a bad value
        key = rng.choice(_declared_keys(task))
        section, name = key.split(".", 1)
        raw[section][name] = _as_yaml(str(rng.choice(BAD_VALUES))) if rng.random() < 0.5 else _value(rng)
        return yaml.safe_dump(raw, allow_unicode=True), [key, section]
    if kind == 1:  # an unknown parameter or section
        section = rng.choice([*SECTIONS, "extra", "trainning"])
        raw.setdefault(section, {})
        if isinstance(raw[section], dict):
            raw[section]["bogus_" + str(rng.randrange(100))] = 1
        return yaml.safe_dump(raw), [section]
    if kind == 2:  # a section of the wrong shape
        section = rng.choice(list(SECTIONS))
        raw[section] = rng.choice([[1, 2], 3, 4.5, True, "no_such_component"])
        return yaml.safe_dump(raw), [section]
    if kind == 3:  # no task at all
        raw.pop("task")
        return yaml.safe_dump(raw), ["task"]
    if kind == 4:  # broken syntax
        text = yaml.safe_dump(raw)
        cut = rng.randrange(len(text))
        return text[:cut] + rng.choice(["'", '"', "[", "{", "\t", ": :", "- x\n  y: [", "&a *b"]) + text[cut:], []
    if kind == 5:  # JSON spelling mistakes
        text = json.dumps(raw)
        return text.replace("}", ",}", 1) if rng.random() < 0.5 else text[: rng.randrange(1, len(text))], []
    if kind == 6:  # a document that is not a mapping, or empty
        return rng.choice(["", "[]", "- a\n- b\n", "42\n", "null\n", "'text'\n"]), []
    return "task: " + "[" * rng.randint(60, 4000) + "\n", []  # deeply nested


@pytest.mark.parametrize("case", range(100))
def test_fuzzed_config_files(tmp_path: Path, capsys, case: int) -> None:
    rng = random.Random(SEED + case)
    text, names = _mutated_config(rng)
    path = tmp_path / ("config.json" if text.lstrip().startswith("{") else "config.yaml")
    path.write_text(text, encoding="utf-8")
    code = main(["train", "--config", str(path), "--queue", "--name", "fuzz"])
    _check(code, capsys.readouterr().err, str(path), *names)


def _bad_data(rng: random.Random) -> tuple[str, bytes]:
    header = "text,label\n"
    rows = "".join(f"example {i},{rng.choice(['pos', 'neg'])}\n" for i in range(rng.randint(0, 20)))
    kind = rng.randrange(10)
    if kind == 0:
        return "ragged.csv", (header + rows + "one,two,three,four\n" + rows).encode()
    if kind == 1:
        return "utf16.csv", (header + rows).encode(rng.choice(["utf-16-le", "utf-16-be"]))
    if kind == 2:
        return "binary.tsv", bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000)))
    if kind == 3:
        return rng.choice(["empty.csv", "empty.jsonl", "empty.txt"]), rng.choice([b"", b"\n\n", b"   \n"])
    if kind == 4:
        return "lines.jsonl", ('{"text": "a", "label": 1}\n{"text": ' + '"b"\n[1, 2]\n').encode()
    if kind == 5:
        return "array.json", json.dumps(rng.choice([[1, 2, 3], ["a", "b"], {"text": "x"}, [[1], {"a": 1}]])).encode()
    if kind == 6:
        return "broken.csv.gz", gzip.compress((header + rows).encode())[: rng.randint(5, 30)]
    if kind == 7:
        return "latin1.csv", (header + "café,pos\n").encode("latin-1")
    if kind == 8:
        return "quote.csv", (header + 'an "unclosed quote,pos\n' + rows).encode()
    return "header-only.tsv", b"text\tlabel\n"


@pytest.mark.parametrize("case", range(100))
def test_fuzzed_data_files(tmp_path: Path, capsys, case: int) -> None:
    name, data = _bad_data(random.Random(SEED * 7 + case))
    path = tmp_path / name
    path.write_bytes(data)
    code = main(["data", "show", str(path)])
    _check(code, capsys.readouterr().err, str(path), name)


def _bad_sweep(rng: random.Random) -> tuple[str, list[str]]:
    """A sweep file's text and the names its error may give (besides the file)."""
    space: dict[str, Any] = {"optimizer.lr": {"low": 1e-4, "high": 1e-2, "log": True}}
    settings: dict[str, Any] = {"trials": 2}
    kind = rng.randrange(6)
    if kind == 0:  # a setting with a bad value
        key = rng.choice(["method", "metric", "direction", "trials", "timeout_min", "pruner", "workers", "seed", "name"])
        settings[key] = yaml.safe_load(str(rng.choice(BAD_VALUES))) if rng.random() < 0.5 else _value(rng)
        names = [key]
    elif kind == 1:  # an unknown setting
        key = rng.choice(["methd", "budget", "objective", "trails"])
        settings[key] = 1
        names = [key]
    elif kind == 2:  # a parameter that is not declared or not sweepable
        key = rng.choice(["model.nope", "training.max_steps", "optimizer", "task.name", "nosection.x"])
        space[key] = {"low": 1, "high": 2}
        names = [key]
    elif kind == 3:  # a bad range
        key = "optimizer.lr"
        space[key] = rng.choice([{"low": 1e-2, "high": 1e-4}, {"low": -1, "high": 1, "log": True}, {"low": "a", "high": 2},
                                 {"choices": []}, {"low": 1e-3}, {"low": 0, "high": 1e9}, [], "lr"])
        names = [key]
    elif kind == 4:  # a condition on a parameter that is not swept
        space["model.hidden_size"] = {"low": 8, "high": 64, "when": {rng.choice(["model.name", "x.y", "model.hidden_size"]): "gru"}}
        names = ["model.hidden_size"]
    else:  # a pruner with bad options
        settings["pruner"] = {"name": rng.choice(["median", "hyperband", "nope"]), rng.choice(["startup_trials", "reduction_factor", "bogus"]): rng.choice([-1, 0, "x", 1.5])}
        names = ["pruner"]
    return yaml.safe_dump({"space": space, **settings}, allow_unicode=True), names


@pytest.mark.parametrize("case", range(60))
def test_fuzzed_sweep_files(tmp_path: Path, capsys, case: int) -> None:
    text, names = _bad_sweep(random.Random(SEED * 13 + case))
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    code = main(["sweep", "create", "--space", str(path), "--set", "training.max_steps=10"])
    _check(code, capsys.readouterr().err, str(path), *names)
