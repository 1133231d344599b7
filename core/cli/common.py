"""What every ``lmwb`` command shares: flags built from declarations, the store, output files."""

from __future__ import annotations

import argparse
import difflib
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.config import SECTION_REGISTRIES, TRAINING_PARAMS, apply_overrides, default_config
from core.documents import key_line, key_lines
from core.errors import ConfigError, WorkbenchError


def number(kind: type, low: float | None = None, high: float | None = None, *, above: bool = False) -> Any:
    """An argparse ``type`` for a finite int or float in [low, high] (``above``: low excluded),
    so a bad flag is refused by name (exit 2) before any work starts."""
    noun = "a whole number" if kind is int else "a number"
    bounds = ("" if low is None and high is None else
              f" > {low:g}" if above and high is None else
              f" >= {low:g}" if high is None else
              f" in {'(' if above else '['}{low if low is not None else '-inf'}, {high}]")

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        ok = math.isfinite(value) and (low is None or value > low if above else low is None or value >= low)
        if not ok or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {noun}{bounds}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


_DECLARED = object()


def add_param_flag(parser: argparse.ArgumentParser, param: Any, *aliases: str, default: Any = _DECLARED,
                   default_text: str | None = None) -> None:
    """A ``--flag`` for a declared parameter (core.params.Param): its type, range, default and
    help come from the declaration, so the CLI never keeps a second copy of a range. A bad
    value is refused by argparse (exit 2) with what is allowed. ``default=None`` with
    ``default_text`` leaves the flag unset when not given and says what then applies (the
    run's own setting, the sweep file's value)."""
    flag = "--" + param.name.replace("_", "-")
    if param.kind == "bool":
        parser.add_argument(flag, *aliases, action="store_true", help=param.help)
        return

    def parse(text: str) -> Any:
        if param.optional and text.strip().lower() in ("null", "none"):
            return None
        try:
            return param.coerce(text, path=flag)
        except ConfigError:
            raise argparse.ArgumentTypeError(f"expected {param.allowed()}, got {text}") from None

    parse.__name__ = param.kind
    value = param.default if default is _DECLARED else default
    shown = f" (default: {default_text})" if default_text else "" if value is None else f" (default {value})"
    parser.add_argument(flag, *aliases, type=parse, default=value, metavar=param.kind.upper(),
                        help=f"{param.help} {param.allowed().capitalize()}{shown}.")


def config_error_in(exc: ConfigError, files: Sequence[tuple[str | None, Iterable[str]]],
                    overrides: Iterable[str] = ()) -> WorkbenchError:
    """``exc`` naming the file that set its field, and the line: ``files`` pairs a file (or None)
    with the keys it holds (an empty list: any key not from ``overrides``, the ``--set`` keys).
    A field no file set (a default, an override) is named as it is."""
    field = exc.path.split(" ", 1)[0]
    set_keys = {o.split("=", 1)[0].strip() for o in overrides}
    for path, keys in files:
        keys = set(keys)
        if path is None or str(exc).startswith(str(path)):
            continue
        owned = any(field == k or field.startswith(k + ".") for k in keys) if keys else \
            not any(field == k or field.startswith(k + ".") or k.startswith(field + ".") for k in set_keys)
        if owned or (not keys and exc.reason == "not a mapping"):  # --set only ever makes mappings
            line = _line_in(path, field)
            return WorkbenchError(f"{path}{f', line {line}' if line else ''}: {exc}")
    return exc


