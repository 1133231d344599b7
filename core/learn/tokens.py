"""Text to tokens, by hand, with a trained run's own tokenizer on the learner's text.

Characters and words: the text split (lowercased first where the tokenizer lowercases), each
piece looked up in the run's vocabulary, an unknown one turned into ``<unk>`` with the reason
its settings give (``min_freq``, ``max_vocab``). BPE (Hugging Face ``tokenizers``' byte-level
model): the library's own normaliser and pre-tokeniser split the text into words of byte
symbols, then the run's learned merge table (``model.merges``, in rank order) is applied one
merge at a time until no pair of neighbours is in the table. Every kind ends in a check: the ids
worked out here equal ``tokenizer.encode(text)``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from core.errors import WorkbenchError
from core.inspect.maps import display_token
from core.learn.walkthrough import Check, Step, Symbol, Walkthrough
from core.tokenize import DEFAULT_WORD_PATTERN, SPECIALS, UNK_ID, Tokenizer

MAX_CHARS = 2000  # longer input is cut: a walk-through is read, not skimmed
KINDS = ("char", "word", "bpe")


def walkthrough(trained: Any, text: str) -> Walkthrough:
    """``text`` tokenised step by step by ``trained``'s tokenizer (char, word or BPE)."""
    tokenizer: Tokenizer = trained.tokenizer
    if tokenizer.kind not in KINDS:
        raise WorkbenchError(f"run {trained.run.id} uses a {tokenizer.kind} tokenizer; this chapter walks "
                             "through the workbench's own character, word and BPE tokenizers")
    notes = []
    if len(text) > MAX_CHARS:
        notes.append(f"Input cut to its first {MAX_CHARS} of {len(text)} characters.")
        text = text[:MAX_CHARS]
    if not text:
        raise WorkbenchError("the text is empty: type something to tokenise")
    walk = (_bpe if tokenizer.kind == "bpe" else _vocab)(tokenizer, text, notes)
    if tokenizer.params.get("lowercase", tokenizer.kind == "word"):
        walk.steps.insert(0, Step("Lowercased", np.zeros(0), ("text",), ("text",), text=((_lower(tokenizer, text).replace("\n", "↵"),),),
                                  note="The tokenizer lowercases before it splits, so 'The' and 'the' are one token."))
    return walk


def _lower(tokenizer: Any, text: str) -> str:
    """The text as the tokenizer normalises it (BPE: the library's own normaliser)."""
    if not tokenizer.params.get("lowercase", tokenizer.kind == "word"):
        return text
    return _hf(tokenizer).normalizer.normalize_str(text) if tokenizer.kind == "bpe" else text.lower()


def _hf(tokenizer: Any) -> Any:
    from tokenizers import Tokenizer as HFTokenizer

    return HFTokenizer.from_str(json.dumps(tokenizer.state()["hf_tokenizer"]))


