"""What every ``lmwb`` command shares: flags built from declarations, the store, output files."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

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
