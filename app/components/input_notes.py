"""What the Playground says about an input or an output that the model cannot do much with:
words its vocabulary never saw, and a translation that came out empty. Pure text builders
(``*_note``) plus one drawing helper, so a page adds a line per case."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.metrics import METRICS
from core.store import Run
from core.tokenize import UNK_ID, Tokenizer

SHOWN = 8  # unknown words listed by name; the rest are counted


def unknown_pieces(tokenizer: Tokenizer, text: str) -> tuple[list[str], int, str]:
    """(the pieces of ``text`` this vocabulary does not hold, how many pieces it has, what a
    piece is). Word and character vocabularies only: byte-level BPE has no unknown piece."""
    if tokenizer.kind == "word":
        words = tokenizer.split(text)  # type: ignore[attr-defined]
        ids = tokenizer.encode(text)
        return [w for w, i in zip(words, ids, strict=True) if i == UNK_ID], len(words), "word"
    if tokenizer.kind == "char":
        chars = list(text.lower() if tokenizer.params.get("lowercase") else text)
        ids = tokenizer.encode(text)
        return [c for c, i in zip(chars, ids, strict=False) if i == UNK_ID], len(chars), "character"
    return [], 0, "token"


def unknown_words_note(tokenizer: Tokenizer, texts: str | Sequence[str]) -> str | None:
    """A sentence saying which typed words (or characters) are not in the run's vocabulary, and
    how many, or None when every one is known."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    unknown: list[str] = []
    total, unit = 0, "word"
    for text in texts:
        found, count, unit = unknown_pieces(tokenizer, text)
        unknown += found
        total += count
    if not unknown:
        return None
    distinct = list(dict.fromkeys(unknown))
    shown = ", ".join(f"“{w}”" for w in distinct[:SHOWN]) + (f" and {len(distinct) - SHOWN} more" if len(distinct) > SHOWN else "")
    known = tokenizer.vocab_size - 4  # the four special tokens are no words
    return (f"{len(unknown)} of {total} {unit}s {'is' if len(unknown) == 1 else 'are'} not in this run's "
            f"vocabulary ({known:,} {unit}s learnt from its training data): {shown}. The model reads "
            f"{'it' if len(unknown) == 1 else 'each'} as <unk>, so "
            f"{'it carries' if len(unknown) == 1 else 'they carry'} no meaning for it.")


def empty_translation_note(run: Run, outputs: Sequence[str]) -> str | None:
    """Why translations came out empty: the decoder chose end-of-sentence as its first token,
    which is what an undertrained model does; with this run's own figures. None when none is."""
    empty = sum(1 for text in outputs if not text.strip())
    if not empty:
        return None
    summary = run.summary or {}
    val = summary.get("val") or {}
    trained = f"it trained {summary['step']:,} steps" if isinstance(summary.get("step"), int) else "it trained"
    if isinstance(val.get("bleu"), int | float):
        bleu = METRICS["bleu"]
        trained += f" and scores {bleu.label} {bleu.shown(val['bleu'])} on validation"
    which = "The translation is" if len(outputs) == 1 else f"{empty} of {len(outputs)} translations are"
    return (f"{which} empty: the model ended {'it' if empty == 1 else 'them'} at once, choosing "
            f"end-of-sentence as the first token. An undertrained run does that ({trained}); train it "
            "longer, or try a larger beam, which keeps longer candidates.")


def show_notes(*notes: str | None) -> None:
    for note in notes:
        if note:
            st.info(note, icon=":material/info:")
