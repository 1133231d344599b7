"""Learn: the formulas behind the workbench, computed live on your own trained run and text.

Pick a chapter, a run it can read and an input; every step of the formula is computed from the
run's own weights and checked against what the model itself computed. ``?chapter=attention&run=
ID&text=...&layer=0&head=1`` opens the same view: a link an instructor can share.
"""

from __future__ import annotations

import streamlit as st

from app.components.attention_view import checkpoint_mtime, trained_run
from app.components.learn_view import draw, knob_values, pick_chapter
from app.components.run_input import chapter_input
from app.components.run_picker import pick_runs
from app.state import get_store, launch
from core.errors import WorkbenchError
from core.learn.chapters import CHAPTERS, STARTER_STEPS, Chapter
from core.registry import arch_label, task_label
from core.store import Run, Store

KEY = "learn"
GEN_KEY = "learn.gen"  # bumped when the page is opened from a link: widgets start from the URL
WRITTEN_KEY = "learn.written"  # the address this page last wrote (a different one came from outside)
CHAPTER_NAMES = {c.name for c in CHAPTERS}
KNOB_NAMES = sorted({k.name for c in CHAPTERS for k in c.knobs})
FINISHED = ("completed", "stopped", "running")


def why_not_shown(store: Store, chapter: Chapter, run: Run) -> str | None:
    if not chapter.accepts(run.task, run.arch):
        return "not this chapter's kind of model"
    return None if checkpoint_mtime(store, run.id) else "no checkpoint yet"


def pick_run(store: Store, chapter: Chapter, key: str) -> str | None:
    """The run the chapter computes on (in the URL), or None with a word on how to get one."""
    runs = [r for r in store.list_runs(status=list(FINISHED)) if chapter.accepts(r.task, r.arch)]
    if not runs:
        offer_starter(store, chapter, key)
        return None
    run_id = pick_runs(store, f"{key}.run", multi=False, runs=runs, label="Run",
                       default=st.query_params.get("run"), unshowable=lambda r: why_not_shown(store, chapter, r))
    if isinstance(run_id, str):
        st.query_params["run"] = run_id
        return run_id
    return None


def offer_starter(store: Store, chapter: Chapter, key: str) -> None:
    """No run to read: say which kinds would do, and train a tiny one on a click."""
    kinds = ", ".join(sorted({arch_label(a) for archs in chapter.runs.values() for a in archs}))
    st.info(f"This chapter reads a trained {kinds}. Train a tiny one here, or any on the **Train** page.")
    starter = chapter.starter()
    waiting = st.session_state.get(f"{key}.starter")
    if waiting is None and st.button(f"Train a tiny {arch_label(starter.arch)} now ({STARTER_STEPS} steps, "
                                     "well under a minute)", key=f"{key}.start", icon=":material/play_arrow:"):
        [run] = launch(store, [starter], names=[f"learn-{chapter.name}"], tags=("learn",))
        st.session_state[f"{key}.starter"] = waiting = run.id
    if waiting is not None:
        wait_for(store, waiting)


@st.fragment(run_every=2.0)
def wait_for(store: Store, run_id: str) -> None:
    """The starter run's progress; the chapter opens on it once it has finished."""
    run = store.get_run(run_id)
    if run.status == "completed":
        st.rerun()  # the whole page: the picker now has the run
    elif run.status in ("failed", "stopped"):
        st.error(f"{run.name} {run.status}: see the **Run** page for why.", icon=":material/error:")
    else:
        st.info(f"Training {run.name} ({run.status})… the chapter opens on it when it has finished.",
                icon=":material/hourglass_top:")


def main() -> None:
    st.title("Learn", anchor=False)
    st.caption("Each formula, computed step by step on a run you trained and the text you type.")
    query = dict(st.query_params)
    if query != st.session_state.get(WRITTEN_KEY):
        # Opened from a link or an edited address: fresh widgets, started from the URL (widget
        # keys carry a generation, so no widget keeps what it held before).
        st.session_state[GEN_KEY] = st.session_state.get(GEN_KEY, 0) + 1
    key = f"{KEY}.g{st.session_state.get(GEN_KEY, 0)}"
    wanted = query.get("chapter")
    if wanted and wanted not in CHAPTER_NAMES:
        st.warning(f"There is no chapter called {wanted!r}; the chapters are listed below.", icon=":material/help:")
    chapter = pick_chapter(f"{key}.chapter", wanted)
    if chapter.name != wanted:  # another chapter chosen: its own input and knobs, not the last one's
        for name in ("text", *KNOB_NAMES):
            st.query_params.pop(name, None)
    st.query_params["chapter"] = chapter.name
    try:
        show(chapter, f"{key}.{chapter.name}")
    finally:
        st.session_state[WRITTEN_KEY] = dict(st.query_params)


def show(chapter: Chapter, key: str) -> None:
    st.markdown(chapter.summary)
    store = get_store()
    run_id = pick_run(store, chapter, key) if chapter.runs else None
    if chapter.runs and run_id is None:
        return
    # No text in the address: a sentence of the run's own (its tokenizer knows the words).
    start = st.query_params.get("text") or chapter_input(store, run_id, chapter.default_text)
    text = st.text_input("Your input", value=start, key=f"{key}.text",
                         help="Change it and press Enter: every step recomputes.")
    if not text.strip():  # as `lmwb learn` says: nothing to compute on
        st.info("Type some text above: every step is computed on it.", icon=":material/edit:")
        return
    try:
        trained = None
        if run_id is not None:
            trained = trained_run(store, run_id)
            st.caption(f"{task_label(trained.run.task)} · {arch_label(trained.run.arch)} · "
                       f"checkpoint: {trained.checkpoint}")
        # The knobs as this run and input allow them: a layer or head the model has, a class by name.
        adapted = chapter.adapted(trained, text)
        knobs = knob_values(chapter, key, dict(st.query_params), trained.run.task if trained else None, adapted)
        st.query_params.update({"text": text, **{k: str(v) for k, v in knobs.items()}})
        walk = chapter.function()(trained, text, **chapter.knob_values(knobs))
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    draw(walk)


if __name__ == "__main__":
    main()
