"""A run with a held-out set: scored beside validation, in the summary, the metric series, the
Run view and Compare; a bad held-out file or flag is refused before any run exists."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from core.cli.main import main
from core.config import default_config, validate_config
from core.runs import create_run, execute_run
from core.store import Store

REPO = Path(__file__).resolve().parents[2]
WORDS = {1: ["good", "great", "fine", "lovely"], 0: ["bad", "dull", "awful", "poor"]}


def write_reviews(path: Path, n: int, offset: int = 0) -> Path:
    rows = ["text\tlabel"]
    for i in range(offset, offset + n):
        label = i % 2
        rows.append(f"the film was {WORDS[label][i % 4]} and the cast {WORDS[label][(i // 4) % 4]} .\t{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


def tiny_config(tmp_path: Path, **data: object) -> dict:
    raw = default_config("classification")
    raw["data"] = {"name": "file", "path": str(write_reviews(tmp_path / "train.tsv", 120)), **data}
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["training"].update(max_steps=8, eval_every=4, batch_size=16, device="cpu")
    return raw


@pytest.mark.usefixtures("one_torch_thread")
def test_both_figures_reach_the_summary_the_series_and_compare(tmp_path: Path, store: Store, capsys,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    held = write_reviews(tmp_path / "held.tsv", 40, offset=500)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path, heldout_path=str(held))))
    assert main(["train", "--config", str(config), "--name", "with-heldout"]) == 0
    assert "(held-out accuracy " in capsys.readouterr().out  # the closing line gives both figures
    run = store.get_run("with-heldout")
    summary = store.get_run(run.id).summary
    assert summary["data"]["heldout_examples"] == 40
    assert {"accuracy", "loss"} <= set(summary["val"]) and {"accuracy", "loss"} <= set(summary["heldout"])
    assert summary["best"]["heldout"]["accuracy"] == pytest.approx(summary["heldout"]["accuracy"]) or \
        summary["best"]["step"] != summary["step"]
    series = store.metrics(run.id)
    assert set(series.loc[series["split"] == "heldout", "step"]) == {4, 8}  # at every evaluation
    plain = create_run(store, validate_config(tiny_config(tmp_path)), name="without")
    execute_run(store, plain.id)
    assert "heldout" not in store.get_run(plain.id).summary

    monkeypatch.setenv("LMWB_NO_WORKERS", "1")
    at = AppTest.from_file(str(REPO / "pages" / "compare.py"), default_timeout=60)
    at.session_state["compare_runs"] = [run.id, plain.id]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(f.value for f in at.dataframe if "Accuracy (held-out)" in f.value.columns)
    cells = table.astype(str).apply(lambda column: column.str.strip())
    assert float(cells.loc["with-heldout", "Accuracy (held-out)"]) == pytest.approx(summary["heldout"]["accuracy"], abs=1e-4)
    assert float(cells.loc["with-heldout", "Accuracy"]) == pytest.approx(summary["val"]["accuracy"], abs=1e-4)
    assert cells.loc["without", "Accuracy (held-out)"] == ""  # a run without a held-out set has none

    view = AppTest.from_file(str(REPO / "pages" / "run.py"), default_timeout=60)
    view.query_params["run"] = run.id
    view.run()
    assert not view.exception, [e.value for e in view.exception]
    assert any(m.label == "held-out Accuracy" for m in view.metric)


@pytest.mark.parametrize(("extra", "expected"), [
    (["--set", "data.heldout_path=MISSING"], "data.heldout_path = "),
    (["--set", "data.heldout_path=HELD", "--set", "data.heldout_sentences=5"], "data.heldout_path and data.heldout_sentences both"),
    (["--set", "data.heldout_sentences=-1"], "data.heldout_sentences = -1"),
])
def test_a_bad_held_out_file_or_flag_leaves_the_store_unchanged(tmp_path: Path, capsys, extra: list[str],
                                                                 expected: str) -> None:
    train = write_reviews(tmp_path / "train.tsv", 40)
    held = write_reviews(tmp_path / "held.tsv", 10)
    argv = ["train", "--set", "data.name=file", "--set", f"data.path={train}",
            *[a.replace("MISSING", str(tmp_path / "nope.tsv")).replace("HELD", str(held)) for a in extra]]
    before = Store().list_runs()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert Store().list_runs() == before == []