def _line_in(path: str, field: str) -> int | None:
    """The line of ``path`` that sets ``field`` (or its section), when the file still reads."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return None
    return key_line(key_lines(text, Path(path)), field)


def output_file(path_text: str, args: argparse.Namespace) -> Path:
    """A file a command may write: its folder exists, it is not a folder, and it is not inside
    the workbench home (the store and run folders live there: an export must never overwrite
    them)."""
    path = Path(path_text).expanduser()
    if not path.name:
        raise WorkbenchError(f"output {path_text!r}: expected a file path")
    resolved = path.resolve()
    home = open_store(args).home.resolve()
    if resolved == home or home in resolved.parents:
        raise WorkbenchError(f"output {path_text}: inside the workbench home ({home}), whose store and runs "
                             "it could overwrite; write it somewhere else")
    if resolved.is_dir():
        raise WorkbenchError(f"output {path_text}: is a folder; expected a file path")
    if not resolved.parent.is_dir():
        raise WorkbenchError(f"output {path_text}: folder {resolved.parent} does not exist")
    return path


def open_store(args: argparse.Namespace) -> Any:
    from core.store import Store

    try:
        return Store(url=args.store, home=Path(args.home) if args.home else None)
    except WorkbenchError:
        raise
    except Exception as exc:  # a folder that cannot be made, a driver not installed, a bad URL
        where = f"--store {args.store}" if args.store else f"--home {args.home}" if args.home else "the store"
        raise WorkbenchError(f"{where}: cannot be opened ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def strip_details(summary: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (summary or {}).items() if k != "details"}


def input_texts(args: argparse.Namespace) -> list[str]:
    """The TEXT arguments, else the non-empty lines of stdin; none at all, or a blank TEXT
    argument (there is nothing to predict or translate in it), is an error."""
    for n, text in enumerate(args.text or [], start=1):
        if not text.strip():
            raise WorkbenchError(f"TEXT argument {n} is empty: give the text to use, or leave out every "
                                 "TEXT argument to read lines from stdin")
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise WorkbenchError("no text given: pass TEXT arguments, or lines on stdin")
    return texts


def set_hint(args: argparse.Namespace, extra: Sequence[str]) -> str | None:
    """One line for an unknown ``--flag`` given to a command that takes ``--set`` (``train``,
    ``sweep create``): the declared setting of the run config it most likely means, written as
    ``--set`` takes it (``--steps 100`` -> ``--set training.max_steps=100``). None when the
    command takes no ``--set`` or nothing was a flag. There are no alias flags: every setting
    is declared once and reached through ``--set``."""
    flags = [i for i, word in enumerate(extra) if word.startswith("--") and len(word) > 2]
    if not hasattr(args, "set") or not flags:
        return None
    i = flags[0]
    flag, _, value = extra[i].partition("=")
    if not value and i + 1 < len(extra) and not extra[i + 1].startswith("-"):
        value = extra[i + 1]
    key = closest_setting(flag.removeprefix("--"), _config_keys(args))
    unknown = f"unrecognized arguments: {' '.join(extra)}"
    where = "`lmwb params` lists every setting"
    if key is None:
        return f"{unknown}; settings are given as --set SECTION.KEY=VALUE ({where})"
    return f"{unknown}; did you mean --set {key}={value or '...'}? ({where})"


def closest_setting(word: str, keys: Sequence[str]) -> str | None:
    """The ``section.name`` key ``word`` most likely means (``steps`` -> ``training.max_steps``,
    ``lr`` -> ``optimizer.lr``): by the setting's name, then by its name's parts, then by the
    section and name together; None when nothing is close."""
    word = word.lower().replace("-", "_")
    names = {key: key.split(".", 1)[1] for key in keys}
    exact = [k for k, n in names.items() if n == word or k in (word, f"{word}.name")]
    if exact:
        return exact[0]
    # "steps" is the tail of max_steps, "batch" the head of batch_size: a part that matches
    # whole beats a similar spelling.
    parts = [k for k, n in names.items() if word in n.split("_") or n.endswith("_" + word)]
    found = difflib.get_close_matches(word, [names[k] for k in parts] if parts else list(names.values()), 1, 0.6)
    if not found and "." in word:  # --model.lr: the section and the name together
        whole = difflib.get_close_matches(word, list(keys), 1, 0.6)
        return whole[0] if whole else None
    return next((k for k, n in names.items() if found and n == found[0] and (not parts or k in parts)), None)


def _config_keys(args: argparse.Namespace) -> list[str]:
    """Every setting of the run config the command would build (the task's defaults, the
    components its ``--set`` picks), as ``section.name``."""
    try:
        raw = apply_overrides(default_config(getattr(args, "task", None) or "classification"), args.set or [])
    except WorkbenchError:  # a bad --task or --set: the defaults of the default task still name things
        raw = default_config()
    keys = [f"training.{p.name}" for p in TRAINING_PARAMS]
    for section, registry in SECTION_REGISTRIES.items():
        keys.append(f"{section}.name")  # --model gru: the component is chosen by name
        name = (raw.get(section) or {}).get("name")
        if name in registry.names():
            keys += [f"{section}.{p.name}" for p in registry.get(name).params]
    return keys
