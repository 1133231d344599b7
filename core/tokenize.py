"""Tokenizers: text <-> integer ids, fitted on the training split and saved with a run.

Every tokenizer reserves ids 0..3 for ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>`` and saves itself
as one JSON file (``tokenizer.json``: never a pickle), which :func:`load_tokenizer` restores to a
tokenizer giving the very same ids.

Special-token *strings* in raw text are ordinary text: ``"<eos>"`` typed by a user encodes as
characters / pieces, never as the end-of-sequence id. Only code adds special ids.
"""

from __future__ import annotations

import importlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.errors import ConfigError, DataError
from core.params import Param, validate_params
from core.registry import TOKENIZERS

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
FILENAME = "tokenizer.json"
FORMAT_VERSION = 1


class Tokenizer:
    """Base class: vocabulary lookups shared by every kind; subclasses split and join text."""

    kind: ClassVar[str] = ""
    # Class defaults; a pretrained tokenizer (core.models.hf) sets its own on the instance.
    specials: tuple[str, ...] = SPECIALS
    pad_id: int = PAD_ID
    unk_id: int = UNK_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID
    # The masked-LM task's <mask>: <bos> never occurs inside encoded text, so it doubles as one
    # without changing any vocabulary or saved tokenizer (see core/tasks/masked_lm.py).
    mask_id: int = BOS_ID

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = dict(params)

    # -- interface ---------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """Text for ``ids``; ``skip_special`` drops <pad>, <bos> and <eos> (char and word keep
        <unk> visible; byte-level BPE never produces it)."""
        raise NotImplementedError

    def id_to_token(self, i: int) -> str:
        raise NotImplementedError

    def tokens(self, text: str) -> list[str]:
        """Readable token strings for ``text`` (one per id), e.g. to label attention maps."""
        return [self.id_to_token(i) for i in self.encode(text)]

    # -- persistence -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer (JSON-serialisable)."""
        raise NotImplementedError

    @classmethod
    def from_state(cls, params: dict[str, Any], state: dict[str, Any]) -> Tokenizer:
        raise NotImplementedError

    @classmethod
    def load(cls, folder: Path, doc: dict[str, Any]) -> Tokenizer:
        """Rebuild from the saved ``tokenizer.json`` document; a kind that keeps files beside it
        (a pretrained Hugging Face tokenizer) overrides this to read them from ``folder``."""
        return cls.from_state(doc.get("params", {}), doc)

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/tokenizer.json`` and return its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"format_version": FORMAT_VERSION, "kind": self.kind, "params": self.params, **self.state()}
        path = folder / FILENAME
        # Write then rename: a crash mid-write never leaves a half file a later load trusts.
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, params={self.params})"


