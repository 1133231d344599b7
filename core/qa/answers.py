"""A qa run's answers, one row a question, worst first: the table the Explain page shows
(app/components/qa_explain_view.py) and ``lmwb eval RUN --examples OUT.csv`` writes, built once
here from the readings ``core.runs.qa_readings`` returns (``core.tasks.qa.Reading``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

NO_ANSWER = "(no answer)"
# The outcome filter: which answers each choice keeps, by their F1 (0-100) and exact match.
OUTCOMES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "all": lambda t: t["f1"] >= 0,
    "wrong": lambda t: t["f1"] == 0,
    "partly right": lambda t: (t["f1"] > 0) & ~t["exact"],
    "right": lambda t: t["exact"],
}


def answers_table(readings: Sequence[Any]) -> pd.DataFrame:
    """One row a question, worst first: F1 (0-100, as the run's qa_f1 averages it), exact match,
    then the most confident answer first (a confident wrong answer says more than a hesitant one);
    indexed by the question's place in the validation split. ``readings``: ``Reading``s (typed
    loosely: the task module loads with torch)."""
    table = pd.DataFrame({
        "question": [r.question for r in readings],
        "gold": [" | ".join(dict.fromkeys(g for g, _, _ in r.golds)) or NO_ANSWER for r in readings],
        "prediction": [r.text if r.span is not None else NO_ANSWER for r in readings],
        "f1": [100.0 * r.f1 for r in readings],
        "exact": [bool(r.exact_match) for r in readings],
        "probability": [r.probability for r in readings],
    }, index=pd.Index([r.index for r in readings], name="question #"))
    return table.sort_values(["f1", "exact", "probability"], ascending=[True, True, False], kind="stable")


def outcome_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many answers of :func:`answers_table`'s ``table`` each outcome keeps."""
    return {name: int(keep(table).sum()) for name, keep in OUTCOMES.items()}
