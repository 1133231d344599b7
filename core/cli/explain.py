"""Looking inside a trained run: ``lmwb explain`` (token salience), ``lmwb lens`` (logit lens),
``lmwb patch`` (activation patching). Each prints a table, or JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.cli.common import add_param_flag, open_store
from core.errors import WorkbenchError
from core.inspect.settings import METHOD, STEPS


def _dump(doc: Any) -> None:
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
    print()


def _bar(score: float, top: float, width: int = 20) -> str:
    # Scores that are all ~0 get no bars rather than bars scaled up from rounding noise.
    n = round(width * abs(score) / top) if top > 1e-6 else 0
    return ("+" if score >= 0 else "-") * n


def cmd_explain(args: argparse.Namespace) -> int:
    from core.inspect.salience import explain
    from core.runs import load_trained

    if not args.text.strip():
        raise WorkbenchError("the text is empty: give the text to explain")
    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    result = explain(trained, args.text, method=args.method, target=args.target, steps=args.steps)
    if args.json:
        _dump(result.to_dict())
        return 0
    print(f"prediction: {result.prediction} ({result.prediction_probability:.3f}); explaining the "
          f"{result.output_name} (p = {result.target_probability:.3f}) by {result.method}")
    for note in result.notes:
        print(f"note: {note}")
    top = max((abs(s) for s in result.scores), default=0.0)
    width = max([5, *(len(t) for t in result.tokens)])
    print(f"{'pos':>4}  {'token':<{width}}  {'score':>10}  (+ for, - against)")
    for row in result.rows():
        print(f"{row['position']:>4}  {row['token']:<{width}}  {row['score']:>+10.4f}  {_bar(row['score'], top)}")
    if result.completeness is not None:
        print(result.completeness.sentence())
    return 0


def cmd_lens(args: argparse.Namespace) -> int:
    from core.inspect.lens import logit_lens
    from core.runs import load_trained

    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    lens = logit_lens(trained, args.prompt)
    if args.json:
        _dump(lens.to_dict())
        return 0
    for note in lens.notes:
        print(f"note: {note}")
    print("top next-token prediction (probability) after each layer; columns: the input tokens")
    cells = [[f"{t} ({p:.2f})" for t, p in zip(row, probs, strict=True)] for row, probs in zip(lens.top_tokens, lens.top_probs, strict=True)]
    width = max(len(c) for c in [*lens.tokens, *(c for row in cells for c in row)]) + 1
    label = max(len(name) for name in lens.layers)
    print(" " * label + "  " + "".join(f"{t:<{width}}" for t in lens.tokens))
    for name, row in zip(lens.layers, cells, strict=True):
        print(f"{name:<{label}}  " + "".join(f"{c:<{width}}" for c in row))
    return 0


def cmd_patch(args: argparse.Namespace) -> int:
    from core.inspect.patching import patch_residual
    from core.runs import load_trained

    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    result = patch_residual(trained, args.clean, args.corrupt, answer=args.answer, wrong=args.wrong)
    if args.json:
        _dump(result.to_dict())
        return 0
    for note in result.notes:
        print(f"note: {note}")
    print(f"logit difference {result.answer!r} - {result.wrong!r} at the last position: clean {result.clean_diff:+.3f}, "
          f"corrupted {result.corrupt_diff:+.3f}")
    print("share of it restored by patching one residual vector from the clean run (rows: residual stream, "
          "columns: clean / corrupted token)")
    columns = [c if c == k else f"{c}/{k}" for c, k in zip(result.clean_tokens, result.corrupt_tokens, strict=True)]
    width = max(7, *(len(c) + 1 for c in columns))
    label = max(len(name) for name in result.layers)
    print(" " * label + "  " + "".join(f"{c:>{width}}" for c in columns))
    for name, row in zip(result.layers, result.restored, strict=True):
        print(f"{name:<{label}}  " + "".join(f"{v:>{width}.2f}" for v in row))
    return 0


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    p = sub.add_parser("explain", help="which tokens made a classifier or language model predict what it did (Captum)")
    p.add_argument("run")
    p.add_argument("text", help="the input to explain")
    add_param_flag(p, METHOD)
    p.add_argument("--target", help="class (name or index), or next token, to explain (default: the prediction)")
    add_param_flag(p, STEPS)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("lens", help="logit lens of a GPT-style run: the top next token after each layer")
    p.add_argument("run")
    p.add_argument("prompt")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_lens)

    p = sub.add_parser("patch", help="activation patching of a GPT-style run: which residual vector carries "
                                     "the difference between two prompts")
    p.add_argument("run")
    p.add_argument("--clean", required=True, help="the prompt whose answer is restored")
    p.add_argument("--corrupt", required=True, help="a prompt of the same length in tokens, with another answer")
    p.add_argument("--answer", help="the clean answer, one token (default: the model's prediction)")
    p.add_argument("--wrong", help="the corrupted answer, one token (default: the model's prediction)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_patch)
