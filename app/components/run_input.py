"""A run's own example input: what the Attention and Learn pages start from when the address
carries no text. Words the run's tokenizer knows (a topics classifier reads a fixed sentence such
as "the cat sat on the mat" as mostly <unk>): its attention probe, its sample prompt or its first
validation text."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from app.components.attention_view import trained_run
from core import inspect as attn
from core.config import validate_config
from core.store import Run, Store

if TYPE_CHECKING:  # torch loads with the model
    from core.runs import TrainedRun

DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def default_input(run_dir: Path, run: Run, trained: TrainedRun | None = None, *, sentence: bool = False) -> str:
    """The run's probe (what its snapshots show), else its sample prompt, else its first
    validation text, else a sentence; ``sentence``: only its first sentence. Cut to what the
    model reads (a character GPT's probe is a 2,000-character validation excerpt, its context 64
    characters), so the first view needs no truncation note."""
    text = ((run.config or {}).get("task") or {}).get("sample_prompt") or ""
    steps = attn.snapshot_steps(run_dir)
    if steps:
        with contextlib.suppress(OSError, ValueError, KeyError):
            text = attn.load_snapshot(run_dir, steps[-1]).text
    text = text or validation_text(run.id, run.config or {}) or DEFAULT_TEXT
    if sentence:
        text = next((s.strip() for s in _SENTENCE_END.split(text) if s.strip()), text)
    if trained is None:
        return text
    limit = min(attn.DEFAULT_MAX_TOKENS, attn.input_limit(trained.task) or attn.DEFAULT_MAX_TOKENS)
    return fit_text(trained.tokenizer, text, limit)


@st.cache_data(show_spinner=False, max_entries=64)
def validation_text(run_id: str, _config: dict[str, Any]) -> str:
    """The run's first validation example (its probe: :func:`core.inspect.probe_input`), or ""
    when its data cannot be read here (a file that moved, a download that is not cached)."""
    from core.assemble import load_dataset  # torch: loaded with the model anyway

    try:
        probe = attn.probe_input(load_dataset(validate_config(_config)))
    except Exception:  # any reason the data is unreadable: the page falls back to a sentence
        return ""
    return probe[0] if probe else ""


def fit_text(tokenizer: Any, text: str, limit: int) -> str:
    """The longest start of ``text`` that encodes to at most ``limit`` tokens, cut at a space
    where one is near (a binary search over lengths: a few encodes)."""
    if len(tokenizer.encode(text)) <= limit:
        return text
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if len(tokenizer.encode(text[:mid])) <= limit:
            low = mid
        else:
            high = mid - 1
    cut = text[:low]
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) * 0.7 else cut).rstrip()


def chapter_input(store: Store, run_id: str | None, fallback: str) -> str:
    """A Learn chapter's first input: one sentence of ``run_id``'s own text (``fallback``, the
    chapter's, without a run). A run that does not load yet gets its text uncut: the chapter
    says why it cannot compute."""
    if run_id is None:
        return fallback
    trained = None
    with contextlib.suppress(Exception):  # no checkpoint yet: the page says so below the input
        trained = trained_run(store, run_id)
    return default_input(store.run_folder(run_id), store.get_run(run_id), trained, sentence=True)
