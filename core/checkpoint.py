"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

Layout inside a run folder::

    checkpoints/last/model.safetensors       weights (shared/tied tensors handled)
    checkpoints/last/optimizer.safetensors   optimizer tensors (moments, steps), extra tensors
                                             (the trainer's RNG states: batches, CPU, CUDA)
    checkpoints/last/state.json              step, optimizer param groups, trainer state
                                             (with an fp16 run's loss-scaler state)
    checkpoints/best/model.safetensors       weights of the best validation score
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from core.errors import CheckpointError


def save_checkpoint(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    state: dict[str, Any] | None = None,
    tensors: dict[str, torch.Tensor] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """Write atomically: a crash mid-save (or a full disk) leaves the previous checkpoint
    intact; a failed write is a :class:`CheckpointError` naming the folder. ``before_commit``
    runs after the files are written and before they replace the old ones: an exception there
    (a writer that lost its claim on the run) leaves the old checkpoint in place."""
    folder = recover(Path(folder))
    try:
        _save(folder, model, optimizer, state, tensors, before_commit)
    except (OSError, SafetensorError) as exc:  # safetensors reports its I/O errors its own way
        if before_commit is not None:
            # A writer frozen mid-save whose run was taken over finds its files moved by the new
            # holder: that is its lost claim (raised here), not a full disk.
            before_commit()
        shutil.rmtree(folder.with_name(folder.name + ".tmp"), ignore_errors=True)
        kept = " (the previous checkpoint is kept)" if has_checkpoint(folder) else ""
        reason = getattr(exc, "strerror", None) or _first_line(exc).split("I/O error: ")[-1]
        reason = reason.split(" (os error")[0]
        raise CheckpointError(
            f"could not write the checkpoint {folder}: {reason}{kept}; free some disk space (or set "
            "training.checkpoint=false) and resume the run"
        ) from None


def _save(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None,
    state: dict[str, Any] | None, tensors: dict[str, torch.Tensor] | None,
    before_commit: Callable[[], None] | None = None,
) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(_unwrap(model), str(tmp / "model.safetensors"))
    meta: dict[str, Any] = {"state": state or {}}
    extra = {f"extra.{k}": v.detach().cpu().contiguous() for k, v in (tensors or {}).items()}
    if optimizer is not None:
        opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
        extra.update(opt_tensors)
        meta["optimizer"] = opt_meta
    if extra:
        save_file(extra, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps(meta, indent=1))
    if before_commit is not None:
        try:
            before_commit()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def recover(folder: Path) -> Path:
    """Finish a save that a kill interrupted between its two renames (``folder`` moved to
    ``.old``, ``.tmp`` not yet moved in): the newer checkpoint when it was written completely
    (``state.json`` is its last file), else the previous one. Returns ``folder``."""
    folder = Path(folder)
    if (folder / "model.safetensors").exists():
        return folder
    for candidate in (folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")):
        if (candidate / "model.safetensors").exists() and (candidate / "state.json").exists():
            with contextlib.suppress(OSError):  # a read-only home: nothing to finish
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(candidate, folder)
                shutil.rmtree(folder.with_name(folder.name + ".old"), ignore_errors=True)
            break
    return folder


def load_weights(folder: Path, model: nn.Module, device: torch.device | str = "cpu") -> None:
    path = recover(Path(folder)) / "model.safetensors"
    try:
        missing, unexpected = load_model(_unwrap(model), str(path), strict=False, device=str(device))
    except (SafetensorError, OSError, ValueError) as exc:
        raise damaged(path, exc) from None
    except RuntimeError as exc:  # shape mismatch: a different architecture or size
        raise CheckpointError(f"{path} does not match the model: {_first_line(exc)}") from None
    # Tied weights are stored once; a key missing only because it is tied is fine.
    real_missing = [k for k in missing if not _is_tied(model, k)]
    if real_missing or unexpected:
        raise CheckpointError(
            f"{path} does not match the model: missing {real_missing[:5]}, unexpected {unexpected[:5]}"
        )


def read_tensors(path: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file; a damaged one is a :class:`CheckpointError`."""
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise damaged(Path(path), exc) from None


def damaged(path: Path, exc: BaseException) -> CheckpointError:
    """The error for a checkpoint file that cannot be read, with what to do about it."""
    which = path.parent.name
    other = {"last": "best", "best": "last"}.get(which)
    if other and _readable(path.parent.parent / other / "model.safetensors"):
        return CheckpointError(
            f"{path}: damaged or not a safetensors file ({_first_line(exc)}); predict, eval and explain "
            f"can read the {other!r} checkpoint (--checkpoint {other}); to resume, delete {path.parent} "
            f"and `lmwb resume` continues from the {other!r} one"
        )
    both = f" and so is the {other!r} one" if other else ""
    return CheckpointError(
        f"{path}: damaged or not a safetensors file ({_first_line(exc)}){both}; delete {path.parent.parent} "
        "and `lmwb resume` trains the run again from the start"
    )


def _readable(path: Path) -> bool:
    """Whether a safetensors file opens (its header and tensor table read; the data is not)."""
    try:
        with safe_open(str(recover(path.parent) / path.name), framework="pt"):
            return True
    except Exception:  # noqa: BLE001 - any failure to open means "not usable"
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_checkpoint(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore weights (and optimizer); returns (trainer state, extra tensors)."""
    folder = Path(folder)
    load_weights(folder, model, device)
    try:
        meta = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as exc:
        raise damaged(folder / "state.json", exc) from None
    flat: dict[str, torch.Tensor] = {}
    if (folder / "optimizer.safetensors").exists():
        flat = read_tensors(folder / "optimizer.safetensors")
    if optimizer is not None and "optimizer" in meta:
        optimizer.load_state_dict(_unflatten_optimizer(flat, meta["optimizer"]))
    extra = {k[len("extra."):]: v for k, v in flat.items() if k.startswith("extra.")}
    return meta.get("state", {}), extra


def has_checkpoint(folder: Path) -> bool:
    return (recover(Path(folder)) / "model.safetensors").exists()


def _unwrap(model: nn.Module) -> nn.Module:
    """The module whose weights are stored: torch.compile's wrapper (``_orig_mod``) and DDP's
    (``module``) are peeled off, so a checkpoint never depends on how many processes trained
    it, or whether they compiled."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model.get_submodule("_orig_mod")
        elif isinstance(model, DistributedDataParallel):
            model = model.module
        else:
            return model


def _is_tied(model: nn.Module, key: str) -> bool:
    params = dict(_unwrap(model).named_parameters(remove_duplicate=False))
    if key not in params:
        return False
    return sum(1 for p in params.values() if p is params[key]) > 1


def _flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entries in sd["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(flat: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in flat.items():
        if not name.startswith("opt."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = tensor
    for idx, entries in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}
