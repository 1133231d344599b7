"""Parameter declarations and run-config validation: every error names field, value, allowed."""

from __future__ import annotations

import json
import re

import pytest

from core.config import (
    SECTIONS,
    apply_overrides,
    default_config,
    load_config,
    load_config_file,
    section_params,
    validate_config,
)
from core.errors import ConfigError
from core.params import Param, validate_params
from core.registry import MODELS, TASKS


def test_param_coerces_and_rejects_with_allowed_values() -> None:
    p = Param("lr", "float", 1e-3, "learning rate", low=1e-6, high=1.0, log=True)
    assert p.coerce("0.01") == 0.01
    with pytest.raises(ConfigError) as err:
        p.coerce(5, path="optimizer.lr")
    assert "optimizer.lr = 5" in str(err.value) and "[1e-06, 1]" in str(err.value)
    with pytest.raises(ConfigError):
        p.coerce("fast")
    with pytest.raises(ConfigError):
        p.coerce(float("nan"))


def test_param_kinds() -> None:
    assert Param("k", "ints", (3, 4), "").coerce("3, 4,5") == [3, 4, 5]
    assert Param("b", "bool", False, "").coerce("true") is True
    assert Param("n", "int", 1, "").coerce(4.0) == 4
    assert Param("n", "int", 1, "").coerce("2e4") == 20_000  # YAML reads a bare exponent as text
    with pytest.raises(ConfigError):
        Param("n", "int", 1, "").coerce("2.5e0")
    with pytest.raises(ConfigError):
        Param("n", "int", 1, "").coerce(4.5)
    with pytest.raises(ConfigError):
        Param("n", "int", 1, "").coerce(True)
    choice = Param("pool", "str", "mean", "", choices=("mean", "max"))
    with pytest.raises(ConfigError) as err:
        choice.coerce("median", path="model.pooling")
    assert "'mean', 'max'" in str(err.value)
    assert Param("cap", "int", None, "", optional=True).coerce(None) is None


def test_bad_declaration_fails_at_import_time() -> None:
    with pytest.raises(ConfigError):
        Param("x", "int", 0, "", low=1)
    with pytest.raises(ValueError):
        Param("x", "complex", 0, "")


def test_validate_params_rejects_unknown_key() -> None:
    params = (Param("a", "int", 1, ""),)
    with pytest.raises(ConfigError) as err:
        validate_params(params, {"b": 2}, "model")
    assert "model.b" in str(err.value) and "unknown parameter" in str(err.value)
    assert validate_params(params, {}, "model") == {"a": 1}


@pytest.mark.parametrize("task", ["classification", "language_model"])
def test_default_config_for_each_task_is_valid(task: str) -> None:
    config = validate_config(default_config(task))
    assert config.task == task
    assert set(config.sections) == set(SECTIONS)
    # every declared parameter is present with its default
    for section in SECTIONS:
        name = config[section].get("name")
        for p in section_params(section, name):
            assert p.name in config[section]


def test_every_component_declares_valid_defaults() -> None:
    # Param.__post_init__ validates defaults; here we check each default config round-trips.
    for task in TASKS:
        for arch in MODELS.names(tasks=task.name):
            raw = default_config(task.name)
            raw["model"] = {"name": arch}
            if arch == "hf_pretrained":
                if not MODELS.get(arch).param("model").default:
                    continue  # the offline MiniLM extra is not installed here
                raw["tokenizer"] = {"name": "pretrained"}  # a pretrained model reads its own ids
                if task.name not in ("classification", "qa"):
                    # The default folder holds an encoder (a classifier's, a reader's): a generative
                    # task asks for a folder of its own kind, and says which.
                    with pytest.raises(ConfigError, match="the wrong kind; expected a (causal|sequence)"):
                        validate_config(raw)
                    continue
            validate_config(raw)


def test_errors_name_the_field_path() -> None:
    raw = default_config("classification")
    raw["model"] = {"name": "lstm", "hidden_size": -3}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert "model.hidden_size = -3" in str(err.value)
    # Values are spelled as a config file or --set writes them, not as Python prints them.
    raw["model"] = {"name": "lstm", "hidden_size": None}
    with pytest.raises(ConfigError, match=r"^model.hidden_size = null: "):
        validate_config(raw)
    raw["model"] = {"name": "lstm", "hidden_size": 8, "bidirectional": "maybe"}
    with pytest.raises(ConfigError, match=r"^model.bidirectional = 'maybe': "):
        validate_config(raw)

    raw["model"] = {"name": "lstmm"}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert "model.name" in str(err.value) and "lstm" in str(err.value)

    raw = default_config("classification")
    raw["optimiser"] = {}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert str(err.value).startswith("optimiser: unknown section; expected one of task, data")
    assert str(err.value).endswith("(did you mean optimizer?)")
    raw = {"task": "classification", "data": {"max_examples": 600}}  # a parameter of `file`, not `sentiment`
    with pytest.raises(ConfigError, match=r"^data.max_examples = 600: unknown parameter; expected a parameter of data.name sentiment \(name, n_examples"):
        validate_config(raw)


def test_incompatible_architecture_and_combination_errors() -> None:
    raw = default_config("language_model")
    raw["model"] = {"name": "textcnn"}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert "textcnn cannot do language_model" in str(err.value)

    raw["model"] = {"name": "lstm", "bidirectional": True}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert "bidirectional" in str(err.value)

    raw = default_config("classification")
    raw["model"] = {"name": "transformer_encoder", "d_model": 130, "n_heads": 4}
    with pytest.raises(ConfigError) as err:
        validate_config(raw)
    assert "divisible" in str(err.value)


