"""``hf_pretrained`` for generation: causal language models and sequence-to-sequence models.

The model section is the classifier's (``core/models/hf.py``: ``model.model`` names a folder or
hub id, loaded offline first, safetensors only); the task decides the kind:

* ``language_model``: ``AutoModelForCausalLM`` (GPT-2 family, Llama, ...) behind the workbench's
  language-model interface, ``forward(ids)`` -> logits (B, T, V), so the task's loss,
  perplexity, sampling and attention views work unchanged;
* ``translation`` / ``summarisation``: ``AutoModelForSeq2SeqLM`` (T5, BART, Marian) behind the
  translation contract (``forward(src_ids, src_pad_mask, tgt_ids)``, ``encode``, ``decode_step``),
  so decoding is the workbench's own greedy / beam search with its length controls (not
  ``generate``): one decoder for every seq2seq model, scored the same way.

Token conventions stay the workbench's: the pretrained tokenizer adds no special tokens here
(``plain_tokens``); a source ends with <eos>, a target is <bos> y <eos>. The one difference a
pretrained decoder needs, its own start token, is swapped in by ``HFSeq2Seq`` for <bos>.

Attention weights pass hook points as the workbench's own models' do (``core.models.hooks.
AttentionPoints``): transformers computes them (eager, ``output_attentions``) only for a call
with a hook there.

A folder of the wrong kind (a BERT classifier for language modelling, GPT-2 for translation) is
refused when the config is validated, from its ``config.json``, with a one-line error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.errors import ConfigError, WorkbenchError
from core.models import hf
from core.models.hf_catalog import CAUSAL, EXPECTED, MODEL_PARAMS, SEQ2SEQ, check_kind, folder_kind
from core.models.hooks import AttentionPoints
from core.params import validate_params
from core.tokenize import Tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def plain_tokens(tokenizer: Tokenizer) -> Tokenizer:
    """The pretrained tokenizer without its own special tokens or length cut: a language model
    reads a whole text, and seq2seq tasks add <eos> / <bos> themselves. Others are unchanged."""
    if isinstance(tokenizer, hf.PretrainedTokenizer):
        tokenizer.plain = True
    return tokenizer


def _load(params: dict[str, Any], kind: str, task: str) -> PreTrainedModel:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    hf._quiet_transformers()
    p = validate_params(MODEL_PARAMS, {k: v for k, v in params.items() if k != "name"}, "model")
    check_kind(p["model"], task)
    config = hf.from_pretrained(AutoConfig.from_pretrained, p["model"])
    found = folder_kind(config.to_dict())
    if found != kind:  # a hub id: known only now
        raise WorkbenchError(f"model.model = {p['model']}: {found}, but {task} needs {EXPECTED[kind]}")
    loader = AutoModelForCausalLM if kind == CAUSAL else AutoModelForSeq2SeqLM
    model = hf.load_model(loader.from_pretrained, p["model"], attn_implementation="sdpa",
                          use_safetensors=True)  # never unpickle a .bin file
    if p["dropout"] is not None:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = p["dropout"]
    return model


# -- causal language model --------------------------------------------------------------------------

class HFCausalLM(nn.Module):
    """``AutoModelForCausalLM`` as a workbench language model: ``forward(ids)`` -> logits
    (B, T, V); each layer's (B, H, T, T) weights pass ``attention.layers.{i}.hook_pattern``."""

    causal = True

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.hf = model
        self.attention = AttentionPoints(layers=hf.n_layers(model.config, "num_hidden_layers"))

    @property
    def backbone(self) -> nn.Module:
        return self.hf.base_model

    @property
    def context_limit(self) -> int | None:
        config = self.hf.config
        return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        with hf.attention_for(self.hf, self.attention) as wanted:
            out = self.hf(input_ids=ids, output_attentions=wanted, use_cache=False)
        if wanted:
            self.attention.show(layers=out.attentions)
        return out.logits


