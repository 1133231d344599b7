"""Fine-tuning from a parent run: reuse its tokenizer and backbone, optionally freeze parts.

A classification run with ``task.init_from_run`` (a run id or name) starts from the backbone
of that run, typically a ``masked_lm`` pretraining of a ``transformer_encoder`` or a
``language_model`` run of a ``transformer_decoder``: the parent's checkpoint keys under
``backbone.`` are loaded and its head (MLM / LM / classifier) is dropped. The child must speak
the parent's vocabulary, so the parent's tokenizer replaces the child's (the run's stored config
shows it), and must have the parent's shape: every model parameter but
:data:`ALLOWED_DIFFERENCES` has to match, else a ConfigError names the field.

``task.freeze`` keeps parts fixed: ``encoder`` (the whole backbone: only the new head learns),
``embeddings`` (token and position embeddings), or ``lower_layers`` (the embeddings and the
lowest ``freeze_layers`` layers). It works with or without a parent and for Hugging Face models.

This module imports torch only inside the functions that touch weights: the job queue links a
run to its parent without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import RunConfig, validate_config
from core.errors import ConfigError, RunNotFound, WorkbenchError
from core.params import Param, RunChoice

if TYPE_CHECKING:
    from torch import nn

    from core.store import Store

FREEZE_CHOICES = ("none", "encoder", "embeddings", "lower_layers")

# One switch for every "keep these weights fixed" (pretrained vectors, a fine-tuned encoder).
FREEZE_PARAMS = (
    Param("freeze", "str", "none", "Keep fixed while training: nothing, the whole encoder (only the head learns), the embeddings (e.g. pretrained vectors), or the embeddings and the lowest task.freeze_layers layers.", choices=FREEZE_CHOICES, label="Freeze"),
    Param("freeze_layers", "int", 1, "With freeze=lower_layers: how many of the lowest layers stay fixed.", low=1, high=48, label="Frozen layers"),
)
FINETUNE_PARAMS = (
    Param("init_from_run", "str", "", "Start from the backbone of this run (id or name), e.g. a masked_lm or language_model pretraining; its tokenizer is reused. Empty: random initialisation.", sweepable=False, label="Start from run",
          runs=RunChoice()),
    *FREEZE_PARAMS,
)

# Model parameters that may differ from the parent's: they shape no weight the child loads.
ALLOWED_DIFFERENCES = frozenset({"dropout", "pooling", "tie_weights"})
# Backbone weights a child may lack or add: the [CLS] vector exists only with pooling=cls.
_OPTIONAL_KEYS = frozenset({"cls"})
_POSITIONS_KEY = "positions.embedding.weight"


@dataclass
class Parent:
    id: str
    folder: Path
    config: RunConfig


# -- linking a run to its parent (no torch) -----------------------------------------------------

def check_sections(sections: dict[str, dict[str, Any]]) -> str | None:
    """Combinations the classification task rejects up front."""
    task = sections["task"]
    if task.get("pretrained_embeddings") and task.get("embeddings_run"):
        return "task.pretrained_embeddings and task.embeddings_run name two sources of vectors: set one"
    for field in ("pretrained_embeddings", "embeddings_run"):
        if task.get("init_from_run") and task.get(field):
            return f"task.{field} must be empty with task.init_from_run (the parent run's embedding is used)"
    if task.get("init_from_run") and sections["model"]["name"] == "hf_pretrained":
        return "task.init_from_run must be empty with hf_pretrained: model.model already names the pretrained weights"
    return None


def find_parent(config: RunConfig, store: object = None) -> Parent | None:
    """The run ``task.init_from_run`` names, checked against ``config``; None when it is empty.

    ``store``: the Store to look in, or a trainer's metric sink around it; None opens the store
    of ``$LMWB_HOME``.
    """
    from core.store import Store

    ref = str(config["task"].get("init_from_run") or "").strip()
    if not ref:
        return None
    while store is not None and not isinstance(store, Store):
        store = getattr(store, "store", None)  # a metric sink wraps the store (ClaimedRun, TrackedSink)
    if store is None:
        store = Store()
    try:
        run = store.get_run(ref)
    except RunNotFound:
        raise ConfigError("task.init_from_run", ref, "the id or name of a run in the store (see `lmwb runs list`)", reason="no such run") from None
    parent = Parent(run.id, store.run_files(run.id), validate_config(run.config))
    check_compatible(config, parent)
    return parent


def check_compatible(config: RunConfig, parent: Parent) -> None:
    """ConfigError naming the first model field where ``config`` cannot take the parent's weights."""
    theirs, ours = parent.config["model"], config["model"]
    where = f"the parent run {parent.id} ({parent.config.task})"
    if ours["name"] != theirs["name"]:
        raise ConfigError("model.name", ours["name"], f"{theirs['name']!r} as in {where}", reason="differs from the parent run")
    for key, value in theirs.items():
        if key not in ALLOWED_DIFFERENCES and ours.get(key) != value:
            raise ConfigError(f"model.{key}", ours.get(key), f"{value!r} as in {where}", reason="differs from the parent run")


