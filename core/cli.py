"""`lmwb`: everything the browser does, from a terminal.

    lmwb train --config examples/char_gpt_shakespeare.yaml --set training.max_steps=500
    lmwb runs list | show RUN | delete RUN | stop RUN | export RUN
    lmwb predict RUN "a gripping, funny film"
    lmwb generate RUN --prompt "ROMEO:" --temperature 0.8
    lmwb translate RUN "ein Mann fährt Fahrrad ." --beam 5
    lmwb fill-mask RUN "the film was [MASK] and moving" -k 5
    lmwb eval RUN --data test.tsv
    lmwb embeddings RUN neighbours king -k 5 | analogy man woman king | similarity a b | export vectors.txt
    lmwb embeddings RUN project [WORD ...] --method tsne -o map.csv
    lmwb data list          lmwb params model lstm          lmwb ui
    lmwb train --queue ...  lmwb worker [--once]            lmwb resume RUN [--queue]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from core.display import format_duration
from core.errors import WorkbenchError
from core.metrics.catalog import METRICS


def number(kind: type, low: float | None = None, high: float | None = None, *, above: bool = False) -> Any:
    """An argparse ``type`` for a finite int or float in [low, high] (``above``: low excluded),
    so a bad flag is refused by name (exit 2) before any work starts."""
    noun = "a whole number" if kind is int else "a number"
    bounds = ("" if low is None and high is None else
              f" > {low:g}" if above and high is None else
              f" >= {low:g}" if high is None else
              f" in {'(' if above else '['}{low if low is not None else '-inf'}, {high}]")

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        ok = math.isfinite(value) and (low is None or value > low if above else low is None or value >= low)
        if not ok or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {noun}{bounds}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


SEED = number(int, 0, 2**32 - 1)  # what torch and numpy accept
_DECLARED = object()


def add_param_flag(parser: argparse.ArgumentParser, param: Any, *aliases: str, default: Any = _DECLARED) -> None:
    """A ``--flag`` for a declared parameter (core.params.Param): its type, range, default and
    help come from the declaration, so the CLI never keeps a second copy of a range. A bad
    value is refused by argparse (exit 2) with what is allowed."""
    from core.errors import ConfigError

    flag = "--" + param.name.replace("_", "-")
    if param.kind == "bool":
        parser.add_argument(flag, *aliases, action="store_true", help=param.help)
        return

    def parse(text: str) -> Any:
        if param.optional and text.strip().lower() in ("null", "none"):
            return None
        try:
            return param.coerce(text, path=flag)
        except ConfigError:
            raise argparse.ArgumentTypeError(f"expected {param.allowed()}, got {text}") from None

    parse.__name__ = param.kind
    value = param.default if default is _DECLARED else default
    shown = "" if value is None else f" (default {value})"
    parser.add_argument(flag, *aliases, type=parse, default=value, metavar=param.kind.upper(),
                        help=f"{param.help} {param.allowed().capitalize()}{shown}.")


def output_file(path_text: str, args: argparse.Namespace) -> Path:
    """A file a command may write: its folder exists, it is not a folder, and it is not inside
    the workbench home (the store and run folders live there: an export must never overwrite
    them)."""
    path = Path(path_text).expanduser()
    if not path.name:
        raise WorkbenchError(f"output {path_text!r}: expected a file path")
    resolved = path.resolve()
    home = _store(args).home.resolve()
    if resolved == home or home in resolved.parents:
        raise WorkbenchError(f"output {path_text}: inside the workbench home ({home}), whose store and runs "
                             "it could overwrite; write it somewhere else")
    if resolved.is_dir():
        raise WorkbenchError(f"output {path_text}: is a folder; expected a file path")
    if not resolved.parent.is_dir():
        raise WorkbenchError(f"output {path_text}: folder {resolved.parent} does not exist")
    return path


def _store(args: argparse.Namespace) -> Any:
    from core.store import Store

    try:
        return Store(url=args.store, home=Path(args.home) if args.home else None)
    except WorkbenchError:
        raise
    except Exception as exc:  # a folder that cannot be made, a driver not installed, a bad URL
        where = f"--store {args.store}" if args.store else f"--home {args.home}" if args.home else "the store"
        raise WorkbenchError(f"{where}: cannot be opened ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


class ProgressPrinter:
    """CLI progress: one live line on a terminal, a line every ~5% when piped to a log."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.max_steps = 1
        self.next_mark = 0.0

    def on_start(self, info: dict[str, Any]) -> None:
        self.max_steps = info["max_steps"]
        self.next_mark = info["step"] / self.max_steps
        data = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in info["data"].items())
        print(f"device {info['device']} | {info['params']:,} parameters | {data}", file=self.stream)
        for note in info.get("notes", []):
            print(f"note: {note}", file=self.stream)

    def on_log(self, step: int, m: dict[str, float]) -> None:
        line = (
            f"step {step:>{len(str(self.max_steps))}}/{self.max_steps} | loss {m['loss']:.4f} | "
            f"lr {m['lr']:.2e} | {m['tokens_per_s']:,.0f} tok/s | ETA {format_duration(m['eta_s'])}"
        )
        if self.tty:
            print("\r" + line, end="", file=self.stream, flush=True)
        elif step / self.max_steps >= self.next_mark:
            print(line, file=self.stream, flush=True)
            self.next_mark += 0.05

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        shown = " | ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in METRICS and METRICS[k].headline)
        print(("\n" if self.tty else "") + f"eval step {step}: {shown}", file=self.stream, flush=True)
        if "sample" in details:
            print("sample: " + details["sample"][:300].replace("\n", "\n        "), file=self.stream)

    def on_end(self, result: Any) -> None:
        s = result.summary
        best = s.get("best", {})
        best_text = f"best val {s.get('metric')} {best['value']:.4f} at step {best['step']}" if best.get("value") is not None else ""
        print(
            f"{result.status} at step {result.step} in {format_duration(s.get('duration_s'))} "
            f"({s.get('tokens_per_s', 0):,.0f} tok/s){' | ' + best_text if best_text else ''}"
            + (f" | {result.reason}" if result.reason else ""),
            file=self.stream, flush=True,
        )