def build_causal_lm(params: dict[str, Any], *, context: int) -> HFCausalLM:
    """The language-model task's model when ``model.name`` is ``hf_pretrained``."""
    model = HFCausalLM(_load(params, CAUSAL, "language_model"))
    limit = model.context_limit
    if limit is not None and context > limit:
        raise ConfigError("task.context_length", context, f"at most {limit}, the positions the model has",
                          reason="longer than the model reads")
    return model


# -- sequence to sequence ---------------------------------------------------------------------------

class HFSeq2Seq(nn.Module):
    """``AutoModelForSeq2SeqLM`` under the translation contract (core/models/seq2seq.py).

    The task's decoder input starts with <bos>; the pretrained decoder was trained to start from
    its ``decoder_start_token_id`` (T5, Marian: <pad>; BART: </s>), which replaces it. Decoding
    steps re-run the decoder over the prefix (no key/value cache): summaries and sentences are
    short, and the batch-first dicts the workbench's beam search reorders stay two tensors.
    Attention weights pass ``attention.{encoder,decoder,cross}.{i}.hook_pattern``.
    """

    def __init__(self, model: PreTrainedModel) -> None:
        super().__init__()
        self.hf = model
        config = model.config
        self.attention = AttentionPoints(
            encoder=hf.n_layers(config, "encoder_layers", "num_layers", "num_hidden_layers"),
            decoder=hf.n_layers(config, "decoder_layers", "num_decoder_layers", "num_hidden_layers"),
            cross=hf.n_layers(config, "decoder_layers", "num_decoder_layers", "num_hidden_layers"),
        )
        self.start_id = int(model.config.decoder_start_token_id if model.config.decoder_start_token_id is not None
                            else model.config.pad_token_id or 0)

    @property
    def backbone(self) -> nn.Module:
        return self.hf.base_model

    def _decoder_input(self, tgt_ids: torch.Tensor) -> torch.Tensor:
        out = tgt_ids.clone()
        out[:, 0] = self.start_id
        return out

    @staticmethod
    def _mask(src_pad_mask: torch.Tensor | None, src_ids: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(src_ids) if src_pad_mask is None else (~src_pad_mask).long()

    def forward(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None, tgt_ids: torch.Tensor) -> torch.Tensor:
        with hf.attention_for(self.hf, self.attention) as wanted:
            out = self.hf(input_ids=src_ids, attention_mask=self._mask(src_pad_mask, src_ids),
                          decoder_input_ids=self._decoder_input(tgt_ids), output_attentions=wanted,
                          use_cache=False)
        if wanted:
            self.attention.show(encoder=out.encoder_attentions, decoder=out.decoder_attentions,
                                cross=out.cross_attentions)
        return out.logits

    def encode(self, src_ids: torch.Tensor, src_pad_mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        mask = self._mask(src_pad_mask, src_ids)
        memory = self.hf.get_encoder()(input_ids=src_ids, attention_mask=mask).last_hidden_state
        return {"memory": memory, "mask": mask}

    def decode_step(self, encoded: dict[str, torch.Tensor], prefix: torch.Tensor,
                    state: dict[str, torch.Tensor] | None) -> tuple[torch.Tensor, None]:
        from transformers.modeling_outputs import BaseModelOutput

        out = self.hf(encoder_outputs=BaseModelOutput(last_hidden_state=encoded["memory"]),
                      attention_mask=encoded["mask"], decoder_input_ids=self._decoder_input(prefix), use_cache=False)
        return out.logits[:, -1], None


def build_seq2seq(params: dict[str, Any], *, task: str, lengths: dict[str, int]) -> HFSeq2Seq:
    """The translation / summarisation model when ``model.name`` is ``hf_pretrained``;
    ``lengths``: the task's longest source and target in tokens, by their setting's name (<bos>
    and <eos> come on top), which must fit the positions a model with learned ones has."""
    model = HFSeq2Seq(_load(params, SEQ2SEQ, task))
    config = model.hf.config
    limit = getattr(config, "max_position_embeddings", None) if getattr(config, "model_type", "") != "t5" else None
    for name, length in lengths.items():
        if limit is not None and length + 2 > limit:
            raise ConfigError(f"task.{name}", length, f"at most {limit - 2}, the positions the model has "
                              "(less <bos> and <eos>)", reason="longer than the model reads")
    return model
