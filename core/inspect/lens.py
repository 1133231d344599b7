"""The logit lens (nostalgebraist, 2020) for GPT-style runs: what the model would predict next if
it stopped after each layer.

The residual stream is read at the block hook points (``hook_resid_pre`` of block 0: the
embeddings; ``hook_resid_post`` of each block) and sent through the model's own final LayerNorm
and unembedding. After the last block that *is* the model's output, so the lens's last row
equals the model's prediction at every position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import WorkbenchError
from core.inspect.activations import block_point, run_with_cache
from core.inspect.capture import input_limit
from core.inspect.maps import ModelSource, display_token
from core.models.base import evaluating
from core.models.heads import LanguageModel
from core.models.transformer import TransformerDecoder

BLOCKS = "backbone.blocks"


@dataclass
class GPTParts:
    """What the lens and patching need of a GPT-style language model."""

    model: nn.Module
    n_layers: int

    def readout(self, resid: torch.Tensor) -> torch.Tensor:
        """Next-token logits from a residual stream (B, T, D): final LayerNorm, unembedding."""
        return self.model.get_submodule("lm_head")(self.model.get_submodule("backbone.ln_f")(resid))

    def sites(self) -> list[tuple[str, str]]:
        """(hook point, label) for the residual stream entering each block, then leaving the last."""
        out = [(block_point(BLOCKS, i, "hook_resid_pre"), "embeddings" if i == 0 else f"after block {i - 1}")
               for i in range(self.n_layers)]
        return [*out, (block_point(BLOCKS, self.n_layers - 1, "hook_resid_post"), f"after block {self.n_layers - 1}")]


def gpt_parts(source: ModelSource) -> GPTParts:
    """The run's model if it is a GPT-style (``transformer_decoder``) language model."""
    model = source.model
    if getattr(source.task, "name", "") != "language_model" or not (
            isinstance(model, LanguageModel) and isinstance(model.backbone, TransformerDecoder)):
        raise WorkbenchError("the logit lens and activation patching need a GPT-style language model "
                             "(task language_model, model transformer_decoder)")
    return GPTParts(model, len(model.backbone.blocks))


def prompt_ids(source: ModelSource, text: str, what: str = "prompt") -> tuple[list[int], list[str]]:
    """The prompt's token ids (its last ``context_length`` when longer, with a note)."""
    ids = source.task.tokenizer.encode(text)
    if not ids:
        raise WorkbenchError(f"the {what} has no tokens")
    limit = input_limit(source.task)
    notes = []
    if limit is not None and len(ids) > limit:
        notes.append(f"The {what} is {len(ids)} tokens long: using its last {limit} (the model's context).")
        ids = ids[-limit:]
    return ids, notes


@dataclass
class LogitLens:
    """Top next-token prediction after each layer (rows) at each position (columns)."""

    text: str
    tokens: list[str]  # the input tokens; column t predicts the token after tokens[t]
    layers: list[str]  # row labels: "embeddings", "after block 0", ...
    top_tokens: list[list[str]]
    top_probs: np.ndarray  # (layers, positions)
    final_probs: np.ndarray  # (layers, positions): probability of the model's own final prediction
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "tokens": self.tokens, "layers": self.layers, "top_tokens": self.top_tokens,
                "top_probs": np.round(self.top_probs.astype(float), 5).tolist(),
                "final_probs": np.round(self.final_probs.astype(float), 5).tolist(), "notes": self.notes}


@torch.no_grad()
def logit_lens(source: ModelSource, text: str) -> LogitLens:
    parts = gpt_parts(source)
    tokenizer = source.task.tokenizer
    ids, notes = prompt_ids(source, text)
    model = parts.model
    x = torch.tensor([ids], dtype=torch.long, device=next(model.parameters()).device)
    sites = parts.sites()
    with evaluating(model):
        _, seen = run_with_cache(model, ids=x, names=[name for name, _ in sites])
    probs = torch.stack([parts.readout(seen[name][0])[0].float().softmax(-1) for name, _ in sites])  # (L+1, T, V)
    top_p, top_i = probs.max(-1)
    final = top_i[-1]  # the model's own prediction at each position
    final_p = probs.gather(-1, final[None, :, None].expand(len(sites), -1, 1))[..., 0]
    return LogitLens(
        text=text, tokens=[display_token(tokenizer.id_to_token(i)) for i in ids], layers=[label for _, label in sites],
        top_tokens=[[display_token(tokenizer.id_to_token(int(i))) for i in row] for row in top_i.tolist()],
        top_probs=top_p.cpu().numpy(), final_probs=final_p.cpu().numpy(), notes=notes,
    )


@torch.no_grad()
def next_tokens(source: ModelSource, text: str, k: int = 5) -> list[tuple[str, float]]:
    """Any language model's ``k`` likeliest next tokens after ``text``, with probabilities."""
    if getattr(source.task, "name", "") != "language_model":
        raise WorkbenchError("next-token predictions need a language model run")
    ids, _ = prompt_ids(source, text)
    model = source.model
    with evaluating(model):
        logits = model(ids=torch.tensor([ids], device=next(model.parameters()).device))
    top = logits[0, -1].float().softmax(-1).topk(min(k, logits.shape[-1]))
    tokenizer = source.task.tokenizer
    return [(display_token(tokenizer.id_to_token(int(i))), float(p)) for p, i in zip(top.values, top.indices, strict=True)]
