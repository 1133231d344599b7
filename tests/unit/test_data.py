"""Data loading: formats, column detection, error messages, splits, built-in datasets."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from core.data import builtin, reading, sentiment
from core.data.builtin import list_builtin
from core.data.files import file_dataset
from core.data.reading import read_parallel, read_text
from core.data.splits import split_indices, split_text
from core.data.tables import describe_file, read_records, sort_labels
from core.errors import ConfigError, DataError
from core.registry import DATASETS

SHARED = Path(__file__).resolve().parents[2].joinpath("..", "shared", "data").resolve()
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")


def write(folder: Path, name: str, content: str | bytes, gz: bool = False) -> Path:
    data = content.encode("utf-8") if isinstance(content, str) else content
    path = folder / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def labeled_csv(n: int = 40) -> str:
    rows = ["text,label"] + [f"example number {i},{'pos' if i % 2 else 'neg'}" for i in range(n)]
    return "\n".join(rows) + "\n"


# -- formats ----------------------------------------------------------------------------------

CONTENT = {
    "csv": 'text,label\n"hello, world",1\nplain,0\n',
    "tsv": 'label\tsentence\n1\thello, "world"\n0\tplain\n',
    "jsonl": '{"text": "hello, world", "label": 1}\n\n{"text": "plain", "label": 0}\n',
    "txt": "hello, world\n\nplain\n",
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "txt"])
def test_every_format_plain_and_gz(tmp_path: Path, fmt: str, gz: bool) -> None:
    name = f"data.{fmt}" + (".gz" if gz else "")
    path = write(tmp_path, name, CONTENT[fmt], gz=gz)
    columns, rows = read_records(path)
    text_col = {"tsv": "sentence"}.get(fmt, "text")
    assert text_col in columns
    texts = [r[text_col] for r in rows]
    assert texts == (['hello, "world"', "plain"] if fmt == "tsv" else ["hello, world", "plain"])
    if fmt != "txt":
        assert [r["label"] for r in rows] == ["1", "0"]


def test_gzip_detected_by_magic_bytes_not_suffix(tmp_path: Path) -> None:
    disguised = write(tmp_path, "data.csv", CONTENT["csv"], gz=True)  # gzip without .gz
    assert read_records(disguised)[1][1]["text"] == "plain"
    liar = write(tmp_path, "data.csv.gz", CONTENT["csv"])  # .gz suffix, plain bytes
    assert read_records(liar)[1][0]["text"] == "hello, world"


def test_json_array_and_explicit_format(tmp_path: Path) -> None:
    path = write(tmp_path, "data.json", json.dumps([{"review": "ok", "stars": 5}, {"review": "bad", "stars": 1}]))
    columns, rows = read_records(path)
    assert columns == ["review", "stars"] and rows[1] == {"review": "bad", "stars": "1"}
    odd = write(tmp_path, "data.dat", "a\tb\n1\t2\n")
    assert read_records(odd, fmt="tsv")[0] == ["a", "b"]
    assert read_records(odd)[0] == ["a", "b"]  # unknown suffix: sniffed from the tab


def test_csv_quotes_commas_newlines_and_line_numbers(tmp_path: Path) -> None:
    text = 'text,label\n"he said ""hi"", then left",1\n"two\nlines",0\nshort,1,extra\n'
    path = write(tmp_path, "q.csv", text)
    with pytest.raises(DataError) as err:
        read_records(path)
    # the multi-line record occupies lines 3-4, so the ragged row is line 5
    assert err.value.line == 5 and "q.csv" in str(err.value) and "3 fields" in str(err.value)
    columns, rows = read_records(write(tmp_path, "ok.csv", text.rsplit("short", 1)[0]))
    assert rows[0]["text"] == 'he said "hi", then left' and rows[1]["text"] == "two\nlines"


def test_semicolon_csv_and_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", b"\xef\xbb\xbftext;label\nhello;1\nbye;0\n")
    columns, rows = read_records(path)
    assert columns == ["text", "label"] and rows[0] == {"text": "hello", "label": "1"}


def test_read_text_plain_gz_and_crlf(tmp_path: Path) -> None:
    assert read_text(write(tmp_path, "a.txt", "one\r\ntwo\r\n")) == "one\ntwo\n"
    assert read_text(write(tmp_path, "a.txt.gz", "héllo\n", gz=True)) == "héllo\n"


# -- columns, labels, bad files ---------------------------------------------------------------

def test_sst2_like_tsv_label_first(tmp_path: Path) -> None:
    rows = ["label\tsentence"] + [f"{i % 2}\ta \"quoted\" sentence {i}" for i in range(30)]
    path = write(tmp_path, "train.tsv", "\n".join(rows) + "\n")
    info = describe_file(path)
    assert info["text_column"] == "sentence" and info["label_column"] == "label"
    assert info["label_counts"] == {"0": 15, "1": 15} and info["rows"] == 30
    ds = file_dataset({"path": str(path)}, task="classification", seed=0)
    assert ds.label_names == ["0", "1"]
    assert all(t.startswith('a "quoted"') for t in ds.train.texts)


def test_explicit_column_override_and_missing_column(tmp_path: Path) -> None:
    content = "title,body,stars\n" + "".join(f"t{i},b{i},{i % 3}\n" for i in range(30))
    path = write(tmp_path, "reviews.csv", content)
    ds = file_dataset({"path": str(path), "text_column": "title", "label_column": "stars"}, task="classification", seed=1)
    assert all(t.startswith("t") for t in ds.train.texts) and ds.label_names == ["0", "1", "2"]
    with pytest.raises(DataError) as err:
        file_dataset({"path": str(path), "text_column": "nope", "label_column": "stars"}, task="classification", seed=1)
    assert "reviews.csv" in str(err.value) and "'title', 'body', 'stars'" in str(err.value)


def test_labels_sorted_numerically() -> None:
    assert sort_labels(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert sort_labels(["pos", "neg"]) == ["neg", "pos"]


BAD_FILES = [
    # name, bytes, expected line (None: whole file), fragment of the message
    ("empty.csv", b"", None, "empty"),
    ("blank.txt", b"\n\n  \n", None, "empty"),
    ("nocols.csv", b"foo,bar,baz\n1,2,3\n4,5,6\n", None, "'foo', 'bar', 'baz'"),
    ("oneclass.csv", b"text,label\na,1\nb,1\nc,1\n", None, "single class"),
    ("latin1.csv", b"text,label\nok,1\ncaf\xe9,0\n", 3, "UTF-8"),
    ("ragged.tsv", b"label\ttext\n1\tfine\n0\ttoo\tmany\n", 3, "3 fields"),
    ("bad.jsonl", b'{"text": "a", "label": 1}\n{"text": "b", label: 0}\n', 2, "invalid JSON"),
    ("notobj.jsonl", b'{"text": "a", "label": 1}\n[1, 2]\n', 2, "JSON object"),
    ("quote.csv", b'text,label\nfine,1\n"never closed,0\nmore,1\n', 3, "CSV"),
    ("dupe.csv", b"text,text,label\na,b,1\n", 1, "twice"),
    ("noheaderrows.csv", b"text,label\n", None, "no data rows"),
    ("plain.txt", b"just some text\nmore\n", None, "no labels"),
    ("ids.csv", b"text,label\n" + b"".join(b"row %d,%d\n" % (i, i) for i in range(60)), None, "really the label"),
]


@pytest.mark.parametrize(("name", "data", "line", "fragment"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_name_file_and_line(tmp_path: Path, name: str, data: bytes, line: int | None, fragment: str) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(DataError) as err:
        file_dataset({"path": str(path)}, task="classification", seed=0)
    message = str(err.value)
    assert name in message and fragment in message
    assert err.value.line == line
    if line is not None:
        assert f"line {line}" in message


def test_missing_file_and_empty_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothere.csv: file not found"):
        read_records(tmp_path / "nothere.csv")
    with pytest.raises(ConfigError, match="data.path"):
        file_dataset({}, task="classification", seed=0)


def test_empty_rows_skipped_with_note(tmp_path: Path) -> None:
    content = labeled_csv(20) + ",1\n   ,0\nlast one,pos\nno label,\n"
    ds = file_dataset({"path": str(write(tmp_path, "e.csv", content))}, task="classification", seed=0)
    assert len(ds.train) + len(ds.validation) == 21
    assert any("skipped 2 empty rows" in n and "line 22" in n for n in ds.notes)
    assert any("1 rows with no label" in n for n in ds.notes)


def test_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_FILE_MB", 0.001)  # 1,000 bytes
    big = write(tmp_path, "big.txt", "x" * 3000)
    with pytest.raises(DataError, match=r"big.txt: file is 0.003 MB, over the 0.001 MB limit \(set LMWB_MAX_FILE_MB"):
        read_text(big)
    bomb = write(tmp_path, "bomb.txt.gz", "y" * 50_000, gz=True)  # small on disk, big inside
    assert bomb.stat().st_size < 1000
    with pytest.raises(DataError, match="decompresses to more than"):
        read_text(bomb)
    assert read_text(big, max_bytes=10_000) == "x" * 3000


def test_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMWB_MAX_FILE_MB", "12.5")
    assert reading._env_max_mb() == 12.5
    monkeypatch.setenv("LMWB_MAX_FILE_MB", "lots")
    with pytest.warns(UserWarning):
        assert reading._env_max_mb() == 200.0


# -- splits -----------------------------------------------------------------------------------

def test_split_indices_deterministic_and_disjoint() -> None:
    a = split_indices(1000, 0.1, 0.2, seed=3)
    assert a == split_indices(1000, 0.1, 0.2, seed=3)
    assert a != split_indices(1000, 0.1, 0.2, seed=4)
    train, val, test = a
    assert (len(train), len(val), len(test)) == (700, 100, 200)
    assert sorted(train + val + test) == list(range(1000))


def test_split_indices_stratified() -> None:
    labels = [0] * 90 + [1] * 8 + [2] * 2
    train, val, test = split_indices(100, 0.1, 0.0, seed=0, labels=labels)
    val_counts = Counter(labels[i] for i in val)
    assert val_counts == {0: 9, 1: 1, 2: 1}  # every class with >= 2 examples is in validation
    assert Counter(labels[i] for i in train) == {0: 81, 1: 7, 2: 1} and test == []


def test_split_text_contiguous() -> None:
    text = "".join(chr(65 + i % 26) for i in range(1000))
    train, val, test = split_text(text, 0.1, 0.0)
    assert train == text[:900] and val == text[900:] and test == ""
    train, val, test = split_text(text, 0.1, 0.1)
    assert train + val + test == text and (len(train), len(val), len(test)) == (800, 100, 100)
    with pytest.raises(ValueError):
        split_text(text, 0.6, 0.5)


def test_classification_split_deterministic_validation_file_and_cap(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", labeled_csv(200))
    params = {"path": str(path), "val_fraction": 0.2, "test_fraction": 0.1}
    a = file_dataset(params, task="classification", seed=7)
    b = file_dataset(params, task="classification", seed=7)
    c = file_dataset(params, task="classification", seed=8)
    assert a.train.texts == b.train.texts and a.train.texts != c.train.texts
    assert (len(a.train), len(a.validation), len(a.test or [])) == (140, 40, 20)
    assert Counter(a.validation.labels) == {0: 20, 1: 20} and a.label_names == ["neg", "pos"]
    capped = file_dataset({**params, "max_examples": 50}, task="classification", seed=7)
    assert len(capped.train) == 50 and capped.validation.texts == a.validation.texts
    assert set(capped.train.texts) <= set(a.train.texts)

    val = write(tmp_path, "val.jsonl", '{"sentence": "v1", "label": "pos"}\n{"sentence": "v2", "label": "neg"}\n')
    d = file_dataset({"path": str(path), "validation_path": str(val)}, task="classification", seed=0)
    assert d.validation.texts == ["v1", "v2"] and d.validation.labels == [1, 0] and len(d.train) == 200
    bad = write(tmp_path, "badval.csv", "text,label\nx,pos\ny,maybe\n")
    with pytest.raises(DataError) as err:
        file_dataset({"path": str(path), "validation_path": str(bad)}, task="classification", seed=0)
    assert err.value.line == 3 and "badval.csv" in str(err.value) and "'maybe'" in str(err.value)


def test_language_model_from_txt_csv_and_validation_file(tmp_path: Path) -> None:
    text = "".join(f"line {i}\n" for i in range(200))
    path = write(tmp_path, "corpus.txt.gz", text, gz=True)
    ds = file_dataset({"path": str(path)}, task="language_model", seed=0)
    n = int(len(text) * 0.9)
    assert ds.train.texts == [text[:n]] and ds.validation.texts == [text[n:]] and ds.test is None
    assert file_dataset({"path": str(path)}, task="language_model", seed=99).train.texts == ds.train.texts
    capped = file_dataset({"path": str(path), "max_chars": 100}, task="language_model", seed=0)
    assert capped.train.texts == [text[:100]] and capped.validation.texts == ds.validation.texts

    table = write(tmp_path, "docs.csv", "id,document\n1,first doc\n2,\n3,second doc\n")
    val = write(tmp_path, "val.txt", "held out\n")
    ds = file_dataset({"path": str(table), "validation_path": str(val)}, task="language_model", seed=0)
    assert ds.train.texts == ["first doc\nsecond doc"] and ds.validation.texts == ["held out\n"]
    with pytest.raises(DataError, match="too short"):
        file_dataset({"path": str(write(tmp_path, "tiny.txt", "a"))}, task="language_model", seed=0)


def test_read_parallel(tmp_path: Path) -> None:
    src = write(tmp_path, "train.de.gz", "Hallo Welt\n\nGuten Tag\n", gz=True)
    tgt = write(tmp_path, "train.en", "Hello world\nblank source\nGood day\n")
    notes: list[str] = []
    assert read_parallel(src, tgt, notes=notes) == [("Hallo Welt", "Hello world"), ("Guten Tag", "Good day")]
    assert notes and "skipped 1" in notes[0]
    short = write(tmp_path, "short.en", "only one\n")
    with pytest.raises(DataError) as err:
        read_parallel(src, short)
    assert "train.de.gz" in str(err.value) and "short.en" in str(err.value)
    assert "3 lines" in str(err.value) and "has 1" in str(err.value)


# -- built-in datasets ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "k"), [("sentiment", 2), ("topics", 4)])
def test_builtin_classification_deterministic_and_balanced(name: str, k: int) -> None:
    factory = DATASETS._items[name].factory
    a = factory({}, task="classification", seed=0)
    b = factory({"name": name}, task="classification", seed=0)
    assert a.train.texts == b.train.texts and a.train.labels == b.train.labels
    assert len(a.train) + len(a.validation) == 4000 and a.num_classes() == k
    counts = Counter(a.train.labels + a.validation.labels)
    assert min(counts.values()) > 0.8 * 4000 / k
    assert len(set(a.train.texts)) > 0.8 * len(a.train)  # varied, not a handful of templates
    assert a.description and a.notes
    other = factory({}, task="classification", seed=1)
    assert sorted(other.train.texts + other.validation.texts) == sorted(a.train.texts + a.validation.texts)


def test_sentiment_uses_negation() -> None:
    ds = builtin.sentiment({"n_examples": 1000, "label_noise": 0.0}, task="classification", seed=0)
    texts = ds.train.texts + ds.validation.texts
    labels = ds.train.labels + ds.validation.labels
    negators = sorted(sentiment.NEGATORS, key=len, reverse=True)
    negated_positive = re.compile(rf"\b(?:{'|'.join(negators)}) (?:{'|'.join(sentiment.POS_ADJ)}) \.")
    simple = [(t, y) for t, y in zip(texts, labels, strict=True) if " but " not in t and "although" not in t]
    hits = [y for t, y in simple if negated_positive.search(t)]
    assert len(hits) > 20 and all(y == 0 for y in hits)  # "not good" is negative
    # The validation examples whose label rests on a negation are marked, for negation_accuracy.
    negated = ds.extras["negated"]
    assert len(negated) == len(ds.validation) and 0.2 < sum(negated) / len(negated) < 0.5
    marked = [t for t, n in zip(ds.validation.texts, negated, strict=True) if n]
    assert all(re.search(r"\b(not|never|hardly|far from|anything but|barely|no longer|by no means)\b", t) for t in marked)


def test_sentiment_vocabulary_is_everyday_english_in_the_thousands() -> None:
    ds = builtin.sentiment({}, task="classification", seed=0)
    words = {w for t in ds.train.texts for w in re.findall(r"\w+", t)}
    assert len(words) > 1500 and len(sentiment.vocabulary()) > 2000
    assert {"utterly", "charming", "story", "not", "good", "film", "at", "all"} <= words
    with pytest.raises(ConfigError):
        builtin.sentiment({}, task="language_model", seed=0)


def test_builtin_language_model_sets() -> None:
    ar = builtin.arithmetic({"n_examples": 500}, task="language_model", seed=0)
    lines = ar.train.texts[0].splitlines()
    assert len(lines) == 450
    for line in lines:
        question, answer = line.split("=")
        a, b = question.split("+")
        assert int(a) + int(b) == int(answer)
    assert not set(lines) & set(ar.validation.texts[0].splitlines())
    assert builtin.arithmetic({"n_examples": 500}, task="language_model", seed=5).train.texts == ar.train.texts
    docs = builtin.python_docs({"max_chars": 200_000}, task="language_model", seed=0)
    total = len(docs.train.texts[0]) + len(docs.validation.texts[0])
    assert 150_000 < total <= 200_001 and "Return" in docs.train.texts[0]
    assert builtin.python_docs({"max_chars": 200_000}, task="language_model", seed=1).validation.texts == docs.validation.texts


def test_registered_components_and_list() -> None:
    names = {d["name"] for d in list_builtin()}
    # Other modules (translation) add built-ins too; these four are this module's own.
    assert {"sentiment", "topics", "python_docs", "arithmetic"} <= names
    for name in [*names, "file"]:
        comp = DATASETS._items[name]
        assert comp.meta["tasks"] and comp.help
        assert all(not p.sweepable for p in comp.params)
    assert {"classification", "language_model"} <= set(DATASETS._items["file"].meta["tasks"])


# -- the real data sets -----------------------------------------------------------------------

@needs_shared
def test_real_sst2() -> None:
    ds = file_dataset(
        {"path": str(SHARED / "sst2" / "train.tsv"), "validation_path": str(SHARED / "sst2" / "val.tsv")},
        task="classification", seed=0,
    )
    assert ds.label_names == ["0", "1"] and len(ds.validation) == 2000
    assert len(ds.train) == 65_349 and set(ds.train.labels) == {0, 1}


@needs_shared
def test_real_tinyshakespeare_and_multi30k() -> None:
    ds = file_dataset({"path": str(SHARED / "tinyshakespeare" / "input.txt")}, task="language_model", seed=0)
    assert len(ds.train.texts[0]) == 1_003_854 and len(ds.validation.texts[0]) == 111_540
    pairs = read_parallel(SHARED / "multi30k" / "val.de.gz", SHARED / "multi30k" / "val.en.gz")
    assert len(pairs) == 1014 and all(de and en for de, en in pairs)
