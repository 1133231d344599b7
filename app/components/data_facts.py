"""One line on the Run page saying what a run trained on: its rows, the fixed augmented copies
among them (task.augment_copies), validation and held-out sizes, and the pretrained vectors'
coverage (task.pretrained_embeddings / embeddings_run), from the data summary the trainer stores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def data_facts(data: Mapping[str, Any] | None) -> str:
    """``"Data: 3,600 training rows + 9,007 augmented copies (1,793 left out: equal to their row)
    · 900 validation"``; "" when the summary has no sizes."""
    if not data:
        return ""
    parts = []
    copies = data.get("augmented_copies")
    rows = data.get("train_rows", data.get("train_examples"))
    if isinstance(rows, int):
        text = f"{rows:,} training rows"
        if isinstance(copies, int):
            left = data.get("augmented_copies_left_out")
            text += f" + {copies:,} augmented copies"
            if isinstance(left, int) and left > 0:
                text += f" ({left:,} left out: equal to their row or an earlier copy)"
        parts.append(text)
    for key, noun in (("val_examples", "validation"), ("heldout_examples", "held-out")):
        if isinstance(data.get(key), int):
            parts.append(f"{data[key]:,} {noun}")
    if data.get("pretrained_embeddings"):
        parts.append(f"pretrained vectors: {data['pretrained_embeddings']}")
    return ("Data: " + " · ".join(parts)) if parts else ""
