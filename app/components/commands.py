"""The command line that recreates a run: only what differs from the task's defaults first, the
full config a click away (Train, Run and Runs pages)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st
import yaml

from core.errors import WorkbenchError
from core.reproduce import reproduce_command, short_command


def command_tabs(configs: Sequence[dict[str, Any]], key: str, *, yaml_tab: bool = False) -> None:
    """``lmwb train --task T --set ...`` with only the changed settings; every setting in the
    second tab (and the config as YAML in a third, ``yaml_tab``). A config an older version
    stored that no longer validates says why instead."""
    try:
        short = "\n".join(short_command(c) for c in configs)
        full = "\n".join(reproduce_command(c) for c in configs)
    except WorkbenchError as exc:
        st.caption(f"No command line: this config no longer validates ({exc}).")
        short = full = ""
    names = ["What differs from the defaults", "Every setting"] + (["Config (YAML)"] if yaml_tab else [])
    tabs = st.tabs(names, key=f"{key}.tabs")
    if short:
        with tabs[0]:
            st.code(short, language="bash", wrap_lines=True)
        with tabs[1]:
            st.code(full, language="bash", wrap_lines=True)
    if yaml_tab:
        with tabs[-1]:
            st.code("\n---\n".join(yaml.safe_dump(c, sort_keys=False) for c in configs), language="yaml")
