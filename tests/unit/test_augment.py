"""Text augmentation (core.augment, issue 27): EDA's operations do what they say, every
augmenter is deterministic under a seed and never touches labels, synonyms come from the named
run's vectors and back-translation goes through the two named translation runs."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from core.augment import eda
from core.augment.augmenter import Augmenter, build_augmenter, row_seed, word_changes
from core.augment.masking import mask_aware
from core.augment.sources import synonyms_from_run
from core.augment.synonyms import SynonymTable
from core.config import default_config, validate_config
from core.errors import ConfigError
from tests.trained_runs import train_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = ["the film was not good at all", "an utterly charming and funny story",
         "a dull plot with wooden acting", "i loved every minute of it"]
SYN = {"good": ("fine", "great"), "film": ("movie",), "story": ("tale",), "dull": ("boring",),
       "funny": ("witty", "amusing"), "acting": ("performances",), "loved": ("adored",)}


def synonyms(word: str) -> tuple[str, ...]:
    return SYN.get(word, ())


def is_subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(any(w == x for x in rest) for w in short)


# -- the operations ---------------------------------------------------------------------------------

def test_deletion_only_removes_and_keeps_a_word() -> None:
    words = TEXTS[0].split()
    for seed in range(30):
        out = eda.random_deletion(words, 0.3, random.Random(seed))
        assert out and is_subsequence(out, words)
    assert any(len(eda.random_deletion(words, 0.3, random.Random(s))) < len(words) for s in range(10))
    assert eda.random_deletion(words, 0.99, random.Random(0))  # never empty


def test_swap_keeps_the_words_and_moves_some() -> None:
    words = TEXTS[1].split()
    outs = [eda.random_swap(words, 2, random.Random(s)) for s in range(20)]
    assert all(Counter(o) == Counter(words) for o in outs)
    assert any(o != words for o in outs)


def test_insertion_adds_synonyms_of_the_texts_words() -> None:
    words = TEXTS[1].split()
    for seed in range(20):
        out = eda.random_insertion(words, 2, synonyms, random.Random(seed))
        assert len(out) == len(words) + 2 and is_subsequence(words, out)
        added = Counter(out) - Counter(words)
        allowed = {s for w in words for s in synonyms(w)}
        assert set(added) <= allowed and sum(added.values()) == 2


def test_replacement_and_masking_change_words_in_place() -> None:
    words = TEXTS[0].split()
    out = eda.synonym_replacement(words, 5, synonyms, random.Random(0))
    assert len(out) == len(words)
    assert all(a == b or b in synonyms(a) for a, b in zip(words, out, strict=True))
    assert out != words
    masked = eda.mask_words(words, 3, random.Random(0))
    assert masked.count(eda.MASK_WORD) == 3
    assert all(a == b for a, b in zip(words, masked, strict=True) if b != eda.MASK_WORD)


@pytest.mark.parametrize("method", ["eda", "mask", "synonyms"])
def test_p_zero_is_identity(method: str) -> None:
    aug = Augmenter(method, 0.0, 1.0, synonyms=synonyms)
    assert aug.augment(TEXTS, list(range(len(TEXTS)))) == TEXTS


@pytest.mark.parametrize("method", ["eda", "mask", "synonyms"])
def test_deterministic_under_a_seed_and_different_across_seeds(method: str) -> None:
    aug = Augmenter(method, 0.3, 1.0, synonyms=synonyms)
    seeds = [row_seed(1, 77, j) for j in range(len(TEXTS))]
    first = aug.augment(TEXTS * 5, seeds * 5)
    assert first == Augmenter(method, 0.3, 1.0, synonyms=synonyms).augment(TEXTS * 5, seeds * 5)
    other = aug.augment(TEXTS * 5, [row_seed(2, 77, j) for j in range(len(TEXTS))] * 5)
    assert first != other
    state = random.getstate()
    aug.augment(TEXTS, seeds)
    assert random.getstate() == state  # the global generator is never drawn from


def test_row_chance_and_pairs() -> None:
    aug = Augmenter("mask", 0.5, 0.5)
    out = aug.augment(TEXTS * 25, list(range(100)))
    left = sum(o is None for o in out)
    assert 30 < left < 70  # about half the rows stay as they are
    pair = Augmenter("mask", 0.5, 1.0).augment(["a good film [SEP] a fine movie"], [3])[0]
    assert pair is not None and pair.count("[SEP]") == 1 and pair.index("[SEP]") > 0


def test_word_changes_marks_what_differs() -> None:
    left, right = word_changes("a good film", "a great film indeed")
    assert left == [("a", False), ("good", True), ("film", False)]
    assert right == [("a", False), ("great", True), ("film", False), ("indeed", True)]


# -- the classification task ------------------------------------------------------------------------

def _task(**task_params: object):  # a classification task on the built-in set, data set
    from core.assemble import build_task, fit_tokenizer, load_dataset

    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["task"].update(task_params)
    config = validate_config(raw)
    data = load_dataset(config)
    task = build_task(config, fit_tokenizer(config, data), None, torch.device("cpu"))
    task.set_data(data)
    return task, data


def test_task_augments_training_rows_only_and_never_labels() -> None:
    plain, data = _task()
    task, _ = _task(augment="mask", augment_p=0.3, augment_prob=1.0)
    a = plain.train_batch(16, torch.Generator().manual_seed(5))
    b = task.train_batch(16, torch.Generator().manual_seed(5))
    assert torch.equal(a.targets, b.targets)  # the same rows, the same labels
    assert a.texts is not None and b.texts is not None and a.texts != b.texts
    mask_id = task.tokenizer.mask_id
    assert all(eda.MASK_WORD in t for t in b.texts if len(t.split()) > 0)
    assert int((b.inputs["ids"] == mask_id).sum()) == sum(t.split().count(eda.MASK_WORD) for t in b.texts)
    names = data.label_names
    by_text = {t: names[y] for t, y in zip(data.train.texts, data.train.labels, strict=True)}
    assert [by_text[t] for t in a.texts] == [names[int(y)] for y in b.targets]
    again = task.train_batch(16, torch.Generator().manual_seed(5))
    assert again.texts == b.texts and torch.equal(again.inputs["ids"], b.inputs["ids"])
    assert torch.equal(task.val.ids, plain.val.ids)  # validation rows are never changed


def test_fixed_copies_keep_labels_are_seeded_and_replace_batch_time_augmentation() -> None:
    plain, data = _task()
    task, _ = _task(augment="eda", augment_p=0.3, augment_copies=2)
    other_seed, _ = _task(augment="eda", augment_p=0.3, augment_copies=2)
    other_seed.config["training"]["seed"] = 1
    task.prepare_training()
    again, _ = _task(augment="eda", augment_p=0.3, augment_copies=2)
    again.prepare_training()
    other_seed.prepare_training()
    n = len(data.train.texts)
    assert task.train_texts[:n] == list(data.train.texts)  # the rows first, as they were
    assert 0 < task.copies_made <= 2 * n and len(task.train) == len(task.train_texts) == n + task.copies_made
    summary = task.data_summary()
    assert summary["train_examples"] == n + task.copies_made and summary["train_rows"] == n
    assert summary["augmented_copies"] == task.copies_made
    assert summary["augmented_copies_left_out"] == 2 * n - task.copies_made > 0  # short rows: equal copies
    # each copy is an EDA change of one row (the same words, fewer, or one swapped) with that row's label
    names, labels = data.label_names, task.train.labels.tolist()
    label_of = {t: names[y] for t, y in zip(data.train.texts, data.train.labels, strict=True)}
    rows_words = {t: Counter(t.split()) for t in data.train.texts}
    for text, label in zip(task.train_texts[n:], labels[n:], strict=True):
        words = Counter(text.split())
        sources = [t for t, c in rows_words.items() if not words - c and label_of[t] == names[label]]
        assert sources, text  # its words all come from a row of its label (no synonyms run: swap, delete)
    assert again.train_texts == task.train_texts and torch.equal(again.train.ids, task.train.ids)
    assert other_seed.train_texts[n:] != task.train_texts[n:]
    assert len(set(zip(task.train_texts, labels, strict=True))) == len(task.train_texts)  # no copy twice, none equal to its row
    # ids are the copies' own encodings, and a batch reads its rows as they are
    row = n + 3
    expected = task.encode([task.train_texts[row]])[0]
    assert task.train.ids[row, : int(task.train.lengths[row])].tolist() == expected
    batch = task.train_batch(32, torch.Generator().manual_seed(0))
    assert batch.texts is not None and set(batch.texts) <= set(task.train_texts)
    plain.prepare_training()
    assert plain.train_texts == list(data.train.texts) and plain.copies_made == 0


def test_copies_need_a_method() -> None:
    raw = default_config("classification")
    raw["task"].update(augment_copies=2)
    with pytest.raises(ConfigError, match="task.augment_copies"):
        validate_config(raw)


def test_mask_encodes_as_the_tokenizers_mask_token() -> None:
    task, _ = _task()
    ids = mask_aware(task.tokenizer).encode("a [MASK] film")
    assert ids == [task.tokenizer.encode("a")[0], task.tokenizer.mask_id, task.tokenizer.encode("film")[0]]


def test_settings_name_the_field() -> None:
    raw = default_config("classification")
    raw["task"]["augment"] = "synonyms"
    with pytest.raises(ConfigError, match="task.synonyms_run"):
        validate_config(raw)
    raw["task"].update(augment="back_translation", back_translation_runs="only_one")
    with pytest.raises(ConfigError, match="task.back_translation_runs must name two"):
        validate_config(raw)
    raw["task"]["augment"] = "shuffle"
    with pytest.raises(ConfigError, match="task.augment.*'eda'"):
        validate_config(raw)


# -- runs in the store ------------------------------------------------------------------------------

def test_synonyms_are_the_named_runs_nearest_neighbours(store) -> None:
    from core.embeddings import run_vectors
    from core.runs import load_trained

    raw = default_config("word_embeddings")
    raw["data"] = {"name": "python_docs"}
    raw["model"] = {"name": "word2vec", "dim": 16}
    run_id = train_run(store, "vectors", raw, max_steps=30, eval_every=30, batch_size=256)
    with pytest.raises(ConfigError, match="task.synonyms_run.*no such run"):
        synonyms_from_run("no_such_run", store)
    table = synonyms_from_run("vectors", store)
    vocab, vectors = run_vectors(load_trained(store, run_id))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    words = [w for w in vocab[10:60] if w.isalpha() and w not in eda.STOPWORDS][:8]
    assert words
    assert all(table(w) == () for w in vocab[:60] if w in eda.STOPWORDS)  # a stopword has no synonym
    for word in words:
        i = vocab.index(word)
        cos = unit @ unit[i]
        order = [j for j in np.argsort(-cos, kind="stable") if j != i and vocab[j].isalpha()
                 and not vocab[j].startswith("<") and vocab[j].lower() not in eda.STOPWORDS]
        hand = [vocab[j] for j in order[: table.k] if cos[j] >= table.min_cos]
        assert list(table(word)) == hand
    assert isinstance(table, SynonymTable) and any(table(w) for w in words)
    allowed = set(words[::2])  # a classifier offers only the words its tokenizer reads
    narrowed = synonyms_from_run(run_id, store, known=allowed.__contains__)
    assert all(set(narrowed(w)) <= allowed for w in words)
    assert any(narrowed(w) for w in words)


def _translation_run(store, name: str, data: str) -> str:
    raw = default_config("translation")
    raw["data"] = {"name": data}
    raw["task"]["eval_max_sentences"] = 16
    return train_run(store, name, raw, max_steps=60, eval_every=60, eval_max_batches=1)


def test_back_translation_goes_through_the_named_runs(store) -> None:
    from core.runs import load_trained, translate_texts

    there, back = _translation_run(store, "there", "reverse"), _translation_run(store, "back", "sort")
    texts = ["k 3 b 7", "a 7 q 2 z", "k 3 b 7"]

    def round_trip(first: str, second: str) -> list[str]:
        pivot = translate_texts(load_trained(store, first), texts, beam=1)
        assert all(p.strip() for p in pivot)  # the runs write something: the check below is not vacuous
        return translate_texts(load_trained(store, second), pivot, beam=1)

    aug = build_augmenter({"augment": "back_translation", "augment_prob": 1.0,
                           "back_translation_runs": "there, back"}, store)
    assert aug is not None
    out = aug.augment(texts, [0, 1, 2])
    assert out == round_trip(there, back) and out != texts and out[0] == out[2]
    swapped = build_augmenter({"augment": "back_translation", "augment_prob": 1.0,
                               "back_translation_runs": f"{back},{there}"}, store)  # ids work as names do
    assert swapped is not None
    assert swapped.augment(texts, [0, 1, 2]) == round_trip(back, there)
    vectors_raw = default_config("classification")
    vectors_raw["data"]["n_examples"] = 100
    train_run(store, "clf", vectors_raw, max_steps=2, eval_every=2)
    with pytest.raises(ConfigError, match=r"task.back_translation_runs.*run \w+ is a classification run"):
        build_augmenter({"augment": "back_translation", "back_translation_runs": "there,clf"}, store)


# -- stopwords and what each row says was done ---------------------------------------------------

def every_word(word: str) -> tuple[str, ...]:
    """A synonym for every token, stopwords and punctuation included: only the filter stops them."""
    return (word.upper() + "x",)


SENTENCE = "the acting was wonderful , and a plot with no heart ."


def test_stopwords_and_punctuation_are_never_replaced_nor_a_source_of_insertion() -> None:
    words = SENTENCE.split()
    kept = [i for i, w in enumerate(words) if not eda.replaceable(w)]
    assert {words[i] for i in kept} == {"the", "was", ",", "and", "a", "with", "no", "."}
    for seed in range(30):
        out = eda.synonym_replacement(words, len(words), every_word, random.Random(seed))
        assert [out[i] for i in kept] == [words[i] for i in kept]
        assert all(out[i] != w for i, w in enumerate(words) if i not in kept)  # the others all could
        record: list[tuple[str, str]] = []
        eda.random_insertion(words, 3, every_word, random.Random(seed), record)
        assert record and all(eda.replaceable(source) for source, _ in record)
    aug = Augmenter("synonyms", 0.9, synonyms=every_word)
    for seed in range(10):
        out = aug.change(" ".join(words), random.Random(seed)).split()
        assert [out[i] for i in kept] == [words[i] for i in kept]


def test_each_rows_operation_is_what_was_done() -> None:
    aug = Augmenter("eda", 0.3, synonyms=synonyms)
    seen: Counter[str] = Counter()
    for text in TEXTS:
        words = text.split()
        for change in aug.explain_all([text] * 40, list(range(40))):
            out = change.text.split()
            [op] = change.ops
            seen[op] += 1
            assert bool(change.unchanged) == (out == words), (op, change)
            if change.unchanged:
                continue
            if op == eda.SWAP:
                assert Counter(out) == Counter(words)
            elif op == eda.DELETE:
                assert len(out) < len(words) and is_subsequence(out, words)
            elif op == eda.REPLACE:
                assert len(out) == len(words)
                assert sorted((a, b) for a, b in zip(words, out, strict=True) if a != b) == sorted(change.synonyms)
            else:
                assert op == eda.INSERT and len(out) == len(words) + len(change.synonyms)
                assert is_subsequence(words, out)
                assert all(new in synonyms(source) for source, new in change.synonyms)
    assert set(seen) == {eda.SWAP, eda.DELETE, eda.REPLACE, eda.INSERT}
    masked = Augmenter("mask", 0.3).explain_all(TEXTS, [0] * len(TEXTS))
    assert all(c.ops == [eda.MASK] and eda.MASK_WORD in c.text for c in masked)
    # explain_all reads a row as augment() does under the same seed (the preview shows what a run reads)
    assert [c.text for c in aug.explain_all(TEXTS, [5, 6, 7, 8])] == \
        Augmenter("eda", 0.3, 1.0, synonyms=synonyms).augment(TEXTS, [5, 6, 7, 8])


def test_the_user_guide_lists_the_methods_as_declared() -> None:
    """The guide's table is the method table's rows (label and description), so the forms, the
    Data page and the docs say the same."""
    from pathlib import Path

    from core.augment.settings import METHOD_TABLE

    guide = (Path(__file__).resolve().parents[2] / "docs" / "user-guide.md").read_text()
    for m in METHOD_TABLE[1:]:
        assert f"| `{m.name}` | {m.label} | {m.description} |" in guide, m.name


def test_the_method_menu_reads_the_method_tables_labels() -> None:
    from core.augment.settings import AUGMENT_PARAMS, METHOD_TABLE
    from core.params import Param

    augment = AUGMENT_PARAMS[0]
    assert [augment.choice_title(m.name) for m in METHOD_TABLE] == [m.label for m in METHOD_TABLE]
    assert augment.choice_title("unknown") == "unknown"  # a value outside the choices reads as itself
    with pytest.raises(ValueError, match="one choice label per choice"):
        Param("x", "str", "a", "h", choices=("a", "b"), choice_labels=("A",))