# -- commands ------------------------------------------------------------------------------------

def cmd_train(args: argparse.Namespace) -> int:
    from core.config import (
        absolute_file_paths,
        apply_overrides,
        default_config,
        load_config_file,
        validate_config,
    )
    from core.runs import create_run

    if args.config:
        raw = load_config_file(args.config)
    else:
        raw = default_config(args.task)
    config = validate_config(absolute_file_paths(apply_overrides(raw, args.set or [])))
    store = _store(args)
    run = create_run(store, config, name=args.name, tags=args.tag or [])
    print(f"run {run.id} ({run.name}) created in {store.url}")
    if args.queue:
        print("queued; a worker (`lmwb worker`) will pick it up")
        return 0
    return _run_in_foreground(store, run.id, resume=False)


def cmd_resume(args: argparse.Namespace) -> int:
    store = _store(args)
    run = store.get_run(args.run)
    if args.queue:
        from core.jobs import request_resume

        queued = request_resume(store, run.id, force=args.force)
        print(f"run {queued.id} queued to resume; a worker (`lmwb worker`) will pick it up")
        return 0
    if run.status == "running":
        raise WorkbenchError(f"run {run.id} is already running")
    if run.status == "completed" and not args.force:
        raise WorkbenchError(f"run {run.id} already completed; raise training.max_steps in a new run instead")
    return _run_in_foreground(store, run.id, resume=True)


