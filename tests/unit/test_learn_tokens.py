"""The Tokenisation chapter on trained runs' own tokenizers: BPE's merges applied one at a time
end in exactly the ids the tokenizer gives; characters and words are looked up in the run's
vocabulary, the unknown ones shown as <unk> with the reason its settings give; the page opens
the chapter from its link and the command prints it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cli.main import main as lmwb
from core.errors import WorkbenchError
from core.learn.chapters import chapter
from core.runs import load_trained
from core.store import Store
from tests.learn_pages import open_page
from tests.trained_runs import topics_classifier, train_run

TEXT = "The Team WON the match; crowds cheered, unbelievably loudly!  Zyxq 2024"
TOKENIZERS = {"bpe": {"name": "bpe", "vocab_size": 400}, "char": {"name": "char", "max_vocab": 30},
              "word": {"name": "word", "max_vocab": 60}}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("lmwb-learn-tokens")
    store = Store(home=home)
    ids = {}
    for kind, settings in TOKENIZERS.items():
        raw = topics_classifier({"name": "textcnn", "embed_dim": 8, "n_filters": 4, "kernel_sizes": (2,)}, 100, 1)
        raw["tokenizer"] = dict(settings)
        ids[kind] = train_run(store, f"tok-{kind}", raw)
    return home, ids


def _walk(home: tuple[Path, dict[str, str]], kind: str, text: str = TEXT) -> tuple[object, object]:
    folder, ids = home
    trained = load_trained(Store(home=folder), ids[kind])
    return trained.tokenizer, chapter("tokens").function()(trained, text)


@pytest.mark.parametrize("text", [TEXT, "aaaa aaaaa héllo\n\n wörld <eos> 12345", "x"])
def test_bpe_merges_one_at_a_time_end_in_the_tokenizers_own_ids(home: tuple[Path, dict[str, str]],
                                                                  text: str) -> None:
    tokenizer, walk = _walk(home, "bpe", text)
    assert [c.ok for c in walk.checks] == [True], [c.sentence() for c in walk.checks]
    last = walk.steps[-1]
    assert last.title == "Pieces to ids"
    assert [int(row[1]) for row in last.text] == tokenizer.encode(text)
    assert [row[2] for row in last.text] == [tokenizer.id_to_token(i).replace(" ", "␣").replace("\n", "↵")
                                             for i in tokenizer.encode(text)]
    merges = [s for s in walk.steps if "merges fire" in s.title]
    if text == TEXT:  # common English: the run's table has merges for it, taken lowest rank first
        [merges_step] = merges
        ranks = [int(row[0]) for row in merges_step.text]
        assert ranks == sorted(ranks) and len(ranks) >= 3
        table = tokenizer.state()["hf_tokenizer"]["model"]["merges"]
        first = table[ranks[0]]
        assert merges_step.text[0][1].replace("␣", "Ġ") == " + ".join(first.split(" ") if isinstance(first, str) else first)


def test_characters_and_words_unknown_ones_become_unk_with_the_reason(home: tuple[Path, dict[str, str]]) -> None:
    for kind, noun in (("char", "character"), ("word", "word")):
        tokenizer, walk = _walk(home, kind)
        assert [c.ok for c in walk.checks] == [True]
        split = walk.steps[-1]
        assert [int(row[1]) for row in split.text] == tokenizer.encode(TEXT)
        unknown = [row[0] for row in split.text if row[2].startswith("no: <unk>")]
        assert unknown and all(tokenizer.token_to_id(t) == tokenizer.unk_id for t in unknown)
        # Both vocabularies are full (max_vocab), so the reason names it, with the 4 special tokens.
        assert tokenizer.vocab_size == TOKENIZERS[kind]["max_vocab"]
        assert any(f"max_vocab = {tokenizer.vocab_size}" in n and f"{noun}s" in n for n in walk.notes), walk.notes
    _, words = _walk(home, "word")
    assert words.steps[0].title == "Lowercased" and [r[0] for r in words.steps[-1].text][:3] == ["the", "team", "won"]


def test_empty_text_is_refused(home: tuple[Path, dict[str, str]]) -> None:
    with pytest.raises(WorkbenchError, match="empty"):
        _walk(home, "word", "")


def test_the_command_prints_the_merges_and_the_check(home: tuple[Path, dict[str, str]],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder, ids = home
    monkeypatch.setenv("LMWB_HOME", str(folder))
    assert lmwb(["learn", "tokens", ids["bpe"], "the team won the match"]) == 0
    out = capsys.readouterr().out
    assert "merges fire, lowest rank first" in out and "Pieces to ids" in out
    assert "check: the ids worked out here against the tokenizer's own encode(text): equal" in out


def test_the_learn_page_opens_the_chapter_from_its_link(home: tuple[Path, dict[str, str]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ids = home
    at = open_page("learn", folder, monkeypatch, {"chapter": "tokens", "run": ids["word"], "text": TEXT})
    assert [s.value for s in at.success] and not at.error
    assert any("Split into words" in m.value for m in at.markdown)
    assert any("max_vocab" in c.value for c in at.caption)
