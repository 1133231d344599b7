"""Home: what the workbench is, where to start, and one-click demos.

A demo is a list of override dicts applied to ``default_config(task)``: one dict per run, and
several runs make a race (same budget, one tag, one overlaid chart on the Run page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app.components.live import preload_chart_library
from app.components.runs_table import COLUMN_CONFIG, runs_table, shown
from app.navigation import DEFAULT_PAGE, PAGES, page_path
from app.state import get_store, launch, open_run_page
from core.config import RunConfig, apply_overrides, default_config, tuned_settings, validate_config
from core.errors import WorkbenchError
from core.jobs.queue import new_race_tag


@dataclass(frozen=True)
class Goal:
    """What a demo's blurb promises for one of its runs: validation ``metric`` gets at least as
    good as ``value`` (the catalogue's direction) within the run's steps. An integration test
    trains each demo and checks it (tests/integration/test_demo_goals.py)."""

    metric: str
    value: float


@dataclass(frozen=True)
class Demo:
    title: str
    blurb: str  # states each goal's figure
    task: str
    runs: tuple[dict[str, Any], ...]  # per-run overrides on top of ``shared``
    goals: tuple[Goal, ...]  # one per run
    shared: dict[str, Any] = field(default_factory=dict)
    icon: str = ":material/play_circle:"

    def configs(self) -> list[RunConfig]:
        """One config per run. Each architecture also takes the task's tuned settings for it
        (core.config.tuned_settings for the model, architecture_settings for the rest: a
        transformer encoder's gentler learning rate), as on the Train page: a fair race."""
        out = []
        for run in self.runs:
            raw = apply_overrides(default_config(self.task), {**self.shared, **run})
            raw["model"] = {**tuned_settings(self.task, "model", raw["model"]["name"]), **raw["model"]}
            out.append(validate_config(raw))
        return out


_TINY_GPT = {
    "model.name": "transformer_decoder", "model.d_model": 64, "model.n_layers": 2,
    "model.n_heads": 4, "model.d_ff": 256, "tokenizer.name": "char",
    "optimizer.lr": 3e-3, "schedule.warmup_steps": 30,
}
# Figures measured on one CPU thread (2026-12-07): the LM demo's loss 1.88 at step 1,500; the
# race's LSTM 0.93 (0.87-0.93 over seeds 0-5) and transformer 0.76; translation BLEU 96 at
# step 300, 100 at 500; arithmetic 0.86 of the sums right at step 2,000 (0.73-0.88 over seeds
# 0-2). Each about 25-45 s alone on one thread.
DEMOS: tuple[Demo, ...] = (
    Demo(
        "Character-level GPT on Python's own docs",
        "A 2-layer GPT reads the standard library's docstrings one character at a time. Watch "
        "the validation loss fall below 2.0 within its 1,500 steps and the samples turn from "
        "noise into English-looking words.",
        "language_model",
        runs=({},),
        goals=(Goal("loss", 2.0),),
        shared={
            **_TINY_GPT, "data.name": "python_docs", "training.max_steps": 1500,
            "training.eval_every": 150, "training.eval_max_batches": 10, "task.sample_length": 160,
        },
        icon=":material/article:",
    ),
    Demo(
        "LSTM vs Transformer sentiment race",
        "Two classifiers, same reviews, same 500 steps, each with the learning rate it learns "
        "best with: which learns negation (\"not good\") faster? The LSTM passes 0.85 accuracy, "
        "the transformer 0.7; accuracy on the negated reviews is charted beside the loss.",
        "classification",
        runs=({"model.name": "lstm"}, {"model.name": "transformer_encoder"}),
        goals=(Goal("accuracy", 0.85), Goal("accuracy", 0.7)),
        # Same data and budget; each architecture brings the task's tuned settings for it
        # (core.config.tuned_settings, architecture_settings): a fair race.
        shared={"data.name": "sentiment", "training.max_steps": 500, "training.eval_every": 50},
        icon=":material/sports_score:",
    ),
    Demo(
        "Translation: a tiny Transformer learns to reverse",
        "Sequences like k 3 b 7 -> 7 b 3 k. BLEU passes 95 (of 100) within its 500 steps, in "
        "well under a minute; then open its attention: the cross-attention draws the "
        "anti-diagonal.",
        "translation",
        runs=({},),
        goals=(Goal("bleu", 95.0),),
        shared={"training.max_steps": 500, "training.eval_every": 100},
        icon=":material/translate:",
    ),
    Demo(
        "Arithmetic: watch a tiny GPT learn to add",
        "Lines like 23+58=81. The samples show the model first learning the format, then "
        "getting more and more sums right: the share of held-out sums it answers right passes "
        "0.7 within its 2,000 steps.",
        "language_model",
        runs=({},),
        goals=(Goal("sums_right", 0.7),),
        shared={
            **_TINY_GPT, "data.name": "arithmetic", "task.context_length": 32,
            "task.sample_length": 120, "training.max_steps": 2000, "training.batch_size": 32,
            "training.eval_every": 200, "training.eval_max_batches": 10,
        },
        icon=":material/calculate:",
    ),
)


def start_demo(demo: Demo) -> None:
    configs = demo.configs()
    tags = [new_race_tag()] if len(configs) > 1 else ["demo"]
    try:
        runs = launch(get_store(), configs, tags=tags)
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    open_run_page([r.id for r in runs])


RECENT = 5  # runs listed under "Recent runs"


def main() -> None:
    st.title("LM Workbench", anchor=False)
    st.markdown(
        "Train language models in your browser and watch them learn: pick a task (classification, "
        "language modelling, translation, summarisation, question answering, word vectors, "
        "pretraining), data, an architecture (RNN, LSTM, GRU, TextCNN, Transformer, a pretrained "
        "Hugging Face model) and its hyperparameters; "
        "follow the loss curves live, compare runs, look inside with attention maps and tune with "
        "sweeps. Everything here is also one `lmwb` command away."
    )

    st.subheader("Where to start", anchor=False)
    cols = st.columns(3)
    for i, spec in enumerate(p for p in PAGES if p is not DEFAULT_PAGE):  # declared once: app/navigation.py
        with cols[i % 3]:
            st.page_link(page_path(spec.name), label=spec.title, icon=spec.icon)
            st.caption(spec.summary)

    preload_chart_library()  # a demo opens the Run page: its charts then draw at once
    st.subheader("One-click demos", anchor=False)
    st.caption("Each finishes in about a minute on a laptop CPU (faster on a GPU) and opens the live view.")
    cols = st.columns(len(DEMOS))
    for i, (col, demo) in enumerate(zip(cols, DEMOS, strict=True)):
        with col, st.container(border=True, height="stretch"):
            st.markdown(f"**{demo.title}**")
            st.caption(demo.blurb)
            if st.button("Start", key=f"demo.{i}", icon=demo.icon, type="primary"):
                start_demo(demo)

    recent = get_store().list_runs(limit=RECENT)
    if recent:
        st.subheader("Recent runs", anchor=False)
        columns = ["name", "status", "best", "metric", "task", "arch", "created"]
        st.dataframe(shown(runs_table(recent)[columns]), hide_index=True, column_config=COLUMN_CONFIG,
                     key="home_recent")
        st.page_link(page_path("runs"), label="All runs", icon=":material/list_alt:")


if __name__ == "__main__":
    main()
