"""The Playground's summariser: paste a document, get the run's summary.

The decoding widgets are the declarations in ``core.decoding.settings`` (``SUMMARISATION``:
beam, length penalty, longest and shortest output, no-repeat n-gram), starting from the run's
own settings, under the same keys as the translation panel's.
"""

from __future__ import annotations

import streamlit as st

from app.components.attention_view import attention_embed
from app.components.forms import param_widget
from app.components.input_notes import show_notes, unknown_words_note
from core.decoding import settings as decoding
from core.errors import WorkbenchError
from core.runs import TrainedRun, translate_texts
from core.store import Run

SUMMARY_KEY = "playground_summary"  # {run_id: (document, summary)}: survives the rerun after Summarise


def summarise_panel(run: Run, trained: TrainedRun) -> None:
    """A text area for one document, the length controls, and the summary."""
    own = (run.config or {}).get("task") or {}
    samples = ((run.summary or {}).get("details") or {}).get("translations") or []
    document = st.text_area("Document to summarise", key="playground_document", height=160,
                            value=samples[0]["source"] if samples else "",
                            help="Paste a whole text; it is read as one document (line breaks are spaces).")
    # Three to a row: six controls in one row cut their labels off.
    cols = [col for _ in range(0, len(decoding.SUMMARISATION), 3) for col in st.columns(3)]
    values = {}
    for col, param in zip(cols, decoding.SUMMARISATION, strict=False):
        with col:
            start = own.get(param.name, param.default) if not param.optional else None
            values[param.name] = param_widget(param, start, f"playground.{param.name}", label=param.title,
                                              disabled=param is decoding.LENGTH_PENALTY and values.get("beam_size") == 1)
    done: dict[str, tuple[str, str]] = st.session_state.setdefault(SUMMARY_KEY, {})
    text = " ".join(document.split())
    if st.button("Summarise", type="primary", key="playground_summarise", disabled=not text):
        try:
            with st.spinner("Summarising…"):
                summary = translate_texts(
                    trained, [text], beam=values["beam_size"], length_penalty=values["length_penalty"],
                    max_len=values["max_output_tokens"], min_len=values["min_output_tokens"],
                    no_repeat_ngram=values["no_repeat_ngram"],
                )[0]
            done[run.id] = (text, summary)
        except Exception as exc:  # never a traceback: the reason in one line
            st.error(f"Summarising failed: {exc if isinstance(exc, WorkbenchError) else f'{type(exc).__name__}: {exc}'}")
    if run.id in done:
        source, summary = done[run.id]
        show_notes(unknown_words_note(trained.tokenizer, source))
        st.markdown("**Summary**")
        st.code(summary or "(empty: the model ended at once)", language=None, wrap_lines=True)
        attention_embed(trained, source, "playground.attention", target=summary)