def _vocab(tokenizer: Any, typed: str, notes: list[str]) -> Walkthrough:
    """Characters or words looked up in the vocabulary; the unknown ones explained."""
    text = _lower(tokenizer, typed)
    word = tokenizer.kind == "word"
    noun = "word" if word else "character"
    pattern = tokenizer.params.get("pattern", DEFAULT_WORD_PATTERN)
    pieces = [m.group(0) for m in re.finditer(pattern, text)] if word else list(text)
    ids = [tokenizer.stoi.get(p, UNK_ID) for p in pieces]
    why = _why_unknown(tokenizer, noun)
    rows = tuple((display_token(p), str(i), "yes" if i != UNK_ID else "no: <unk>")
                 for p, i in zip(pieces, ids, strict=True))
    split_note = (f"The pattern {pattern} picks out each run of letters or digits and each punctuation mark; "
                  "spaces only separate." if pattern == DEFAULT_WORD_PATTERN
                  else f"Every match of the pattern {pattern} is one token; what lies between matches is dropped.")
    steps = [Step(f"Split into {noun}s, each looked up in the vocabulary", np.zeros(0),
                      tuple(str(t) for t in range(len(pieces))), (noun, "id", "in the vocabulary?"),
                      tex=r"\mathrm{id}_t = \mathrm{vocab}(x_t)\ \text{if}\ x_t \in V\ \text{else}\ 1",
                      note=split_note if word else "One token per character, spaces and punctuation included.",
                      text=rows or (("∅", "", "nothing to split"),))]
    unknown = sum(i == UNK_ID for i in ids)
    if unknown:
        notes.append(f"{unknown} of {len(ids)} {noun}s are not in the vocabulary, so the model reads each as "
                     f"<unk>: they were {why}.")
    V = tokenizer.vocab_size
    symbols = (
        Symbol("x_t", f"the t-th {noun} of your text ({len(pieces)} of them)"),
        Symbol("V", f"the run's vocabulary: {V} entries, the first 4 the special tokens {', '.join(SPECIALS)}"),
        Symbol(r"\mathrm{vocab}(x)", f"the id of {noun} x: its place in the vocabulary, which was fitted on "
               "the training split (most frequent first for words, code-point order for characters)"),
        Symbol("1", "the id of <unk>, given to every piece the vocabulary lacks"),
    )
    formula = (r"x_1 \dots x_T = \mathrm{split}(\text{text}),\qquad "
               r"\mathrm{id}_t = \begin{cases}\mathrm{vocab}(x_t) & x_t \in V\\ 1\ (\langle\mathrm{unk}\rangle) "
               r"& \text{otherwise}\end{cases}")
    return Walkthrough("tokens", formula, symbols, steps, [_ids_check(tokenizer, typed, ids)], notes)


def _why_unknown(tokenizer: Any, noun: str) -> str:
    """Why a piece the vocabulary lacks is missing, from the tokenizer's settings: a vocabulary
    under ``max_vocab`` kept every piece seen ``min_freq`` times, so a missing one was rarer."""
    max_vocab, min_freq = tokenizer.params.get("max_vocab"), int(tokenizer.params.get("min_freq", 1))
    rarer = "never seen in the training text" if min_freq == 1 else \
        f"seen fewer than min_freq = {min_freq} times in the training text"
    if max_vocab is not None and tokenizer.vocab_size >= max_vocab:
        return (f"either {rarer} or not among the {max_vocab - len(SPECIALS)} most frequent {noun}s "
                f"that max_vocab = {max_vocab} keeps (with the 4 special tokens)")
    return rarer + f" (the vocabulary is not full, so every {noun} seen often enough is in it)"


