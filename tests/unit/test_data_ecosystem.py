"""Data in from the wider ecosystem: Parquet / Arrow files and save_to_disk folders through the
datasets library, hub names failing fast offline, files without a header row, columns by
position, several text columns (joined or a sentence pair) and label names.

Every file is generated here (pyarrow / datasets write them), so nothing needs network.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.files import file_dataset
from core.data.tables import describe_file, read_records
from core.data.types import PAIR_MARK
from core.errors import ConfigError, DataError, WorkbenchError

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")

AG_NEWS = [  # the AG News layout: class index, title, description, every field quoted, no header
    ("3", "Wall St. Bears Claw Back Into the Black (Reuters)",
     "Reuters - Short-sellers, Wall Street's dwindling band of ultra-cynics, are seeing green again."),
    ("3", "Carlyle Looks Toward Commercial Aerospace (Reuters)",
     "Reuters - Private investment firm Carlyle Group, which has a reputation for well-timed plays."),
    ("2", "Sox win again", "BOSTON - The Red Sox beat the Yankees 5-3 on Tuesday night at Fenway Park."),
    ("2", "Phelps wins gold", "ATHENS - Michael Phelps won his sixth gold medal of the Games on Saturday."),
    ("1", "Talks resume", "GENEVA - Diplomats met again on Monday to resume talks about the dispute."),
    ("1", "Vote delayed", "KABUL - The national election was delayed again by two weeks, officials said."),
]


def ag_news(tmp_path: Path) -> Path:
    path = tmp_path / "ag_news.csv"
    path.write_text("".join(",".join(f'"{cell}"' for cell in row) + "\n" for row in AG_NEWS))
    return path


def features(names: list[str]) -> datasets.Features:
    return datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})


def dataset(n: int, names: tuple[str, ...] = ("neg", "pos"), unlabelled: bool = False) -> datasets.Dataset:
    rows = {"text": [f"{names[i % len(names)]} example number {i}" for i in range(n)],
            "label": [-1 if unlabelled else i % len(names) for i in range(n)]}
    return datasets.Dataset.from_dict(rows, features=features(list(names)))


# -- formats ----------------------------------------------------------------------------------

def test_parquet_file_brings_its_classlabel_names(tmp_path: Path) -> None:
    path = tmp_path / "reviews.parquet"
    dataset(20).to_parquet(str(path))
    columns, rows = read_records(path)
    assert columns == ["text", "label"] and len(rows) == 20 and rows[1] == {"text": "pos example number 1", "label": "1"}
    ds = file_dataset({"path": str(path)}, task="classification", seed=0)
    assert ds.label_names == ["neg", "pos"]  # the ClassLabel feature's names, not 0 / 1
    assert len(ds.train) + len(ds.validation) == 20
    assert all(t.startswith("pos") == (y == 1) for t, y in zip(ds.train.texts, ds.train.labels, strict=True))


@pytest.mark.parametrize("stream", [False, True])
def test_arrow_file_ipc_file_and_stream(tmp_path: Path, stream: bool) -> None:
    table = pa.table({"sentence": [f"line {i} of text" for i in range(12)], "y": ["a", "b", "c"] * 4})
    path = tmp_path / "data.arrow"
    with pa.OSFile(str(path), "wb") as sink:
        writer = (pa.ipc.new_stream if stream else pa.ipc.new_file)(sink, table.schema)
        writer.write_table(table)
        writer.close()
    ds = file_dataset({"path": str(path)}, task="classification", seed=0)
    assert ds.label_names == ["a", "b", "c"] and len(ds.train) + len(ds.validation) == 12
    lm = file_dataset({"path": str(path)}, task="language_model", seed=0)
    assert "line 0 of text" in lm.train.texts[0]


def test_save_to_disk_folder_keeps_its_splits(tmp_path: Path) -> None:
    folder = tmp_path / "glue_like"
    datasets.DatasetDict({
        "train": dataset(30), "validation": dataset(6), "test": dataset(4, unlabelled=True),  # GLUE: -1
    }).save_to_disk(str(folder))
    ds = file_dataset({"dataset": str(folder)}, task="classification", seed=0)
    assert len(ds.train) == 30 and len(ds.validation) == 6  # nothing split off: the dataset's own
    assert ds.test is None and any("no labels" in n for n in ds.notes)  # an unlabelled test split
    assert ds.label_names == ["neg", "pos"]
    from core.cli import main

    assert main(["data", "show", str(folder)]) == 0  # lmwb data show FOLDER: its splits

    folder2 = tmp_path / "with_test"
    datasets.DatasetDict({"train": dataset(30), "test": dataset(8)}).save_to_disk(str(folder2))
    ds2 = file_dataset({"dataset": str(folder2), "val_fraction": 0.2}, task="classification", seed=0)
    assert len(ds2.test) == 8 and len(ds2.train) + len(ds2.validation) == 30


def test_hub_name_fails_at_once_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_dataset must not be reached without network")

    monkeypatch.setattr(datasets, "load_dataset", no_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        file_dataset({"dataset": "imdb"}, task="classification", seed=0)
    message = str(err.value)
    assert message.startswith("imdb: could not download it from the Hugging Face hub (no network?)")
    assert "\n" not in message
    monkeypatch.delenv("HF_HUB_OFFLINE")
    from core.models import hf
    monkeypatch.setattr(hf, "hub_reachable", lambda *a, **k: False)  # a machine whose hub does not answer
    with pytest.raises(DataError, match="glue/sst2: could not download"):
        file_dataset({"dataset": "glue/sst2"}, task="classification", seed=0)


# -- headers and columns --------------------------------------------------------------------------

def test_headerless_csv_keeps_its_first_row_and_picks_the_text(tmp_path: Path) -> None:
    path = ag_news(tmp_path)
    info = describe_file(path)
    assert info["header"] is False and info["rows"] == len(AG_NEWS)  # the first row is data
    assert info["columns"] == ["column1", "column2", "column3"]
    assert (info["text_column"], info["label_column"]) == ("column3", "column1")  # not the class index
    ds = file_dataset({"path": str(path), "val_fraction": 0.5}, task="classification", seed=0)
    texts = ds.train.texts + ds.validation.texts
    assert len(texts) == 6 and AG_NEWS[0][2] in texts and ds.label_names == ["1", "2", "3"]
    # Said outright: header=yes reads the first row as names (today's reading), no keeps it.
    assert describe_file(path, header="yes")["rows"] == 5
    headed = tmp_path / "headed.csv"
    headed.write_text("title,body,stars\n" + "".join(f"t{i},b{i},{i % 3}\n" for i in range(9)))
    assert describe_file(headed)["header"] is True and describe_file(headed, header="no")["rows"] == 10


def test_columns_by_position_and_several_joined(tmp_path: Path) -> None:
    path = ag_news(tmp_path)
    ds = file_dataset({"path": str(path), "text_column": "2,3", "label_column": "1", "separator": " | ",
                       "val_fraction": 0.5}, task="classification", seed=0)
    joined = f"{AG_NEWS[0][1]} | {AG_NEWS[0][2]}"
    assert joined in ds.train.texts + ds.validation.texts
    by_name = file_dataset({"path": str(path), "text_column": "column2", "val_fraction": 0.5},
                           task="classification", seed=0)
    assert AG_NEWS[0][1] in by_name.train.texts + by_name.validation.texts


@pytest.mark.parametrize(("params", "fragments"), [
    ({"text_column": "headline"}, ["data.text_column = 'headline'", "no such column", "'column1'"]),
    ({"text_column": "7"}, ["data.text_column = 7", "position out of range", "3 columns"]),
    ({"label_column": "0"}, ["data.label_column = 0", "position out of range"]),
])
def test_bad_column_references_name_the_field_and_file(tmp_path: Path, params: dict, fragments: list[str]) -> None:
    path = ag_news(tmp_path)
    with pytest.raises(DataError) as err:
        file_dataset({"path": str(path), **params}, task="classification", seed=0)
    message = str(err.value)
    assert message.startswith(str(path)) and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_bad_binary_files_and_choices_give_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError) as err:
        file_dataset({"path": str(bad)}, task="classification", seed=0)
    assert str(err.value).startswith(f"{bad}: not a valid Parquet file") and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="data.header = 'maybe'"):
        file_dataset({"path": str(ag_news(tmp_path)), "header": "maybe"}, task="classification", seed=0)
    with pytest.raises(DataError, match="not a folder written by save_to_disk"):
        file_dataset({"dataset": str(tmp_path)}, task="classification", seed=0)
    with pytest.raises(ConfigError, match="not both"):
        file_dataset({"dataset": "imdb", "path": str(bad)}, task="classification", seed=0)
    with pytest.raises(ConfigError, match="two columns"):
        file_dataset({"path": str(ag_news(tmp_path)), "text_column": "3", "text_fields": "pair"},
                     task="classification", seed=0)


# -- label names ----------------------------------------------------------------------------------

def test_label_names_from_a_list_a_file_and_a_column(tmp_path: Path) -> None:
    path = ag_news(tmp_path)
    base = {"path": str(path), "val_fraction": 0.5}
    listed = file_dataset({**base, "label_names": "World, Sports, Business"}, task="classification", seed=0)
    assert listed.label_names == ["World", "Sports", "Business"]  # labels 1..3: the first name is 1
    names = tmp_path / "classes.txt"
    names.write_text("World\nSports\nBusiness\n")
    assert file_dataset({**base, "label_names_file": str(names)}, task="classification",
                        seed=0).label_names == ["World", "Sports", "Business"]
    # AG News' four names for a file with three of its classes: matched by position they would
    # name labels 1..3 Sports, Business, Sci/Tech (read 0-based), wrongly and silently.
    names.write_text("World\nSports\nBusiness\nSci/Tech\n")
    with pytest.raises(ConfigError, match=r"^data.label_names_file = .*classes.txt': 4 names for 3 classes; "
                                          r"expected one name per class, in label order \(3 names, for labels 1, 2, 3\)$"):
        file_dataset({**base, "label_names_file": str(names)}, task="classification", seed=0)
    with pytest.raises(ConfigError, match=r"^data.label_names = 'a,b,c,d,e': 5 names for 3 classes"):
        file_dataset({**base, "label_names": "a,b,c,d,e"}, task="classification", seed=0)
    with_names = tmp_path / "named.csv"
    with_names.write_text("text,label,label_text\n" + "".join(
        f"sentence {i},{i % 2},{'odd' if i % 2 else 'even'}\n" for i in range(10)))
    assert file_dataset({"path": str(with_names), "label_name_column": "label_text"},
                        task="classification", seed=0).label_names == ["even", "odd"]
    with pytest.raises(ConfigError, match="no name for label 2"):
        file_dataset({**base, "label_names": "World,Sports"}, task="classification", seed=0)


# -- pairs, trained ---------------------------------------------------------------------------------

def _pairs_file(tmp_path: Path) -> Path:
    """premise/hypothesis pairs: label 1 when the hypothesis repeats the premise's animal."""
    animals = ["cat", "dog", "bird", "fish", "horse", "cow"]
    lines = ["premise\thypothesis\tlabel"]
    for i in range(120):
        a, b = animals[i % 6], animals[(i * 5 + 1) % 6]
        same = i % 2 == 0
        lines.append(f"the {a} sleeps\ta {a if same else b} is here\t{int(same)}")
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pair_classification_sees_the_separator_and_shows_label_names(tmp_path: Path, store) -> None:
    import torch

    from core.config import default_config, validate_config
    from core.runs import create_run, execute_run, load_trained, predict_texts
    from core.tasks.pairs import encode_texts

    torch.set_num_threads(1)
    raw = default_config("classification")
    raw["data"] = {"name": "file", "path": str(_pairs_file(tmp_path)), "text_column": "premise,hypothesis",
                   "text_fields": "pair", "label_names": "different,same"}
    raw["model"] = {"name": "transformer_encoder", "n_layers": 1, "d_model": 16, "n_heads": 2, "d_ff": 32,
                    "dropout": 0.0}
    raw["training"].update(max_steps=6, eval_every=6, batch_size=16, device="cpu")
    run = create_run(store, validate_config(raw), name="pairs")
    execute_run(store, run.id)
    trained = load_trained(store, run.id)
    tok = trained.tokenizer
    ids = trained.task.encode([f"the cat sleeps{PAIR_MARK}a dog is here"])[0]
    assert ids[0] == tok.bos_id and tok.eos_id in ids  # [CLS] a [SEP] b
    sep = ids.index(tok.eos_id)
    assert tok.decode(ids[1:sep]) == "the cat sleeps" and tok.decode(ids[sep + 1:]) == "a dog is here"
    assert tok.encode("sep") == [tok.unk_id]  # the mark is no word of the vocabulary
    # An LSTM reads the joined text, without a separator token.
    lstm_ids = encode_texts(tok, [f"the cat sleeps{PAIR_MARK}a dog"], trained.task.state, "lstm")[0]
    assert tok.eos_id not in lstm_ids and lstm_ids == tok.encode("the cat sleeps a dog")
    # Label names everywhere the classes are shown: predictions and the stored confusion matrix.
    assert set(predict_texts(trained, ["the cat sleeps [SEP] a cat is here"])[0]) == {"different", "same"}
    confusion = store.get_run(run.id).summary["details"]["confusion_matrix"]
    assert confusion["labels"] == ["different", "same"]
    # The views that look inside read the pair the way the model does.
    from core.inspect.capture import capture_attention
    from core.inspect.salience import explain

    pair = f"the cat sleeps{PAIR_MARK}a dog is here"
    maps = next(iter(capture_attention(trained, pair).maps.values()))
    assert "<eos>" in maps.key_tokens and "sep" not in maps.key_tokens
    assert "<eos>" in explain(trained, pair, method="grad_x_input").tokens


