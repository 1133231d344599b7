"""Small facts the engine, the CLI and the app share, each declared in one place. Each test
fails if a second copy comes back: a scan of the source for the copy where one could creep in,
or a check that what the users see derives from the declaration."""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from core import examples as ex
from core.config import default_config, processes_wanted, validate_config
from core.decoding import settings as decoding
from core.decoding.settings import WORDS_LISTED
from core.errors import WorkbenchError
from core.jobs.queue import (
    RACE_TAG_PREFIX,
    group_tag,
    in_race,
    new_race_tag,
    race_id,
    race_tag,
    sweep_tag,
)
from core.metrics import METRICS
from core.params import Param
from core.registry import TASKS
from core.store import Run
from core.tasks.catalog import default_metric

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("core", "app", "pages")


def python_files() -> Iterator[tuple[str, ast.Module]]:
    """(path relative to the repository, parsed module) for every module the package ships."""
    for top in SOURCES:
        for path in sorted((REPO / top).rglob("*.py")):
            yield str(path.relative_to(REPO)), ast.parse(path.read_text(encoding="utf-8"))


# -- how many processes a run asks for ------------------------------------------------------------
def test_processes_wanted_reads_validated_raw_and_stored_configs() -> None:
    config = validate_config(default_config("classification"))
    assert processes_wanted(config) == 1
    assert processes_wanted(config.with_overrides(["training.nproc_per_node=4", "training.nnodes=2",
                                                   "training.rdzv_endpoint=host:29500"])) == 8
    assert processes_wanted({"training": {"nproc_per_node": 3}}) == 3  # a stored config, nnodes left out
    assert processes_wanted({"task": {"name": "classification"}}) == 1  # no training section
    assert processes_wanted(None) == 1  # a run row without a config


def test_the_process_count_is_taken_in_one_place() -> None:
    """nproc_per_node x nnodes is multiplied only by core.config.processes_wanted (the store,
    the supervisor, the launcher, the CLI and sweeps ask it)."""
    found = []
    for path, module in python_files():
        for node in ast.walk(module):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
                source = ast.unparse(node)
                if "nproc_per_node" in source and "nnodes" in source:
                    found.append(f"{path}:{node.lineno}")
    assert len(found) == 1 and found[0].startswith("core/config.py:"), found


# -- the tags that group runs -------------------------------------------------------------------
def _run(*tags: str) -> Run:
    return Run(id="r1", name="a", task="classification", arch="lstm", config={}, status="queued",
               created_at=0.0, tags=list(tags))


def test_race_and_sweep_tags_are_read_by_the_queue_helpers() -> None:
    tag = new_race_tag()
    assert tag.startswith(RACE_TAG_PREFIX) and len(tag) == len(RACE_TAG_PREFIX) + 6
    entrant = _run("demo", tag)
    assert in_race(entrant) and race_tag(entrant) == tag and race_id(entrant) == tag.removeprefix(RACE_TAG_PREFIX)
    assert group_tag(entrant) == tag
    alone = _run("demo", "promoted-from-sweep-s1")
    assert not in_race(alone) and race_tag(alone) is None and race_id(alone) is None and group_tag(alone) is None
    trial = _run(sweep_tag("s1"), "trial-0")
    assert group_tag(trial) == "sweep-s1" and not in_race(trial)
    assert new_race_tag() != new_race_tag()


def test_the_race_tag_is_spelled_only_where_it_is_declared() -> None:
    """No module but core/jobs/queue.py writes "race-" (the supervisor, the worker, the Run
    view, Compare, Home and Train ask the helpers beside the declaration)."""
    found = [f"{path}:{node.lineno}" for path, module in python_files() if path != "core/jobs/queue.py"
             for node in ast.walk(module)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("race-")]
    assert not found, found


