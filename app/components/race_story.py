"""A race's story in words and tables: the settings that differ between its entrants, their
names, and the answer to its question (who first got the negated reviews right). Pure: frames
and runs in, text and tables out; the Run page (app/components/live.py) draws them."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from core.config import section_params
from core.errors import WorkbenchError
from core.metrics import METRICS
from core.registry import DATASETS, arch_label
from core.reproduce import differing_settings
from core.store import ACTIVE_STATUSES, Run


def race_differences(runs: Sequence[Run]) -> pd.DataFrame:
    """The settings that differ between a race's entrants: one row per setting (by the title
    the Train form gives it, :func:`setting_title`), one column per entrant (its name), so a dozen
    settings fit the page's width; blank where an entrant has no such setting (an LSTM has no
    d_model)."""
    diff = differing_settings([r.config for r in runs])
    titles = [setting_title(key, runs) for key in diff]
    # Two sections may declare the same title (a model's and a task's "Dropout"): then say whose.
    titles = [t if titles.count(t) == 1 else f"{t} ({key.split('.', 1)[0]})" for t, key in zip(titles, diff, strict=True)]
    return pd.DataFrame(
        {run.name: [_cell(values[i], key) for key, values in diff.items()] for i, run in enumerate(runs)},
        index=pd.Index(titles, name="setting"),
    )


# What the Train form calls a section's component picker (app.components.forms.component_select).
_COMPONENT_TITLES = {"model": "Architecture", "data": "Dataset", "task": "Task"}


def setting_title(key: str, runs: Sequence[Run]) -> str:
    """``optimizer.lr`` as the Train form labels it ("Learning rate"): the title of the parameter
    that the first entrant declaring it declares (Param.title); the key itself when none does (a
    setting of a removed component)."""
    section, name = key.split(".", 1)
    if name == "name":
        return _COMPONENT_TITLES.get(section, section.capitalize())
    for run in runs:
        values = (run.config or {}).get(section)
        component = values.get("name") if isinstance(values, dict) else None
        try:
            params = section_params(section, component)
        except WorkbenchError:
            continue  # an unknown section or component: another entrant may still declare it
        found = next((p for p in params if p.name == name), None)
        if found is not None:
            return found.title
    return key


def setting_value(run: Run, key: str) -> object:
    section, name = key.split(".", 1)
    return (run.config.get(section) or {}).get(name)


def shared_value(run: Run, key: str) -> object:
    """A setting the race shares, as its caption says it: the data in words, numbers as numbers."""
    value = setting_value(run, key)
    return DATASETS.label(str(value)) if key == "data.name" else value


def _cell(value: object, key: str = "") -> str:
    if value is None:
        return ""
    if key == "model.name":
        return arch_label(str(value))
    if key == "data.name":
        return DATASETS.label(str(value))
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


# What makes a race fair, and how the caption says it is shared.
SHARED_BUDGET = {"data.name": "data {}", "training.max_steps": "{:,} steps", "training.batch_size": "batch {}",
                 "training.seed": "seed {}"}
QUESTION_METRIC = "negation_accuracy"
QUESTION_LEVEL = 0.8  # "learns negation" = gets 80% of the negated validation reviews right


def race_answer(frame: pd.DataFrame, runs: Sequence[Run], metric: str = QUESTION_METRIC,
                level: float = QUESTION_LEVEL) -> str | None:
    """Which entrant first reached ``level`` on ``metric`` (the race demo's question: which learns
    negation faster?), from the charted points; None when no entrant reports the metric. Each
    entrant is named in words (:func:`entrant_names`), one sentence per finding."""
    if frame.empty:
        return None
    points = frame[(frame["split"] == "val") & (frame["name"] == metric)]
    if points.empty:
        return None
    label = METRICS[metric].label.lower() if metric in METRICS else metric
    said = entrant_names(runs)
    reached: dict[int, list[str]] = {}  # step -> the entrants that first reached the level there
    for run in runs:
        mine = points[(points["run"] == run.name) & (points["value"] >= level)]
        if not mine.empty:
            reached.setdefault(int(mine["step"].min()), []).append(run.name)
    # An entrant still training may get there; one that has ended never will.
    waiting = [r for r in runs if not any(r.name in names for names in reached.values())]
    live = any(r.status in ACTIVE_STATUSES for r in waiting)
    if not reached:
        best = points.loc[points["value"].idxmax()]
        who = said.get(str(best["run"]), str(best["run"]))
        if live:
            return (f"No entrant has reached {level:.0%} {label} yet; best so far {who} "
                    f"with {best['value']:.0%} at step {int(best['step']):,}.")
        return (f"No entrant reached {level:.0%} {label}; the best was {who} "
                f"with {best['value']:.0%} at step {int(best['step']):,}.")
    order = sorted(reached.items())
    step, first = order[0]
    first_said = [said.get(n, n) for n in first]
    others = [f"{names_text([said.get(n, n) for n in names])} reached it at step {s:,}." for s, names in order[1:]]
    for run in waiting:
        mine = points[points["run"] == run.name]
        best = f" with a best of {mine['value'].max():.0%}" if not mine.empty else " before any evaluation"
        who = said.get(run.name, run.name)
        others.append(f"{who} has not reached it yet." if run.status in ACTIVE_STATUSES
                      else f"{who} never reached it: it {_ENDED.get(run.status, run.status)}{best}.")
    head = (f"First to {level:.0%} {label}: **{first_said[0]}** at step {step:,}." if len(first) == 1
            else f"Tie for first to {level:.0%} {label}: {names_text(first_said, bold=True)}, both at step {step:,}."
            if len(first) == 2 else
            f"Tie for first to {level:.0%} {label}: {names_text(first_said, bold=True)}, all at step {step:,}.")
    return " ".join([head, *others])


# How a race entrant that stopped short ended, in a sentence ("it was stopped with a best of 70%").
_ENDED = {"completed": "completed", "stopped": "was stopped", "failed": "failed", "pruned": "was pruned"}


def entrant_names(runs: Sequence[Run]) -> dict[str, str]:
    """Run name -> how a race's verdict names the entrant: its architecture in words ("LSTM")
    where no other entrant has the same one, else the run's own name."""
    archs = [arch_label(str(getattr(r, "arch", "") or "")) if getattr(r, "arch", None) else None for r in runs]
    return {r.name: a if a is not None and archs.count(a) == 1 else r.name
            for r, a in zip(runs, archs, strict=True)}


def names_text(names: Sequence[str], bold: bool = False) -> str:
    """``a``, ``a and b``, ``a, b and c`` (each in bold where ``bold``)."""
    shown = [f"**{n}**" if bold else n for n in names]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def in_order(values: dict) -> dict:
    """Declared headline metrics first, in declaration order; then the other declared ones."""
    rank = {name: (not m.headline, i) for i, (name, m) in enumerate(METRICS.items())}
    return dict(sorted(values.items(), key=lambda kv: rank.get(kv[0], (True, len(rank)))))