def test_pretrained_tokenizer_pair_encoding() -> None:
    transformers = pytest.importorskip("transformers")
    from core.models.hf import PretrainedTokenizer
    from core.tasks.pairs import encode_texts

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "a", "dog"]
    hf_tok = transformers.BertTokenizerFast(vocab={w: i for i, w in enumerate(words)})
    tok = PretrainedTokenizer({}, hf_tok)
    ids = encode_texts(tok, [f"the cat{PAIR_MARK}a dog"], {"text_pair": True}, "hf_pretrained")[0]
    assert ids == [2, 5, 6, 3, 7, 8, 3]  # the tokenizer's own: [CLS] the cat [SEP] a dog [SEP]


def test_bad_parquet_on_the_command_line_is_one_line(tmp_path: Path, capsys) -> None:
    from core.cli import main

    bad = tmp_path / "train.parquet"
    bad.write_bytes(b"not parquet at all")
    assert main(["train", "--set", "data.name=file", "--set", f"data.path={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "train.parquet" in err and "not a valid Parquet file" in err
    assert "\n" not in err and "Traceback" not in err
    assert main(["train", "--set", "data.name=file", "--set", f"data.path={ag_news(tmp_path)}",
                 "--set", "data.header=sometimes"]) == 2
    assert "data.header = 'sometimes'" in capsys.readouterr().err


def test_neither_a_file_nor_a_dataset_is_refused() -> None:
    with pytest.raises(WorkbenchError, match="data.path = '': missing; expected the path of a CSV"):
        file_dataset({}, task="classification", seed=0)


def test_a_named_run_scores_a_headerless_file_with_its_names(tmp_path: Path, store) -> None:
    from core.config import default_config, validate_config
    from core.runs import create_run, evaluate_file, execute_run, load_trained

    path = ag_news(tmp_path)
    raw = default_config("classification")
    raw["data"] = {"name": "file", "path": str(path), "text_column": "2,3", "val_fraction": 0.5,
                   "label_names": "World,Sports,Business"}
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["training"].update(max_steps=2, eval_every=2, batch_size=4, device="cpu")
    run = create_run(store, validate_config(raw), name="ag")
    execute_run(store, run.id)
    result = evaluate_file(load_trained(store, run.id), path)  # the same names, every row
    assert result.details["confusion_matrix"]["labels"] == ["World", "Sports", "Business"]
    assert sum(map(sum, result.details["confusion_matrix"]["matrix"])) == len(AG_NEWS)


def test_header_detection_reads_the_rows() -> None:
    from core.data.columns import has_header

    sentences = [["a fine film that I would happily watch again", "pos"], ["dull and far too long, sadly", "neg"]]
    assert has_header(["a wonderful little film about a family", "pos"], sentences) is False  # data
    survey = [["the price", "yes"], ["support", "no"]]
    assert has_header(["What did you like most about the product today?", "Recommend"], survey) is None
    assert has_header(["review", "stars"], [["ok", "4"]]) is True  # a known name
    assert has_header(["Title", "Score"], [["ok", "4"], ["bad", "1"]]) is True  # a word over numbers
    assert has_header(["4", "ok"], [["1", "bad"]]) is False  # a class index is no name
