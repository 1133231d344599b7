"""``lmwb learn CHAPTER RUN "text" [knobs]``: a Learn chapter's walkthrough as text, the same
numbers the Learn page draws (the formula, its symbols, each step's values, the checks against
the model's own computation). Each chapter is a subcommand whose flags are its declared knobs."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.common import add_param_flag, open_store
from core.errors import WorkbenchError
from core.learn.chapters import CHAPTERS, chapter


def cmd_learn(args: argparse.Namespace) -> int:
    from core.runs import load_trained  # torch: only when a walkthrough is computed

    chosen = chapter(args.chapter)
    if not args.text.strip():
        raise WorkbenchError("the text is empty: give the input to compute on")
    trained = load_trained(open_store(args), args.run, which=args.checkpoint) if chosen.runs else None
    if trained is not None and not chosen.accepts(trained.run.task, trained.run.arch):
        kinds = "; ".join(f"{task}: {', '.join(archs)}" for task, archs in chosen.runs.items())
        raise WorkbenchError(f"run {trained.run.id} is a {trained.run.task} run of {trained.run.arch}; "
                             f"the {chosen.name} chapter reads {kinds}")
    knobs = chosen.knob_values({k.name: getattr(args, k.name) for k in chosen.knobs})
    walk = chosen.function()(trained, args.text, **knobs)
    print(walk.text())
    return 0 if all(c.ok for c in walk.checks) else 1


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("learn", help="a formula computed step by step on a trained run and your text (the Learn page)")
    chapters = p.add_subparsers(dest="chapter", required=True, metavar="CHAPTER")
    for c in CHAPTERS:
        q = chapters.add_parser(c.name, help=f"{c.title}: {c.summary}")
        if c.runs:  # a chapter that computes on typed input alone takes no run
            q.add_argument("run")
        q.add_argument("text", help="the input to compute on")
        for knob in c.knobs:
            add_param_flag(q, knob)
        if c.runs:
            q.add_argument("--checkpoint", choices=["best", "last"], default="best")
        q.set_defaults(func=cmd_learn)
