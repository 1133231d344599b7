"""Playground: try a trained run. Classifiers score typed text; language models continue a prompt;
translation runs translate what you type; summarisation runs summarise a pasted text; masked-LM runs fill in hidden tokens; word-vector runs
(and, on request, any run's token embedding) answer neighbours, analogies and similarities; question-answering
runs answer questions over their validation contexts or uploaded documents."""

from __future__ import annotations

import streamlit as st

from app.components.ask_view import ask_panel
from app.components.attention_view import attention_embed
from app.components.charts import probabilities_bar_figure
from app.components.embeddings_view import embeddings_panel
from app.components.forms import param_widget
from app.components.input_notes import empty_translation_note, show_notes, unknown_words_note
from app.components.learn_view import learn_link
from app.components.quantize_view import is_variant, variant_select
from app.components.run_picker import pick_runs
from app.components.side_by_side import compare_with, salience_expander, side_by_side
from app.components.summarise_view import summarise_panel
from app.state import get_store
from core.decoding import settings as decoding
from core.errors import WorkbenchError
from core.paths import safe_join
from core.registry import arch_label, task_label
from core.runs import (
    TrainedRun,
    fill_mask,
    generate_text,
    load_trained,
    mask_literals,
    predict_texts,
    translate_texts,
)
from core.store import Run, Store
from core.variants import stored_variants

PLAYABLE = ("completed", "stopped")  # finished runs; a stopped one still has its checkpoints
GENERATED_KEY = "playground_generated"  # {run_id: text}: survives the rerun after Generate
TRANSLATED_KEY = "playground_translated"  # {run_id: [(source, translation), ...]}
MAX_SENTENCES = 50  # one click translates at most this many lines


def checkpoint_mtime(store: Store, run_id: str) -> float:
    """Newest checkpoint file time (0 when there is none): part of the model cache key, so a
    resumed run that saved new weights is loaded again."""
    folder = safe_join(store.runs_root, run_id, "checkpoints")
    times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return max(times, default=0.0)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _load(_store: Store, store_key: str, run_id: str, mtime: float) -> TrainedRun:
    # Cached by (store, run, checkpoint time); ``_store`` itself is not hashed (leading _).
    return load_trained(_store, run_id)


def load_model(store: Store, run_id: str) -> TrainedRun:
    return _load(store, f"{store.url}|{store.home}", run_id, checkpoint_mtime(store, run_id))


def main() -> None:
    st.title("Playground")
    store = get_store()
    runs = store.list_runs(status=list(PLAYABLE))
    if not runs:
        st.info("No finished runs yet. Train one on the **Train** page; it appears here when it completes.")
        return
    # A run stopped before its first checkpoint has nothing to try: listed last, marked.
    run_id = pick_runs(store, "playground_run", multi=False, runs=runs, label="Trained run",
                       default=st.session_state.get("run_id"),
                       unshowable=lambda r: None if checkpoint_mtime(store, r.id) else "no checkpoint")
    run = next(r for r in runs if r.id == run_id)
    try:
        trained = load_model(store, run.id)
    except Exception as exc:  # a missing or damaged run folder: say so, never a traceback
        st.error(f"Cannot load {run.name} ({run.id}): {_reason(exc)}")
        return
    st.caption(f"{task_label(run.task)} · {arch_label(run.arch)} · checkpoint: {trained.checkpoint}")
    variants = {r.id: list(stored_variants(store, r.id)) for r in runs if r.task == "classification"}
    if others := compare_with(run, runs, "playground.compare", variants):
        side_by_side(store, [run.id, *others], run.task, "playground.side", loaded={run.id: trained})
        return
    if run.task == "classification":
        _classify(*variant_select(store, run, trained, "playground.variant"))
    elif run.task == "language_model":
        _generate(run, trained)
    elif run.task == "translation":
        _translate(run, trained)
    elif run.task == "summarisation":
        summarise_panel(run, trained)
    elif run.task == "masked_lm":
        _fill_mask(trained)
    elif run.task == "word_embeddings":
        embeddings_panel(trained)
        return
    elif run.task == "qa":
        ask_panel(trained)
    else:
        st.info(f"The playground cannot try {task_label(run.task)} runs yet.")
    # Off by default: the map and lookups are a side view for runs that are not about vectors.
    # A translation model has two vocabularies and no single token embedding to explore.
    if run.task not in ("translation", "summarisation") and st.toggle("Explore the token embedding", key="playground_embedding",
                 help="Neighbours, analogies and a 2-D map of the run's learnt token vectors."):
        embeddings_panel(trained)