def test_overrides_switch_component_and_parse_values() -> None:
    raw = default_config("classification")
    out = apply_overrides(raw, ["model.hidden_size=64", "model.name=gru", "training.max_steps=7"])
    config = validate_config(out)
    assert config.arch == "gru" and config["model"]["hidden_size"] == 64
    assert config["training"]["max_steps"] == 7
    with pytest.raises(ConfigError) as err:
        apply_overrides(raw, ["model.hidden_size"])
    assert "section.key=value" in str(err.value)
    with pytest.raises(ConfigError):
        apply_overrides(raw, ["nosuch.key=1"])


def test_config_files_yaml_json_and_syntax_errors(tmp_path) -> None:
    good = tmp_path / "run.json"
    good.write_text(json.dumps(default_config("classification")))
    assert load_config(good, ["training.batch_size=8"])["training"]["batch_size"] == 8

    bad = tmp_path / "bad.yaml"
    bad.write_text("task:\n  name: classification\nmodel: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config_file(bad)
    assert "bad.yaml, line" in str(err.value)
    assert re.search(r"bad\.yaml, line \d+: syntax error, .+; expected valid YAML$", str(err.value)), str(err.value)

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty config"):
        load_config_file(empty)
    with pytest.raises(ConfigError, match="file not found"):
        load_config_file(tmp_path / "missing.yaml")


def test_config_round_trip_and_flat() -> None:
    config = validate_config(default_config("language_model"))
    again = validate_config(config.to_dict())
    assert again.to_dict() == config.to_dict()
    flat = config.flat()
    assert flat["task.name"] == "language_model" and "training.max_steps" in flat


def test_relative_file_paths_become_absolute(tmp_path) -> None:
    from core.config import absolute_file_paths

    raw = {"data": {"name": "file", "path": "reviews.csv", "validation_path": "/abs/val.csv"},
           "task": {"name": "classification", "pretrained_embeddings": "vecs.txt"}, "model": "lstm"}
    out = absolute_file_paths(raw, base=tmp_path)
    assert out["data"]["path"] == str(tmp_path / "reviews.csv")
    assert out["data"]["validation_path"] == "/abs/val.csv"  # already absolute: kept
    assert out["task"]["pretrained_embeddings"] == str(tmp_path / "vecs.txt")
    assert raw["data"]["path"] == "reviews.csv" and out["model"] == "lstm"  # the input is not changed


def test_an_architecture_brings_the_settings_it_needs_unless_given() -> None:
    from core.reproduce import changed_settings

    raw = apply_overrides(default_config("classification"), ["model.name=hf_pretrained"])
    assert raw["tokenizer"] == {"name": "pretrained"} and raw["optimizer"]["lr"] == 1e-4
    raw = apply_overrides(default_config("classification"), ["model.name=hf_pretrained", "optimizer.lr=3e-5"])
    assert validate_config(raw).params("optimizer")["lr"] == 3e-5
    raw = apply_overrides(default_config("classification"), ["tokenizer.name=word", "model.name=hf_pretrained"])
    with pytest.raises(ConfigError, match="tokenizer.name must be 'pretrained'"):
        validate_config(raw)  # what the user asked for explicitly is kept, and refused
    # A config file that names only the model gets them too, and the short command stays short.
    config = validate_config({"task": "classification", "model": "hf_pretrained"})
    assert config.to_dict()["tokenizer"]["name"] == "pretrained" and config.params("optimizer")["lr"] == 1e-4
    assert "optimizer.lr" not in changed_settings(config.to_dict())


def test_misspelled_keys_get_the_likely_one_and_own_settings_are_said() -> None:
    from core.config import own_settings_text

    with pytest.raises(ConfigError, match=r"did you mean training\.batch_size\?$"):
        validate_config(apply_overrides(default_config("classification"), ["training.batch-size=8"]))
    with pytest.raises(ConfigError, match=r"\(did you mean training\.max_steps\?\)$"):
        apply_overrides(default_config("classification"), ["trainig.max_steps=3"])
    hf = validate_config({"task": "classification", "model": "hf_pretrained"})
    assert own_settings_text(hf) == ("hf_pretrained brings its own settings: tokenizer.name pretrained, "
                                     "optimizer.lr 0.0001 (--set them to change)")
    mine = validate_config(apply_overrides(default_config("classification"), ["model.name=hf_pretrained", "optimizer.lr=3e-5"]))
    assert "optimizer.lr" not in own_settings_text(mine)
    assert own_settings_text(validate_config(default_config("classification"))) == ""


def test_registries_keep_their_declared_order_whatever_is_imported_first() -> None:
    # The first task, dataset and architecture are what forms offer first; a module imported
    # before the registries load (core.examples imports the translation task) must not move its
    # components to the front.
    import subprocess
    import sys

    show = ("from core.registry import TASKS, MODELS, DATASETS, TOKENIZERS, OPTIMIZERS, SCHEDULES\n"
            "print([r.names() for r in (TASKS, MODELS, DATASETS, TOKENIZERS, OPTIMIZERS, SCHEDULES)])")
    early = "import core.tasks.translation, core.models.seq2seq, core.data.seq2seq, core.optim\n"
    plain, reordered = (subprocess.run([sys.executable, "-c", first + show], capture_output=True, text=True,
                                       check=True).stdout for first in ("", early))
    assert plain == reordered
    assert plain.startswith("[['classification', ") and "['rnn', 'lstm', 'gru', " in plain
