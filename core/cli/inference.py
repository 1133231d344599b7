"""Using a trained run: ``lmwb predict``, ``generate``, ``translate``, ``fill-mask``, ``eval`` (with a
run's low-precision variants: ``--variant int8``, ``eval --speed``)."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli.common import add_param_flag, input_texts, number, open_store, output_file
from core.decoding import settings as decoding
from core.errors import WorkbenchError
from core.metrics.catalog import METRICS, metric_value
from core.metrics.scores import bleu_case_note
from core.qa.retrieval import ENCODERS, RETRIEVERS
from core.variants import BATCHES, PARENT, VARIANTS, load_variant, size_text, speed_table


def cmd_predict(args: argparse.Namespace) -> int:
    from core.runs import load_trained, predict_texts

    texts = input_texts(args)
    if args.variant:
        trained = load_variant(open_store(args), args.run, args.variant, which=args.checkpoint)
    else:
        trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    for text, probs in zip(texts, predict_texts(trained, texts), strict=True):
        best = max(probs, key=probs.__getitem__)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(probs.items(), key=lambda kv: -kv[1]))
        print(f"{best}\t({shown})\t{text}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from core.runs import generate_text, load_trained

    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
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
    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    # `summarise` adds the length controls; unset ones fall back to the run's own settings.
    limits = {"min_len": getattr(args, "min_output_tokens", None), "no_repeat_ngram": getattr(args, "no_repeat_ngram", None)}
    for translation in translate_texts(trained, texts, beam=args.beam_size, max_len=args.max_output_tokens,
                                       length_penalty=args.length_penalty, **limits):
        print(translation)
    return 0


def cmd_fill_mask(args: argparse.Namespace) -> int:
    """Per mask: the k likeliest tokens of a masked_lm run, as ``lmwb embeddings`` lists words."""
    from core.runs import fill_mask, load_trained

    texts = input_texts(args)
    trained = load_trained(open_store(args), args.run, which=args.checkpoint)
    for text in texts:
        guesses = fill_mask(trained, text, args.guesses)
        for n, options in enumerate(guesses, start=1):
            print(f"mask {n} of {len(guesses)} in: {text}")
            for token, prob in options:
                print(f"{prob:7.4f}  {token}")
    return 0

def cmd_eval(args: argparse.Namespace) -> int:
    from core.runs import evaluate_file, load_trained

    if args.variant and args.examples:
        raise WorkbenchError("--examples lists the run's own model's predictions (with their salience); "
                             "leave out --variant, or compare the variant's scores with --variant NAME --with-parent")
    if args.with_parent and not args.variant:
        raise WorkbenchError("--with-parent scores a variant beside its run: give --variant NAME too")
    if args.speed:
        return _speed(args)
    out = output_file(args.examples, args) if args.examples else None  # a bad path fails before any work
    store = open_store(args)
    if args.variant:
        trained = load_variant(store, args.run, args.variant, which=args.checkpoint)
    else:
        trained = load_trained(store, args.run, which=args.checkpoint)
    extra = {}
    if args.text_column:
        extra["text_column"] = args.text_column
    if args.label_column:
        extra["label_column"] = args.label_column
    if out is not None:
        return _write_examples(args, trained, out, extra)
    result = evaluate_file(trained, args.data, source_path=args.source, target_path=args.target,
                           beam=args.beam_size, retriever=args.retriever, encoder=args.encoder, **extra)
    if args.data is None and args.source is None and args.target is None:
        print("scored on the run's validation split (give --data FILE to score another file)")
    if "qa_mrr" in result.metrics:  # qa: which retriever ranked the passages its recall and MRR score
        dense = f"dense retrieval ({args.encoder or 'run'} encoder)"
        print(f"passages ranked by {'BM25' if args.retriever == 'bm25' else dense}")
    if args.with_parent:  # the same rows through the run's own weights, side by side
        parent = evaluate_file(load_variant(store, args.run, PARENT, which=args.checkpoint), args.data, **extra)
        print(f"{'':20} {PARENT:>10} {args.variant:>10}")
        for key, value in result.metrics.items():
            before = metric_value(key, parent.metrics.get(key, float("nan")))
            print(f"{key:20} {before:>10} {metric_value(key, value):>10}")
        return 0
    for key, value in result.metrics.items():  # each in its declared display (0-100 F1 as 76.8%)
        print(f"{key:20} {metric_value(key, value)}")
    confusion = result.details.get("confusion_matrix")
    if confusion:
        labels = [str(name)[:10] for name in confusion["labels"]]
        print("confusion matrix (rows: true, columns: predicted):")
        print(" " * 12 + " ".join(f"{name:>10}" for name in labels))
        for name, row in zip(labels, confusion["matrix"], strict=True):
            print(f"  {name:>10}" + " ".join(f"{v:>10d}" for v in row))
    answers = result.details.get("answers")  # a qa run: a few questions with the gold and predicted answers
    if answers:
        f1 = METRICS["qa_f1"]
        print(f"{result.details.get('questions', '?')} questions; the {len(answers)} answered worst "
              f"(lowest {f1.label}):")
        for row in answers:
            print(f"\nquestion   {row['question']}\ngold       {row['gold']}\nprediction {row['prediction']}"
                  f"  ({f1.label} {f1.shown(100 * row['f1'])})")
    translations = result.details.get("translations")
    if translations:
        scoring = result.details.get("bleu_signature") or result.details.get("rouge") or ""
        what = "documents" if trained.config.task == "summarisation" else "sentences"
        print(f"{result.details.get('sentences', '?')} {what}, {result.details.get('decoding', '')}"
              + (f"; {scoring}" if scoring else ""))
        if note := bleu_case_note(result.metrics, result.details):
            print(note)
        for row in translations:
            print(f"\nsource     {row['source']}\nreference  {row['reference']}\nhypothesis {row['hypothesis']}")
    return 0


def _speed(args: argparse.Namespace) -> int:
    """``lmwb eval RUN --speed``: the run and each variant on the same rows, timed here."""
    if args.source or args.target or args.examples:
        raise WorkbenchError("--speed times a classification run and its variants on its validation split or "
                             "one --data file; --source, --target and --examples do not go with it")
    table = speed_table(open_store(args), args.run, args.data, which=args.checkpoint)
    load = table["load_1min"]
    print(f"{table['processor']}, {_count(table['threads'], 'thread')}"
          + (f", load {load:.2f} (1-minute average)" if load is not None else "")
          + f"; scored on the {table['data']}, examples per second with the text already tokenised")
    metric = table["rows"][0]["metric"]
    rates = " ".join(f"{f'ex/s b{b}':>10}" for b in BATCHES)
    print(f"{'model':8} {metric:>10} {rates} {'size':>10} {'parameters':>12}")
    for row in table["rows"]:
        value = "-" if row["value"] is None else f"{row['value']:.4f}"
        rates = " ".join(f"{row[f'examples_per_s_b{b}']:>10,.0f}" for b in BATCHES)
        print(f"{row['variant']:8} {value:>10} {rates} {size_text(row['bytes']):>10} {row['params']:>12,}")
    print("stored with the run (its summary's `speed`)")
    return 0


def _write_examples(args: argparse.Namespace, trained: Any, out: Any, extra: dict[str, str]) -> int:
    """``lmwb eval --examples OUT.csv``: the Explain page's per-example table, and its slices."""
    from core.examples import example_table, slices

    if trained.config.task == "qa":
        return _write_answers(args, trained, out)

    examples = example_table(trained, args.data, source_path=args.source, target_path=args.target,
                             beam=args.beam_size, **extra)
    # 6 significant digits: a per-example BLEU of 37.99999999 is 38 to anyone reading the file.
    examples.table.rename_axis("example").to_csv(out, float_format="%.6g")
    metric = examples.metric
    source = "the validation split" if examples.data == "validation split" else examples.data
    print(f"{_count(len(examples.table), 'example')} of {source} written to {out}")
    # For generated text, "correct" means the output equals the reference word for word.
    missed = "wrong" if examples.task == "classification" else "not exact"
    for row in slices(examples).to_dict("records"):
        value = row[metric]
        shown = "-" if value is None else f"{value:.4f}"
        name = row["value"] if row["slice"] == "all" else f"{row['slice']} {row['value']}"
        print(f"{name:<32} {_count(row['examples'], 'example'):>14}  {metric} {shown}  {missed} {row['wrong']}")
    return 0


