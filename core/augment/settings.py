"""The augmentation knobs, declared once (spread into the classification task's parameters in
core.tasks.catalog), and the checks a config must pass before any run is loaded. Torch-free."""

from __future__ import annotations

from typing import Any

from core.params import Param

METHODS = ("none", "eda", "mask", "synonyms", "back_translation")

AUGMENT_PARAMS = (
    Param("augment", "str", "none", "Change training rows as they are drawn into a batch (validation and held-out rows never): eda (Wei & Zou's synonym replacement, random insertion, swap and deletion; replacement and insertion need task.synonyms_run), mask (words become [MASK]), synonyms (words replaced by nearest neighbours in task.synonyms_run's vectors), back_translation (through the two runs of task.back_translation_runs). Labels never change.", choices=METHODS, label="Augmentation"),
    Param("augment_p", "float", 0.1, "Share of a text's words an augmentation changes (at least one word when above 0; back-translation ignores it).", low=0.0, high=0.9, label="Words changed (share)"),
    Param("augment_prob", "float", 0.5, "Chance that a training row drawn into a batch is read augmented; the others are read as they are.", low=0.0, high=1.0, label="Rows augmented (chance)"),
    Param("synonyms_run", "str", "", "Word vectors for synonyms (id or name of a run in the store): a word_embeddings run (Word2Vec, GloVe) or any run with a token embedding, a pretrained encoder's included; a word's synonyms are its nearest neighbours by cosine.", sweepable=False, label="Synonyms from run"),
    Param("back_translation_runs", "str", "", "Two translation runs (ids or names), comma-separated: the first translates a text into a pivot language, the second translates it back.", sweepable=False, label="Back-translation runs"),
)
# Neighbours a word's synonyms are drawn from, and the least cosine similarity one must have.
SYNONYM_K = 5
SYNONYM_MIN_COS = 0.3


def run_refs(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``: the runs a knob names."""
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def check_sections(sections: dict[str, dict[str, Any]]) -> str | None:
    """What an augmentation setting lacks, naming the field and what it needs (None: fine). That
    the named runs exist and are of the right task is checked when the run starts (the store)."""
    task = sections["task"]
    method = task.get("augment", "none")
    if method == "synonyms" and not run_refs(task.get("synonyms_run", "")):
        return "task.synonyms_run must name a word-vector run (id or name) with task.augment = synonyms"
    if method == "back_translation" and len(run_refs(task.get("back_translation_runs", ""))) != 2:
        return ("task.back_translation_runs must name two translation runs, comma-separated (source to pivot, "
                "pivot to source), with task.augment = back_translation; got "
                f"{task.get('back_translation_runs', '')!r}")
    if len(run_refs(task.get("back_translation_runs", ""))) not in (0, 2):
        return f"task.back_translation_runs must name two runs, comma-separated, or none; got {task['back_translation_runs']!r}"
    if len(run_refs(task.get("synonyms_run", ""))) > 1:
        return f"task.synonyms_run must name one run; got {task['synonyms_run']!r}"
    return None
