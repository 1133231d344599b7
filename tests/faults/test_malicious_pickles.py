"""Malicious pickles are never unpickled. Each file below would, if loaded with ``pickle`` or
``torch.load(weights_only=False)``, write a marker file; every way a user can hand the
workbench such a file (a Hugging Face folder for hf_pretrained, a run's checkpoint, a
fine-tune's parent, a tokenizer file) ends in one line naming the file, and the marker never
appears."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from core.cli import main
from core.config import default_config, validate_config
from core.errors import WorkbenchError
from core.runs import create_run, execute_run
from core.store import Store

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("one_torch_thread")]


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def _poison(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"weight": _Payload(marker)}))


def test_the_payload_works_when_unpickled(tmp_path: Path) -> None:
    """The control: the payload does write its marker when unpickled, so the tests below that
    find no marker show that nothing unpickled their files."""
    marker = tmp_path / "pwned"
    _poison(tmp_path / "evil.bin", marker)
    pickle.loads((tmp_path / "evil.bin").read_bytes())  # noqa: S301  (on purpose: the control)
    assert marker.exists()


def test_a_hugging_face_folder_with_a_malicious_bin_is_refused_unread(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from core.models.hf import build_hf_classifier

    folder, marker = tmp_path / "model", tmp_path / "pwned"
    config = transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=32)
    config.save_pretrained(folder)
    _poison(folder / "pytorch_model.bin", marker)
    with pytest.raises(WorkbenchError, match=r"holds only pickle weights \(pytorch_model.bin\)"):
        build_hf_classifier({"model": str(folder)}, num_classes=2)
    assert not marker.exists()


def test_a_run_whose_checkpoint_became_a_pickle_is_refused_unread(store: Store, capsys, tmp_path: Path) -> None:
    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["training"].update(max_steps=4, eval_every=2, batch_size=8)
    run = create_run(store, validate_config(raw), name="target")
    execute_run(store, run.id)
    marker = tmp_path / "pwned"
    checkpoints = store.run_dir(run.id) / "checkpoints"
    for name in ("last", "best"):
        for weights in (checkpoints / name).glob("*.safetensors"):
            _poison(weights, marker)
    _poison(store.run_dir(run.id) / "tokenizer" / "tokenizer.json", marker)
    assert main(["predict", run.id, "a fine film"]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(store.run_dir(run.id)) in err, err
    assert main(["resume", run.id, "--force"]) != 0
    assert "Traceback" not in capsys.readouterr().err
    raw["task"]["init_from_run"] = run.id  # a fine-tune from it reads its weights too
    raw["training"]["max_steps"] = 2
    assert main(["train", "--config", _write(tmp_path / "child.yaml", raw)]) != 0
    assert "Traceback" not in capsys.readouterr().err
    assert not marker.exists()
    shutil.rmtree(checkpoints)


def _write(path: Path, raw: dict) -> str:
    import yaml

    path.write_text(yaml.safe_dump(raw))
    return str(path)
