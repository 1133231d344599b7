"""Hyperparameter declarations: the one place each tunable knob is described.

Config validation, the CLI's ``--set key=value``, the UI form and the sweep search space are all
derived from these declarations, so a parameter is never listed twice.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError

KINDS = ("int", "float", "bool", "str", "path", "ints", "floats")


@dataclass(frozen=True)
class RunChoice:
    """What a run-valued parameter (a run's id or name) may name: finished runs with a checkpoint
    of ``tasks`` (empty: any task; ``same_task``: the task of the run being configured),
    ``count`` of them (written comma-separated), each picked under its ``roles`` label. The form
    lists these runs and the check at start refuses others."""

    tasks: tuple[str, ...] = ()
    same_task: bool = False
    count: int = 1
    roles: tuple[str, ...] = ()

    def accepts(self, task: str) -> tuple[str, ...] | None:
        """The tasks a run configured for ``task`` may name (None: any)."""
        if self.same_task:
            return (task,)
        return self.tasks or None


@dataclass(frozen=True)
class Param:
    """One hyperparameter: what it is called, what values it takes, and what it does.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str`` (free text or one of ``choices``),
    ``path`` (a file; empty means none; a relative path is made absolute against the folder the
    command ran in), ``ints`` / ``floats`` (a short list, written ``3,4,5`` on the command line).
    ``label``: a short human name for forms and tables (default: the name in words).
    ``essential``: shown first in forms; the others wait under "Advanced" (a new parameter is
    advanced until someone decides otherwise).
    ``low``/``high`` bound numbers (and every element of a list); ``log`` says the range is best
    searched on a log scale; ``sweepable`` says whether a sweep may vary it.
    ``runs``: the value names runs (:class:`RunChoice`). ``used_with``: ``(other, values)``: the
    knob only matters while parameter ``other`` of the same section is one of ``values`` (forms
    hide it otherwise).
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False
    sweepable: bool = True
    optional: bool = False  # None is an allowed value (e.g. "no limit")
    label: str = ""
    essential: bool = False
    runs: RunChoice | None = None
    used_with: tuple[str, tuple[Any, ...]] | None = None
    choice_labels: tuple[str, ...] | None = None  # how each of ``choices`` reads in a form's menu

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.choice_labels is not None and len(self.choice_labels) != len(self.choices or ()):
            raise ValueError(f"Param {self.name}: one choice label per choice")
        if self.default is not None or not self.optional:
            # The declaration itself must be valid: catch typos at import time.
            self.coerce(self.default, path=self.name)

    # -- description -------------------------------------------------------------------------
    @property
    def title(self) -> str:
        """The label people read: the declared one, else ``max_steps`` -> ``Max steps``."""
        return self.label or self.name.replace("_", " ").capitalize()

    def choice_title(self, value: Any) -> str:
        """How choice ``value`` reads in a menu: its declared label, else the value itself."""
        if self.choice_labels is not None and self.choices is not None and value in self.choices:
            return self.choice_labels[self.choices.index(value)]
        return str(value)

    @property
    def unset_text(self) -> str:
        """What leaving an optional parameter unset means, from its help's ``(null: ...)``
        (``"all of them"``, ``"twice the source plus 10"``), else ``"no limit"``."""
        found = re.search(r"\(null: ([^)]*)\)", self.help)
        return found.group(1).strip() if found else "no limit"

    def allowed(self) -> str:
        """Human-readable description of the allowed values, used in every error message."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "bool":
            text = "true or false"
        else:
            noun = {
                "int": "an integer",
                "float": "a number",
                "str": "text",
                "path": "a file path (empty: none)",
                "ints": "a comma-separated list of integers",
                "floats": "a comma-separated list of numbers",
            }[self.kind]
            text = noun + _range_text(self.low, self.high)
        return text + (" (or null)" if self.optional else "")

    # -- validation --------------------------------------------------------------------------
    def coerce(self, value: Any, path: str | None = None) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ConfigError."""
        path = path or self.name
        if value is None:
            if self.optional:
                return None
            raise ConfigError(path, value, self.allowed())
        try:
            out = self._convert(value)
        except (TypeError, ValueError):
            raise ConfigError(path, value, self.allowed()) from None
        if self.choices is not None and out not in self.choices:
            raise ConfigError(path, value, self.allowed())
        items = out if isinstance(out, tuple) else (out,)
        if self.kind in ("int", "float", "ints", "floats"):
            for item in items:
                if (self.low is not None and item < self.low) or (
                    self.high is not None and item > self.high
                ):
                    raise ConfigError(path, value, self.allowed())
        return list(out) if isinstance(out, tuple) else out

    def _convert(self, value: Any) -> Any:
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+(\.0*)?[eE][-+]?\d+\s*", value):
                value = float(value)  # "1e4" (YAML reads a bare exponent as text): a whole number
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(value)
                return int(value)
            return int(str(value).strip())
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            out = float(value)
            if not math.isfinite(out):
                raise ValueError(value)
            return out
        if kind in ("str", "path"):
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError(value)
            return str(value)
        # list kinds
        if isinstance(value, str):
            parts: Sequence[Any] = [p for p in value.replace(" ", "").split(",") if p]
        elif isinstance(value, list | tuple):
            parts = value
        else:
            parts = [value]
        if not parts:
            raise ValueError(value)
        scalar = Param(self.name, "int" if kind == "ints" else "float", 0, "")
        return tuple(scalar._convert(p) for p in parts)

    # -- sweep support -----------------------------------------------------------------------
    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float") and self.choices is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "help": self.help,
            "low": self.low,
            "high": self.high,
            "choices": list(self.choices) if self.choices is not None else None,
            "log": self.log,
            "optional": self.optional,
            "label": self.title,
            "essential": self.essential,
        }


