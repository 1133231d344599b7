"""A run's tokenizer as Hugging Face tokenizer files (``tokenizer.json`` and its configs).

Each workbench kind maps onto the ``tokenizers`` library: char is a word-level vocabulary over
single characters, word a word-level vocabulary over the run's regex matches, and byte-level
BPE already is a ``tokenizers`` object. The result is checked against the run's own tokenizer
on sample texts: a tokenizer that would give other ids is refused, never written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import WorkbenchError
from core.tokenize import SPECIALS, Tokenizer

SUPPORTED = ("char", "word", "bpe")


def hf_tokenizer(tok: Tokenizer) -> Any:
    """A ``transformers.PreTrainedTokenizerFast`` giving ``tok``'s ids."""
    from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers
    from tokenizers import Tokenizer as RustTokenizer
    from transformers import PreTrainedTokenizerFast

    kind = tok.kind
    if kind == "bpe":
        inner = RustTokenizer.from_str(json.dumps(tok.state()["hf_tokenizer"]))
    elif kind in ("char", "word"):
        vocab = {tok.id_to_token(i): i for i in range(tok.vocab_size)}
        inner = RustTokenizer(models.WordLevel(vocab, unk_token="<unk>"))
        if tok.params.get("lowercase", kind == "word"):
            inner.normalizer = normalizers.Lowercase()
        if kind == "char":
            # Every character on its own (newlines too, hence not "."); decoding joins them back.
            inner.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
            inner.decoder = decoders.Fuse()
        else:
            # invert: the pattern's matches are the tokens and the text between them is dropped,
            # as re.finditer does.
            pattern = str(tok.params.get("pattern") or r"\w+|[^\w\s]")
            try:
                inner.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True)
            except Exception as exc:  # a Python regex the Rust engine does not take
                raise WorkbenchError(f"tokenizer.pattern {pattern!r} cannot be written as a Hugging Face "
                                     f"tokenizer ({exc})") from None
    else:
        raise WorkbenchError(f"a {kind} tokenizer cannot be exported; supported: {', '.join(SUPPORTED)}")
    pad, unk, bos, eos = SPECIALS
    # split_special_tokens: "<eos>" typed in a text is text, as in the workbench (core/tokenize.py).
    return PreTrainedTokenizerFast(tokenizer_object=inner, pad_token=pad, unk_token=unk, bos_token=bos,
                                   eos_token=eos, split_special_tokens=True)


def save_tokenizer(tok: Tokenizer, folder: Path, probes: Sequence[str]) -> None:
    """Write the tokenizer files into ``folder`` after checking that they encode ``probes`` as
    ``tok`` does (the check reads the written files back, as a user would)."""
    from transformers import AutoTokenizer

    hf_tokenizer(tok).save_pretrained(str(folder))
    reread = AutoTokenizer.from_pretrained(str(folder))
    for text in probes:
        want = tok.encode(text)
        got = reread(text, add_special_tokens=False)["input_ids"]
        if got != want:
            raise WorkbenchError(f"the {tok.kind} tokenizer cannot be reproduced by Hugging Face tokenizers "
                                 f"(on {text[:40]!r}: ids {got[:8]}... instead of {want[:8]}...)")
