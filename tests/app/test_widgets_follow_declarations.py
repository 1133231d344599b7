"""Every widget the UI builds from a declaration has the declaration's range and starts at the
value the engine would use: the Train form for every task (all its sections), and the
Playground's decoding settings and lookups (fill-mask guesses, word neighbours). A second copy
of a range in a page would fail here."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.cli.main import build_parser
from core.config import default_config, section_params, validate_config
from core.decoding import settings as decoding
from core.decoding.settings import WORDS_LISTED
from core.params import Param
from core.registry import TASKS
from core.store import Store
from tests.app.test_data_runs_compare_playground import tiny_trained_run

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
WIDGET_KINDS = ("number_input", "select_slider", "selectbox", "toggle", "text_input", "checkbox")


@pytest.fixture(autouse=True)
def no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_NO_WORKERS", "1")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widgets(at: AppTest) -> Iterator[tuple[str, Any]]:
    for kind in WIDGET_KINDS:
        for element in at.get(kind):
            if element.key:
                yield element.key, element


def check_widget(param: Param, element: Any, expected: Any, where: str) -> None:
    """The widget's bounds are the declaration's; its value is ``expected``."""
    proto = element.proto
    kind = element.type
    if kind == "number_input":
        low = proto.min if proto.has_min else None
        high = proto.max if proto.has_max else None
        assert low == param.low and high == param.high, f"{where}: [{low}, {high}] vs declared [{param.low}, {param.high}]"
        assert math.isclose(element.value, expected, rel_tol=1e-9), f"{where}: starts at {element.value}, expected {expected}"
    elif kind == "select_slider":  # log-scale floats: a 1-2-5 grid inside the declared range
        options = [float(o) for o in proto.options]
        assert min(options) >= param.low and max(options) <= param.high, f"{where}: options leave the range"
        nearest = min(options, key=lambda o: abs(math.log10(o) - math.log10(expected)))
        assert math.isclose(float(element.value), nearest), f"{where}: starts at {element.value}, expected {expected}"
    elif kind == "selectbox" and param.choices is None:  # a run picker (task.teacher): no run first
        assert element.value == (expected or ""), f"{where}: starts at {element.value!r}, expected {expected!r}"
    elif kind == "selectbox":
        # the options read as declared: a choice's label where it has one (task.augment), else the value
        assert list(proto.options) == [param.choice_title(c) for c in param.choices], f"{where}: options differ from the choices"
        assert element.value == expected, f"{where}: starts at {element.value!r}, expected {expected!r}"
    elif kind == "toggle":
        assert element.value is bool(expected), f"{where}: starts at {element.value}, expected {expected}"
    elif kind == "text_input":
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in expected) \
            if isinstance(expected, list) else ("" if expected is None else str(expected))
        assert element.value == shown, f"{where}: shows {element.value!r}, expected {shown!r}"


@pytest.mark.parametrize("task", TASKS.names())
def test_train_form_widgets_match_their_declarations(task: str) -> None:
    at = open_page("train")
    if at.selectbox(key="train.task").value != task:
        at.selectbox(key="train.task").set_value(task).run()
        assert not at.exception, [e.value for e in at.exception]
    gen = at.session_state["train.form"]["gen"]
    prefix = f"train.w{gen}."
    config = validate_config(default_config(task))  # what the form starts from (preset Default)
    seen: set[tuple[str, str]] = set()
    for key, element in widgets(at):
        if not key.startswith(prefix) or key.endswith(".none"):
            continue
        parts = key.removeprefix(prefix).split(".")
        if parts[0] == "training":
            section, component, name = "training", None, parts[1]
        elif len(parts) == 3:
            section, component, name = parts
        else:
            continue  # the dataset / component pickers, the run name
        params = {p.name: p for p in section_params(section, component)}
        assert name in params, f"{key}: no such declaration"
        value = config[section].get(name, params[name].default)
        if params[name].optional and value is None:
            assert at.checkbox(key=f"{key}.none").value, f"{key}: optional and unset, but 'no limit' is not ticked"
            continue
        check_widget(params[name], element, value, key)
        seen.add((section, name))
    assert len(seen) >= 15, f"only {len(seen)} declared widgets found"
    for section in ("task", "data", "tokenizer", "model", "optimizer", "schedule", "training"):
        component = None if section == "training" else config[section]["name"]
        for param in section_params(section, component):
            optional_unset = param.optional and config[section].get(param.name) is None
            # A knob only some values of another use (the augmentation method's runs) is hidden.
            unused = param.used_with is not None and config[section].get(param.used_with[0]) not in param.used_with[1]
            assert (section, param.name) in seen or optional_unset or unused, f"{section}.{param.name} has no widget"


@pytest.mark.parametrize("task", ["language_model", "translation", "summarisation"])
def test_playground_decoding_widgets_match_their_declarations(store: Store, task: str) -> None:
    run = tiny_trained_run(store, task)
    at = open_page("playground")
    declared = {"language_model": decoding.SAMPLING, "translation": decoding.TRANSLATION}.get(task, decoding.SUMMARISATION)
    own = run.config["task"]  # a translation run starts from its own beam settings
    for param in declared:
        key = f"playground.{param.name}"
        if param.optional:
            assert at.checkbox(key=f"{key}.none").value, f"{key}: starts unset"
            continue
        element = next((e for k, e in widgets(at) if k == key), None)
        assert element is not None, f"{key}: no widget"
        check_widget(param, element, own.get(param.name, param.default), key)


@pytest.mark.parametrize(("task", "declared"), [
    ("masked_lm", {"playground.guesses": decoding.GUESSES}),
    ("word_embeddings", {"playground_emb_k": WORDS_LISTED, "playground_emb_analogy_k": WORDS_LISTED}),
])
def test_playground_lookup_widgets_match_their_declarations(store: Store, task: str, declared: dict[str, Param]) -> None:
    """Fill-mask guesses and word-vector lookups: the Playground's range and start are the
    declaration's, as `lmwb fill-mask -k` / `lmwb embeddings -k` are (they disagreed: 1..20 vs
    1..1000 guesses, 1..50 vs 1..10,000 words)."""
    tiny_trained_run(store, task)
    at = open_page("playground")
    found = dict(widgets(at))
    for key, param in declared.items():
        assert key in found, f"{key}: no widget"
        check_widget(param, found[key], param.default, key)


@pytest.mark.parametrize(("argv", "param"), [
    (["fill-mask", "RUN"], decoding.GUESSES),
    (["embeddings", "RUN", "neighbours"], WORDS_LISTED),
])
def test_cli_lookup_flags_take_the_declared_range_and_default(argv: list[str], param: Param) -> None:
    args = build_parser().parse_args(argv)
    assert getattr(args, param.name) == param.default
    for value, ok in ((param.low, True), (param.high, True), (param.low - 1, False), (param.high + 1, False)):
        try:
            parsed = build_parser().parse_args([*argv, "-k", str(value)])
        except SystemExit:
            assert not ok, f"-k {value} refused"
        else:
            assert ok and getattr(parsed, param.name) == value, f"-k {value} accepted"
