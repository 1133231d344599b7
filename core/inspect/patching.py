"""Activation patching for GPT-style runs: where does the model keep what tells two prompts apart?

A clean prompt ("the king said") and a corrupted one of the same length ("the queen said") lead
to different answers ("he" / "she"). The metric is the logit difference answer - wrong at the
last position. For each residual-stream site (entering each block, leaving the last) and each
position, the corrupted run is repeated with that one vector taken from the clean run; the
share of the clean logit difference it brings back is

    restored = (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt)

1 where the vector carries all of the difference, 0 where it carries none. Patching every
position of one site *is* the clean run from there on, so it restores exactly 1.
:data:`DEMO` is a built-in run where the effect is plain to see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.errors import WorkbenchError
from core.inspect.activations import patching, run_with_cache
from core.inspect.lens import GPTParts, gpt_parts, prompt_ids
from core.inspect.maps import ModelSource, display_token
from core.models.base import evaluating


@dataclass
class PatchingResult:
    clean: str
    corrupt: str
    clean_tokens: list[str]
    corrupt_tokens: list[str]
    layers: list[str]  # row labels: the residual stream "embeddings", "after block 0", ...
    restored: np.ndarray  # (layers, positions): share of the clean logit difference restored
    answer: str  # the token the clean prompt leads to
    wrong: str  # the token the corrupted prompt leads to
    clean_diff: float  # logit(answer) - logit(wrong), clean run
    corrupt_diff: float  # the same, corrupted run
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        doc = {k: v for k, v in self.__dict__.items() if k != "restored"}
        return {**doc, "restored": np.round(self.restored.astype(float), 5).tolist()}


@dataclass(frozen=True)
class PatchingDemo:
    """A built-in run (overrides of the language-model defaults) and the prompts that show it."""

    title: str
    overrides: dict[str, Any]
    clean: str
    corrupt: str
    answer: str
    wrong: str
    tag: str = "patching-demo"


# A 2-layer word-level GPT on the planted relations ("everyone knows the king loves his ...",
# "... the queen loves her ..."), about 5 s of training on two CPU cores. Patching shows what
# decides the pronoun sitting at the noun's position in the embeddings and at the last position
# after block 0, where the next token is read.
DEMO = PatchingDemo(
    "Patching demo: his or her?",
    {"data.name": "planted_relations", "data.n_sentences": 5000, "tokenizer.name": "word",
     "model.name": "transformer_decoder", "model.d_model": 64, "model.n_layers": 2, "model.n_heads": 4,
     "model.d_ff": 128, "task.context_length": 16, "task.sample_length": 0, "optimizer.lr": 3e-3,
     "schedule.warmup_steps": 20, "training.max_steps": 300, "training.batch_size": 32,
     "training.eval_every": 100, "training.eval_max_batches": 5},
    clean="everyone knows the king loves", corrupt="everyone knows the queen loves", answer="his", wrong="her",
)


def _token_id(source: ModelSource, token: str, what: str) -> int:
    for candidate in (token, f" {token}"):  # byte-level BPE glues a space to a word
        ids = source.task.tokenizer.encode(candidate)
        if len(ids) == 1:
            return int(ids[0])
    raise WorkbenchError(f"{what} {token!r} is not one token of this model's vocabulary")


def _diff(logits: torch.Tensor, answer: int, wrong: int) -> torch.Tensor:
    """logit(answer) - logit(wrong) at the last position, per batch row."""
    last = logits[:, -1].float()
    return last[:, answer] - last[:, wrong]


def patched_diff(parts: GPTParts, corrupt: torch.Tensor, site: str, clean_resid: torch.Tensor,
                 positions: Sequence[int], answer: int, wrong: int) -> float:
    """The corrupted run's logit difference with ``site`` at ``positions`` taken from the clean run."""
    index = torch.tensor(list(positions), dtype=torch.long, device=corrupt.device)

    def patch(resid: torch.Tensor) -> torch.Tensor:
        resid = resid.clone()
        resid[:, index] = clean_resid[:, index]
        return resid

    with torch.no_grad(), evaluating(parts.model), patching(parts.model, {site: patch}):
        return float(_diff(parts.model(ids=corrupt), answer, wrong)[0])


@torch.no_grad()
def patch_residual(source: ModelSource, clean: str, corrupt: str, answer: str | None = None,
                   wrong: str | None = None) -> PatchingResult:
    """Every (site, position) patched in turn; see the module docstring.

    ``answer`` / ``wrong``: one token each; by default the model's own top next token after the
    clean and after the corrupted prompt.
    """
    parts = gpt_parts(source)
    model, tokenizer = parts.model, source.task.tokenizer
    clean_ids, notes = prompt_ids(source, clean, "clean prompt")
    corrupt_ids, more = prompt_ids(source, corrupt, "corrupted prompt")
    if len(clean_ids) != len(corrupt_ids):
        raise WorkbenchError(f"the clean prompt has {len(clean_ids)} tokens and the corrupted one {len(corrupt_ids)}: "
                             "patching pairs positions, so they must be equally long")
    device = next(model.parameters()).device
    x_clean = torch.tensor([clean_ids], device=device)
    x_corrupt = torch.tensor([corrupt_ids], device=device)
    sites = parts.sites()
    with evaluating(model):
        clean_logits, seen = run_with_cache(model, ids=x_clean, names=[name for name, _ in sites])
    with evaluating(model):
        corrupt_logits = model(ids=x_corrupt)
    answer_id = _token_id(source, answer, "answer") if answer else int(clean_logits[0, -1].argmax())
    wrong_id = _token_id(source, wrong, "wrong answer") if wrong else int(corrupt_logits[0, -1].argmax())
    if answer_id == wrong_id:
        raise WorkbenchError(f"both prompts lead to {display_token(tokenizer.id_to_token(answer_id))!r}: give two "
                             "different answers (answer and wrong) to measure the difference between them")
    clean_diff = float(_diff(clean_logits, answer_id, wrong_id)[0])
    corrupt_diff = float(_diff(corrupt_logits, answer_id, wrong_id)[0])
    span = clean_diff - corrupt_diff
    if abs(span) < 1e-6:
        raise WorkbenchError("the two prompts give the same logit difference: there is nothing to restore")
    T = len(clean_ids)
    rows = torch.arange(T, device=device)
    restored = np.zeros((len(sites), T), dtype=np.float32)
    batch = x_corrupt.expand(T, -1)  # row t patches position t
    for s, (name, _) in enumerate(sites):
        clean_resid = seen[name][0]

        def patch(resid: torch.Tensor, clean_resid: torch.Tensor = clean_resid) -> torch.Tensor:
            resid = resid.clone()
            resid[rows, rows] = clean_resid[0, rows]
            return resid

        with evaluating(model), patching(model, {name: patch}):
            diffs = _diff(model(ids=batch), answer_id, wrong_id)
        restored[s] = ((diffs - corrupt_diff) / span).cpu().numpy()
    return PatchingResult(
        clean=clean, corrupt=corrupt,
        clean_tokens=[display_token(tokenizer.id_to_token(i)) for i in clean_ids],
        corrupt_tokens=[display_token(tokenizer.id_to_token(i)) for i in corrupt_ids],
        layers=[label for _, label in sites], restored=restored,
        answer=display_token(tokenizer.id_to_token(answer_id)), wrong=display_token(tokenizer.id_to_token(wrong_id)),
        clean_diff=clean_diff, corrupt_diff=corrupt_diff, notes=notes + more,
    )
