"""Heads: turn a backbone's hidden states into what a task scores.

``SequenceClassifier`` pools one vector per sequence and maps it to class logits;
``LanguageModel`` maps every position to next-token logits; ``MaskedLanguageModel`` predicts
masked tokens (BERT pretraining); ``SpanPredictor`` points at an answer's first and last tokens
(extractive QA).
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import Backbone, BackboneOutput

POOLINGS = ("cls", "last", "mean", "max")


def pool(hidden: torch.Tensor, pad_mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """(B, T, H) -> (B, H), ignoring padded positions.

    ``cls``: position 0; ``last``: the last non-pad position (left or right padding);
    ``mean`` / ``max``: over non-pad positions. A row that is all padding pools to zeros.
    """
    if how == "cls":
        return hidden[:, 0]
    if pad_mask is None:
        if how == "last":
            return hidden[:, -1]
        if how == "mean":
            return hidden.mean(dim=1)
        if how == "max":
            return hidden.max(dim=1).values
    else:
        keep = ~pad_mask
        if how == "last":
            positions = torch.arange(hidden.shape[1], device=hidden.device)
            last = torch.where(keep, positions, -1).max(dim=1).values.clamp(min=0)
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        if how == "mean":
            weights = keep.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        if how == "max":
            masked = hidden.masked_fill(pad_mask.unsqueeze(-1), float("-inf")).max(dim=1).values
            return masked.masked_fill(~keep.any(dim=1, keepdim=True), 0.0)  # no -inf rows
    raise ValueError(f"pooling must be one of {POOLINGS}, got {how!r}")


class SequenceClassifier(nn.Module):
    """Backbone + pooling + dropout + linear layer -> class logits (B, C).

    ``pooling`` defaults to the backbone's own ``pooling`` setting (its model parameter). When the
    backbone returns a ``pooled`` vector it knows better than any pooling of ``hidden`` (TextCNN's
    max over valid windows; a bidirectional RNN's two final states), so that vector is used.
    """

    def __init__(
        self, backbone: Backbone, num_classes: int, pooling: str | None = None, dropout: float = 0.1
    ) -> None:
        super().__init__()
        own = getattr(backbone, "pooling", None)
        pooling = pooling or own or "mean"
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if own is not None and pooling != own:
            # The backbone shapes itself for its pooling ([CLS] slot, final RNN states): a
            # different choice here would silently pool the wrong thing.
            raise ValueError(
                f"pooling {pooling!r} differs from the backbone's pooling {own!r}; "
                "set the model's pooling parameter instead"
            )
        self.backbone = backbone
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(backbone.hidden_size, num_classes)
        # Small initial logits: the loss starts near ln(num_classes).
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        out: BackboneOutput = self.backbone(ids, pad_mask=pad_mask)
        pooled = out.pooled if out.pooled is not None else pool(out.hidden, pad_mask, self.pooling)
        return self.classifier(self.dropout(pooled))


class LanguageModel(nn.Module):
    """Causal backbone + linear layer -> next-token logits (B, T, V).

    ``tie_weights`` shares the output matrix with the backbone's token embedding (Press & Wolf,
    2017): fewer parameters and usually a better model when the sizes match.
    """

    def __init__(self, backbone: Backbone, vocab_size: int, tie_weights: bool = False) -> None:
        super().__init__()
        if not backbone.causal:
            raise ValueError(
                f"{type(backbone).__name__} is not causal (it sees future tokens), "
                "so it cannot be a language model; use a unidirectional model"
            )
        self.backbone = backbone
        self.lm_head = nn.Linear(backbone.hidden_size, vocab_size, bias=False)
        if tie_weights:
            embedding: nn.Embedding = backbone.token_embedding
            vocab, dim = embedding.weight.shape
            if vocab != vocab_size:
                raise ValueError(
                    f"tie_weights: the embedding has {vocab} tokens but the vocabulary has {vocab_size}"
                )
            if dim != backbone.hidden_size:
                raise ValueError(
                    f"tie_weights needs the embedding size ({dim}) to equal the hidden size "
                    f"({backbone.hidden_size})"
                )
            self.lm_head.weight = embedding.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=0.02)
        self.tie_weights = tie_weights

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out: BackboneOutput = self.backbone(ids)
        return self.lm_head(out.hidden)


class MaskedLanguageModel(nn.Module):
    """Bidirectional backbone + BERT's MLM head -> token logits at chosen positions.

    The head (dense, GELU, LayerNorm, then a vocabulary projection tied to the token embedding
    when the sizes match) is pretraining-only: fine-tuning keeps ``backbone`` and drops it.
    ``select`` (B, T) bool picks the positions to score, so the (N, V) logits are computed only
    where there is a target; without it every position is scored (B, T, V).
    """

    def __init__(self, backbone: Backbone, vocab_size: int) -> None:
        super().__init__()
        if backbone.causal:
            raise ValueError(
                f"{type(backbone).__name__} is causal (it cannot see the tokens after a mask); "
                "masked language modelling needs a bidirectional model such as transformer_encoder"
            )
        size = backbone.hidden_size
        self.backbone = backbone
        self.transform = nn.Sequential(nn.Linear(size, size), nn.GELU(), nn.LayerNorm(size))
        self.decoder = nn.Linear(size, vocab_size)
        nn.init.zeros_(self.decoder.bias)
        embedding: nn.Embedding | None = getattr(backbone, "token_embedding", None)
        self.tied = embedding is not None and tuple(embedding.weight.shape) == (vocab_size, size)
        if embedding is not None and self.tied:
            self.decoder.weight = embedding.weight
        else:
            nn.init.normal_(self.decoder.weight, std=0.02)

    def forward(
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None, select: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out: BackboneOutput = self.backbone(ids, pad_mask=pad_mask)
        hidden = out.hidden[:, -ids.shape[1] :]  # drop a prepended [CLS] slot
        if select is not None:
            hidden = hidden[select]
        return self.decoder(self.transform(hidden))


class SpanPredictor(nn.Module):
    """Bidirectional backbone + a Linear(hidden, 2) on every position -> (start, end) logits,
    each (B, T): the extractive reader's head (BERT on SQuAD). Padding scores a large negative
    number, so neither softmax ever puts weight there; a [CLS] slot the backbone prepends is
    dropped, so position i is input token i (the task's own [CLS], position 0, means "no answer").
    """

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        if backbone.causal:
            raise ValueError(
                f"{type(backbone).__name__} is causal (a token cannot see the words after it, where an "
                "answer ends); a reader needs a bidirectional model such as transformer_encoder"
            )
        self.backbone = backbone
        self.qa_outputs = nn.Linear(backbone.hidden_size, 2)  # Hugging Face's name for this layer
        nn.init.normal_(self.qa_outputs.weight, std=0.02)
        nn.init.zeros_(self.qa_outputs.bias)

    def forward(
        self, ids: torch.Tensor, pad_mask: torch.Tensor | None = None, type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # type_ids (question 0, context 1) are for pretrained BERT-style readers; this backbone
        # has no segment embedding and tells the parts apart by the separator.
        out: BackboneOutput = self.backbone(ids, pad_mask=pad_mask)
        logits = self.qa_outputs(out.hidden[:, -ids.shape[1] :]).float()
        if pad_mask is not None:
            logits = logits.masked_fill(pad_mask.unsqueeze(-1), -1e4)
        start, end = logits.unbind(dim=-1)
        return start, end