def _run_in_foreground(store: Any, run_id: str, resume: bool) -> int:
    from core.runs import execute_run

    store.update_run(run_id, stop_requested=False)  # a stop from an earlier session is spent
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)
        stop.set()

    previous = signal.signal(signal.SIGINT, on_signal)
    try:
        result = execute_run(store, run_id, resume=resume, callbacks=[ProgressPrinter()], stop_event=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"run {run_id}: {result.status}. Folder: {store.run_dir(run_id)}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from core.jobs import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = _store(args)
    print(f"worker on {store.url}: training queued runs one at a time (Ctrl-C stops after the current step)", flush=True)
    done = run_worker(store, once=args.once, idle_exit_s=args.idle_exit, poll_s=args.poll)
    print(f"worker exiting after {done} run(s)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.action == "list":
        if args.task is not None:
            from core.registry import TASKS

            TASKS.get(args.task, path="--task")  # an unknown task is an error, not "no runs"
        runs = store.list_runs(status=args.status, task=args.task, limit=args.limit)
        if not runs:
            filtered = args.status is not None or args.task is not None
            print("no runs match --status/--task" if filtered else "no runs yet: try `lmwb train --task classification`")
            return 0
        print(f"{'id':10} {'name':28} {'task':15} {'arch':20} {'status':10} {'step':>7} {'best':>10}")
        for r in runs:
            s = r.summary or {}
            best = (s.get("best") or {}).get("value")
            best_text = f"{best:.4f}" if isinstance(best, float) else ""
            print(f"{r.id:10} {r.name[:28]:28} {r.task:15} {r.arch:20} {r.status:10} {s.get('step', 0):>7} {best_text:>10}")
        return 0
    if not args.run:
        raise WorkbenchError(f"`lmwb runs {args.action}` needs a RUN id or name")
    run = store.get_run(args.run)
    if args.action == "show":
        info = {
            "id": run.id, "name": run.name, "task": run.task, "arch": run.arch, "status": run.status,
            "error": run.error, "device": run.device, "tags": run.tags, "created_at": str(run.created_at),
            "parent_id": run.parent_id,  # the run a fine-tune started from (task.init_from_run)
            "folder": str(store.run_dir(run.id)), "summary": _strip_details(run.summary),
            "config": run.config,
        }
        print(json.dumps(info, indent=2, default=str))
        print("reproduce: " + reproduce_command(run.config))
    elif args.action == "delete":
        if not args.yes and run.status == "running":
            raise WorkbenchError(f"run {run.id} is running; stop it first or pass --yes")
        store.delete_run(run.id)
        print(f"deleted run {run.id}")
    elif args.action == "stop":
        from core.store import ACTIVE_STATUSES

        if run.status not in ACTIVE_STATUSES:
            print(f"run {run.id} is {run.status}: nothing to stop")
            return 0
        store.request_stop(run.id)
        print(f"stop requested for run {run.id}; it stops after its current step")
    elif args.action == "export":
        df = store.metrics(run.id)
        out = output_file(args.output or f"{run.id}_metrics.csv", args)
        df.to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
        print(f"wrote {len(df)} metric points to {out}")
    return 0


def _strip_details(summary: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (summary or {}).items() if k != "details"}


def reproduce_command(config: dict[str, Any]) -> str:
    """The `lmwb train` line that recreates a run's config exactly, quoted for a POSIX shell
    (a tokenizer pattern like ``\\w+|[^\\w\\s]`` would otherwise become a pipe and a glob)."""
    from core.config import validate_config

    parts = ["lmwb", "train"]
    for key, value in validate_config(config).flat().items():
        parts += ["--set", shlex.quote(f"{key}={override_text(value)}")]
    return " ".join(parts)


def override_text(value: Any) -> str:
    """``value`` written so that ``--set key=...`` (which reads a YAML scalar) gives it back."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        try:
            plain = bool(value.strip()) and yaml.safe_load(value) == value
        except yaml.YAMLError:
            plain = False
        return value if plain else json.dumps(value)  # a JSON string is a YAML string
    return str(value)


def input_texts(args: argparse.Namespace) -> list[str]:
    """The TEXT arguments, else the non-empty lines of stdin; none at all is an error."""
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise WorkbenchError("no text given: pass TEXT arguments, or lines on stdin")
    return texts


def cmd_predict(args: argparse.Namespace) -> int:
    from core.runs import load_trained, predict_texts

    texts = input_texts(args)
    trained = load_trained(_store(args), args.run, which=args.checkpoint)
    for text, probs in zip(texts, predict_texts(trained, texts), strict=True):
        best = max(probs, key=probs.get)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(probs.items(), key=lambda kv: -kv[1]))
        print(f"{best}\t({shown})\t{text}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from core.runs import generate_text, load_trained

    trained = load_trained(_store(args), args.run, which=args.checkpoint)
    for i in range(args.n):
        seed = None if args.seed is None else args.seed + i
        print(generate_text(
            trained, args.prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
            top_k=args.top_k, top_p=args.top_p, greedy=args.greedy, seed=seed,
        ))
        if args.n > 1:
            print("-" * 40)
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from core.runs import load_trained, translate_texts

    texts = input_texts(args)  # before loading the model: no text fails at once
    trained = load_trained(_store(args), args.run, which=args.checkpoint)
    for translation in translate_texts(trained, texts, beam=args.beam_size, max_len=args.max_output_tokens,
                                       length_penalty=args.length_penalty):
        print(translation)
    return 0


def cmd_fill_mask(args: argparse.Namespace) -> int:
    """Per mask: the k likeliest tokens of a masked_lm run, as ``lmwb embeddings`` lists words."""
    from core.runs import fill_mask, load_trained

    texts = input_texts(args)
    trained = load_trained(_store(args), args.run, which=args.checkpoint)
    for text in texts:
        guesses = fill_mask(trained, text, args.k)
        for n, options in enumerate(guesses, start=1):
            print(f"mask {n} of {len(guesses)} in: {text}")
            for token, prob in options:
                print(f"{prob:7.4f}  {token}")
    return 0

def cmd_eval(args: argparse.Namespace) -> int:
    from core.runs import evaluate_file, load_trained

    trained = load_trained(_store(args), args.run, which=args.checkpoint)
    extra = {}
    if args.text_column:
        extra["text_column"] = args.text_column
    if args.label_column:
        extra["label_column"] = args.label_column
    result = evaluate_file(trained, args.data, source_path=args.source, target_path=args.target,
                           beam=args.beam_size, **extra)
    for key, value in result.metrics.items():
        print(f"{key:20} {value:.4f}")
    confusion = result.details.get("confusion_matrix")
    if confusion:
        labels = [str(name)[:10] for name in confusion["labels"]]
        print("confusion matrix (rows: true, columns: predicted):")
        print(" " * 12 + " ".join(f"{name:>10}" for name in labels))
        for name, row in zip(labels, confusion["matrix"], strict=True):
            print(f"  {name:>10}" + " ".join(f"{v:>10d}" for v in row))
    translations = result.details.get("translations")
    if translations:
        print(f"{result.details.get('sentences', '?')} sentences, {result.details.get('decoding', '')}; "
              f"{result.details.get('bleu_signature', '')}")
        for row in translations:
            print(f"\nsource     {row['source']}\nreference  {row['reference']}\nhypothesis {row['hypothesis']}")
    return 0


def cmd_embeddings(args: argparse.Namespace) -> int:
    """Word vectors of a run: neighbours, analogies, similarity, export (word2vec text)."""
    from core import embeddings as emb
    from core.runs import load_trained

    need = {"neighbours": 1, "analogy": 3, "similarity": 2, "export": 1}.get(args.action)  # project: any number
    if need is not None and len(args.words) != need:
        usage = {"neighbours": "WORD", "analogy": "A B C", "similarity": "W1 W2", "export": "PATH"}[args.action]
        raise WorkbenchError(f"`lmwb embeddings RUN {args.action}` takes {usage}")
    # Checked before loading the model, so a bad path fails at once.
    export_to = output_file(args.words[0], args) if args.action == "export" else None
    vocab, vectors = emb.run_vectors(load_trained(_store(args), args.run, which=args.checkpoint))
    if args.action == "neighbours":
        for word, score in emb.nearest_neighbours(vectors, vocab, args.words[0], args.k):
            print(f"{score:7.4f}  {word}")
    elif args.action == "analogy":
        a, b, c = args.words
        print(f"{a} : {b} :: {c} : ?")
        for word, score in emb.analogy(vectors, vocab, a, b, c, args.k):
            print(f"{score:7.4f}  {word}")
    elif args.action == "similarity":
        print(f"{emb.similarity(vectors, vocab, *args.words):.4f}")
    elif args.action == "project":
        # The Playground's map as a table (word,x,y): the given words, else the most frequent.
        points = emb.project_2d(vectors, vocab, method=args.method, words=args.words or None)
        points.to_csv(output_file(args.output, args) if args.output else sys.stdout, index=False, float_format="%.5g")
        if args.output:
            print(f"wrote {len(points):,} points ({args.method}) to {args.output}")
    else:
        n = emb.export_word2vec_text(export_to, vocab, vectors)
        print(f"wrote {n:,} vectors of dimension {vectors.shape[1]} to {args.words[0]}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from core.registry import DATASETS

    if args.action == "list":
        print(f"{'name':14} {'tasks':32} description")
        for comp in DATASETS:
            print(f"{comp.name:14} {','.join(comp.meta.get('tasks', ())):32} {comp.help}")
        return 0
    from core.data.files import describe_file

    if not args.path:
        raise WorkbenchError("`lmwb data show` needs a FILE")
    print(json.dumps(describe_file(args.path), indent=2, default=str))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    """Print parameter declarations: the same ones the UI form and sweeps use."""
    from core.config import SECTION_REGISTRIES, TRAINING_PARAMS

    sections = [args.section] if args.section else [*SECTION_REGISTRIES, "training"]
    for section in sections:
        if section == "training":
            comps = [("training", TRAINING_PARAMS, "the training loop")]
        elif section in SECTION_REGISTRIES:
            reg = SECTION_REGISTRIES[section]
            names = [args.name] if args.name else [c.name for c in reg]
            comps = [(n, reg.get(n).params, reg.get(n).help) for n in names]
        else:
            raise WorkbenchError(f"unknown section {section!r}; choose from {', '.join([*SECTION_REGISTRIES, 'training'])}")
        for name, params, help_text in comps:
            print(f"[{section}] {name}: {help_text}")
            for p in params:
                print(f"  {section}.{p.name} = {p.default!r:<12} {p.allowed():<40} {p.help}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """`lmwb sweep create|start|status|stop|best|worker` (see core/sweep.py)."""
    from core import sweep as sw

    store = _store(args)
    if args.action == "create":
        from core.config import (
            absolute_file_paths,
            apply_overrides,
            default_config,
            load_config_file,
        )

        settings = sw.load_space_file(args.space) if args.space else {}
        if "space" not in settings:
            raise WorkbenchError("`lmwb sweep create` needs --space FILE (YAML: section.param: {low, high} or {choices})")
        base = load_config_file(args.config) if args.config else default_config(args.task)
        pick = lambda flag, key, default=None: flag if flag is not None else settings.get(key, default)  # noqa: E731
        timeout_min = pick(args.timeout_min, "timeout_min")
        spec = sw.build_spec(
            absolute_file_paths(apply_overrides(base, args.set or [])), settings["space"],
            method=pick(args.method, "method", "tpe"), metric=pick(args.metric, "metric"),
            direction=pick(args.direction, "direction"), n_trials=pick(args.trials, "trials"),
            timeout_s=None if timeout_min is None else float(timeout_min) * 60,
            pruner=pick(args.pruner, "pruner"), seed=pick(args.seed, "seed", 0),
            workers=pick(args.workers, "workers", 1),
        )
        record = sw.create_sweep(store, spec, name=pick(args.name, "name"))
        print(f"sweep {record.id} ({record.name}) created in {store.url}")
        print(f"  method {spec.method}, objective {spec.direction} val {spec.metric}, "
              f"pruner {spec.pruner['name']}, expected trials {spec.expected_trials() or 'until the time limit'}")
        for line in sw.describe_space(spec.search_space()):
            print(f"  {line}")
        print(f"start it with: lmwb sweep start {record.id} [--workers N]")
        return 0
    if args.action == "status" and not args.sweep:
        sweeps = store.list_sweeps()
        if not sweeps:
            print("no sweeps yet: try `lmwb sweep create --space space.yaml`")
        for s in sweeps:
            print(f"{s.id:10} {s.name[:28]:28} {s.status:10} {s.spec.get('method', ''):7} "
                  f"{s.trials_claimed:>4}/{s.spec.get('n_trials') or '-'} trials")
        return 0
    if not args.sweep:
        raise WorkbenchError(f"`lmwb sweep {args.action}` needs a SWEEP id or name")
    if args.action == "start":
        if args.detach:
            sw.start_sweep(store, args.sweep)
            proc = sw.spawn_driver(store, args.sweep, args.workers)
            print(f"sweep {args.sweep} started in the background (pid {proc.pid}); "
                  f"watch it with `lmwb sweep status {args.sweep}`")
            return 0

        def on_trial(trial: Any) -> None:
            value = "" if trial.value is None else f" {trial.value:.4f}"
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
            print(f"trial {trial.number} {sw.trial_status(trial)}{value} ({params})", flush=True)

        final = sw.run_local(store, args.sweep, args.workers, on_trial=on_trial)
        print(f"sweep {final.id}: {final.status}" + (f" ({final.error})" if final.error else ""))
        return _print_best(sw, store, final.id)
    if args.action == "worker":
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s")
        print(f"sweep worker on {store.url}: running trials of {args.sweep}", flush=True)
        done = sw.worker_main(store, args.sweep, slot=args.slot)
        record = store.get_sweep(args.sweep)
        print(f"sweep worker exiting after {done} trial(s); sweep {record.id} is {record.status}"
              + (f" (resume it with `lmwb sweep start {record.id}`)" if record.status in ("stopped", "failed") else ""))
        return 0
    if args.action == "stop":
        record = sw.stop_sweep(store, args.sweep)
        print(f"sweep {record.id}: {record.status}; running trials stop after their current step")
        return 0
    if args.action == "status":
        info = sw.sweep_status(store, args.sweep)
        record, spec = info["sweep"], info["spec"]
        counts = ", ".join(f"{v} {k}" for k, v in info["counts"].items() if v)
        print(f"sweep {record.id} ({record.name}): {record.status} | {spec.method}, {spec.direction} "
              f"val {spec.metric} | {info['trials']} of {info['expected_trials'] or '?'} trials"
              + (f" ({counts})" if counts else ""))
        print(sw.format_trials(sw.trials_frame(store, record)))
        return _print_best(sw, store, record.id)
    if args.action == "best":
        code = _print_best(sw, store, args.sweep, show_config=True,
                           output=output_file(args.output, args) if args.output else None)
        if args.promote:
            run = sw.promote_best(store, args.sweep)
            print(f"queued run {run.id} ({run.name}) from the best trial; a worker (`lmwb worker`) trains it")
        return code
    raise WorkbenchError(f"unknown sweep action {args.action!r}")


def _print_best(sw: Any, store: Any, ref: str, *, show_config: bool = False, output: Path | None = None) -> int:
    import yaml

    record = store.get_sweep(ref)
    best = sw.best_trial(store, record)
    if best is None:
        print("no complete trial yet")
        return 0
    metric = record.spec.get("metric")
    print(f"best: trial {best['trial']} val {metric} {best['value']:.4f} (run {best['run_id']}) "
          + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items()))
    if output:
        Path(output).write_text(yaml.safe_dump(best["config"], sort_keys=False))
        print(f"wrote the best config to {output}")
    elif show_config:
        print(yaml.safe_dump(best["config"], sort_keys=False), end="")
    return 0


def ui_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line of the app (shared with the browser tests)."""
    main = Path(__file__).resolve().parents[1] / "app" / "main.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(main),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]


def ui_environment(base: dict[str, str]) -> dict[str, str]:
    """The app server's environment: ``base`` plus defaults it does not set.

    Streamlit sends every table through Arrow, whose default allocator (mimalloc) keeps freed
    memory for reuse; the system allocator hands it back (measured: about 8 MB less resident
    after visiting every page), and the tables the app sends are far too small to feel it.
    """
    return {"ARROW_DEFAULT_MEMORY_POOL": "system", **base}


def cmd_ui(args: argparse.Namespace) -> int:
    import os
    import subprocess

    env = dict(os.environ)
    if args.store:
        env["LMWB_STORE"] = args.store
    if args.home:
        env["LMWB_HOME"] = args.home
    print(f"LM Workbench at http://{args.host}:{args.port}", flush=True)
    return subprocess.call(ui_command(args.host, args.port), env=ui_environment(env))


def build_parser() -> argparse.ArgumentParser:
    from core.decoding import settings as decoding

    parser = argparse.ArgumentParser(prog="lmwb", description="LM Workbench: train, compare and look inside language models.")
    parser.add_argument("--store", help="database URL (default: SQLite in the workbench home; env LMWB_STORE)")
    parser.add_argument("--home", help="workbench home folder for the store and run folders (env LMWB_HOME)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a config file and/or --set overrides")
    p.add_argument("--config", help="YAML or JSON run config")
    p.add_argument("--task", default="classification", help="task whose defaults to start from when no --config")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--name", help="run name")
    p.add_argument("--tag", action="append", help="tag the run (repeatable)")
    p.add_argument("--queue", action="store_true", help="only queue the run for a worker")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("resume", help="continue a stopped or failed run from its last checkpoint")
    p.add_argument("run")
    p.add_argument("--force", action="store_true", help="resume even a completed run")
    p.add_argument("--queue", action="store_true", help="only queue it for a worker instead of training here")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("worker", help="train queued runs in this process, one at a time")
    p.add_argument("--once", action="store_true", help="train at most one run, then exit")
    p.add_argument("--idle-exit", type=number(float, 0, 1e7, above=True), metavar="S",
                   help="exit after S seconds without queued runs")
    p.add_argument("--poll", type=number(float, 0.01, 3600), default=0.5, metavar="S",
                   help="how often to look at the queue (default 0.5)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("runs", help="list, show, stop, export or delete runs")
    p.add_argument("action", choices=["list", "show", "delete", "stop", "export"])
    p.add_argument("run", nargs="?", help="run id (or unique prefix, or name)")
    p.add_argument("--status")
    p.add_argument("--task")
    p.add_argument("--limit", type=number(int, 1))
    p.add_argument("--yes", action="store_true", help="delete without asking even if running")
    p.add_argument("--output", "-o", help="CSV path for export")
    p.set_defaults(func=cmd_runs)

    for name, func, help_text in (
        ("predict", cmd_predict, "classify texts with a trained run"),
        ("generate", cmd_generate, "generate text with a trained language model"),
        ("eval", cmd_eval, "score a trained run on a data file"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("run")
        p.add_argument("--checkpoint", choices=["best", "last"], default="best")
        if name == "predict":
            p.add_argument("text", nargs="*", help="texts (default: one per line on stdin)")
        elif name == "generate":
            p.add_argument("--prompt", default="")
            for param in decoding.SAMPLING:
                aliases = ("--max-tokens",) if param is decoding.MAX_NEW_TOKENS else ()
                # No --seed: a fresh sample each call, as a person at a terminal expects.
                add_param_flag(p, param, *aliases, **({"default": None} if param is decoding.SEED else {}))
            p.add_argument("-n", type=number(int, 1, 1000), default=1, help="number of samples")
        else:
            p.add_argument("--data", help="CSV/TSV/JSONL/TXT file, plain or .gz (translation: source and target columns)")
            p.add_argument("--source", help="translation: source sentences, one per line (with --target)")
            p.add_argument("--target", help="translation: reference translations aligned with --source")
            add_param_flag(p, decoding.BEAM_SIZE, "--beam", default=None)  # None: the run's task.beam_size
            p.add_argument("--text-column")
            p.add_argument("--label-column")
        p.set_defaults(func=func)

    p = sub.add_parser("embeddings", help="word vectors of a run: neighbours, analogy, similarity, export, 2-D map")
    p.add_argument("run")
    p.add_argument("action", choices=["neighbours", "analogy", "similarity", "export", "project"])
    p.add_argument("words", nargs="*", metavar="ARG", help="neighbours WORD | analogy A B C (A:B :: C:?) | similarity W1 W2 | export PATH | project [WORD ...] (default: the 300 most frequent)")
    p.add_argument("--method", choices=["pca", "tsne"], default="pca", help="project: PCA (default) or t-SNE")
    p.add_argument("--output", "-o", metavar="FILE.csv", help="project: write word,x,y here (default: print)")
    p.add_argument("-k", type=number(int, 1, 10_000), default=10, help="how many words to list (default 10)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_embeddings)

    p = sub.add_parser("translate", help="translate texts with a trained translation run")
    p.add_argument("run")
    p.add_argument("text", nargs="*", help="source texts (default: one per line on stdin)")
    # Unset beam settings fall back to the run's own task.beam_size / task.length_penalty.
    add_param_flag(p, decoding.BEAM_SIZE, "--beam", default=None)
    add_param_flag(p, decoding.LENGTH_PENALTY, default=None)
    add_param_flag(p, decoding.MAX_OUTPUT_TOKENS, "--max-len")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("fill-mask", help="guess the masked tokens of a text with a trained masked_lm run")
    p.add_argument("run")
    p.add_argument("text", nargs="*", help="texts with [MASK] where a token is hidden (default: one per line on stdin)")
    p.add_argument("-k", type=number(int, 1, 1000), default=5, help="guesses per mask (default 5)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_fill_mask)

    p = sub.add_parser("data", help="built-in datasets and file previews")
    p.add_argument("action", choices=["list", "show"])
    p.add_argument("path", nargs="?")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("params", help="show declared hyperparameters (what --set accepts)")
    p.add_argument("section", nargs="?")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_params)

    p = sub.add_parser("sweep", help="hyperparameter sweeps: create, start, status, stop, best, worker")
    p.add_argument("action", choices=["create", "start", "status", "stop", "best", "worker"])
    p.add_argument("sweep", nargs="?", help="sweep id (or unique prefix, or name)")
    # Also accepted after the subcommand (`lmwb sweep worker S --store URL`); SUPPRESS keeps
    # the global value when they are not given here.
    p.add_argument("--store", default=argparse.SUPPRESS, help="database URL shared by all workers")
    p.add_argument("--home", default=argparse.SUPPRESS, help="workbench home folder")
    p.add_argument("--config", help="create: base run config (YAML/JSON); default: the task's defaults")
    p.add_argument("--task", default="classification", help="create: task whose defaults to start from")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="create: override a base config value")
    p.add_argument("--space", help="create: search space YAML (section.param: {low, high, log} | {choices}; when: ...)")
    p.add_argument("--method", choices=["grid", "random", "tpe", "gp"], help="create: search method (default tpe)")
    p.add_argument("--metric", help="create: validation metric to optimise (default: the task's)")
    p.add_argument("--direction", choices=["maximize", "minimize", "max", "min"], help="create: default from the metric")
    p.add_argument("--trials", type=number(int, 1), help="create: number of trials (grid: default the grid size)")
    p.add_argument("--timeout-min", type=number(float, 0, 1e6, above=True),
                   help="create: time limit in minutes (no new trial after it)")
    p.add_argument("--pruner", choices=["none", "median", "successive_halving", "hyperband"], help="create: default none")
    p.add_argument("--seed", type=SEED, help="create: sampler seed (default 0)")
    p.add_argument("--workers", type=number(int, 1, 64), help="create: default parallelism; start: local worker processes")
    p.add_argument("--name", help="create: sweep name")
    p.add_argument("--detach", action="store_true", help="start: run the workers in the background and return")
    p.add_argument("--promote", action="store_true", help="best: queue a full run from the best trial's config")
    p.add_argument("--output", "-o", help="best: write the best config to this YAML file")
    p.add_argument("--slot", type=int, help=argparse.SUPPRESS)  # set by the local driver: sampler seed
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("ui", help="start the browser workbench")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    p.add_argument("--port", type=number(int, 1, 65535), default=8501)
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a refused flag (2), already printed by argparse
        return int(exc.code or 0)
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


if __name__ == "__main__":
    sys.exit(main())
