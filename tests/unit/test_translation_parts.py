"""Translation parts: metrics, decoding, masks and attention of the seq2seq models, data."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import sacrebleu
import torch

from core.config import default_config, validate_config
from core.data.seq2seq import date_formats
from core.decoding.seq2seq import beam_search, greedy_translate
from core.errors import ConfigError, DataError
from core.inspect.activations import pattern_points, run_with_cache
from core.metrics import bleu_case_note, translation_metrics
from core.registry import DATASETS, MODELS
from core.tasks.translation import PaddedRows, detokenize

BOS, EOS, PAD = 2, 3, 0
ARCHS = {
    "transformer_seq2seq": {"d_model": 32, "n_heads": 4, "encoder_layers": 2, "decoder_layers": 2, "d_ff": 64, "dropout": 0.0},
    "seq2seq_rnn": {"embed_dim": 16, "hidden_size": 24, "n_layers": 2, "dropout": 0.0},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: see conftest

def _model(arch: str, seed: int = 0, **extra: Any) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = MODELS.get(arch).factory(
        {**ARCHS[arch], **extra}, src_vocab_size=23, tgt_vocab_size=19, src_pad_id=PAD,
        tgt_pad_id=PAD, max_len=32,
    )
    return model.eval()


def _sources(lengths: tuple[int, ...] = (7, 3, 5, 1, 6), seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randint(4, 23, (n,), generator=g).tolist() + [EOS] for n in lengths]
    padded = PaddedRows(rows, PAD)
    return padded.take(torch.arange(len(rows)))


# -- metrics --------------------------------------------------------------------------------------

HYPS = ["The cat sat on the mat.", "a dog barks at the postman", "It's raining today!", "1998 - 03 - 05"]
REFS = ["The cat is sitting on the mat.", "A dog barks at the postman.", "It is raining today!", "1998-03-05"]


def test_metrics_equal_sacrebleu_on_fixed_strings() -> None:
    m = translation_metrics(HYPS, REFS)
    assert m["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)
    assert m["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)
    # BLEU's own 13a tokenisation: the spaced date equals its reference; case counts.
    assert m["exact_match"] == pytest.approx(1 / 4)
    assert 0 < m["bleu"] < 100 and m["n"] == 4 and "tok:13a" in m["bleu_signature"]
    low = translation_metrics(HYPS, REFS, lowercase=True)
    assert low["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS], lowercase=True).score, abs=1e-9)
    assert low["exact_match"] == pytest.approx(1 / 4)
    assert translation_metrics(REFS, REFS)["bleu"] == pytest.approx(100.0)
    # Both cases are always reported; `bleu` is the one the run asked for.
    for scores in (m, low):
        assert scores["bleu_cased"] == pytest.approx(m["bleu"]) and scores["bleu_lowercased"] == pytest.approx(low["bleu"])
    assert m["bleu_lowercased"] > m["bleu_cased"]  # "a dog" / "A dog" only match ignoring case


def test_bleu_case_note_says_which_bleu_the_run_shows() -> None:
    scores = translation_metrics(HYPS, REFS, lowercase=True)
    note = bleu_case_note(scores, {"bleu_case": "lowercased"})
    assert f"cased {scores['bleu_cased']:.2f}" in note and f"lowercased {scores['bleu_lowercased']:.2f}" in note
    assert "the run's BLEU is lowercased" in note
    assert "the run's BLEU is cased" in bleu_case_note(scores, {"bleu_case": "cased"})
    assert bleu_case_note({"bleu": 30.0}, {}) == ""  # a run scored before both were reported
    with pytest.raises(ValueError):
        translation_metrics(["a"], ["a", "b"])


def test_detokenize_undoes_word_tokenizer_spacing() -> None:
    assert detokenize("a man , in a ( blue ) shirt ' s sleeve , don ' t stop .") == "a man, in a (blue) shirt's sleeve, don't stop."


# -- decoding -------------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", list(ARCHS))
def test_beam_one_equals_greedy(arch: str) -> None:
    model = _model(arch)
    src, mask = _sources()
    greedy = greedy_translate(model, src, mask, bos_id=BOS, eos_id=EOS, max_len=12)
    beam = beam_search(model, src, mask, beam_size=1, bos_id=BOS, eos_id=EOS, max_len=12, length_penalty=0.7)
    assert beam == greedy
    assert len(greedy) == 5 and all(len(h) <= 12 for h in greedy) and any(len(h) > 0 for h in greedy)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_batched_decoding_equals_one_at_a_time(arch: str) -> None:
    model = _model(arch, seed=3)
    lengths = (7, 3, 5, 1, 6)
    src, mask = _sources(lengths)
    batched = beam_search(model, src, mask, beam_size=4, bos_id=BOS, eos_id=EOS, max_len=10)
    greedy = greedy_translate(model, src, mask, bos_id=BOS, eos_id=EOS, max_len=10)
    for i, n in enumerate(lengths):
        one = src[i : i + 1, : n + 1]
        assert beam_search(model, one, None, beam_size=4, bos_id=BOS, eos_id=EOS, max_len=10) == [batched[i]]
        assert greedy_translate(model, one, None, bos_id=BOS, eos_id=EOS, max_len=10) == [greedy[i]]


class _Scripted(torch.nn.Module):
    """A 'model' with fixed next-token log-probabilities, to check beam search by hand."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], vocab: int = 6) -> None:
        super().__init__()
        self.table, self.vocab = table, vocab

    def encode(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {"memory": src_ids.float()}

    def decode_step(self, encoded: dict, prefix: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, None]:
        out = torch.full((prefix.shape[0], self.vocab), -30.0)
        for row, p in enumerate(prefix.tolist()):
            for token, prob in self.table.get(tuple(p[1:]), {EOS: 1.0}).items():
                out[row, token] = torch.tensor(prob).log()
        return out, None


def test_beam_search_beats_greedy_and_length_penalty_matters() -> None:
    # Greedy takes 4 (0.6) then 5 (0.4) ... ; the best sequence starts with the less likely 5.
    table = {(): {4: 0.6, 5: 0.4}, (4,): {5: 0.4, 4: 0.3, EOS: 0.3}, (5,): {EOS: 0.95, 4: 0.05},
             (4, 5): {EOS: 1.0}, (4, 4): {EOS: 1.0}, (5, 4): {EOS: 1.0}}
    model = _Scripted(table)
    src = torch.tensor([[4, EOS]])
    assert greedy_translate(model, src, None, bos_id=BOS, eos_id=EOS, max_len=5) == [[4, 5]]
    assert beam_search(model, src, None, beam_size=2, bos_id=BOS, eos_id=EOS, max_len=5, length_penalty=0.0) == [[5]]
    # Per-token averaging (penalty 1) favours the longer [4, 5]: log(.24)/3 = -0.476 > log(.38)/2.
    assert beam_search(model, src, None, beam_size=3, bos_id=BOS, eos_id=EOS, max_len=5, length_penalty=1.0) == [[4, 5]]
    # Out of length before any <eos>: the best unfinished beam, as greedy would stop.
    assert beam_search(model, src, None, beam_size=2, bos_id=BOS, eos_id=EOS, max_len=1) == [[4]]


# -- masks and attention ----------------------------------------------------------------------------

@pytest.mark.parametrize("arch", list(ARCHS))
def test_padding_changes_nothing(arch: str) -> None:
    model = _model(arch)
    lengths = (7, 3, 5)
    src, mask = _sources(lengths)
    tgt = torch.randint(4, 19, (3, 6), generator=torch.Generator().manual_seed(2))
    tgt[:, 0] = BOS
    batched = model(src, mask, tgt)
    for i, n in enumerate(lengths):
        alone = model(src[i : i + 1, : n + 1], None, tgt[i : i + 1])
        torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=1e-4)
    # A target's future never changes its past: the decoder is causal.
    changed = tgt.clone()
    changed[:, 4:] = 5
    torch.testing.assert_close(model(src, mask, changed)[:, :4], batched[:, :4], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_incremental_decoding_equals_the_full_forward(arch: str) -> None:
    model = _model(arch)
    src, mask = _sources((7, 3, 5))
    tgt = torch.randint(4, 19, (3, 6), generator=torch.Generator().manual_seed(4))
    tgt[:, 0] = BOS
    with torch.no_grad():
        full = model(src, mask, tgt)
        encoded, state = model.encode(src, mask), None
        for t in range(1, tgt.shape[1] + 1):
            step, state = model.decode_step(encoded, tgt[:, :t], state)
            torch.testing.assert_close(step, full[:, t - 1], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("attention", ["bahdanau", "luong_dot", "luong_general", "none"])
def test_rnn_attention_kinds_and_weights(attention: str) -> None:
    model = _model("seq2seq_rnn", attention=attention, cell="lstm")
    src, mask = _sources((7, 3, 5))
    tgt = torch.full((3, 4), 5)
    logits, att = run_with_cache(model, src, mask, tgt, names=pattern_points(model))
    assert logits.shape == (3, 4, 19)
    if attention == "none":
        assert att == {}
        return
    steps = att["attention.hook_pattern"]  # bahdanau decodes step by step: one query row a step
    assert len(steps) == (4 if attention == "bahdanau" else 1)
    w = torch.cat(steps, dim=1)
    assert w.shape == (3, 4, 8)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4))
    assert float(w.detach().masked_select(mask[:, None, :]).abs().max()) == 0.0  # padding: nothing
    torch.testing.assert_close(logits, model(src, mask, tgt))


