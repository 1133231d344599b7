"""Train: task -> data -> architecture(s) -> hyperparameters -> Start.

Every hyperparameter widget is generated from its declaration (app.components.forms, drawn by
app.components.train_form). Start validates the config, queues the run(s) and jumps to the Run
page; training happens in a worker process, so this page returns at once. Several
architectures make a race: same data, same training budget and seed, one tag, one overlaid
chart.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app.components.commands import command_tabs
from app.components.live import preload_chart_library
from app.components.small_data import small_data_note
from app.components.train_form import (
    FULL,
    HYPER_SECTIONS,
    PRESETS,
    adopt_data_choice,
    build_configs,
    component_section,
    data_section,
    form_state,
    model_sections,
    on_archs_change,
    on_preset_change,
    on_task_change,
    own_settings_note,
    plain_section,
    wk,
)
from app.state import device_text, get_store, launch, open_run_page, prewarm_workers
from core.errors import WorkbenchError
from core.jobs.queue import new_race_tag
from core.registry import MODELS, TASKS, arch_label, task_label


def main() -> None:
    st.title("Train", anchor=False)
    st.caption(
        f"Training runs on **{device_text()}** in a background worker: this page only queues the run, "
        "so you can close the browser and come back."
    )
    adopt_data_choice()
    form = form_state()
    prewarm_workers()  # an idle worker imports torch now, so Start trains within a second
    preload_chart_library()  # and the browser the chart library, so the first loss point shows at once

    left, right = st.columns([1, 2])
    with left:
        tasks = TASKS.names()
        task = st.selectbox(
            "Task", tasks, index=tasks.index(form["task"]), key="train.task", on_change=on_task_change,
            format_func=task_label,
            help="What the model learns to do; it decides which datasets and architectures fit.",
        )
        st.caption(TASKS.get(task).help)
    with right:
        st.segmented_control(
            "Preset", list(PRESETS), default=form["preset"], key="train.preset", required=True,
            on_change=on_preset_change,
            help="Starting values for the size of the model and the training budget; edit anything below.",
        )

    data_col, arch_col = st.columns(2)
    with data_col:
        data, data_problem = data_section(form, task)
    with arch_col:
        arch_options = MODELS.names(tasks=task)
        archs = st.multiselect(
            "Architecture", arch_options, default=[a for a in form["archs"] if a in arch_options], key=f"{wk(form)}.archs",
            on_change=on_archs_change, format_func=arch_label,
            help="Pick several to race them: same data, same budget (max_steps, seed), curves overlaid.",
        )
        form["archs"] = archs
        if len(archs) > 1:
            st.info(f"Race: {len(archs)} runs with the same data, steps and seed.", icon=":material/sports_score:")
        if note := own_settings_note(archs):
            st.caption(note)

    st.subheader("Hyperparameters", anchor=False)
    st.caption("The essentials of each section; the rest wait under **Advanced**.")
    models = model_sections(form, archs) if archs else {}
    raw: dict[str, Any] = {"data": data}
    # Two sections a row: each has room for two fields side by side.
    left, right = st.columns(2)
    with left:
        raw["training"] = plain_section(form, "training", None, "Training")
    with right:
        raw["optimizer"] = component_section(form, "optimizer", HYPER_SECTIONS["optimizer"], task)
    left, right = st.columns(2)
    with left:
        raw["schedule"] = component_section(form, "schedule", HYPER_SECTIONS["schedule"], task)
    with right:
        raw["tokenizer"] = component_section(form, "tokenizer", HYPER_SECTIONS["tokenizer"], task)
    # Across the page: its run pickers name a run with its architecture and score.
    raw["task"] = plain_section(form, "task", task, f"Task: {task_label(task)}", columns=FULL)

    configs, problems = build_configs(raw, models) if archs else ([], ["Pick at least one architecture."])
    if data_problem:
        configs, problems = [], [data_problem, *problems]

    st.divider()
    name_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    with name_col:
        run_name = st.text_input(
            "Run name (optional)", key=f"{wk(form)}.name", placeholder="e.g. lstm-baseline",
            help="Defaults to the architecture plus a short id. In a race each run gets its architecture appended.",
        )
    with button_col:
        start = st.button(
            "Start race" if len(archs) > 1 else "Start", type="primary", icon=":material/play_arrow:",
            disabled=bool(problems), width="stretch",
        )
    for problem in problems:
        st.error(problem, icon=":material/error:")
    if configs and not problems:
        small_data_note(configs)

    if configs and not problems:
        # Open unless it names a file of the server (an upload): paths are shown on request.
        names_file = any(c["data"].get("path") for c in configs)
        with st.expander("Equivalent command line", icon=":material/terminal:", expanded=not names_file):
            command_tabs([c.to_dict() for c in configs], "train.command")

    if start and configs and not problems:
        tags = [new_race_tag()] if len(configs) > 1 else []
        base = run_name.strip() if run_name else ""
        names = [(f"{base}-{c.arch}" if len(configs) > 1 else base) if base else None for c in configs]
        try:
            runs = launch(get_store(), configs, names=names, tags=tags)
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
            return
        open_run_page([r.id for r in runs])


if __name__ == "__main__":
    main()
