"""Explain: why a trained run predicts what it does, and where it fails.

* Examples (classification, translation, summarisation): every validation example with its outcome, filters, a
  clickable confusion matrix, slices, and where other runs disagree;
* Salience (classification, language models): Captum's per-token attributions;
* Logit lens and Patching (GPT-style language models): the prediction read out after each
  layer, and which residual vector carries the difference between two prompts;
* Answers (question answering): every validation answer worst first, a question's gold and predicted
  spans in its context, and the answer's salience over question and context.

``?run=ID&view=examples|salience|lens|patching|answers&text=...`` open a run, a view and an input directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from app.components.attention_view import checkpoint_mtime, trained_run
from app.components.examples_view import examples_panel
from app.components.lens_view import demo_button, lens_panel, patching_panel
from app.components.qa_explain_view import qa_explain_panel
from app.components.run_picker import pick_runs
from app.components.salience_view import salience_panel, salience_settings
from app.state import get_store
from core.errors import WorkbenchError
from core.examples import TASKS as EXAMPLE_TASKS
from core.registry import arch_label, task_label
from core.store import Run, Store

if TYPE_CHECKING:  # torch loads with the model, after the page is drawn
    from core.runs import TrainedRun

KEY = "explain"
FINISHED = ("completed", "stopped")
VIEWS = {"examples": "Examples", "salience": "Salience", "lens": "Logit lens", "patching": "Patching",
         "answers": "Answers"}
DEFAULT_TEXT = {"classification": "not a bad film at all, quite gripping"}


def views_for(run: Run) -> list[str]:
    """The views that apply to a run, from its task and architecture."""
    out = []
    if run.task in EXAMPLE_TASKS:
        out.append("examples")
    if run.task in ("classification", "language_model"):
        out.append("salience")
    if run.task == "language_model" and run.arch == "transformer_decoder":
        out += ["lens", "patching"]
    if run.task == "qa":
        out.append("answers")
    return out


def _view_key(run_id: str) -> str:
    return f"{KEY}.{run_id}.view"


def _text_key(run_id: str) -> str:
    return f"{KEY}.{run_id}.text"


def open_in_salience(run_id: str, text: str) -> None:
    """A button callback: show ``text`` in the Salience view (before the widgets are drawn)."""
    st.session_state[_view_key(run_id)] = "salience"
    st.session_state[_text_key(run_id)] = text


def default_text(run: Run, trained: TrainedRun) -> str:
    """The run's sample prompt (its config's, else the one its samples used), else a sentence."""
    task = (run.config or {}).get("task") or {}
    state = trained.task.state or {}
    return task.get("sample_prompt") or state.get("sample_prompt") or DEFAULT_TEXT.get(run.task, "")


def why_not_shown(store: Store, run: Run) -> str | None:
    """Why this page cannot explain ``run`` (the picker puts such runs last, marked), or None."""
    return None if checkpoint_mtime(store, run.id) else "no checkpoint"


def main() -> None:
    st.title("Explain", anchor=False)
    store = get_store()
    runs = [r for r in store.list_runs(status=list(FINISHED)) if views_for(r)]
    if not runs:
        st.info("No finished classification, language-model, translation or question-answering run yet. Train one "
                "on the **Train** page, or start the patching demo below.")
        demo_button(f"{KEY}.demo")
        return
    wanted = st.query_params.get("run")
    run_id = pick_runs(store, f"{KEY}.run", multi=False, runs=runs, label="Run", default=wanted,
                       unshowable=lambda r: why_not_shown(store, r))
    run = next(r for r in runs if r.id == run_id)
    st.query_params["run"] = run.id
    try:
        trained = trained_run(store, run.id)
    except Exception as exc:  # no checkpoint, damaged folder: say so, never a traceback
        st.error(f"Cannot load {run.name} ({run.id}): {exc if isinstance(exc, WorkbenchError) else repr(exc)}")
        return
    st.caption(f"{task_label(run.task)} · {arch_label(run.arch)} · checkpoint: {trained.checkpoint}")
    views = views_for(run)
    view_key, text_key = _view_key(run.id), _text_key(run.id)
    if st.session_state.get(view_key) not in views:
        asked = st.query_params.get("view")
        st.session_state[view_key] = asked if asked in views else views[0]
    if text_key not in st.session_state:
        st.session_state[text_key] = st.query_params.get("text") or default_text(run, trained)
    view = st.segmented_control("View", views, format_func=VIEWS.get, key=view_key) or views[0]
    st.query_params["view"] = view
    if view == "examples":
        examples_panel(store, trained, f"{KEY}.{run.id}.examples", open_text=lambda text: open_in_salience(run.id, text))
    elif view == "salience":
        salience_view(run, trained, text_key)
    elif view == "answers":
        qa_explain_panel(store, trained, f"{KEY}.{run.id}.answers")
    elif view == "lens":
        lens_panel(trained, f"{KEY}.{run.id}.lens", st.session_state[text_key])
    else:
        patching_panel(trained, f"{KEY}.{run.id}.patching")
        with st.expander("Built-in demo", icon=":material/science:"):
            demo_button(f"{KEY}.demo")


def salience_view(run: Run, trained: TrainedRun, text_key: str) -> None:
    classes = list((trained.task.state or {}).get("label_names") or [])
    with st.form(f"{KEY}.{run.id}.salience.form", border=False):
        st.text_area("Input" if run.task == "classification" else "Prompt (explains the next token)", key=text_key,
                     height=90)
        settings = salience_settings(f"{KEY}.{run.id}.salience", targets=classes or None)
        if run.task == "language_model":
            settings["target"] = st.text_input("Explain the next token (empty: the model's prediction)",
                                               key=f"{KEY}.{run.id}.salience.token").strip() or None
        st.form_submit_button("Explain", type="primary")
    text = st.session_state[text_key]
    if not text.strip():
        st.info("Type an input above.")
        return
    salience_panel(trained, text, f"{KEY}.{run.id}.salience", **settings)
    st.caption("Blue tokens pushed the model towards the explained output, red ones away from it "
               "(Captum; the token's attribution summed over its embedding).")


if __name__ == "__main__":
    main()
