"""What a newcomer reads in the first ten minutes (issue 26): the race verdict, the log scale,
architectures and settings in words, and pages that open on a run they can show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.components.charts import metric_curves_figure
from app.components.race_story import race_answer, race_differences
from core.config import apply_overrides, default_config, validate_config
from core.registry import MODELS
from core.store import Store
from tests.app.test_attention_page import train
from tests.app.test_home_train_run import open_page


def runs_of(**statuses: str) -> list[Any]:
    return [SimpleNamespace(name=name, status=status) for name, status in statuses.items()]


def negation_points(values: dict[str, list[tuple[int, float]]]) -> pd.DataFrame:
    return pd.DataFrame([{"run": run, "step": step, "split": "val", "name": "negation_accuracy", "value": v}
                         for run, points in values.items() for step, v in points])


# -- the race verdict ------------------------------------------------------------------------------
def test_a_finished_entrant_that_missed_the_mark_never_reached_it() -> None:
    frame = negation_points({"lstm-a": [(200, 0.7), (300, 0.82)], "tf-b": [(200, 0.7), (300, 0.755)]})
    answer = race_answer(frame, runs_of(**{"lstm-a": "completed", "tf-b": "completed"}))
    assert answer is not None and answer.startswith("First to 80% accuracy on negations: **lstm-a** at step 300.")
    assert "tf-b never reached it: it completed with a best of 76%." in answer and "not yet" not in answer
    # Still training: it may get there.
    assert "tf-b has not reached it yet" in race_answer(frame, runs_of(**{"lstm-a": "completed", "tf-b": "running"}))


def test_entrants_reaching_the_mark_at_the_same_step_tie() -> None:
    frame = negation_points({"lstm-a": [(300, 0.81)], "gru-b": [(300, 0.9)], "rnn-c": [(400, 0.8)]})
    answer = race_answer(frame, runs_of(**{"lstm-a": "completed", "gru-b": "completed", "rnn-c": "completed"}))
    assert answer == ("Tie for first to 80% accuracy on negations: **lstm-a** and **gru-b**, both at step 300. "
                      "rnn-c reached it at step 400.")
    assert "First to" not in answer


def test_nobody_reaching_the_mark_in_a_finished_race_is_not_a_wait() -> None:
    frame = negation_points({"a": [(300, 0.6)], "b": [(300, 0.7)]})
    answer = race_answer(frame, runs_of(a="completed", b="stopped"))
    assert answer == "No entrant reached 80% accuracy on negations; the best was b with 70% at step 300."


# -- log scale -------------------------------------------------------------------------------------
def curves(name: str) -> pd.DataFrame:
    steps = np.arange(10, 310, 10)
    return pd.DataFrame({"run": "r", "step": steps, "split": "train", "name": name,
                         "value": 2.5 * np.exp(-steps / 40) + 0.05, "wall_time": steps})


def test_log_scale_labels_ticks_as_numbers_on_loss_like_curves_only() -> None:
    for name in ("loss", "perplexity"):
        axis = metric_curves_figure(curves(name), name, log_y=True).layout.yaxis
        # A tick format: plotly then writes 0.2, 0.5 instead of bare digits between the decades.
        assert axis.type == "log" and axis.tickformat == "~g", name
    for name in ("accuracy", "f1_macro", "lr"):  # bounded scores and the schedule stay linear
        assert metric_curves_figure(curves(name), name, log_y=True).layout.yaxis.type != "log", name


def test_the_learning_rate_chart_says_learning_rate() -> None:
    fig = metric_curves_figure(curves("lr"), "lr")
    assert fig.layout.yaxis.title.text == "Learning rate"


# -- words, not identifiers ------------------------------------------------------------------------
def test_every_architecture_declares_its_label() -> None:
    assert all(c.meta.get("label") for c in MODELS), [c.name for c in MODELS if not c.meta.get("label")]


def test_train_page_offers_architectures_in_words(store: Store) -> None:
    at = open_page("train")
    [archs] = [m for m in at.multiselect if m.label == "Architecture"]
    assert "LSTM" in archs.options and "transformer_encoder" not in archs.options
    assert "Transformer encoder" in archs.options
    assert archs.value == ["lstm"]  # the value stays the id
    assert not any("final_lr_ratio" in (c.value or "") for c in at.caption)


def race_run(arch: str, **overrides: Any) -> Any:
    config = validate_config(apply_overrides(default_config("classification"), {"model.name": arch, **overrides}))
    return SimpleNamespace(name=f"{arch}-x", config=config.to_dict())


def test_race_settings_table_uses_the_forms_titles() -> None:
    diff = race_differences([race_run("lstm"), race_run("transformer_encoder", **{"optimizer.lr": 5e-4})])
    assert diff.loc["Architecture"].tolist() == ["LSTM", "Transformer encoder"]
    assert "Learning rate" in diff.index and "Embedding size" in diff.index
    assert "Width (d_model)" in diff.index  # as the form labels it, beside its usual symbol
    assert not any("." in key for key in diff.index), list(diff.index)  # no config key


def test_one_differing_setting_reads_singular(store: Store) -> None:
    from tests.app.test_home_train_run import make_run

    runs = [make_run(store, "classification", status="completed", **{"training.seed": seed}) for seed in (0, 1)]
    for r in runs:
        store.set_tags(r.id, ["race-abc123"])
    at = open_page("run", run=runs[0].id)
    assert any(m.value.startswith("**1 setting differs**") for m in at.markdown)


def test_device_text_counts_one_thread_in_the_singular(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import state

    monkeypatch.setattr(state, "gpu_info", lambda: [])
    for threads, text in ((1, "CPU (1 thread)"), (4, "CPU (4 threads)")):
        monkeypatch.setattr(state, "cpu_threads", lambda n=threads: n)
        state.device_text.clear()  # cached for the server's life
        assert state.device_text() == text
    state.device_text.clear()


@pytest.mark.parametrize("omp", [None, "1"])
def test_the_sidebar_counts_the_threads_torch_gives_a_worker(omp: str | None) -> None:
    """Counted without importing torch in the server; torch itself, in a fresh process, agrees."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    script = "from app.state import cpu_threads; import torch; print(cpu_threads(), torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ours, torchs = out.stdout.split()
    assert ours == torchs


# -- pages open on a run they can show -------------------------------------------------------------
def test_attention_opens_on_the_newest_run_with_attention(store: Store) -> None:
    shown = train(store, "tiny-transformer", {"name": "transformer_encoder", "d_model": 16, "n_heads": 2,
                                              "n_layers": 1, "d_ff": 32})
    train(store, "tiny-lstm", {"name": "lstm", "embed_dim": 8, "hidden_size": 8})  # the newest
    at = open_page("attention")
    [picker] = [s for s in at.selectbox if s.label == "Run"]
    assert picker.value == shown
    assert picker.options[0].startswith("tiny-transformer")
    assert picker.options[1].startswith("tiny-lstm") and picker.options[1].endswith("(no attention)")
    assert not any("no attention layers" in i.value for i in at.info)
    assert json.dumps(at.query_params.get("run")).count(shown)


def test_component_pickers_show_words_and_keep_the_names(store: Store) -> None:
    """The Train form's optimizer, schedule and tokenizer pickers show each component's declared
    label; the config (and the value the widget returns) keeps its name."""
    at = open_page("train")
    pickers = {s.label: s for s in at.selectbox}
    for label, name, words in (("Optimizer", "adamw", "AdamW"), ("Schedule", "cosine", "Cosine decay"),
                               ("Tokenizer", "word", "Words")):
        assert pickers[label].value == name
        assert words in pickers[label].options and name not in pickers[label].options
