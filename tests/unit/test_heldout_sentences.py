"""The whole-sentence held-out split (core/data/sentences.py): no held-out sentence, and no
phrase of one, is left in training; the choice depends on the file's content alone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from core.data.sentences import hold_out_sentences, whole_sentences

SST2 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sst2" / "train.tsv"

SENTENCES = [
    "the film is a quiet triumph .",
    "a dull , lifeless and overlong mess .",
    "it never finds its footing !",
    "why would anyone sit through this ?",
    "one of the year 's most charming comedies .",
    "the acting is wooden and the plot is thin .",
]


def phrase_rows(sentences: list[str]) -> list[str]:
    """Each sentence with every run of its tokens, as SST-2's train.tsv holds its parse trees'
    phrases (here all runs, a superset of a tree's phrases)."""
    rows = []
    for s in sentences:
        t = s.split()
        rows += [" ".join(t[a:b]) for a in range(len(t)) for b in range(a + 1, len(t) + 1)]
    return rows


def spans(text: str) -> set[tuple[str, ...]]:
    t = tuple(text.split())
    return {t[a:b] for a in range(len(t)) for b in range(a + 1, len(t) + 1)}


def assert_disjoint(texts: list[str], train: list[int], heldout: list[int]) -> None:
    assert heldout and not set(train) & set(heldout)
    leaked = set().union(*(spans(texts[i]) for i in heldout))
    assert not [texts[i] for i in train if tuple(texts[i].split()) in leaked]  # no phrase of one


def test_whole_sentences_are_the_rows_no_other_row_contains() -> None:
    rows = phrase_rows(SENTENCES)
    found = {rows[i] for i in whole_sentences(rows)}
    assert found == set(SENTENCES)  # "is a quiet triumph ." ends a sentence but is inside one


def test_held_out_sentences_and_their_phrases_never_reach_training() -> None:
    rows = phrase_rows(SENTENCES) + ["a quiet mess", "wooden"]  # phrases of another origin
    split = hold_out_sentences(rows, 2)
    assert len(split.heldout) == 2 and split.sentences == len(SENTENCES)
    assert_disjoint(rows, split.train, split.heldout)
    assert len(split.train) + len(split.heldout) + split.dropped == len(rows)
    # The choice follows the content, not the order of the rows.
    shuffled = list(rows)
    random.Random(3).shuffle(shuffled)
    again = hold_out_sentences(shuffled, 2)
    assert {shuffled[i] for i in again.heldout} == {rows[i] for i in split.heldout}


@pytest.mark.skipif(not SST2.exists(), reason="../shared/data is absent")
def test_the_sst2_sentence_split_is_disjoint_from_training() -> None:
    texts = [line.rstrip("\n").split("\t")[1] for line in SST2.open(encoding="utf-8")][1:]
    split = hold_out_sentences(texts, 300)
    assert len(split.heldout) == 300 and split.sentences > 5000
    assert_disjoint(texts, split.train, split.heldout)
    assert all(texts[i].split()[-1] in {".", "!", "?"} for i in split.heldout)


@pytest.mark.parametrize("task", ["word_embeddings", "masked_lm"])
def test_pretraining_on_the_file_never_reads_the_held_out_sentences(tmp_path: Path, task: str) -> None:
    """A pretraining run on the same file with the same data.heldout_sentences leaves out the
    very sentences (and phrases) its classifier is scored on."""
    from core.data.files import file_dataset
    from core.errors import ConfigError

    rows = phrase_rows(SENTENCES)
    data = tmp_path / "phrases.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{r}\t{i % 2}\n" for i, r in enumerate(rows)))
    params = {"path": str(data), "heldout_sentences": 2}
    held = file_dataset(params, task="classification", seed=0).extras["heldout"].texts
    corpus = file_dataset(params, task=task, seed=0)
    text = corpus.train.texts[0] + "\n" + corpus.validation.texts[0]
    lines = {tuple(line.split()) for line in text.split("\n")}
    assert len(held) == 2 and lines
    assert not lines & set().union(*(spans(s) for s in held))  # no sentence, no phrase of one
    assert any("2 of the 6 whole sentences held out" in note for note in corpus.notes)
    # Holding out every sentence would leave nothing of them to learn from: refused, by name.
    for name in ("classification", task):
        with pytest.raises(ConfigError, match="data.heldout_sentences.*fewer than the 6 whole sentences"):
            file_dataset({**params, "heldout_sentences": 6}, task=name, seed=0)
