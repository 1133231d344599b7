"""Tokenizers: fitting, round trips, <unk>, exact save/load (speed: bench/tokenize_speed.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ConfigError, DataError
from core.registry import TOKENIZERS
from core.tokenize import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    BPETokenizer,
    CharTokenizer,
    bpe_tokenizer,
    char_tokenizer,
    load_tokenizer,
    word_tokenizer,
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "The lazy dog sleeps; the quick fox runs away!",
    "Über café naïve — déjà vu, 日本語 text.\n\tTabs and  double  spaces.",
] * 20


def test_specials_fixed_ids() -> None:
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    for factory in (char_tokenizer, word_tokenizer):
        tok = factory({}, CORPUS)
        assert [tok.id_to_token(i) for i in range(4)] == list(SPECIALS)
        assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)


# -- char -------------------------------------------------------------------------------------

def test_char_round_trip_and_unknown() -> None:
    tok = char_tokenizer({}, CORPUS)
    text = CORPUS[2]
    assert tok.decode(tok.encode(text)) == text
    ids = tok.encode("fox Z!")  # 'Z' never occurs in training
    assert ids[4] == UNK_ID and tok.tokens("fox Z") == ["f", "o", "x", " ", "<unk>"]
    assert tok.encode("") == [] and tok.decode([]) == ""
    assert tok.decode([BOS_ID, *tok.encode("fox"), EOS_ID, PAD_ID]) == "fox"
    assert tok.decode([BOS_ID, *tok.encode("fox")], skip_special=False) == "<bos>fox"
    assert tok.encode_batch(["fox", "dog"]) == [tok.encode("fox"), tok.encode("dog")]
    assert "<eos>" not in tok.decode(tok.encode("<eos>"), skip_special=False).replace("<unk>", "")


def test_char_params() -> None:
    lower = char_tokenizer({"lowercase": True}, CORPUS)
    assert lower.encode("THE") == lower.encode("the") and "T" not in lower.stoi
    small = char_tokenizer({"max_vocab": 10}, CORPUS)
    assert small.vocab_size == 10 and " " in small.stoi  # the most frequent characters stay
    rare = char_tokenizer({"min_freq": 21}, CORPUS)  # CORPUS[2]-only characters occur 20 times
    assert "日" not in rare.stoi and "T" in rare.stoi
    with pytest.raises(ConfigError, match="tokenizer.min_freq"):
        char_tokenizer({"min_freq": 0}, CORPUS)
    with pytest.raises(DataError):
        char_tokenizer({}, [])


def test_char_encode_round_trips_a_million_characters() -> None:
    # How fast: bench/tokenize_speed.py.
    text = ("".join(CORPUS) * 400)[:1_000_000]
    tok = char_tokenizer({}, [text])
    ids = tok.encode(text)
    assert len(ids) == 1_000_000 and tok.decode(ids) == text
    assert UNK_ID not in ids


# -- word -------------------------------------------------------------------------------------

def test_word_tokens_unknown_and_lossy_decode() -> None:
    tok = word_tokenizer({}, CORPUS)
    assert tok.tokens("The fox, flying!") == ["the", "fox", ",", "<unk>", "!"]
    assert tok.decode(tok.encode("The  lazy\tdog.")) == "the lazy dog ."
    cased = word_tokenizer({"lowercase": False}, CORPUS)
    assert cased.encode("The")[0] != cased.encode("the")[0]
    capped = word_tokenizer({"max_vocab": 10}, CORPUS)
    assert capped.vocab_size == 10 and capped.id_to_token(4) in {"the", "."}  # frequency order


def test_word_pattern() -> None:
    tok = word_tokenizer({"pattern": r"(\w)\w*"}, ["ab cd ab"])  # groups do not change tokens
    assert tok.tokens("ab cd") == ["ab", "cd"]
    with pytest.raises(ConfigError, match="tokenizer.pattern"):
        word_tokenizer({"pattern": "("}, CORPUS)
    with pytest.raises(ConfigError, match="tokenizer.pattern"):
        word_tokenizer({"pattern": r"\w*"}, CORPUS)


# -- bpe --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return bpe_tokenizer({"vocab_size": 400, "min_freq": 2}, CORPUS)


def test_bpe_trains_and_round_trips_exactly(bpe: BPETokenizer) -> None:
    assert 260 < bpe.vocab_size <= 400
    assert [bpe._tok.id_to_token(i) for i in range(4)] == list(SPECIALS)
    for text in [*CORPUS[:3], "  leading spaces", "unseen: ΩΨ 🙂\r\n", ""]:
        assert bpe.decode(bpe.encode(text)) == text
    assert UNK_ID not in bpe.encode("ΩΨ 🙂 never seen")  # byte-level: no <unk> at all
    assert len(bpe.encode("the quick brown fox")) < len("the quick brown fox")  # merges happened
    assert "".join(bpe.tokens("the quick fox")) == "the quick fox"
    ids = bpe.encode("a <eos> b")  # special strings in text stay text
    assert EOS_ID not in ids and bpe.decode(ids) == "a <eos> b"
    assert bpe.decode([BOS_ID, *bpe.encode("fox"), EOS_ID]) == "fox"


def test_bpe_long_text_parallel_encoding_matches(bpe: BPETokenizer) -> None:
    text = "\n".join(CORPUS) * 120  # over the parallel-chunk size
    assert len(text) > 200_000
    single = list(bpe._tok.encode(text, add_special_tokens=False).ids)
    assert bpe.encode(text) == single
    assert bpe.encode_batch([text, "fox"]) == [single, bpe.encode("fox")]


def test_bpe_small_vocab_and_lowercase() -> None:
    tiny = bpe_tokenizer({"vocab_size": 100}, CORPUS)
    assert tiny.vocab_size == 260  # 256 bytes + 4 specials is the floor
    lower = bpe_tokenizer({"vocab_size": 300, "lowercase": True}, CORPUS)
    assert lower.decode(lower.encode("The FOX")) == "the fox"
    with pytest.raises(DataError):
        bpe_tokenizer({}, ["", ""])


# -- save / load ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_save_load_identical_ids(tmp_path: Path, kind: str) -> None:
    params = {"bpe": {"vocab_size": 350}, "word": {"max_vocab": 30}, "char": {"lowercase": True}}[kind]
    factory = TOKENIZERS._items[kind].factory
    tok = factory({"name": kind, **params}, CORPUS)
    path = tok.save(tmp_path / "run")
    assert path == tmp_path / "run" / "tokenizer.json"
    doc = json.loads(path.read_text(encoding="utf-8"))  # plain JSON, never a pickle
    assert doc["kind"] == kind and doc["params"].items() >= params.items()
    loaded = load_tokenizer(tmp_path / "run")
    assert type(loaded) is type(tok) and loaded.vocab_size == tok.vocab_size
    sample = [*CORPUS[:3], "unseen Zebra ΩΨ"]
    assert loaded.encode_batch(sample) == tok.encode_batch(sample)
    ids = tok.encode(CORPUS[2])
    assert loaded.decode(ids) == tok.decode(ids)
    assert [loaded.id_to_token(i) for i in range(loaded.vocab_size)] == [
        tok.id_to_token(i) for i in range(tok.vocab_size)
    ]


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no saved tokenizer"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"kind": "sentencepiece"}))
    with pytest.raises(DataError, match="unknown tokenizer kind"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(DataError, match="not a valid tokenizer file"):
        load_tokenizer(tmp_path)


def test_registered_with_declared_params() -> None:
    expected = {
        "char": {"lowercase", "max_vocab", "min_freq"},
        "word": {"pattern", "lowercase", "max_vocab", "min_freq"},
        "bpe": {"vocab_size", "min_freq", "lowercase"},
    }
    for name, params in expected.items():
        comp = TOKENIZERS._items[name]
        assert {p.name for p in comp.params} == params and comp.help
    vocab = TOKENIZERS._items["bpe"].param("vocab_size")
    assert (vocab.default, vocab.low, vocab.high, vocab.log) == (2000, 100, 100_000, True)
    assert isinstance(TOKENIZERS._items["char"].factory({}, ["ab"]), CharTokenizer)