class _VocabTokenizer(Tokenizer):
    """A tokenizer whose vocabulary is an explicit list of token strings (char, word)."""

    def __init__(self, params: dict[str, Any], vocab: Sequence[str]) -> None:
        super().__init__(params)
        if tuple(vocab[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}")
        self.itos: list[str] = list(vocab)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate tokens in the vocabulary")

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def id_to_token(self, i: int) -> str:
        return self.itos[i]

    def token_to_id(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def _pieces(self, ids: Iterable[int], skip_special: bool) -> list[str]:
        itos = self.itos
        if skip_special:
            # <unk> stands for real text that was there, so it stays visible.
            return [itos[i] for i in ids if i == UNK_ID or i >= len(SPECIALS)]
        return [itos[i] for i in ids]

    def state(self) -> dict[str, Any]:
        return {"vocab": self.itos}

    @classmethod
    def from_state(cls, params: dict[str, Any], state: dict[str, Any]) -> Tokenizer:
        return cls(params, state["vocab"])


def _top_tokens(counts: Counter[str], max_tokens: int | None, min_freq: int) -> list[str]:
    """Most frequent tokens (ties broken alphabetically, so the result is deterministic)."""
    items = [(t, c) for t, c in counts.items() if c >= min_freq and t not in SPECIALS]
    items.sort(key=lambda tc: (-tc[1], tc[0]))
    if max_tokens is not None:
        items = items[:max_tokens]
    return [t for t, _ in items]


def _no_text(what: str) -> DataError:
    return DataError("training split", f"no text to build the {what} vocabulary from")


# -- char -------------------------------------------------------------------------------------

class CharTokenizer(_VocabTokenizer):
    """One id per character. ``decode(encode(x)) == x`` for text made of known characters."""

    kind = "char"

    def __init__(self, params: dict[str, Any], vocab: Sequence[str]) -> None:
        super().__init__(params, vocab)
        self._lower = bool(params.get("lowercase", False))
        # Sorted code points -> ids: numpy's searchsorted maps a million characters in
        # milliseconds, where a Python loop over characters takes a few hundred.
        chars = [(ord(t), i) for i, t in enumerate(self.itos) if i >= len(SPECIALS)]
        chars.sort()
        self._codes = np.array([c for c, _ in chars], dtype=np.uint32)
        self._ids = np.array([i for _, i in chars], dtype=np.int64)

    def encode_array(self, text: str) -> np.ndarray:
        """``encode`` as an int64 numpy array (what a language-model task wants for big corpora)."""
        if self._lower:
            text = text.lower()
        if not text:
            return np.zeros(0, dtype=np.int64)
        # surrogatepass: a lone surrogate (possible in JSON input) becomes <unk>, not a crash.
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if len(self._codes) == 0:
            return np.full(len(codes), UNK_ID, dtype=np.int64)
        pos = np.searchsorted(self._codes, codes)
        pos[pos == len(self._codes)] = 0
        found = self._codes[pos] == codes
        return np.where(found, self._ids[pos], UNK_ID)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        return "".join(self._pieces(ids, skip_special))


_CHAR_PARAMS = (
    Param("lowercase", "bool", False, "Lowercase text before encoding (smaller vocabulary, loses case).", sweepable=False, label="Lowercase", essential=True),
    Param("max_vocab", "int", None, "Keep only the most frequent characters, counting the 4 special tokens (null: all).", low=8, high=1_000_000, optional=True, sweepable=False, label="Max vocabulary", essential=True),
    Param("min_freq", "int", 1, "Characters seen fewer times in training become <unk>.", low=1, high=1_000_000, sweepable=False, label="Min frequency"),
)


def _params(decl: tuple[Param, ...], params: dict[str, Any]) -> dict[str, Any]:
    return validate_params(decl, {k: v for k, v in params.items() if k != "name"}, "tokenizer")


@TOKENIZERS.register(
    "char", label="Characters", params=_CHAR_PARAMS,
    help="One token per character: tiny vocabulary, exact round trips, long sequences",
)
def char_tokenizer(params: dict[str, Any], texts: Iterable[str]) -> CharTokenizer:
    """Fit a character vocabulary on ``texts`` (the training split)."""
    p = _params(_CHAR_PARAMS, params)
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text.lower() if p["lowercase"] else text)
    if not counts:
        raise _no_text("char")
    keep = None if p["max_vocab"] is None else max(p["max_vocab"] - len(SPECIALS), 0)
    # Code-point order (as nanoGPT does) makes ids easy to read; frequency only decides who stays.
    chars = sorted(_top_tokens(counts, keep, p["min_freq"]))
    return CharTokenizer(p, [*SPECIALS, *chars])


# -- word -------------------------------------------------------------------------------------

DEFAULT_WORD_PATTERN = r"\w+|[^\w\s]"


class WordTokenizer(_VocabTokenizer):
    """Regex tokens (words and punctuation by default).

    Lossy: ``decode`` joins tokens with single spaces, so ``"Hello, world!"`` comes back as
    ``"hello , world !"`` (lowercased when ``lowercase`` is on) and unknown words as ``<unk>``.
    """

    kind = "word"

    def __init__(self, params: dict[str, Any], vocab: Sequence[str]) -> None:
        super().__init__(params, vocab)
        self._lower = bool(params.get("lowercase", True))
        self._regex = compile_pattern(params.get("pattern", DEFAULT_WORD_PATTERN))

    def split(self, text: str) -> list[str]:
        if self._lower:
            text = text.lower()
        # finditer + group(0): a pattern with groups would make findall return the groups.
        return [m.group(0) for m in self._regex.finditer(text)]

    def encode(self, text: str) -> list[int]:
        get = self.stoi.get
        return [get(t, UNK_ID) for t in self.split(text)]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        return " ".join(self._pieces(ids, skip_special))


def compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError("tokenizer.pattern", pattern, "a valid regular expression", reason=str(exc)) from None
    if regex.fullmatch(""):
        # A pattern that matches nothing-at-all would yield endless empty tokens.
        raise ConfigError("tokenizer.pattern", pattern, "a regular expression that never matches empty text")
    return regex


_WORD_PARAMS = (
    Param("pattern", "str", DEFAULT_WORD_PATTERN, "Regular expression for one token (default: words and single punctuation marks).", sweepable=False, label="Token pattern (regex)"),
    Param("lowercase", "bool", True, "Lowercase text before splitting.", sweepable=False, label="Lowercase", essential=True),
    Param("max_vocab", "int", 20_000, "Keep the most frequent words, counting the 4 special tokens; the rest become <unk>.", low=10, high=2_000_000, log=True, label="Max vocabulary", essential=True),
    Param("min_freq", "int", 1, "Words seen fewer times in training become <unk>.", low=1, high=1_000_000, sweepable=False, label="Min frequency"),
)


def _check_word(params: dict[str, Any]) -> str | None:
    # At config time, so a bad pattern stops the form or the command before a run is queued;
    # compile_pattern raises the ConfigError naming tokenizer.pattern itself.
    compile_pattern(params["pattern"])
    return None


@TOKENIZERS.register(
    "word", label="Words", params=_WORD_PARAMS, check=_check_word,
    help="One token per word or punctuation mark (regex); rare words become <unk>; decode is lossy",
)
def word_tokenizer(params: dict[str, Any], texts: Iterable[str]) -> WordTokenizer:
    """Fit a word vocabulary on ``texts`` (the training split)."""
    p = _params(_WORD_PARAMS, params)
    regex = compile_pattern(p["pattern"])
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(m.group(0) for m in regex.finditer(text.lower() if p["lowercase"] else text))
    if not counts:
        raise _no_text("word")
    words = _top_tokens(counts, max(p["max_vocab"] - len(SPECIALS), 0), p["min_freq"])
    # Frequency order: id ranks say how common a word is, handy when reading embeddings.
    return WordTokenizer(p, [*SPECIALS, *words])


# -- bpe --------------------------------------------------------------------------------------

# Byte-level BPE (GPT-2 style): every byte is in the base alphabet, so any text encodes without
# <unk> and decodes back exactly. A whitespace pre-tokenizer would lose spacing on decode.
_BYTE_ALPHABET = 256
_PARALLEL_CHUNK = 200_000  # characters per piece when encoding one long text in parallel
_SAFE_CUT = re.compile(r"\n(?=\S)")


class BPETokenizer(Tokenizer):
    """Hugging Face ``tokenizers`` byte-level BPE, trained on the training split.

    The vocabulary never drops below the 256 byte symbols plus the 4 special tokens, so a
    ``vocab_size`` under 260 gives a vocabulary of 260.
    """

    kind = "bpe"

    def __init__(self, params: dict[str, Any], hf: Any) -> None:
        super().__init__(params)
        self._tok = hf
        # Text that happens to contain "<eos>" must not produce the special id.
        self._tok.encode_special_tokens = True
        for i, special in enumerate(SPECIALS):
            if self._tok.token_to_id(special) != i:
                raise ValueError(f"BPE vocabulary has {special!r} at id {self._tok.token_to_id(special)}, not {i}")

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size())

    def encode(self, text: str) -> list[int]:
        if len(text) <= _PARALLEL_CHUNK:
            return list(self._tok.encode(text, add_special_tokens=False).ids)
        # A long corpus: cut where a newline meets non-space, a place the byte-level regex
        # always splits anyway (so ids are identical), and let the library use every core.
        out: list[int] = []
        for ids in self._encode_many(_chunks(text)):
            out.extend(ids)
        return out

    def _encode_many(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch_fast(texts, add_special_tokens=False)]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        texts = list(texts)
        if any(len(t) > _PARALLEL_CHUNK for t in texts):
            return [self.encode(t) for t in texts]
        return self._encode_many(texts)

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        # int(): numpy / torch integers are not accepted by the Rust side.
        return str(self._tok.decode([int(i) for i in ids], skip_special_tokens=skip_special))

    def id_to_token(self, i: int) -> str:
        # The raw vocabulary shows bytes as symbols ("Ġthe"); show the text instead (" the").
        # A piece holding part of a multi-byte character shows as U+FFFD.
        return str(self._tok.decode([i], skip_special_tokens=False))

    def state(self) -> dict[str, Any]:
        return {"hf_tokenizer": json.loads(self._tok.to_str())}

    @classmethod
    def from_state(cls, params: dict[str, Any], state: dict[str, Any]) -> Tokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        return cls(params, HFTokenizer.from_str(json.dumps(state["hf_tokenizer"])))