_CONTROL_NAMES = {"\t": "a tab", "\n": "a line feed", "\r": "a carriage return", "\x1b": "an escape character",
                  "\x00": "a NUL character", "\u2028": "a line separator", "\u2029": "a paragraph separator"}
# Bidirectional overrides and isolates reorder what a terminal shows ("Trojan source"); line and
# paragraph separators break a line like a line feed.
_INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")
PRINTABLE_TEXT = "printable UTF-8 text (no control characters such as tabs, line feeds or escapes)"


def text_problem(text: str) -> str | None:
    """What makes ``text`` unfit for a name or a path a person types (``None``: nothing).

    Refused: control characters (a tab, a line feed, a terminal escape...), characters that
    reorder or break the line they are shown on, and bytes that are not UTF-8, which reach
    Python as lone surrogates (``os.fsdecode``'s surrogate escapes: a command-line argument or a
    file name in another encoding)."""
    for position, char in enumerate(text, start=1):
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            return f"byte 0x{code - 0xDC00:02x} at position {position} is not UTF-8"
        if 0xD800 <= code <= 0xDFFF:
            return f"a lone surrogate U+{code:04X} at position {position} is not text"
        if code < 0x20 or 0x7F <= code < 0xA0 or char in _INVISIBLE:
            what = _CONTROL_NAMES.get(char, "a bidirectional control character" if char in _INVISIBLE
                                      else "a control character")
            return f"{what} (U+{code:04X}) at position {position}"
    return None


def shown_text(text: str) -> str:
    """``text`` quoted for a message: control characters escaped (``\\t``, ``\\x1b``) and bytes
    that are not UTF-8 written ``\\xff``, so nothing in it acts on the terminal it is shown in."""
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable() and char not in _INVISIBLE or char == " ":
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "'" + "".join(out) + "'"


def _range_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" in [{_number(low)}, {_number(high)}]"
    if low is not None:
        return f" >= {_number(low)}"
    if high is not None:
        return f" <= {_number(high)}"
    return ""


def _number(value: float) -> str:
    """2147483647 rather than 2.14748e+09; 1e-06 stays short."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def validate_params(
    params: Iterable[Param], values: dict[str, Any], section: str, *, also: Sequence[str] = ()
) -> dict[str, Any]:
    """Check ``values`` against declarations; fill defaults; reject unknown keys.

    Returns a new dict in declaration order. Errors name ``section.key``; ``also``: keys the
    caller handles itself (a component section's ``name``), listed among the known ones.
    """
    declared = {p.name: p for p in params}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        allowed = ", ".join([*also, *declared]) or "no parameters"
        close = difflib.get_close_matches(str(unknown[0]).replace("-", "_"), list(declared), n=1)
        hint = f"; did you mean {section}.{close[0]}?" if close else ""
        raise ConfigError(
            f"{section}.{unknown[0]}", values[unknown[0]], f"a known parameter ({allowed}){hint}",
            reason="unknown parameter",
        )
    out: dict[str, Any] = {}
    for name, param in declared.items():
        raw = values.get(name, param.default)
        out[name] = param.coerce(raw, path=f"{section}.{name}")
    return out


def defaults(params: Iterable[Param]) -> dict[str, Any]:
    return {p.name: (list(p.default) if isinstance(p.default, tuple) else p.default) for p in params}
