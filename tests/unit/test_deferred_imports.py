"""Imports inside functions under core/ only where they buy start-up time.

`lmwb` and the app's first page load no torch, Optuna, pandas or transformers until a command or
page needs one, so those are imported inside the functions that use them. Any other import inside
a function only hides a dependency (or an import cycle) from a reader and from lint-imports'
picture: this test finds each one from the source. An import inside a function passes when it
loads a third-party package that its module does not load when imported (followed through the
top-level imports of every core/ module), or when its line, or the line above, says why in a
comment (a module that exists only on some Python versions, say).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "core"


def module_files() -> dict[str, Path]:
    """{dotted module name: file} for every module under core/."""
    files = {}
    for path in sorted((REPO / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


FILES = module_files()


def imported_names(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement loads (``from core.x import y`` loads core.x, and core.x.y
    when that is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        package = module.split(".") if FILES[module].name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in FILES]
    return [base, *submodules]


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@cache
def parsed(module: str) -> ast.Module:
    return ast.parse(FILES[module].read_text(encoding="utf-8"))


def imports(module: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Each import statement of ``module`` that runs, and whether it sits inside a function."""

    def walk(body: list[ast.stmt], in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield node, in_function
            elif isinstance(node, ast.If) and _type_checking_only(node):
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from walk(node.body, True)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        yield from walk(children, in_function)

    yield from walk(parsed(module).body, False)


def third_party(name: str) -> bool:
    top = name.split(".")[0]
    return top not in sys.stdlib_module_names and top not in (PACKAGE, "__future__")


@cache
def top_level_imports(module: str) -> frozenset[str]:
    """The modules ``module`` loads when it is imported: its top-level imports and its parent
    packages (nothing for a standard-library module)."""
    if module not in FILES:
        return frozenset()
    parts = module.split(".")
    reached = {".".join(parts[:i]) for i in range(1, len(parts))}
    for node, in_function in imports(module):
        if not in_function:
            reached.update(imported_names(module, node))
    return frozenset(reached)


@cache
def loads(module: str) -> frozenset[str]:
    """The third-party packages importing ``module`` loads, followed through every core/ module
    it reaches."""
    if third_party(module):
        return frozenset({module.split(".")[0]})
    seen, todo, packages = {module}, [module], set()
    while todo:
        for name in top_level_imports(todo.pop()):
            if third_party(name):
                packages.add(name.split(".")[0])
            elif name in FILES and name not in seen:
                seen.add(name)
                todo.append(name)
    return frozenset(packages)


def says_why(path: Path, line: int) -> bool:
    lines = path.read_text(encoding="utf-8").splitlines()
    return "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")


def needless_deferred_imports() -> list[str]:
    found = []
    for module, path in FILES.items():
        for node, in_function in imports(module):
            if not in_function:
                continue
            deferred = set().union(*(loads(name) for name in imported_names(module, node))) - loads(module)
            if not deferred and not says_why(path, node.lineno):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_every_import_inside_a_function_defers_a_package_or_says_why():
    needless = needless_deferred_imports()
    assert not needless, (
        "these imports inside functions load no third-party package their module does not load "
        "already: import them at the top of the module (or say why in a comment on the line):\n"
        + "\n".join(needless))


def test_the_check_follows_what_each_module_loads():
    # The oracle for the check itself: core.cli.main loads no torch at import (lmwb starts fast),
    # so an import of core.train inside one of its functions defers torch; core.errors loads
    # nothing third-party, so an import of it inside a function defers nothing.
    assert "torch" not in loads("core.cli.main")
    assert "torch" in loads("core.train")
    assert loads("core.errors") == frozenset()
    assert "torch" in loads("core.runs") and "optuna" in loads("core.sweep.trials")