def _chunks(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    while len(text) - start > _PARALLEL_CHUNK:
        m = _SAFE_CUT.search(text, start + _PARALLEL_CHUNK)
        if m is None:
            break
        out.append(text[start : m.end()])
        start = m.end()
    out.append(text[start:])
    return out


_BPE_PARAMS = (
    Param("vocab_size", "int", 2000, "Target vocabulary size, counting 256 byte symbols and 4 special tokens (so at least 260).", low=100, high=100_000, log=True, label="Vocabulary size", essential=True),
    Param("min_freq", "int", 2, "A pair must occur this often in training to be merged.", low=1, high=1000, log=True, label="Min frequency"),
    Param("lowercase", "bool", False, "Lowercase text before encoding (then decode gives lowercase text).", sweepable=False, label="Lowercase", essential=True),
)


@TOKENIZERS.register(
    "bpe", label="BPE (subword pieces)", params=_BPE_PARAMS,
    help="Byte-level BPE (Hugging Face tokenizers): subword pieces, exact round trips, no <unk>",
)
def bpe_tokenizer(params: dict[str, Any], texts: Iterable[str]) -> BPETokenizer:
    """Train byte-level BPE on ``texts`` (the training split)."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    p = _params(_BPE_PARAMS, params)
    hf = HFTokenizer(models.BPE(unk_token="<unk>"))
    if p["lowercase"]:
        hf.normalizer = normalizers.Lowercase()
    # add_prefix_space=False: a leading space would be invented on encode and kept on decode.
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=p["vocab_size"],
        min_frequency=p["min_freq"],
        special_tokens=list(SPECIALS),  # first, so they take ids 0..3
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    seen = False

    def nonempty() -> Iterable[str]:
        nonlocal seen
        for text in texts:
            if text:
                seen = True
                yield text

    hf.train_from_iterator(nonempty(), trainer)
    if not seen:
        raise _no_text("bpe")
    return BPETokenizer(p, hf)


# -- loading ----------------------------------------------------------------------------------

# A kind whose class needs a heavy library (the pretrained one: transformers) is named as
# "module:class" and imported only to restore a saved tokenizer of that kind.
_KINDS: dict[str, type[Tokenizer] | str] = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}


def register_kind(kind: str, cls: type[Tokenizer] | str) -> None:
    """Let another module's tokenizer class (e.g. a pretrained one, as ``"module:class"``) be
    restored by load_tokenizer."""
    _KINDS[kind] = cls


def _kind_class(kind: str) -> type[Tokenizer]:
    cls = _KINDS[kind]
    if isinstance(cls, str):
        module, _, name = cls.partition(":")
        cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Tokenizer)):
        raise TypeError(f"tokenizer kind {kind!r} names {cls!r}, not a Tokenizer class")
    return cls


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """Restore the tokenizer saved by ``Tokenizer.save(folder)``."""
    path = Path(folder) / FILENAME
    if not path.is_file():
        raise DataError(path, "no saved tokenizer here")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not a valid tokenizer file ({exc})") from None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind not in _KINDS:
        raise DataError(path, f"unknown tokenizer kind {kind!r}; known: {', '.join(sorted(_KINDS))}")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(path, f"saved by a newer version (format {doc['format_version']}); upgrade LM Workbench")
    return _kind_class(kind).load(Path(folder), doc)