# -- the metric of an examples table -------------------------------------------------------------
def _examples(task: str) -> ex.Examples:
    texts = ["a b c", "d e", "f g h i", "j"]
    common = {"correct": [True, False, True, True], "loss": [0.1, 2.0, 0.3, 0.2], "length": [3, 2, 4, 1]}
    if task == "classification":
        table = {"text": texts, "label": ["pos", "neg", "pos", "neg"], "prediction": ["pos", "pos", "pos", "neg"],
                 "confidence": [0.9, 0.6, 0.8, 0.7], "p_label": [0.9, 0.4, 0.8, 0.7], **common}
        return ex.Examples(task, pd.DataFrame(table), "validation split", labels=["neg", "pos"])
    seq2seq = {"source": texts, "reference": ["the cat sat", "a dog", "it rains", "yes"],
               "hypothesis": ["the cat sat", "the dog", "it rains", "yes"], **common}
    scores = {"bleu": [100.0, 0.0, 100.0, 0.0], "chrf": [100.0, 40.0, 100.0, 100.0]} if task == "translation" else \
        {"rougeL": [1.0, 0.5, 1.0, 1.0], "rouge1": [1.0, 0.5, 1.0, 1.0], "rouge2": [1.0, 0.0, 1.0, 0.0]}
    return ex.Examples(task, pd.DataFrame({**seq2seq, **scores}), "validation split")


@pytest.mark.parametrize("task", ex.TASKS)
def test_an_examples_table_reports_its_tasks_declared_metric(task: str) -> None:
    """The slices, the overall figure and the CLI's --examples lines report the task's declared default_metric:
    the metric the run itself watches, with no second task -> metric map beside it."""
    examples = _examples(task)
    declared = default_metric(task)
    assert examples.metric == declared
    table = ex.slices(examples)
    assert declared in table.columns and table.iloc[0][declared] == pytest.approx(ex.overall_metric(examples))


def test_the_examples_metric_follows_the_task_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASKS.get("summarisation").meta, "default_metric", "rouge2")
    examples = _examples("summarisation")
    assert ex.slices(examples).iloc[0]["rouge2"] == pytest.approx(0.5)
    monkeypatch.setitem(TASKS.get("translation").meta, "default_metric", "chrf")
    with pytest.raises(WorkbenchError, match="no per-example chrf"):  # said, never mislabelled BLEU
        ex.overall_metric(_examples("translation"))


# -- metric labels and formats ---------------------------------------------------------------------
def _strings(module: ast.Module) -> Iterator[ast.Constant]:
    """The string constants of a module, its docstrings left out (prose may name a metric)."""
    docstrings = {id(node.value) for node in ast.walk(module) if isinstance(node, ast.Expr)}
    for node in ast.walk(module):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_no_module_spells_a_metric_label_the_catalogue_declares() -> None:
    """"BLEU", "chrF", "ROUGE-L", "Loss"...: read from core.metrics, never written again (a copy
    drifts: the Examples view showed BLEU to one decimal where the catalogue says two)."""
    labels = {m.label for m in METRICS.values()}
    found = []
    for path, module in python_files():
        if path == "core/metrics/catalog.py":
            continue
        for node in _strings(module):
            text = node.value.strip()
            if any(text == label or text.startswith(f"{label} ") or text.endswith(f" {label}") for label in labels):
                found.append(f"{path}:{node.lineno} {node.value!r}")
    assert not found, found


def test_the_runs_tables_metric_columns_read_as_the_catalogue_declares() -> None:
    from app.components import runs_table

    for name in runs_table.VAL_METRICS:
        declared = METRICS[name]
        assert runs_table.FORMATS[name] == declared.fmt
        assert runs_table.COLUMN_CONFIG[name]["label"] == f"val {declared.label.lower()}"
        assert declared.label.lower() in runs_table.COLUMN_CONFIG[name]["help"]
    run = dataclasses.replace(_run(), summary={"val": {"accuracy": 0.81234, "perplexity": 12.3456}})
    shown = runs_table.shown(runs_table.runs_table([run]))
    assert shown["accuracy"][0] == METRICS["accuracy"].shown(0.81234) == "0.812"
    assert shown["perplexity"][0] == METRICS["perplexity"].shown(12.3456) == "12.35"