def _classify(trained: TrainedRun, weights: str | None = None) -> None:
    """``weights``: the name of the weights predicting (fp32 or a variant) when the run has a variant."""
    pair = bool((trained.task.state or {}).get("text_pair"))  # trained on sentence pairs
    text = st.text_area("Sentence pair to classify" if pair else "Text to classify", key="playground_text",
                        placeholder=("premise [SEP] hypothesis, then press Ctrl+Enter" if pair
                                     else "Type a sentence, then press Ctrl+Enter"))
    if not text.strip():
        return
    try:
        probs = predict_texts(trained, [text])[0]
    except Exception as exc:
        st.error(f"Classification failed: {_reason(exc)}")
        return
    best = max(probs, key=probs.get)
    by = f", {weights} weights" if weights else ""  # which of the run's weights said it
    st.markdown(f"Predicted class: **{best}** ({probs[best]:.1%}{by})")
    show_notes(unknown_words_note(trained.tokenizer, text))
    st.plotly_chart(probabilities_bar_figure(probs), key="playground_probs")
    if is_variant(trained):  # an ONNX graph: no gradients for salience, no attention to draw
        return
    salience_expander(trained, text, "playground.salience")
    attention_embed(trained, text, "playground.attention")


def _generate(run: Run, trained: TrainedRun) -> None:
    # Start from the prompt the run's own samples used (its config, else the sample's start).
    default = ((run.config or {}).get("task") or {}).get("sample_prompt") or (run.summary or {}).get("sample", "")[:16]
    prompt = st.text_area("Prompt", key="playground_prompt", value=default)
    cols = st.columns(5)
    with cols[0]:
        max_new = param_widget(decoding.MAX_NEW_TOKENS, decoding.MAX_NEW_TOKENS.default, "playground.max_new_tokens",
                               label="Max new tokens")
    with cols[1]:
        greedy = param_widget(decoding.GREEDY, False, "playground.greedy", label="Greedy")
        temperature = param_widget(decoding.TEMPERATURE, decoding.TEMPERATURE.default, "playground.temperature",
                                   label="Temperature", disabled=greedy)
    with cols[2]:
        top_k = param_widget(decoding.TOP_K, None, "playground.top_k", label="Top-k", disabled=greedy)
    with cols[3]:
        top_p = param_widget(decoding.TOP_P, None, "playground.top_p", label="Top-p", disabled=greedy)
    with cols[4]:
        seed = param_widget(decoding.SEED, decoding.SEED.default, "playground.seed", label="Seed")
    cuts = {k: v for k, v in (("top_k", top_k), ("top_p", top_p)) if v is not None}  # unset: the chapter's own
    learn_link("decoding", run=run.id, text=prompt, temperature=0 if greedy else temperature, **cuts)
    salience_expander(trained, prompt, "playground.salience")
    generated: dict[str, str] = st.session_state.setdefault(GENERATED_KEY, {})
    if st.button("Generate", type="primary", key="playground_generate"):
        try:
            with st.spinner("Generating…"):
                generated[run.id] = generate_text(
                    trained, prompt, max_new_tokens=max_new, temperature=temperature,
                    top_k=top_k, top_p=top_p, greedy=greedy, seed=seed,
                )
        except Exception as exc:
            st.error(f"Generation failed: {_reason(exc)}")
    show_notes(unknown_words_note(trained.tokenizer, prompt))
    if run.id in generated:
        st.markdown("**Generated text**")
        st.code(generated[run.id], language=None, wrap_lines=True)
        attention_embed(trained, generated[run.id], "playground.attention")


