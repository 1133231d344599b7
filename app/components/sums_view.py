"""The arithmetic demo's sample, sum by sum: what the model wrote after each ``23+58=``, the
right answer, and whether it is right, by the ``sums_right`` metric's own rule
(:func:`core.metrics.answer_right`), so the table and the curve never disagree on a sum."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from core.data.builtin import _OPS  # the arithmetic set's own operations: what each sign computes
from core.metrics import answer_right, metric_label

# A line that poses a sum as the arithmetic set writes it: operand, sign, operand, "=".
_QUESTION = re.compile(r"(\d+)([" + re.escape("".join(_OPS)) + r"])(\d+)=")
RIGHT, WRONG = "✓ right", "✗ wrong"


def sample_sums(sample: str) -> pd.DataFrame:
    """One row per whole line of ``sample`` that poses a sum: the sum, what follows it on the line
    (the model's answer), the right answer and whether it is right. A last line the sample's
    length cut short is left out: it was stopped, not answered."""
    lines = sample.split("\n")
    if not sample.endswith("\n"):
        lines = lines[:-1]
    rows = []
    for line in lines:
        found = _QUESTION.match(line)
        if found is None:
            continue
        a, sign, b = found.groups()
        answer = str(_OPS[sign](int(a), int(b)))
        written = line[found.end():]
        rows.append({"Sum": found.group(0), "Model wrote": written, "Right answer": answer,
                     "right": answer_right(written, answer)})
    return pd.DataFrame(rows, columns=["Sum", "Model wrote", "Right answer", "right"])


def sums_table(sample: str) -> bool:
    """The sample as a table of sums, each marked right or wrong; False (nothing drawn) when it
    poses none."""
    table = sample_sums(sample)
    if table.empty:
        return False
    right = int(table["right"].sum())
    st.caption(f"{right} of {len(table)} sums right in this sample, by the rule of **{metric_label('sums_right')}** "
               "(the answer written whole, first). The sample is drawn at the run's sample temperature, the "
               "metric decodes greedily; its first line is the prompt, taken from the validation text.")
    shown = table.drop(columns="right").assign(**{"Right?": table["right"].map({True: RIGHT, False: WRONG})})
    colour = {RIGHT: "background-color: rgba(46, 160, 67, 0.2)", WRONG: "background-color: rgba(248, 81, 73, 0.25)"}
    st.table(shown.style.map(lambda v: colour.get(v, ""), subset=["Right?"]), hide_index=True)
    return True
