"""`lmwb`: everything the browser does, from a terminal.

    lmwb train --config examples/char_gpt_shakespeare.yaml --set training.max_steps=500
    lmwb runs list | show RUN | delete RUN | stop RUN | export RUN [--to csv|tensorboard|mlflow]
    lmwb export RUN --format hf|onnx OUT
    lmwb predict RUN "a gripping, funny film"
    lmwb generate RUN --prompt "ROMEO:" --temperature 0.8
    lmwb translate RUN "ein Mann fährt Fahrrad ." --beam 5
    lmwb fill-mask RUN "the film was [MASK] and moving" -k 5
    lmwb eval RUN --data test.tsv [--examples per-example.csv]
    lmwb quantize RUN       lmwb predict RUN --variant int8 TEXT       lmwb eval RUN --speed
    lmwb frontier [RUN ...] [--batch 1|32] [--measure]
    lmwb ask RUN --docs FOLDER "who chaired the meeting?"
    lmwb explain RUN "not a bad film" --method ig | lens RUN "23+5" | patch RUN --clean A --corrupt B
    lmwb embeddings RUN neighbours king -k 5 | analogy man woman king | similarity a b | export vectors.txt
    lmwb embeddings RUN project [WORD ...] --method tsne -o map.csv
    lmwb data list          lmwb params model lstm          lmwb ui
    lmwb train --queue ...  lmwb worker [--once]            lmwb resume RUN [--queue]

One module per verb group (core/cli/training.py, runs.py, inference.py, ...); each adds its
commands to the parser with ``register(sub)``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from importlib.metadata import PackageNotFoundError, version

from core.cli import (
    embeddings,
    explain,
    export,
    frontier,
    inference,
    info,
    learn,
    qa,
    quantize,
    runs,
    sweep,
    training,
    ui,
)
from core.cli.common import set_hint
from core.display import format_duration
from core.errors import WorkbenchError
from core.params import PRINTABLE_TEXT, shown_text, text_problem

VERB_GROUPS = (training, runs, inference, quantize, frontier, qa, explain, learn, embeddings, export, info, sweep,
               ui)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmwb", description="LM Workbench: train, compare and look inside language models.")
    parser.add_argument("--store", help="database URL (default: SQLite in the workbench home; env LMWB_STORE)")
    parser.add_argument("--home", help="workbench home folder for the store and run folders (env LMWB_HOME)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in VERB_GROUPS:
        group.register(sub)
    return parser


def _version() -> str:
    try:
        return version("lm-workbench")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help()  # a bare `lmwb`: what it can do, not an error
        return 0
    try:
        args, extra = parser.parse_known_args(argv)
        # argparse gives a list positional (`predict RUN TEXT...`) only the words before the first
        # flag; words after a flag (`predict RUN --checkpoint last "not good"`) belong to it too.
        spill = getattr(args, "spill", None)
        if spill and extra and not any(word.startswith("-") for word in extra):
            getattr(args, spill).extend(extra)
        elif extra:
            if hint := set_hint(args, extra):  # `train --steps 100`: the --set key it means, in one line
                print(f"lmwb {args.command}: error: {hint}", file=sys.stderr)
                return 2
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help (0) or a refused flag (2), already printed by argparse
        return int(exc.code or 0)
    if problem := argument_problem(parser, args):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `lmwb ... | head`: the reader left, nothing more to say
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit flush does not fail again
        return 0
    except (OSError, UnicodeError) as exc:  # a file or folder given on the command line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):  # a store URL that cannot be used
            print(f"error: the store ({getattr(args, 'store', None) or 'default SQLite'}) cannot be used: "
                  f"{str(exc).splitlines()[0]}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print(f"\ninterrupted after {format_duration(time.monotonic() - started)}", file=sys.stderr)
        return 130


# File and folder arguments, by their argparse dest: the commands that take one (None: all).
PATH_ARGUMENTS: dict[str, tuple[str, ...] | None] = {
    "config": None, "space": None, "examples": None, "output": None, "out": None, "home": None,
    "data": ("eval",), "docs": ("ask",), "source": ("eval",), "target": ("eval",), "path": ("data",),
}


def argument_problem(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """The first argument ``lmwb`` cannot take as typed, in one line naming its flag: bytes that
    are not UTF-8 anywhere (Linux hands them over as surrogate escapes, which would fail later as
    a UnicodeEncodeError), and control characters in a file or folder path. Names are checked
    where they are stored (core.store.records), with the same rule."""
    for dest, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str) or not (problem := text_problem(item)):
                continue
            commands = PATH_ARGUMENTS.get(dest, ())
            is_path = dest in PATH_ARGUMENTS and (commands is None or args.command in commands)
            if is_path:
                return f"{_flag(parser, args, dest)} {shown_text(item)}: {problem}; expected a path of {PRINTABLE_TEXT}"
            if "not UTF-8" in problem or "surrogate" in problem:
                return (f"{_flag(parser, args, dest)} {shown_text(item)}: {problem}; lmwb reads its arguments as "
                        "UTF-8 text: retype the value in UTF-8")
    return None


def _flag(parser: argparse.ArgumentParser, args: argparse.Namespace, dest: str) -> str:
    """How ``dest`` is written on the command line: its first flag, else its metavar (RUN, TEXT)."""
    commands = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    sub = commands.choices.get(args.command) if commands is not None else None
    for action in [*(sub._actions if sub is not None else []), *parser._actions]:
        if action.dest == dest:
            return action.option_strings[0] if action.option_strings else str(action.metavar or dest).upper()
    return dest


if __name__ == "__main__":
    sys.exit(main())