def test_the_examples_views_columns_and_lines_read_as_the_catalogue_declares() -> None:
    from app.components import examples_view as view

    for task, columns in view.SHOWN.items():
        config = view.column_config(columns)
        for name in (c for c in columns if c in METRICS):
            assert config[name]["label"] == METRICS[name].label and config[name]["type_config"]["format"] == METRICS[name].fmt
        assert all(view.sort_title(c) == METRICS[c].label for c in view.SORTABLE if c in METRICS)
        row = _examples(task).table.iloc[1]
        line = view.scores_text(row, columns)
        assert line == " · ".join(f"{METRICS[c].label} {METRICS[c].fmt % row[c]}" for c in columns if c in METRICS), task


# -- decoding and lookup defaults ----------------------------------------------------------------------
def _defaults(function: object) -> dict[str, object]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_engine_functions_default_to_the_declared_knobs() -> None:
    """One temperature (it was 0.8 in generate_text and the language model's sample, 1.0 in the
    sampler), one max_new_tokens, one number of guesses and of words listed."""
    from core import embeddings, runs
    from core.decoding import sampling, seq2seq
    from core.tasks.language_model import LanguageModelTask

    sampler = {"temperature": decoding.TEMPERATURE, "top_k": decoding.TOP_K, "top_p": decoding.TOP_P,
               "greedy": decoding.GREEDY}
    expected: list[tuple[object, dict[str, Param]]] = [
        (sampling.sample_next_token, sampler),
        (sampling.generate, sampler),
        (LanguageModelTask.sample, {**sampler, "max_new_tokens": decoding.MAX_NEW_TOKENS}),
        (runs.generate_text, {**sampler, "max_new_tokens": decoding.MAX_NEW_TOKENS}),
        (runs.fill_mask, {"k": decoding.GUESSES}),
        (seq2seq.beam_search, {"length_penalty": decoding.LENGTH_PENALTY}),
        (seq2seq.Limits, {"min_len": decoding.MIN_OUTPUT_TOKENS, "no_repeat_ngram": decoding.NO_REPEAT_NGRAM}),
        (embeddings.nearest_neighbours, {"k": WORDS_LISTED}),
        (embeddings.analogy, {"k": WORDS_LISTED}),
    ]
    for function, params in expected:
        defaults = _defaults(function)
        for name, param in params.items():
            assert defaults[name] == param.default, f"{function.__qualname__}({name}=...) is not {param.name}'s default"


def test_no_function_writes_a_decoding_default_of_its_own() -> None:
    """A parameter named after a decoding knob defaults to the declaration (or None: the run's
    own setting), never to a number written beside it."""
    knobs = {p.name for p in (*decoding.SAMPLING, *decoding.SUMMARISATION, decoding.GUESSES)} - {"seed"}
    found = []
    for path, module in python_files():
        for node in ast.walk(module):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = [*zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True),
                     *((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None)]
            found += [f"{path}:{node.lineno} {node.name}({arg.arg}={default.value!r})" for arg, default in pairs
                      if arg.arg in knobs and isinstance(default, ast.Constant) and default.value is not None]
    assert not found, found


# -- dependencies ----------------------------------------------------------------------------------
def test_every_package_the_code_imports_is_declared_in_pyproject() -> None:
    """A module imported under core/, app/ or pages/ comes from the standard library, the
    project itself, or a distribution pyproject.toml names (pyarrow was imported undeclared,
    installed only because datasets and streamlit happen to need it)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]

    def normal(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {normal(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in requirements}
    imported: dict[str, str] = {}
    for path, module in python_files():
        for node in ast.walk(module):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for name in names:
                imported.setdefault(name.split(".")[0], path)
    ours = {*SOURCES, "__future__"}
    distributions = importlib.metadata.packages_distributions()
    undeclared = [f"{name} (imported in {path}; distributions {distributions.get(name)})"
                  for name, path in sorted(imported.items())
                  if name not in sys.stdlib_module_names and name not in ours
                  and not any(normal(d) in declared for d in distributions.get(name, []))]
    assert not undeclared, undeclared