def _translate(run: Run, trained: TrainedRun) -> None:
    task = (run.config or {}).get("task") or {}
    examples = [row["source"] for row in ((run.summary or {}).get("details") or {}).get("translations", [])[:2]]
    text = st.text_area("Source sentences, one per line", key="playground_source",
                        value="\n".join(examples), help=f"At most {MAX_SENTENCES} lines at a time.")
    cols = st.columns(3)
    # Start from the run's own settings; the ranges are the declared ones (core.decoding.settings).
    with cols[0]:
        beam = param_widget(decoding.BEAM_SIZE, task.get("beam_size", 1), "playground.beam_size", label="Beam size")
    with cols[1]:
        penalty = param_widget(decoding.LENGTH_PENALTY, task.get("length_penalty", 1.0), "playground.length_penalty",
                               label="Length penalty", disabled=beam == 1)
    with cols[2]:
        max_len = param_widget(decoding.MAX_OUTPUT_TOKENS, None, "playground.max_output_tokens", label="Longest output")
    sources = [line.strip() for line in text.splitlines() if line.strip()]
    learn_link("decoding", run=run.id, text=sources[0] if sources else None, beam=beam)
    translated: dict[str, list[tuple[str, str]]] = st.session_state.setdefault(TRANSLATED_KEY, {})
    if st.button("Translate", type="primary", key="playground_translate", disabled=not sources):
        if len(sources) > MAX_SENTENCES:
            st.error(f"{len(sources)} lines: translate at most {MAX_SENTENCES} at a time.")
        else:
            try:
                with st.spinner("Translating…"):
                    outputs = translate_texts(trained, sources, beam=beam, max_len=max_len, length_penalty=penalty)
                translated[run.id] = list(zip(sources, outputs, strict=True))
            except Exception as exc:
                st.error(f"Translation failed: {_reason(exc)}")
    if run.id in translated:
        pairs = translated[run.id]
        show_notes(unknown_words_note(trained.tokenizer, [s for s, _ in pairs]),
                   empty_translation_note(run, [t for _, t in pairs]))
        st.dataframe([{"source": s, "translation": t} for s, t in pairs], hide_index=True, width="stretch",
                     key="playground_translations")
        source, output = pairs[0]
        attention_embed(trained, source, "playground.attention", target=output)


def _fill_mask(trained: TrainedRun) -> None:
    literals = " or ".join(f"`{m}`" for m in mask_literals(trained.tokenizer))
    cols = st.columns([4, 1])
    text = cols[0].text_input("Text with hidden tokens", key="playground_masked",
                              placeholder="the film was [MASK] and moving",
                              help=f"Type {literals} for each token the model should guess.")
    with cols[1]:
        k = param_widget(decoding.GUESSES, decoding.GUESSES.default, "playground.guesses")
    st.caption(f"Hide a token with {literals}.")
    if not text.strip():
        return
    try:
        guesses = fill_mask(trained, text, k=int(k))
    except Exception as exc:
        st.error(f"Cannot fill the mask: {_reason(exc)}")
        return
    # One table per mask, side by side (a fifth mask goes under the first); the probability
    # column draws as a bar.
    cols = st.columns(min(len(guesses), 4))
    bar = st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0)
    for n, options in enumerate(guesses):
        cols[n % len(cols)].markdown(f"**Mask {n + 1}**")
        cols[n % len(cols)].dataframe([{"token": token, "probability": prob} for token, prob in options],
                                      hide_index=True, key=f"playground_mask_{n}", column_config={"probability": bar})


def _reason(exc: Exception) -> str:
    """The message for a user: ours as written, anything else with its type."""
    return str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":
    main()