def _bpe(tokenizer: Any, typed: str, notes: list[str]) -> Walkthrough:
    """Byte-level BPE: the library's pre-tokeniser, then the run's merges one at a time."""
    text = _lower(tokenizer, typed)
    model = tokenizer.state()["hf_tokenizer"]["model"]
    ranks = {tuple(m.split(" ", 1) if isinstance(m, str) else m): r for r, m in enumerate(model["merges"])}
    vocab: dict[str, int] = model["vocab"]
    hf = _hf(tokenizer)
    words = [w for w, _ in hf.pre_tokenizer.pre_tokenize_str(text)] if hf.pre_tokenizer else [text]
    steps = [Step("Pre-tokenised: words of byte symbols", np.zeros(0), tuple(str(i) for i in range(len(words))),
                      ("word", "byte symbols"), tex=r"w = (b_1, b_2, \dots, b_n)",
                      note="GPT-2's pattern cuts the text into words, numbers, punctuation and spaces (a space "
                      "joins the word after it); each UTF-8 byte becomes one symbol: a space shows as ␣, and a "
                      "letter outside ASCII as two or more (é as Ã©). Merges never cross a word's edge.",
                      text=tuple((display_token(w), " ".join(display_token(b) for b in w)) for w in words)
                      or (("∅", ""),))]
    pieces = [list(w) for w in words]  # each byte symbol is one character of the pre-tokenised word
    fired = []
    while True:
        found = [(ranks[(a, b)], a, b) for p in pieces for a, b in zip(p, p[1:], strict=False) if (a, b) in ranks]
        if not found:
            break
        rank, a, b = min(found)
        counts = [(p, _merge(p, a, b)) for p in pieces]
        changed, times = [p for p, n in counts if n], sum(n for _, n in counts)
        fired.append((str(rank), f"{display_token(a)} + {display_token(b)}", display_token(a + b), str(times),
                      "   ".join(" ".join(display_token(s) for s in p) for p in changed)))
    if fired:
        steps.append(Step(f"{len(fired)} merges fire, lowest rank first", np.zeros(0),
                          tuple(f"merge {i}" for i in range(1, len(fired) + 1)),
                          ("rank", "pair", "becomes", "times", "the words it changed, after"),
                          tex=r"(a,b)^{*} = \arg\min_{(a,b)\,\in\,\mathrm{pairs}(w)} \mathrm{rank}(a,b)",
                          note="Rank r is the r-th merge training learned (the most frequent pair first); each "
                          "round merges the best-ranked neighbours anywhere in the text, left to right.",
                          text=tuple(fired)))
    else:
        notes.append("No merge of the run's table applies to this text: every byte stays a token of its own.")
    final = [s for p in pieces for s in p]
    ids = [vocab.get(s, UNK_ID) for s in final]
    steps.append(Step("Pieces to ids", np.zeros(0), tuple(str(i) for i in range(len(final))),
                      ("piece", "id", "as text"), tex=r"\mathrm{id}_t = \mathrm{vocab}(\text{piece}_t)",
                      note="Every piece left is in the vocabulary: the 256 bytes are, and each merge added "
                      "its result.", text=tuple((display_token(s), str(i), display_token(tokenizer.id_to_token(i)))
                                                for s, i in zip(final, ids, strict=True)) or (("∅", "", ""),)))
    symbols = (
        Symbol("w", f"one pre-tokenised word as a list of pieces ({len(words)} words here)"),
        Symbol("b_i", "one byte of the word's UTF-8 text: 256 possible symbols, so no text is ever <unk>"),
        Symbol(r"\mathrm{pairs}(w)", "the neighbouring pieces of w that the merge table holds"),
        Symbol(r"\mathrm{rank}(a,b)", f"the pair's place in the run's merge table ({len(ranks)} merges, "
               "learned from the training split in order of frequency)"),
        Symbol(r"\mathrm{vocab}", f"the run's vocabulary: {tokenizer.vocab_size} pieces (4 special tokens, "
               "256 bytes, one per merge)"),
    )
    formula = (r"w \leftarrow w\big[(a,b)^{*} \mapsto ab\big]\ \text{until no pair of } w \text{ is in the table},"
               r"\qquad (a,b)^{*} = \arg\min_{(a,b) \in \mathrm{pairs}(w)} \mathrm{rank}(a,b)")
    return Walkthrough("tokens", formula, symbols, steps, [_ids_check(tokenizer, typed, ids)], notes)


def _merge(pieces: list[str], a: str, b: str) -> int:
    """Merge every ``a b`` neighbour pair of ``pieces`` in place, left to right; how many."""
    i, times = 0, 0
    while i < len(pieces) - 1:
        if pieces[i] == a and pieces[i + 1] == b:
            pieces[i:i + 2] = [a + b]
            times += 1
        i += 1
    return times


def _ids_check(tokenizer: Tokenizer, typed: str, ids: list[int]) -> Check:
    """Ids are equal or not: the difference is 0, or infinite (another count, another id)."""
    own = tokenizer.encode(typed)
    return Check("the ids worked out here against the tokenizer's own encode(text)",
                 0.0 if ids == own else float("inf"), tolerance=0)
