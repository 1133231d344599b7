"""A Hugging Face folder whose config.json does not match its weights is refused in one line
naming the folder and what differs: not a traceback of "size mismatch" lines (a changed width),
and never a model that silently starts from random weights (weights of another model, more or
fewer layers in the config than in the files). Tiny models built here, offline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from core.cli import main  # noqa: E402
from core.errors import WorkbenchError  # noqa: E402
from core.models.hf import build_hf_classifier  # noqa: E402
from core.models.hf_generative import build_causal_lm  # noqa: E402
from core.store import Store  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "the"]
ADVICE = ("Was config.json edited, or do the weights come from another model? Use a folder saved whole by "
          "save_pretrained()")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny_bert(folder: Path, layers: int = 1) -> Path:
    transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=layers,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def edit_config(folder: Path, **changes: object) -> Path:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return folder


def _refusal(folder: Path, pooling: str) -> str:
    with pytest.raises(WorkbenchError) as err:
        build_hf_classifier({"model": str(folder), "pooling": pooling}, num_classes=2)
    return str(err.value)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_a_changed_width_is_one_line_naming_the_folder(tmp_path: Path, pooling: str) -> None:
    folder = edit_config(tiny_bert(tmp_path / "bert"), hidden_size=32)
    prefix = "bert." if pooling == "cls" else ""  # the classifier's body, or the bare encoder
    assert _refusal(folder, pooling) == (
        f"model.model = {folder}: its config.json does not match its weights: "
        f"{prefix}embeddings.position_embeddings.weight is 32x16 in the weights but 32x32 by config.json; "
        f"21 more tensors differ. {ADVICE}")


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_weights_of_another_model_or_missing_layers_never_load_as_random_ones(tmp_path: Path, pooling: str) -> None:
    foreign = tiny_bert(tmp_path / "foreign")
    torch.manual_seed(0)
    transformers.GPT2Model(transformers.GPT2Config(vocab_size=9, n_positions=32, n_embd=16, n_layer=1,
                                                   n_head=2)).save_pretrained(tmp_path / "gpt2")
    shutil.copy(tmp_path / "gpt2" / "model.safetensors", foreign / "model.safetensors")
    assert re.fullmatch(rf"model\.model = {re.escape(str(foreign))}: its config\.json does not match its weights: "
                        r"config\.json asks for 2\d tensors the weights lack \((bert\.)?embeddings\.LayerNorm\.bias, "
                        rf"(bert\.)?embeddings\.LayerNorm\.weight and 1\d more\)\. {re.escape(ADVICE)}",
                        _refusal(foreign, pooling))
    deeper = edit_config(tiny_bert(tmp_path / "deeper"), num_hidden_layers=2)
    assert "config.json asks for 16 tensors the weights lack" in _refusal(deeper, pooling)
    shallower = edit_config(tiny_bert(tmp_path / "shallower", layers=2), num_hidden_layers=1)
    assert "the weights hold 16 tensors of layers config.json does not have (encoder.layer.1." \
        in _refusal(shallower, pooling)


def test_a_whole_folder_and_a_new_head_of_another_size_load(tmp_path: Path) -> None:
    model = build_hf_classifier({"model": str(tiny_bert(tmp_path / "bert"))}, num_classes=3)
    assert model.hf.classifier.out_features == 3
    # A classifier fine-tuned for 2 classes, taken for 3: its head is new (a RuntimeError before).
    tuned = tmp_path / "tuned"
    transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        num_labels=2)).save_pretrained(tuned)
    assert build_hf_classifier({"model": str(tuned)}, num_classes=3).hf.classifier.out_features == 3


def test_a_language_model_folder_is_checked_too(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=12, n_positions=32, n_embd=16, n_layer=1,
                                                         n_head=2)).save_pretrained(folder)
    edit_config(folder, n_embd=32)
    with pytest.raises(WorkbenchError, match=rf"^model\.model = {re.escape(str(folder))}: its config\.json does "
                                             r"not match its weights: transformer\.h\.0\.attn\.c_attn\.weight is "
                                             r"16x48 in the weights but 32x96 by config\.json;"):
        build_causal_lm({"model": str(folder)}, context=8)


def test_lmwb_train_says_it_in_one_line_and_keeps_no_run(tmp_path: Path, capsys, store: Store) -> None:
    folder = edit_config(tiny_bert(tmp_path / "bert"), hidden_size=32)
    data = tmp_path / "reviews.tsv"
    data.write_text("text\tlabel\n" + "".join(f"the {'good' if i % 2 else 'bad'} film\t{i % 2}\n" for i in range(40)))
    assert main(["train", "--set", "model.name=hf_pretrained", "--set", f"model.model={folder}",
                 "--set", "data.name=file", "--set", f"data.path={data}", "--set", "training.max_steps=2"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"error: model.model = {folder}: its config.json does not match its weights: ")
    assert err.count("\n") == 1 and "Traceback" not in err and "removed: it never started training" in out
    assert store.list_runs() == []
