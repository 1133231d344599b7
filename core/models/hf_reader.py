"""A pretrained Hugging Face encoder as an extractive reader: ``AutoModelForQuestionAnswering``
(the encoder plus a fresh Linear(hidden, 2) span head, or the trained head of a folder saved
from a QA fine-tune) behind the interface of :class:`core.models.heads.SpanPredictor`.

Loaded offline first, with the config/weights check, by :func:`core.models.hf.load_model`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.models.hf import _quiet_transformers, attention_for, load_model, n_layers
from core.models.hf_catalog import MODEL_PARAMS
from core.models.hooks import AttentionPoints
from core.params import validate_params


class HFSpanPredictor(nn.Module):
    """``forward(ids, pad_mask=None, type_ids=None)`` -> (start, end) logits, each (B, T), pad
    positions at a large negative score; each layer's attention passes
    ``attention.layers.{i}.hook_pattern`` as for the pretrained classifier."""

    def __init__(self, hf: Any) -> None:
        super().__init__()
        self.hf = hf
        self.causal = False
        # BERT-style models read the question as segment 0 and the context as segment 1 (as
        # the question-answering pipeline passes them); a model with one segment gets none.
        self.segments = int(getattr(hf.config, "type_vocab_size", 0) or 0) >= 2
        self.attention = AttentionPoints(layers=n_layers(hf.config, "num_hidden_layers", "n_layers"))

    @property
    def backbone(self) -> nn.Module:
        """The pretrained encoder without the span head (what ``task.freeze`` acts on)."""
        return self.hf.base_model

    def forward(
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None, type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = None if pad_mask is None else (~pad_mask).long()
        extra: dict[str, Any] = {"token_type_ids": type_ids} if self.segments and type_ids is not None else {}
        with attention_for(self.hf, self.attention) as wanted:
            out = self.hf(input_ids=ids, attention_mask=mask, **extra, **({"output_attentions": True} if wanted else {}))
        if wanted:
            self.attention.show(layers=out.attentions)
        start, end = out.start_logits.float(), out.end_logits.float()
        if pad_mask is not None:
            start, end = start.masked_fill(pad_mask, -1e4), end.masked_fill(pad_mask, -1e4)
        return start, end


def build_hf_reader(params: dict[str, Any]) -> HFSpanPredictor:
    """The reader of ``model.model`` (a local folder or hub id), dropout as the section says."""
    from transformers import AutoModelForQuestionAnswering

    p = validate_params(MODEL_PARAMS, {k: v for k, v in params.items() if k != "name"}, "model")
    _quiet_transformers()
    hf = load_model(AutoModelForQuestionAnswering.from_pretrained, p["model"], attn_implementation="sdpa",
                    use_safetensors=True)  # never unpickle a .bin file
    if p["dropout"] is not None:
        for module in hf.modules():
            if isinstance(module, nn.Dropout):
                module.p = p["dropout"]
    return HFSpanPredictor(hf)
