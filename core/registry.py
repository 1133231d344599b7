"""Name -> component lookup for datasets, tokenizers, architectures, tasks, optimizers, schedules.

A component is a factory plus its parameter declarations. Components whose code needs torch
(architectures, tasks) are *declared* in torch-free catalog modules with their factory as a
``"module:name"`` string, imported on first use: the app server lists, labels and validates
them without loading torch (about 180 MB). Adding an architecture means its module, one
``MODELS.declare(...)`` in ``core/models/catalog.py``; a torch-free component (a dataset, a
tokenizer) registers itself with ``@REGISTRY.register(...)`` on its factory.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import ConfigError, WorkbenchError
from core.params import Param

F = TypeVar("F", bound=Callable[..., Any])  # a registered factory keeps its own type


@dataclass(frozen=True)
class Component:
    name: str
    # The factory, or where it lives as "module:name" (imported by ``factory`` on first use).
    target: Callable[..., Any] | str
    params: tuple[Param, ...]
    help: str
    # Free-form facts pages and validation use, e.g. {"tasks": ("classification",)}.
    meta: dict[str, Any] = field(default_factory=dict)
    # Checks beyond one parameter's range: return a message (or None) for a validated params
    # dict, or raise ConfigError when the problem is one named field (a bad regex).
    check: Callable[[dict[str, Any]], str | None] | None = None
    # The module that declared it: the registry lists components in its modules' order.
    declared_in: str = ""

    @property
    def factory(self) -> Callable[..., Any]:
        """The factory itself: a ``"module:name"`` target is imported here, once per process."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


class Registry:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Component] = {}

    def register(
        self,
        name: str,
        *,
        params: tuple[Param, ...] | list[Param] = (),
        help: str = "",
        check: Callable[[dict[str, Any]], str | None] | None = None,
        **meta: Any,
    ) -> Callable[[F], F]:
        def decorate(factory: F) -> F:
            doc = help or (factory.__doc__ or "").strip().split("\n")[0]
            defined = getattr(factory, "func", factory)  # a functools.partial's function
            self._add(Component(name, factory, tuple(params), doc, meta, check,
                                getattr(defined, "__module__", "")))
            return factory

        return decorate

    def declare(
        self,
        name: str,
        factory: str,
        *,
        params: tuple[Param, ...] | list[Param] = (),
        help: str,
        check: Callable[[dict[str, Any]], str | None] | None = None,
        **meta: Any,
    ) -> None:
        """Declare a component whose factory lives at ``"module:name"`` without importing it."""
        if ":" not in factory:
            raise ValueError(f"{self.kind} {name!r}: factory {factory!r} is not 'module:name'")
        # The caller's module, as logging and enum find theirs: it ranks the component.
        declared_in = sys._getframe(1).f_globals.get("__name__", "")
        self._add(Component(name, factory, tuple(params), help, meta, check, declared_in))

    def _add(self, comp: Component) -> None:
        if comp.name in self._items:
            raise ValueError(f"{self.kind} {comp.name!r} registered twice")
        self._items[comp.name] = comp

    def get(self, name: str, path: str | None = None) -> Component:
        load_components()
        if not isinstance(name, str):  # a list or mapping from YAML (`task: {name: [a]}`)
            raise ConfigError(path or self.kind, name, "one of " + ", ".join(sorted(self._items)),
                              reason=f"not a {self.kind} name")
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                path or self.kind, name, "one of " + ", ".join(sorted(self._items)),
                reason=f"unknown {self.kind}",
            ) from None

    def names(self, **meta_filter: Any) -> list[str]:
        """Registered names, optionally only those whose meta[key] contains / equals a value."""
        load_components()
        out = []
        for comp in self._in_declared_order():
            name = comp.name
            ok = True
            for key, want in meta_filter.items():
                have = comp.meta.get(key)
                if isinstance(have, tuple | list | set | frozenset):
                    ok = ok and want in have
                else:
                    ok = ok and have == want
            if ok:
                out.append(name)
        return out

    def __iter__(self) -> Iterator[Component]:
        load_components()
        return iter(self._in_declared_order())

    def _in_declared_order(self) -> list[Component]:
        """The components in the order of ``_COMPONENT_MODULES`` (then as each module registers
        them), whatever order their modules happened to be imported in: the first task, dataset
        or architecture is the default a form offers."""
        rank = {module: i for i, module in enumerate(_COMPONENT_MODULES)}
        return sorted(self._items.values(), key=lambda comp: rank.get(comp.declared_in, len(rank)))  # stable: a module's own order stays

    def label(self, name: str) -> str:
        """A component in words, as its declaration writes it (``label=``), else its name: what a
        picker shows while the config keeps the name."""
        load_components()
        comp = self._items.get(name)
        return str(comp.meta.get("label", name)) if comp is not None else name

    def __contains__(self, name: str) -> bool:
        load_components()
        return name in self._items


TASKS = Registry("task")
DATASETS = Registry("dataset")
TOKENIZERS = Registry("tokenizer")
MODELS = Registry("architecture")
OPTIMIZERS = Registry("optimizer")
SCHEDULES = Registry("schedule")


def task_label(name: str) -> str:
    """A task in words, as its declaration writes it (``label=``): ``"Masked LM pretraining"``
    for ``masked_lm``. A name no task declares (a run of a removed task) is shown as it is."""
    return TASKS.label(name)


def arch_label(name: str) -> str:
    """An architecture in words, as its declaration writes it (``label=``): ``"Transformer
    encoder"`` for ``transformer_encoder``. A name no architecture declares is shown as it is."""
    return MODELS.label(name)


# Modules whose import registers or declares components. Kept explicit: no plugin magic. None
# imports torch (tests/unit/test_registry_without_torch.py): that waits for a factory's call.
_COMPONENT_MODULES = (
    "core.data.builtin",
    "core.data.files",
    "core.data.seq2seq",
    "core.data.summaries",
    "core.data.planted",
    "core.data.qa",
    "core.tokenize",
    "core.models.catalog",
    "core.models.hf_catalog",
    "core.tasks.catalog",
    "core.optim",
)
_loaded = False
_loading = threading.local()
_lock = threading.RLock()


class ComponentImportError(WorkbenchError):
    """A component module failed to import: the installation is broken, and saying which module
    (instead of "unknown architecture") is the only useful message."""


def load_components() -> None:
    """Import every component module once. The registries count as loaded only when all of
    them imported; a failure names the module and is raised again on the next call."""
    global _loaded
    if _loaded or getattr(_loading, "active", False):
        return  # loaded, or a component module is importing (it may look names up meanwhile)
    with _lock:
        if _loaded:
            return
        _loading.active = True
        try:
            for module in _COMPONENT_MODULES:
                try:
                    importlib.import_module(module)
                except Exception as exc:
                    raise ComponentImportError(
                        f"component module {module} failed to import ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}); "
                        "the installation is incomplete or broken"
                    ) from exc
            _loaded = True
        finally:
            _loading.active = False
