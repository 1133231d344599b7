"""The registries are declarations: listing, labelling, filling and validating components needs
no torch (the app server stays small), and every declared factory is really there."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from core.registry import DATASETS, MODELS, OPTIMIZERS, SCHEDULES, TASKS, TOKENIZERS
from core.tasks.base import Task


def test_listing_filling_and_validating_every_component_imports_no_torch() -> None:
    # A fresh interpreter: this one has torch already.
    script = textwrap.dedent("""
        import sys
        from core.config import default_config, validate_config
        from core.registry import MODELS, OPTIMIZERS, SCHEDULES, TASKS, TOKENIZERS
        from core.tasks.catalog import default_metric

        checked = 0
        for task in TASKS.names():
            default_metric(task)
            for arch in MODELS.names(tasks=task):
                if arch == "hf_pretrained":
                    continue  # needs a model folder to validate; its rules are torch-free too
                config = default_config(task)
                config["model"] = {"name": arch}
                validate_config(config)
                checked += 1
        for registry in (MODELS, TASKS, OPTIMIZERS, SCHEDULES, TOKENIZERS):
            for comp in registry:
                registry.label(comp.name), comp.params
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        print(checked, heavy)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    checked, heavy = out.stdout.split(" ", 1)
    assert int(checked) >= 10  # every task with each of its own architectures
    assert heavy.strip() == "[]", f"imported with the declarations: {heavy}"


@pytest.mark.parametrize("registry", [DATASETS, TOKENIZERS, MODELS, TASKS, OPTIMIZERS, SCHEDULES],
                         ids=lambda r: r.kind)
def test_every_declared_factory_imports_and_is_callable(registry: object) -> None:
    for comp in registry:  # type: ignore[attr-defined]
        assert callable(comp.factory), f"{registry.kind} {comp.name}: {comp.target!r}"  # type: ignore[attr-defined]


def test_each_task_is_declared_with_its_own_class() -> None:
    for comp in TASKS:
        cls = comp.factory
        assert isinstance(cls, type) and issubclass(cls, Task) and cls.name == comp.name


def test_a_declaration_names_its_factory_as_module_and_name() -> None:
    with pytest.raises(ValueError, match="not 'module:name'"):
        MODELS.declare("nowhere", "core.models.rnn.build_lstm", help="no colon")
    assert "nowhere" not in MODELS
