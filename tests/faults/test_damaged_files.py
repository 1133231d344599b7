"""Damaged or truncated checkpoints, pickle-only Hugging Face folders and a full disk each end
in one line naming the file and what to do: from predict, resume, fine-tune and hf_pretrained.
A checkpoint write that fails leaves the previous checkpoint as it was."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from core import checkpoint as ckpt
from core.cli import main
from core.config import default_config, validate_config
from core.errors import CheckpointError, WorkbenchError
from core.runs import create_run, execute_run
from core.store import Run, Store
from tests.conftest import trained_tiny_classifier

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("one_torch_thread")]


def _trained(store: Store, name: str = "clf") -> Run:
    return trained_tiny_classifier(store, name)


def _damage(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"\xff" * 8 + data[8:100])  # a header length past the end, then cut short


def test_damaged_checkpoints_name_the_file_in_predict_and_resume(store: Store, capsys) -> None:
    run = _trained(store)
    folder = store.run_dir(run.id) / "checkpoints"
    _damage(folder / "best" / "model.safetensors")
    assert main(["predict", "clf", "a fine film"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {folder / 'best' / 'model.safetensors'}: damaged or not a safetensors file")
    assert "--checkpoint last" in err and "Traceback" not in err
    assert main(["predict", "clf", "a fine film", "--checkpoint", "last"]) == 0  # the other one works
    assert main(["predict", "clf", "--checkpoint", "last", "a fine film", "not good"]) == 0  # flags anywhere
    assert capsys.readouterr().out.count("\n") >= 2
    assert main(["predict", "clf", "--checkpoint", "last", "a fine film", "--bogus"]) == 2
    _damage(folder / "last" / "optimizer.safetensors")
    store.set_status(run.id, "stopped")
    assert main(["resume", "clf"]) == 2
    assert f"{folder / 'last' / 'optimizer.safetensors'}: damaged" in capsys.readouterr().err
    assert store.get_run(run.id).error.startswith(f"{folder / 'last' / 'optimizer.safetensors'}: damaged")


def test_a_fine_tune_from_a_damaged_parent_names_the_parent_file(store: Store) -> None:
    parent = _trained(store, "parent")
    _damage(store.run_dir(parent.id) / "checkpoints" / "best" / "model.safetensors")
    raw = default_config("classification")
    raw["data"]["n_examples"] = 200
    raw["model"].update(embed_dim=8, hidden_size=8)
    raw["task"]["init_from_run"] = "parent"
    raw["training"].update(max_steps=2, eval_every=2, batch_size=8)
    child = create_run(store, validate_config(raw), name="child")
    with pytest.raises(CheckpointError, match="model.safetensors: damaged or not a safetensors file"):
        execute_run(store, child.id)


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path: Path, monkeypatch) -> None:
    model = torch.nn.Linear(3, 2)
    ckpt.save_checkpoint(tmp_path / "last", model, state={"step": 1})
    before = (tmp_path / "last" / "model.safetensors").read_bytes()

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_model", full)
    with pytest.raises(CheckpointError, match=r"No space left on device \(the previous checkpoint is kept\)"):
        ckpt.save_checkpoint(tmp_path / "last", torch.nn.Linear(3, 2), state={"step": 2})
    assert (tmp_path / "last" / "model.safetensors").read_bytes() == before
    assert not (tmp_path / "last.tmp").exists()


def test_a_full_disk_fails_the_run_with_one_line(store: Store, tmp_path: Path) -> None:
    """A real full filesystem: a 1 MB tmpfs where mounting is allowed (root in CI)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        small = Store(url=f"sqlite:///{tmp_path / 'store.db'}", home=disk)
        raw = default_config("classification")
        raw["data"]["n_examples"] = 200
        raw["model"].update(embed_dim=256, hidden_size=256)  # ~3 MB of weights: over the 1 MB disk
        raw["training"].update(max_steps=2, eval_every=2, batch_size=8, attention_snapshots=False)
        run = create_run(small, validate_config(raw), name="big")
        with pytest.raises(CheckpointError):
            execute_run(small, run.id)
        error = small.get_run(run.id).error
        assert error.startswith(f"could not write the checkpoint {disk / 'runs' / run.id / 'checkpoints' / 'last'}: "
                                "No space left on device"), error
        assert "\n" not in error
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)  # lazy: pooled connections may hold it


def test_hf_folders_with_pickle_or_damaged_weights_are_named(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from core.models.hf import build_hf_classifier

    config = transformers.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=32)
    model = transformers.BertForSequenceClassification(config)
    pickled, damaged = tmp_path / "pickled", tmp_path / "damaged"
    model.save_pretrained(damaged)
    pickled.mkdir()
    (pickled / "config.json").write_text((damaged / "config.json").read_text())
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(WorkbenchError, match=r"holds only pickle weights \(pytorch_model.bin\), which the workbench never loads"):
        build_hf_classifier({"model": str(pickled)}, num_classes=2)
    _damage(damaged / "model.safetensors")
    with pytest.raises(WorkbenchError, match=rf"model.model = {damaged}: cannot be loaded"):
        build_hf_classifier({"model": str(damaged)}, num_classes=2)


def test_the_damaged_checkpoint_advice_works_and_both_damaged_are_named(store: Store, capsys) -> None:
    run = _trained(store)
    folder = store.run_dir(run.id) / "checkpoints"
    store.update_run(run.id, config={**run.config, "training": {**run.config["training"], "max_steps": 9}})
    store.set_status(run.id, "stopped")
    _damage(folder / "last" / "model.safetensors")
    assert main(["resume", "clf"]) == 2
    err = capsys.readouterr().err
    assert f"delete {folder / 'last'} and `lmwb resume` continues from the 'best' one" in err
    best_step = json.loads((folder / "best" / "state.json").read_text())["state"]["step"]
    shutil.rmtree(folder / "last")
    store.set_status(run.id, "stopped")
    assert main(["resume", "clf"]) == 0
    out = capsys.readouterr().out
    assert f"note: checkpoints/last is missing: resumed from the best checkpoint (step {best_step})" in out
    assert f"resumed at step {best_step} of 9" in out
    assert store.get_run(run.id).status == "completed"
    # Both damaged: said once, with what to do, not "use the other one" from each side.
    _damage(folder / "last" / "model.safetensors")
    _damage(folder / "best" / "model.safetensors")
    assert main(["predict", "clf", "a fine film"]) == 2
    err = capsys.readouterr().err
    assert "and so is the 'last' one" in err and "--checkpoint" not in err
