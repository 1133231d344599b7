"""Streamlit widgets generated from parameter declarations (DESIGN principle 2).

No page writes a widget for a particular hyperparameter: every knob comes from its
:class:`core.params.Param` (kind, default, range, choices, log scale, help), so a parameter
added to the engine shows up in the form with no UI change.

Invalid values are drawn as ``st.error`` next to the form, never raised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import streamlit as st

from app.components.run_knobs import run_knob
from core.config import SECTION_REGISTRIES, section_params
from core.errors import ConfigError, WorkbenchError
from core.params import Param, validate_params

UNSET_LABEL_CHARS = 30  # the longest "unset" meaning a checkbox shows in a narrow column


# -- one parameter -----------------------------------------------------------------------------
def param_widget(
    param: Param, value: Any, key: str, *, label: str | None = None, disabled: bool = False,
    format_func: Callable[[Any], str] | None = None,
) -> Any:
    """Draw the widget ``param`` declares, starting at ``value``; return the chosen value.

    ``format_func``: how a choice reads in the menu (default: the value itself).

    The returned value is already of the declared type, except for a list typed as text that
    does not parse: then the text comes back (and an error is shown), so the config built from
    it fails validation instead of silently using an old value.
    """
    label = label or param.title
    if param.optional:
        # The field keeps its label on top like every other one (a long "label: no limit"
        # checkbox would be cut in a narrow column); the box under it says what unset means and
        # greys the field out.
        field = st.container()
        # A checkbox label never wraps: a sentence ("a grid runs every point; ...") would be cut,
        # so the box says "unset" and the sentence goes under it, whole.
        long = len(param.unset_text) > UNSET_LABEL_CHARS
        unset = st.checkbox("unset" if long else param.unset_text, value=value is None, key=f"{key}.none",
                            help=f"Leave {label} unset: {param.unset_text}.", disabled=disabled)
        if long:
            st.caption(f"Unset: {param.unset_text}.")
        with field:
            chosen = _widget(param, _fallback(param) if value is None else value, key, label,
                             disabled or unset, format_func)
        return None if unset else chosen
    return _widget(param, value, key, label, disabled, format_func)


def _widget(
    param: Param, value: Any, key: str, label: str, disabled: bool,
    format_func: Callable[[Any], str] | None,
) -> Any:
    value = _shown_value(param, value)

    if param.choices is not None:
        options = list(param.choices)
        return st.selectbox(
            label, options, index=options.index(value) if value in options else 0,
            key=key, help=param.help, disabled=disabled, format_func=format_func or param.choice_title,
        )
    if param.kind == "bool":
        return st.toggle(label, value=bool(value), key=key, help=param.help, disabled=disabled)
    if param.kind == "int":
        return st.number_input(
            label, min_value=_bound(param.low, int), max_value=_bound(param.high, int),
            value=int(value), step=1, key=key, help=param.help, disabled=disabled,
        )
    if param.kind == "float":
        # A log-scale value (a learning rate, an epsilon) is typed in scientific notation: a
        # slider over 1e-6..10 in a narrow column cannot be read or hit.
        low, high = _bound(param.low, float), _bound(param.high, float)
        return st.number_input(
            label, min_value=low, max_value=high, value=float(value),
            step=_float_step(param), format="%.2e" if param.log else "%g", key=key, help=param.help,
            disabled=disabled,
        )
    if param.kind in ("ints", "floats"):
        text = st.text_input(
            label, value=", ".join(_fmt(v) for v in value) if isinstance(value, list | tuple) else str(value),
            key=key, help=f"{param.help} Comma-separated, e.g. 3,4,5.", disabled=disabled,
        )
        try:
            return param.coerce(text, path=label)
        except ConfigError as exc:
            st.error(str(exc))
            return text
    return st.text_input(label, value="" if value is None else str(value), key=key, help=param.help,
                         disabled=disabled)


# -- one config section ------------------------------------------------------------------------
def section_form(
    section: str,
    component_name: str | None,
    values: Mapping[str, Any],
    key_prefix: str,
    *,
    exclude: Collection[str] = (),
    columns: int = 2,
) -> dict[str, Any]:
    """Widgets for every declared parameter of one section (and component); returns the
    section as a raw config dict (with ``name`` for component sections).

    The essential parameters (``Param.essential``) come first; the others wait in an
    "Advanced" expander. ``columns`` is how many fields share a row: 2 in half the page, 4
    across it, so no label is cut.

    A run-valued parameter (``Param.runs``) is a select box of the runs it may name, across the
    page under its group's fields (a run's label is long); one that only matters with some values
    of another (``Param.used_with``: the augmentation method's runs) is hidden otherwise and
    takes its default.

    ``exclude``: parameters set elsewhere on the page (e.g. ``path`` of an uploaded file);
    their value is passed through from ``values``. Problems with the section (a value out of
    range, or a combination its ``check`` refuses) are shown with ``st.error``.
    """
    params = section_params(section, component_name)
    out: dict[str, Any] = {} if section == "training" else {"name": component_name}
    shown = [p for p in params if p.name not in exclude]
    for p in params:
        if p.name in exclude and p.name in values:
            out[p.name] = values[p.name]
    if not shown:
        st.caption("No parameters.")
        return out
    first, rest = split_essential(shown)

    def draw(group: Sequence[Param]) -> None:
        grid = [p for p in group if p.runs is None]
        cols = st.columns(min(columns, len(grid))) if grid else []
        for i, p in enumerate(grid):
            if used(p):
                with cols[i % len(cols)]:
                    out[p.name] = param_widget(p, values.get(p.name, p.default), key=key(p))
        for p in group:
            if p.runs is not None and used(p):
                out[p.name] = run_knob(p, values.get(p.name, p.default), key(p), component_name or "")

    def key(p: Param) -> str:
        return ".".join(filter(None, (key_prefix, section, component_name, p.name)))

    def used(p: Param) -> bool:
        if p.used_with is None:
            return True
        other, among = p.used_with
        if out.get(other, values.get(other)) in among:
            return True
        out[p.name] = p.default
        return False

    if first:
        draw(first)
    if rest:
        with st.expander(f"Advanced ({len(rest)})"):
            draw(rest)
    # A list that did not parse was already reported under its widget.
    unparsed = any(p.kind in ("ints", "floats") and isinstance(out[p.name], str) for p in shown)
    if not unparsed and (problem := section_problem(section, component_name, out)):
        st.error(problem)
    return out


def split_essential(params: Sequence[Param]) -> tuple[list[Param], list[Param]]:
    """(essential, advanced) in declaration order; a section that marks none shows all first."""
    first = [p for p in params if p.essential]
    if not first:
        return list(params), []
    return first, [p for p in params if not p.essential]


def section_problem(section: str, component_name: str | None, values: Mapping[str, Any]) -> str | None:
    """The first problem with one section's values, as a readable sentence, or None."""
    params = section_params(section, component_name)
    try:
        checked = validate_params(params, {k: v for k, v in values.items() if k != "name"}, section)
        comp = SECTION_REGISTRIES[section].get(component_name or "") if section in SECTION_REGISTRIES else None
        message = comp.check(checked) if comp is not None and comp.check is not None else None
    except ConfigError as exc:
        return str(exc)
    return f"Invalid combination: {message}" if message else None


def component_select(
    section: str, names: Sequence[str], current: str | None, key: str, *, label: str | None = None
) -> str:
    """A selectbox over registered components of ``section``, with the chosen one's help below."""
    registry = SECTION_REGISTRIES[section]
    options = list(names)
    index = options.index(current) if current in options else 0
    name = st.selectbox(
        label or section.capitalize(), options, index=index, key=key, format_func=registry.label,
        help=f"Registered {registry.kind}s; each one declares its own parameters.",
    )
    st.caption(registry.get(name).help)
    return name


# A config key in a message (``training.max_epochs``): the command line's words for a setting.
_SETTING_KEY = re.compile(r"\b(" + "|".join(("training", *SECTION_REGISTRIES)) + r")\.([a-z_]+)\b")


def setting_words(text: str, config: Mapping[str, Any]) -> str:
    """``text`` with each config key it names written as the form labels that setting
    (``training.max_epochs`` -> **Max epochs**, Param.title of the config's component); a key
    nothing declares (``data.csv``) stays as it is."""

    def titled(match: re.Match[str]) -> str:
        section, name = match.groups()
        component = None if section == "training" else (config.get(section) or {}).get("name")
        try:
            param = next((p for p in section_params(section, component) if p.name == name), None)
        except WorkbenchError:
            param = None
        return f"**{param.title}**" if param is not None else match.group(0)

    return _SETTING_KEY.sub(titled, text)


# -- helpers -----------------------------------------------------------------------------------
def _fallback(param: Param) -> Any:
    """A starting value for an optional parameter whose 'no limit' box was just unticked."""
    if param.default is not None:
        return param.default
    if param.kind in ("int", "float"):
        return param.low if param.low is not None else 0
    return ""


def _shown_value(param: Param, value: Any) -> Any:
    """``value`` made safe to hand to a widget: typed, and inside the widget's bounds.

    Widgets refuse a start value outside [min, max]; an out-of-range number from a config file
    is shown clamped, so the page still renders and the user sees the bound.
    """
    try:
        return param.coerce(value)
    except ConfigError:
        pass
    if param.kind in ("int", "float"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return _fallback(param)
        if param.low is not None:
            number = max(number, param.low)
        if param.high is not None:
            number = min(number, param.high)
        return int(number) if param.kind == "int" else number
    return _fallback(param)


def _bound(limit: float | None, kind: type) -> Any:
    return None if limit is None else kind(limit)


def _float_step(param: Param) -> float:
    if param.log and isinstance(param.default, int | float) and param.default > 0:
        # A tenth of the default's decade (lr 1e-3: steps of 1e-4). From the declaration, not the
        # current value, so the widget keeps its identity while the value changes.
        return float(f"1e{math.floor(math.log10(param.default)) - 1}")
    high = param.high if param.high is not None else 100.0
    if high <= 1:
        return 0.01
    return 0.1 if high <= 100 else 1.0


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