def link_parent(store: Store, config: RunConfig, parent_id: str | None = None) -> tuple[RunConfig, str | None]:
    """What a new run records: its parent's id, and the parent's tokenizer in its config (the
    vocabulary it will really use). Unchanged when ``task.init_from_run`` is empty."""
    parent = find_parent(config, store)
    if parent is None:
        return config, parent_id
    raw = config.to_dict()
    raw["tokenizer"] = parent.config.to_dict()["tokenizer"]
    return validate_config(raw), parent.id


# -- weights (torch) ----------------------------------------------------------------------------

def load_backbone(model: nn.Module, parent: Parent, config: RunConfig) -> None:
    """Copy the parent checkpoint's ``backbone.*`` tensors into ``model.backbone``."""
    from core import checkpoint as ckpt
    from core.checkpoint import read_tensors

    folder = next((parent.folder / "checkpoints" / w for w in ("best", "last")
                   if ckpt.has_checkpoint(parent.folder / "checkpoints" / w)), None)
    if folder is None:
        raise WorkbenchError(f"task.init_from_run: the parent run {parent.id} has no checkpoint yet; wait until it has evaluated once")
    prefix = "backbone."
    state = {k[len(prefix):]: v for k, v in read_tensors(folder / "model.safetensors").items() if k.startswith(prefix)}
    if not state:
        raise ConfigError("task.init_from_run", parent.id, "a run whose model has a backbone", reason="nothing to load")
    backbone = model.get_submodule("backbone")
    own = backbone.state_dict()
    for key, value in list(state.items()):
        if key.endswith(_POSITIONS_KEY) and key in own and value.shape[0] != own[key].shape[0]:
            # Learned positions: the first rows serve a shorter child; a longer one lacks rows.
            rows = own[key].shape[0]
            if value.shape[0] < rows:
                raise ConfigError(
                    "task.max_length", config["task"].get("max_length"),
                    f"at most {value.shape[0] - 1}: the parent run {parent.id} learned {value.shape[0]} positions",
                    reason="longer than the parent's positions",
                )
            state[key] = value[:rows]
        if key in _OPTIONAL_KEYS and key not in own:
            del state[key]
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a shape the config check could not see (e.g. another vocabulary)
        raise WorkbenchError(f"the backbone of run {parent.id} does not fit this model: {exc}") from None
    missing = [k for k in missing if k not in _OPTIONAL_KEYS]
    if missing or unexpected:
        raise WorkbenchError(
            f"the backbone of run {parent.id} does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


def _embedding_params(backbone: nn.Module) -> list[nn.Parameter]:
    from torch import nn

    hf_embeddings = getattr(backbone, "embeddings", None)
    if isinstance(hf_embeddings, nn.Module):  # Hugging Face encoders keep them in one module
        return list(hf_embeddings.parameters())
    params: list[nn.Parameter] = []
    for name in ("tokens", "positions"):
        module = getattr(backbone, name, None)
        if isinstance(module, nn.Module):
            params += list(module.parameters())
    cls = getattr(backbone, "cls", None)
    if isinstance(cls, nn.Parameter):
        params.append(cls)
    return params


def _layers(backbone: nn.Module) -> list[nn.Module] | None:
    blocks = getattr(backbone, "blocks", None)  # the workbench's transformers
    if blocks is None:  # BERT-like Hugging Face encoders
        blocks = getattr(getattr(backbone, "encoder", None), "layer", None)
    return list(blocks) if blocks is not None else None


def apply_freeze(model: nn.Module, task_params: dict[str, Any], arch: str) -> nn.Module:
    """Stop gradients to the parts ``task.freeze`` names; returns ``model``.

    The optimizer only receives parameters that still require gradients, so frozen weights
    stay bit-for-bit what they were (no weight decay either).
    """
    how = task_params.get("freeze", "none")
    if how == "none":
        return model
    backbone: nn.Module = getattr(model, "backbone", model)
    if how == "encoder":
        backbone.requires_grad_(False)
        return model
    frozen = _embedding_params(backbone)
    if how == "lower_layers":
        layers = _layers(backbone)
        n = int(task_params.get("freeze_layers", 1))
        if layers is None:
            raise ConfigError("task.freeze", how, f"none, encoder or embeddings: {arch} has no stack of layers", reason="not possible here")
        if n > len(layers):
            raise ConfigError("task.freeze_layers", n, f"at most {len(layers)}, the layers {arch} has", reason="more layers than the model has")
        frozen += [p for layer in layers[:n] for p in layer.parameters()]
    if not frozen:
        raise ConfigError("task.freeze", how, f"none or encoder: {arch} has no separate embeddings", reason="not possible here")
    for p in frozen:
        p.requires_grad_(False)
    return model