def test_transformer_attention_maps() -> None:
    model = _model("transformer_seq2seq")
    src, mask = _sources((7, 3))
    tgt = torch.full((2, 5), 6)
    logits, cache = run_with_cache(model, src, mask, tgt, names=pattern_points(model))
    att = {kind: [cache[f"{stack}.blocks.{i}.{module}.hook_pattern"][0] for i in range(2)]
           for kind, stack, module in (("encoder", "encoder", "attn"), ("decoder", "decoder", "attn"),
                                       ("cross", "decoder", "cross"))}
    assert len(cache) == 6  # one pattern point per attention, passed once
    assert [a.shape for a in att["encoder"]] == [(2, 4, 8, 8)] * 2
    assert [a.shape for a in att["decoder"]] == [(2, 4, 5, 5)] * 2
    assert [a.shape for a in att["cross"]] == [(2, 4, 5, 8)] * 2
    att = {k: [a.detach() for a in v] for k, v in att.items()}
    for dec in att["decoder"]:
        assert float(dec.triu(diagonal=1).abs().max()) == 0.0  # causal
    for cross in att["cross"]:
        assert float(cross[1, :, :, 4:].abs().max()) == 0.0  # source 2 has 4 real tokens
        torch.testing.assert_close(cross.sum(-1), torch.ones(2, 4, 5))
    # The explicit-softmax path (weights asked for) computes what fused SDPA computes.
    torch.testing.assert_close(logits, model(src, mask, tgt), atol=1e-5, rtol=1e-4)


