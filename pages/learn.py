"""Learn: the formulas behind the workbench, computed live on your own trained run and text.

Pick a chapter, a run it can read and an input; every step of the formula is computed from the
run's own weights and checked against what the model itself computed. ``?chapter=attention&run=
ID&text=...&layer=0&head=1`` opens the same view: a link an instructor can share.
"""

from __future__ import annotations

import streamlit as st

from app.components.attention_view import checkpoint_mtime, trained_run
from app.components.learn_view import draw, knob_values, pick_chapter
from app.components.run_picker import pick_runs
from app.state import get_store
from core.errors import WorkbenchError
from core.learn.chapters import Chapter
from core.registry import arch_label, task_label
from core.store import Run, Store

KEY = "learn"
FINISHED = ("completed", "stopped", "running")


def why_not_shown(store: Store, chapter: Chapter, run: Run) -> str | None:
    if not chapter.accepts(run.task, run.arch):
        return "not this chapter's kind of model"
    return None if checkpoint_mtime(store, run.id) else "no checkpoint yet"


def pick_run(store: Store, chapter: Chapter) -> str | None:
    """The run the chapter computes on (in the URL), or None with a word on how to get one."""
    runs = [r for r in store.list_runs(status=list(FINISHED)) if chapter.accepts(r.task, r.arch)]
    if not runs:
        kinds = ", ".join(sorted({arch_label(a) for archs in chapter.runs.values() for a in archs}))
        st.info(f"This chapter reads a trained {kinds}. Train one on the **Train** page (the Quick preset "
                "takes under a minute), then come back.")
        return None
    run_id = pick_runs(store, f"{KEY}.{chapter.name}.run", multi=False, runs=runs, label="Run",
                       default=st.query_params.get("run"), unshowable=lambda r: why_not_shown(store, chapter, r))
    if isinstance(run_id, str):
        st.query_params["run"] = run_id
        return run_id
    return None


def main() -> None:
    st.title("Learn", anchor=False)
    st.caption("Each formula, computed step by step on a run you trained and the text you type.")
    chapter = pick_chapter(f"{KEY}.chapter", st.query_params.get("chapter"))
    st.query_params["chapter"] = chapter.name
    st.markdown(chapter.summary)
    store = get_store()
    run_id = pick_run(store, chapter) if chapter.runs else None
    if chapter.runs and run_id is None:
        return
    text_key = f"{KEY}.{chapter.name}.text"
    if text_key not in st.session_state:
        st.session_state[text_key] = st.query_params.get("text") or chapter.default_text
    text = st.text_input("Your input", key=text_key, help="Change it and press Enter: every step recomputes.")
    knobs = knob_values(chapter, f"{KEY}.{chapter.name}", dict(st.query_params))
    st.query_params.update({"text": text, **{k: str(v) for k, v in knobs.items()}})
    try:
        trained = None
        if run_id is not None:
            trained = trained_run(store, run_id)
            st.caption(f"{task_label(trained.run.task)} · {arch_label(trained.run.arch)} · "
                       f"checkpoint: {trained.checkpoint}")
        walk = chapter.function()(trained, text, **chapter.knob_values(knobs))
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    draw(walk)


if __name__ == "__main__":
    main()
