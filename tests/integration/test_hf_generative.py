"""Hugging Face generative models, offline: tiny random GPT-2 and BART folders built with
``transformers`` configs and ``save_pretrained``, loaded by the real ``hf_pretrained`` code.

A causal LM fine-tunes as a language-model run (loss falls, perplexity, generation, attention);
a seq2seq model fine-tunes as a translation run (the workbench's beam search, BLEU, cross-
attention) and summarises; a folder of the wrong kind is a one-line error naming it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from core.cli import main  # noqa: E402
from core.config import validate_config  # noqa: E402
from core.errors import ConfigError  # noqa: E402
from core.inspect.capture import capture_attention  # noqa: E402
from core.runs import create_run, execute_run, generate_text, load_trained, translate_texts  # noqa: E402
from core.store import Store  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def save_tokenizer(folder: Path, words: list[str]) -> int:
    """A word-level fast tokenizer over ``words`` (ids 0-3: <pad> <s> </s> <unk>); its size."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate([*SPECIALS, *dict.fromkeys(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                                eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(str(folder))
    return len(vocab)


def tiny_gpt2(folder: Path, words: list[str] = WORDS) -> Path:
    vocab = save_tokenizer(folder, words)
    config = transformers.GPT2Config(vocab_size=vocab, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(str(folder))
    return folder


def tiny_bart(folder: Path, words: list[str]) -> Path:
    vocab = save_tokenizer(folder, words)
    config = transformers.BartConfig(
        vocab_size=vocab, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=None,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    torch.manual_seed(0)
    transformers.BartForConditionalGeneration(config).save_pretrained(str(folder))
    return folder


def test_causal_lm_fine_tunes_generates_and_shows_attention(tmp_path: Path, store: Store) -> None:
    model = tiny_gpt2(tmp_path / "gpt2")
    text = tmp_path / "count.txt"
    text.write_text("\n".join(" ".join(WORDS) for _ in range(60)), encoding="utf-8")
    raw = {
        "task": {"name": "language_model", "context_length": 16, "sample_length": 6, "sample_prompt": "one two"},
        "data": {"name": "file", "path": str(text)},
        "tokenizer": "pretrained", "model": {"name": "hf_pretrained", "model": str(model)},
        "optimizer": {"name": "adamw", "lr": 3e-3}, "schedule": "constant",
        "training": {"max_steps": 40, "batch_size": 8, "eval_every": 40, "log_every": 5, "device": "cpu",
                     "attention_snapshots": False},
    }
    run = create_run(store, validate_config(raw), name="gpt2")
    val = execute_run(store, run.id).summary["val"]
    losses = store.metrics(run.id, names="loss", split="train")["value"].tolist()
    assert losses[-1] < 0.5 * losses[0], losses  # it learns to count
    assert val["perplexity"] < 2.0 and "bits_per_char" in val, val
    trained = load_trained(store, run.id)
    out = generate_text(trained, "three four", max_new_tokens=4, greedy=True)
    assert out == "three four five six seven eight", out
    capture = capture_attention(trained, "one two three")
    maps = capture.maps["decoder"]
    assert maps.weights.shape == (2, 2, 3, 3) and maps.causal
    assert float(abs(maps.weights[0, 0, 0, 1:]).max()) == 0.0  # nothing attends to the future
    assert trained.model.hf.config._attn_implementation == "sdpa"  # eager for that call only


def _reversals(n: int = 400, length: int = 4) -> list[tuple[str, str]]:
    """Four words and the same words reversed (long enough for BLEU's 4-grams)."""
    rng = torch.Generator().manual_seed(0)
    rows = [[WORDS[int(i)] for i in torch.randint(len(WORDS), (length,), generator=rng)] for _ in range(n)]
    return [(" ".join(r), " ".join(reversed(r))) for r in rows]


PAIRS = _reversals()


def test_seq2seq_fine_tunes_translates_with_beam_search_and_summarises(tmp_path: Path, store: Store) -> None:
    model = tiny_bart(tmp_path / "bart", WORDS)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in PAIRS), encoding="utf-8")
    raw = {
        "task": {"name": "translation", "beam_size": 3, "max_source_length": 8, "max_target_length": 8},
        "data": {"name": "parallel", "path": str(pairs), "val_fraction": 0.1},
        "tokenizer": "pretrained", "model": {"name": "hf_pretrained", "model": str(model)},
        "optimizer": {"name": "adamw", "lr": 3e-3}, "schedule": "constant",
        "training": {"max_steps": 120, "batch_size": 32, "eval_every": 120, "log_every": 10, "device": "cpu",
                     "attention_snapshots": False},
    }
    run = create_run(store, validate_config(raw), name="bart")
    result = execute_run(store, run.id)
    val = result.summary["val"]
    assert val["bleu"] > 50 and val["exact_match"] > 0.5, val  # measured: BLEU ~100
    trained = load_trained(store, run.id)
    assert translate_texts(trained, ["three nine one two", "four four one six"]) == ["two one nine three", "six one four four"]
    capture = capture_attention(trained, "three nine one two", target="two one nine three")
    assert set(capture.maps) == {"encoder", "decoder", "cross"}
    assert capture.maps["cross"].weights.shape[-2:] == (5, 5)  # <s> + 4 words over 4 words + </s>

    # The same folder summarises (any seq2seq task), with its length controls.
    doc = tmp_path / "docs.tsv"
    doc.write_text("source\ttarget\n" + "".join(f"{s} {s}\t{s.split()[0]}\n" for s, _ in PAIRS), encoding="utf-8")
    summary = {**raw, "task": {"name": "summarisation", "max_source_length": 8, "max_target_length": 4},
               "data": {"name": "parallel", "path": str(doc)}, "training": {**raw["training"], "max_steps": 2, "eval_every": 2}}
    run = create_run(store, validate_config(summary), name="bart-sum")
    assert "rougeL" in execute_run(store, run.id).summary["val"]
    [text] = translate_texts(load_trained(store, run.id), ["one two one two"], min_len=3, no_repeat_ngram=1)
    assert len(text.split()) >= 3 and len(set(text.split())) == len(text.split())


def test_a_folder_of_the_wrong_kind_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gpt2 = str(tiny_gpt2(tmp_path / "gpt2"))
    bart = str(tiny_bart(tmp_path / "bart", WORDS))
    with pytest.raises(ConfigError, match=r"model\.model = '.*gpt2': a causal language model, the wrong kind; "
                                          r"expected a sequence-to-sequence model folder .* for translation"):
        validate_config({"task": "translation", "tokenizer": "pretrained", "model": {"name": "hf_pretrained", "model": gpt2}})
    with pytest.raises(ConfigError, match=r"'.*bart': a sequence-to-sequence model, the wrong kind; expected a causal"):
        validate_config({"task": "language_model", "tokenizer": "pretrained", "model": {"name": "hf_pretrained", "model": bart}})
    bert = tmp_path / "bert"
    transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)).save_pretrained(str(bert))
    code = main(["train", "--task", "summarisation", "--set", "tokenizer.name=pretrained", "--set", "model.name=hf_pretrained",
                 "--set", f"model.model={bert}", "--set", "training.max_steps=1"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    assert str(bert) in err and "a bert model (BertForSequenceClassification)" in err and "AutoModelForSeq2SeqLM" in err