def test_tied_embeddings_share_one_matrix() -> None:
    model = _model("transformer_seq2seq", tie_weights=True)
    assert model.lm_head.weight is model.decoder.token_embedding.weight
    with pytest.raises(ConfigError):
        validate_config({"task": "translation", "model": {"name": "transformer_seq2seq", "d_model": 30, "n_heads": 4}})


# -- data --------------------------------------------------------------------------------------------

def _write(path: Path, lines: list[str]) -> str:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return str(path)


def _load(**params: Any) -> Any:
    return DATASETS.get(params.pop("name", "parallel")).factory(params, task="translation", seed=0)


def test_parallel_files_with_length_filter(tmp_path: Path) -> None:
    src = [" ".join(["w"] * n) for n in range(1, 21)] + ["", "x"]
    tgt = [" ".join(["v"] * n) for n in range(1, 21)] + ["blank source", ""]
    data = _load(
        source_path=_write(tmp_path / "train.de.gz", src), target_path=_write(tmp_path / "train.en", tgt),
        val_fraction=0.25, max_length=12, min_length=2,
    )
    # 20 usable pairs; 5 held out; of the 15 left, those over 12 or under 2 words go.
    assert len(data.validation) == 5 and data.validation.targets is not None
    kept_lengths = sorted(len(s.split()) for s in data.train.texts)
    assert all(2 <= n <= 12 for n in kept_lengths)
    long = sum(1 for t in src[:20] if len(t.split()) > 12 and t not in data.validation.texts)
    short = sum(1 for t in src[:20] if len(t.split()) < 2 and t not in data.validation.texts)
    assert len(data.train) == 15 - long - short
    assert f"dropped {long} pairs longer than 12 words (max_length)" in data.notes
    assert any(note.startswith("skipped 2 pairs with a blank line") for note in data.notes)
    assert data.train.targets == [s.replace("w", "v") for s in data.train.texts]
    again = _load(source_path=str(tmp_path / "train.de.gz"), target_path=str(tmp_path / "train.en"), val_fraction=0.25, max_length=12, min_length=2)
    assert again.train.texts == data.train.texts  # deterministic for a seed


def test_parallel_table_files_and_errors(tmp_path: Path) -> None:
    tsv = _write(tmp_path / "pairs.tsv", ["de\ten", "ein Hund\ta dog", "eine Katze\ta cat", "ein Haus\ta house"])
    jsonl = _write(tmp_path / "val.jsonl", [json.dumps({"en": "a tree", "de": "ein Baum"})])
    data = _load(path=tsv, validation_path=jsonl, source_column="de", target_column="en", max_pairs=2)
    assert len(data.train) == 2 and set(data.train.texts) <= {"ein Hund", "eine Katze", "ein Haus"}
    assert data.validation.texts == ["ein Baum"] and data.validation.targets == ["a tree"]
    assert any("max_pairs" in n for n in data.notes)
    two_columns = _load(path=tsv, val_fraction=0.34)  # two columns: first is the source
    assert {*two_columns.train.texts, *two_columns.validation.texts} == {"ein Hund", "eine Katze", "ein Haus"}
    with pytest.raises(DataError, match="same number of lines"):
        _load(source_path=_write(tmp_path / "a.txt", ["x", "y"]), target_path=_write(tmp_path / "b.txt", ["x"]))
    with pytest.raises(ConfigError):
        _load(source_path=str(tmp_path / "a.txt"))
    with pytest.raises(DataError, match="no source column"):
        _load(path=tsv, source_column="fr")


@pytest.mark.parametrize("name", ["reverse", "sort", "dates"])
def test_builtin_datasets_are_deterministic_and_correct(name: str) -> None:
    first, second = _load(name=name, n_examples=300), _load(name=name, n_examples=300)
    assert first.train.texts == second.train.texts and first.validation.targets == second.validation.targets
    assert len(first.train) + len(first.validation) == 300
    assert not set(first.train.texts) & set(first.validation.texts)
    other = _load(name=name, n_examples=300, data_seed=1)
    assert other.train.texts != first.train.texts
    for source, target in zip(first.train.texts[:50], first.train.targets[:50], strict=True):
        if name == "reverse":
            assert target.split() == source.split()[::-1]
        elif name == "sort":
            assert target.split() == sorted(source.split())
        else:
            assert source in date_formats(dt.date.fromisoformat(target))


def test_date_formats_are_unambiguous() -> None:
    a, b = date_formats(dt.date(1998, 3, 5)), date_formats(dt.date(1998, 5, 3))
    assert not set(a) & set(b) and len(set(a)) == 12
    assert "Thursday, March 5, 1998" in a and "5-Mar-98" in a and "03/05/1998" in a


def test_translation_defaults_validate() -> None:
    config = validate_config(default_config("translation"))
    assert config["data"]["name"] == "reverse" and config.arch == "transformer_seq2seq"
    assert {"seq2seq_rnn", "transformer_seq2seq"} <= set(MODELS.names(tasks="translation"))
    assert {"parallel", "reverse", "sort", "dates"} <= set(DATASETS.names(tasks="translation"))
    with pytest.raises(ConfigError, match="cannot do translation"):
        validate_config({"task": "translation", "model": "lstm"})