def _write_answers(args: argparse.Namespace, trained: Any, out: Any) -> int:
    """A qa run's ``--examples``: the Explain page's Answers table (core.qa.answers), every
    validation question worst first, and how many answers are right, partly right and wrong."""
    from core.qa.answers import answers_table, outcome_counts
    from core.runs import qa_readings

    if args.data or args.source or args.target:
        raise WorkbenchError("--examples lists a qa run's answers to its own validation questions; leave out "
                             "--data, --source and --target (score another file without --examples)")
    table = answers_table(qa_readings(trained))
    table.to_csv(out, float_format="%.6g")
    print(f"{_count(len(table), 'question')} of the validation split written to {out}, worst first")
    f1, em = METRICS["qa_f1"], METRICS["qa_exact_match"]
    print(f"{f1.label} {f1.shown(table['f1'].mean())} · {em.label} {em.shown(100 * table['exact'].mean())}"
          if len(table) else "no questions")
    counts = outcome_counts(table)
    print(" · ".join(f"{name} {counts[name]:,}" for name in ("right", "partly right", "wrong")))
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def register(sub: Any) -> None:
    """Add this module's commands to the ``lmwb`` parser."""
    for name, func, help_text in (
        ("predict", cmd_predict, "classify texts with a trained run"),
        ("generate", cmd_generate, "generate text with a trained language model"),
        ("eval", cmd_eval, "score a trained run on its validation split or a data file"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("run")
        p.add_argument("--checkpoint", choices=["best", "last"], default="best")
        if name != "generate":
            p.add_argument("--variant", choices=[PARENT, *VARIANTS], help=(
                f"a low-precision variant made by `lmwb quantize` ({PARENT}: the run's own weights)"))
        if name == "predict":
            p.add_argument("text", nargs="*", help="texts (default: one per line on stdin)")
            p.set_defaults(spill="text")
        elif name == "generate":
            p.add_argument("--prompt", default="")
            for param in decoding.SAMPLING:
                aliases = ("--max-tokens",) if param is decoding.MAX_NEW_TOKENS else ()
                # No --seed: a fresh sample each call, as a person at a terminal expects.
                if param is decoding.SEED:
                    add_param_flag(p, param, default=None, default_text="a new random seed each time")
                else:
                    add_param_flag(p, param, *aliases)
            p.add_argument("-n", type=number(int, 1, 1000), default=1, help="number of samples")
        else:
            p.add_argument("--data", help="CSV/TSV/JSONL/TXT file, plain or .gz (translation: source and target "
                                          "columns); without it, or --source/--target, the run's validation split")
            p.add_argument("--source", help="translation: source sentences, one per line (with --target)")
            p.add_argument("--target", help="translation: reference translations aligned with --source")
            add_param_flag(p, decoding.BEAM_SIZE, "--beam", default=None, default_text="the run's task.beam_size")
            p.add_argument("--text-column")
            p.add_argument("--label-column")
            p.add_argument("--retriever", choices=RETRIEVERS, default="bm25",
                           help="qa: what ranks the validation passages for qa_recall_at_1/5 and qa_mrr (bm25, or "
                                "dense: cosine of sentence vectors, see --encoder)")
            p.add_argument("--encoder", choices=ENCODERS, default=None,
                           help="qa with --retriever dense: run (the run's own encoder, default) or minilm")
            p.add_argument("--with-parent", action="store_true",
                           help="with --variant: score the run's own weights on the same rows, side by side")
            p.add_argument("--speed", action="store_true",
                           help="time the run and each of its variants here: examples per second at batch 1 and "
                                "32, size on disk, parameters, the metric on the same rows; stored with the run")
            p.add_argument("--examples", metavar="OUT.csv",
                           help="write every example (label, prediction, confidence, loss; translation: BLEU, "
                                "chrF; summarisation: ROUGE) to this CSV file; without --data, the run's "
                                "validation split")
        p.set_defaults(func=func)

    for verb, what in (("translate", "translate texts with a trained translation run"),
                       ("summarise", "summarise documents with a trained summarisation run")):
        p = sub.add_parser(verb, help=what)
        p.add_argument("run")
        p.add_argument("text", nargs="*", help="source texts (default: one per line on stdin)")
        p.set_defaults(spill="text")
        # Unset decoding settings fall back to the run's own task.beam_size, task.length_penalty...
        for param in decoding.TRANSLATION if verb == "translate" else decoding.SUMMARISATION:
            if param is decoding.MAX_OUTPUT_TOKENS:
                add_param_flag(p, param, "--max-len")
            else:
                add_param_flag(p, param, *(("--beam",) if param is decoding.BEAM_SIZE else ()), default=None,
                               default_text=f"the run's task.{param.name}")
        p.add_argument("--checkpoint", choices=["best", "last"], default="best")
        p.set_defaults(func=cmd_translate)

    p = sub.add_parser("fill-mask", help="guess the masked tokens of a text with a trained masked_lm run")
    p.add_argument("run")
    p.add_argument("text", nargs="*", help="texts with [MASK] where a token is hidden (default: one per line on stdin)")
    p.set_defaults(spill="text")
    add_param_flag(p, decoding.GUESSES, "-k")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_fill_mask)

