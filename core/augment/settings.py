"""The augmentation knobs, declared once (spread into the classification task's parameters in
core.tasks.catalog), and the checks a config must pass before any run is loaded. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.params import Param, RunChoice
from core.source_runs import VECTOR_TASKS


@dataclass(frozen=True)
class Method:
    """One augmentation method: its name in configs, its label and one-line description (forms,
    the Data page, help texts, the user guide), and the knobs naming runs that it reads."""

    name: str
    label: str
    description: str
    uses: tuple[str, ...] = ()


METHOD_TABLE = (
    Method("none", "None", "Training rows are read as they are."),
    Method("eda", "EDA (swap, delete, replace, insert)",
           "Wei & Zou's EDA: each row gets one of random swap, random deletion, synonym replacement or "
           "synonym insertion (the last two only with Synonyms from run); stopwords and punctuation keep "
           "their place.", uses=("synonyms_run",)),
    Method("mask", "Masking", "Words become [MASK], read as the tokenizer's mask token."),
    Method("synonyms", "Synonym replacement",
           "Words (not stopwords or punctuation) replaced by nearest neighbours in Synonyms from run's "
           "word vectors.", uses=("synonyms_run",)),
    Method("back_translation", "Back-translation",
           "The whole text translated into a pivot language and back by two translation runs (greedy; "
           "each text's round trip computed once).",
           uses=("back_translation_runs",)),
)
METHODS = tuple(m.name for m in METHOD_TABLE)
_BY_NAME = {m.name: m for m in METHOD_TABLE}


def method(name: str) -> Method:
    """The declaration of method ``name``."""
    return _BY_NAME[name]


def method_label(name: str) -> str:
    return _BY_NAME[name].label if name in _BY_NAME else name


def _users(knob: str) -> tuple[str, tuple[str, ...]]:
    """``Param.used_with`` of a knob: the methods that read it (from the method table)."""
    return "augment", tuple(m.name for m in METHOD_TABLE if knob in m.uses)



AUGMENT_PARAMS = (
    Param("augment", "str", "none", "Change training rows as they are drawn into a batch (validation and held-out rows never); labels never change. " + " ".join(f"{m.name}: {m.description}" for m in METHOD_TABLE[1:]), choices=METHODS, label="Augmentation", choice_labels=tuple(m.label for m in METHOD_TABLE)),
    Param("augment_p", "float", 0.1, "Share of a text's words an augmentation changes (at least one word when above 0; back-translation ignores it).", low=0.0, high=0.9, label="Words changed (share)", used_with=("augment", METHODS[1:])),
    Param("augment_prob", "float", 0.5, "Chance that a training row drawn into a batch is read augmented; the others are read as they are.", low=0.0, high=1.0, label="Rows augmented (chance)", used_with=("augment", METHODS[1:])),
    Param("augment_copies", "int", 0, "Fixed augmented copies of each training row, made once before the first step and trained on with the rows (Wei & Zou's n_aug; with task.teacher, Tang et al.'s transfer set: the teacher reads each copy once, with the rows). 0: rows are augmented as they are drawn instead (task.augment_prob); above 0 every copy is augmented and rows are read as they are. A copy equal to its row or to an earlier copy (a short row, a round trip that changed nothing) is left out; the run's data summary says how many were made.", low=0, high=32, label="Augmented copies per row", used_with=("augment", METHODS[1:])),
    Param("synonyms_run", "str", "", "Word vectors for synonyms (id or name of a finished run in the store): a word_embeddings run (Word2Vec, GloVe) or a classification, masked_lm or language_model run's token embedding, a pretrained encoder's included; a word's synonyms are its nearest neighbours by cosine.", sweepable=False, label="Synonyms from run", runs=RunChoice(VECTOR_TASKS), used_with=_users("synonyms_run")),
    Param("back_translation_runs", "str", "", "Two translation runs (ids or names), comma-separated: the first translates a text into a pivot language, the second translates it back.", sweepable=False, label="Back-translation runs", runs=RunChoice(("translation",), count=2, roles=("To the pivot language", "Back again")), used_with=_users("back_translation_runs")),
)
SYNONYMS_RUN, BACK_TRANSLATION_RUNS = AUGMENT_PARAMS[4], AUGMENT_PARAMS[5]
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
    if int(task.get("augment_copies", 0) or 0) > 0 and method == "none":
        return ("task.augment_copies needs task.augment set to one of " + ", ".join(repr(m) for m in METHODS[1:])
                + " (copies are augmented rows); got task.augment = 'none'")
    if len(run_refs(task.get("synonyms_run", ""))) > 1:
        return f"task.synonyms_run must name one run; got {task['synonyms_run']!r}"
    return None
