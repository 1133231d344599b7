"""YAML and JSON documents read strictly: config files and sweep files alike.

A key given twice is refused with both lines (PyYAML and ``json`` keep the last value without a
word), bracket nesting is capped before the parser recurses, syntax errors name the file and
line, and :func:`key_lines` finds the line of each key so that a later error about a value can
name the line that set it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError


def read_text_file(path: str | Path, flag: str, what: str) -> str:
    """The UTF-8 text of a file given as ``flag``; a missing file, a folder, an unreadable or
    binary file is a ConfigError naming the flag and ``what`` was expected."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(flag, str(path), f"an existing {what}", reason="file not found") from None
    except IsADirectoryError:
        raise ConfigError(flag, str(path), f"a {what}", reason="is a folder") from None
    except PermissionError:
        raise ConfigError(flag, str(path), f"a readable {what}", reason="permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(flag, str(path), f"a UTF-8 text {what}", reason="not text") from None


MAX_NESTING = 50  # a config is a few levels deep; far deeper is a mistake or an attack


def parse_document(text: str, path: Path, *, json_file: bool | None = None) -> Any:
    """YAML (or JSON: by suffix, or ``json_file``) text of ``path`` as data. Syntax errors and
    duplicate keys (at any depth: a YAML or JSON reader keeps only the last one, silently) name
    the file and line; nesting deeper than :data:`MAX_NESTING` is refused before the parser
    recurses into it (Python's recursion limit would end it with a RecursionError)."""
    as_json = path.suffix.lower() == ".json" if json_file is None else json_file
    depth = nesting(text)
    if depth > MAX_NESTING:
        raise ConfigError(str(path), f"{depth} levels of [ and {{", f"at most {MAX_NESTING} levels of nesting",
                          reason="nested too deeply")
    try:
        if as_json:
            return json.loads(text, object_pairs_hook=lambda pairs: _json_object(pairs, text, path))
        return _load_yaml(text, path)[0]
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}, line {exc.lineno}", exc.msg, "valid JSON", reason="syntax error") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(where, problem, "valid YAML", reason="syntax error") from None
    except RecursionError:  # deep block nesting (indentation) that the bracket count missed
        raise ConfigError(str(path), "deeply nested", f"at most {MAX_NESTING} levels of nesting",
                          reason="nested too deeply") from None


def key_lines(text: str, path: Path) -> dict[str, int]:
    """``{"model.hidden_size": 5, ...}``: the line of every key of a YAML (or JSON) document, by
    its dotted path (``space.optimizer.lr`` for a key written ``optimizer.lr`` under ``space:``);
    empty when the text does not parse."""
    try:
        return _load_yaml(text, path)[1]
    except (ConfigError, yaml.YAMLError, RecursionError):
        return {}


def key_line(lines: dict[str, int], field: str) -> int | None:
    """The line that set ``field`` (``model.hidden_size``), else its nearest enclosing key's
    (``model`` for ``model.name`` given as ``model: lstm``); None when no key of the document holds
    it. A sweep file's space is looked up under ``space`` too."""
    for root in ("", "space."):
        parts = (root + field).split(".")
        for end in range(len(parts), 0, -1):
            if (line := lines.get(".".join(parts[:end]))) is not None and (end > 1 or not root):
                return line
    return None


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _load_yaml(text: str, path: Path) -> tuple[Any, dict[str, int]]:
    """The document and the line of each key; a key given twice in one mapping is a ConfigError
    naming both lines (PyYAML would keep the last value without a word)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[str, int] = {}
        _index_keys(loader, node, "", lines, path, set())
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


def _index_keys(loader: yaml.SafeLoader, node: yaml.Node, prefix: str, lines: dict[str, int], path: Path,
                seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:  # an alias: walked where its anchor is (and never forever)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _index_keys(loader, item, prefix, lines, path, seen_nodes)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[Any, yaml.Node] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:  # `<<: *defaults`: keys after it may override the merged ones
            _index_keys(loader, value_node, prefix, {}, path, seen_nodes)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            _index_keys(loader, value_node, prefix, lines, path, seen_nodes)
            continue
        key = _key_identity(loader, key_node)
        full = f"{prefix}{key_node.value}"
        line = key_node.start_mark.line + 1
        if key in first:
            earlier = first[key].start_mark.line + 1
            raise ConfigError(f"{path}, line {line}: {full}", _scalar(loader, value_node),
                              "each key once in a mapping (a YAML or JSON reader keeps only the last "
                              "value, silently)", reason=f"duplicate key, first set on line {earlier}")
        first[key] = key_node
        lines.setdefault(full, line)
        _index_keys(loader, value_node, full + ".", lines, path, seen_nodes)


def _key_identity(loader: yaml.SafeLoader, key_node: yaml.ScalarNode) -> Any:
    """A key as the mapping will hold it: ``yes`` and ``true`` are one key (True), ``1`` and
    ``"1"`` are two."""
    try:
        key = loader.construct_object(key_node)
        hash(key)
        return key
    except (yaml.YAMLError, TypeError, ValueError):
        return (key_node.tag, key_node.value)


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A duplicate key's value for the message, as the file wrote it (a section shows its
    mapping, shortened in the message if long)."""
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError):
        return node.value if isinstance(node, yaml.ScalarNode) else "..."


def _json_object(pairs: list[tuple[str, Any]], text: str, path: Path) -> dict[str, Any]:
    """A JSON object; a key given twice is refused like in YAML (with the line, where the text
    also reads as YAML)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            with contextlib.suppress(yaml.YAMLError, RecursionError):
                _load_yaml(text, path)  # names both lines where the JSON also reads as YAML
            raise ConfigError(f"{path}: {key}", value, "each key once in an object (a JSON reader keeps "
                              "only the last value, silently)", reason="duplicate key")
        out[key] = value
    return out


def nesting(text: str) -> int:
    """The deepest run of unclosed brackets (flow-style YAML, JSON), ignoring quoting: an upper
    bound that is exact for the documents a person writes."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest
