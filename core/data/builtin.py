"""Built-in datasets that need no network and no files: generated, or made from Python itself.

Generated sets depend only on their parameters (``data_seed`` included), never on the run's
training seed, so runs that differ only in their seed train on the same examples; the run's
seed picks the validation rows of the classification sets, as it does for files.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from core.data import sentiment as sentiment_words
from core.data.splits import split_indices, split_text
from core.data.types import DatasetSplits, Split
from core.errors import ConfigError, DataError
from core.params import Param, validate_params
from core.registry import DATASETS

Factory = Callable[..., DatasetSplits]

# name -> {"tasks", "help", "size"}: what `lmwb data list` prints, without loading the registry.
_BUILTINS: dict[str, dict[str, Any]] = {}


def _register(
    name: str, params: tuple[Param, ...], help: str, tasks: tuple[str, ...], size: str, label: str
) -> Callable[[Factory], Factory]:
    def decorate(fn: Factory) -> Factory:
        @functools.wraps(fn)
        def factory(params_in: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
            if task not in tasks:
                raise ConfigError(
                    "data.name", name, f"a dataset for {task}", reason=f"{name} has only {', '.join(tasks)} data"
                )
            values = validate_params(params, {k: v for k, v in params_in.items() if k != "name"}, "data")
            return fn(values, task=task, seed=seed)

        _BUILTINS[name] = {"name": name, "tasks": list(tasks), "help": help, "size": size}
        return DATASETS.register(name, params=params, help=help, tasks=tasks, label=label)(factory)

    return decorate


def list_builtin() -> list[dict[str, Any]]:
    """Built-in datasets: name, tasks, one-line help and default size."""
    return [dict(info) for info in _BUILTINS.values()]


def _fraction_params(val: float = 0.1) -> tuple[Param, ...]:
    return (
        Param("val_fraction", "float", val, "Share of the examples held out for validation.", low=0.01, high=0.5, sweepable=False, label="Validation share"),
        Param("test_fraction", "float", 0.0, "Share held out as a test split (0: none).", low=0.0, high=0.5, sweepable=False, label="Test share"),
    )


_DATA_SEED = Param(
    "data_seed", "int", 0, "Seed of the generator (fixed by default so every run sees the same data).",
    low=0, high=2**31 - 1, sweepable=False, label="Data seed",
)


def _labeled_splits(
    texts: list[str], labels: list[int], names: list[str], p: dict[str, Any], seed: int,
    description: str, notes: list[str], negated: list[bool] | None = None,
) -> DatasetSplits:
    """Stratified splits. ``negated``: per example, whether its label rests on a negation; the
    validation examples' flags go to ``extras["negated"]`` (the negation_accuracy metric)."""
    tr, va, te = split_indices(len(texts), p["val_fraction"], p["test_fraction"], seed, labels=labels)

    def part(idx: list[int]) -> Split:
        return Split([texts[i] for i in idx], [labels[i] for i in idx])

    return DatasetSplits(
        task="classification",
        train=part(tr),
        validation=part(va),
        test=part(te) if te else None,
        label_names=names,
        description=description,
        notes=notes,
        extras={"negated": [bool(negated[i]) for i in va]} if negated is not None else {},
    )


def _balanced_labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Exactly balanced (up to n % k) labels in random order."""
    return rng.permutation(np.arange(n) % k)


def _flip(rng: np.random.Generator, labels: np.ndarray, k: int, rate: float) -> tuple[np.ndarray, int]:
    """Label noise: a ``rate`` share of labels moved to another class (so 100% is not possible)."""
    noisy = rng.random(len(labels)) < rate
    shift = rng.integers(1, k, size=len(labels))
    out = np.where(noisy, (labels + shift) % k, labels)
    return out, int(noisy.sum())


def _words(text: str, sep: str | None = None) -> list[str]:
    """Word lists written as one string: easier to read and edit than a list literal."""
    return text.split(sep)


def _pick(rng: np.random.Generator, items: list[str] | tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


# -- sentiment --------------------------------------------------------------------------------
# The word lists and templates live in core/data/sentiment.py.

_SENTIMENT_PARAMS = (
    Param("n_examples", "int", 4000, "Number of generated reviews.", low=100, high=500_000, log=True, sweepable=False, label="Examples", essential=True),
    Param("label_noise", "float", 0.03, "Share of labels flipped at random (keeps 100% out of reach).", low=0.0, high=0.4, sweepable=False, label="Label noise"),
    *_fraction_params(),
    _DATA_SEED,
)


@_register(
    "sentiment", _SENTIMENT_PARAMS, label="Sentiment reviews",
    help="Generated reviews of films, books and products, negative/positive, with intensifiers, negation and contrast (offline)",
    tasks=("classification", "word_embeddings", "masked_lm"), size="4,000 sentences, 2 classes",
)
def sentiment(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    rng = np.random.default_rng([p["data_seed"], 101])
    clean = _balanced_labels(rng, p["n_examples"], 2)
    reviews = [sentiment_words.review(rng, bool(y)) for y in clean]
    texts = [text for text, _ in reviews]
    labels, flipped = _flip(rng, clean, 2, p["label_noise"])
    return _labeled_splits(
        texts, labels.tolist(), ["negative", "positive"], p, seed,
        description=(
            f"sentiment: {len(texts):,} generated reviews (negative/positive) of films, books, "
            "products and places, over a vocabulary of about 2,000 words. Intensifiers ('utterly "
            "charming'), negation ('not a good film at all', 'hardly a masterpiece') and contrast "
            "('..., but ...') decide the label, so word order matters and a bag of words falls short."
        ),
        notes=[f"{flipped} labels flipped on purpose (label_noise={p['label_noise']:g})"],
        negated=[negated for _, negated in reviews],
    )


# -- topics -----------------------------------------------------------------------------------

_TOPIC_NAMES = ["arts", "business", "science", "sports"]
_TOPIC_WORDS: dict[str, dict[str, list[str]]] = {
    "sports": {
        "agent": _words("the striker|the coach|the goalkeeper|the captain|the sprinter|the referee|the midfielder|the champion|the rookie|the veteran", "|"),
        "verb": _words("scored|defended|won|lost|trained for|qualified for|dominated|tied|withdrew from|celebrated", "|"),
        "obj": _words("the final|the match|the title|the tournament|the league|the derby|the relay|the championship|the playoff|the penalty", "|"),
        "word": _words("goal|stadium|fans|injury|halftime|coach|medal|olympic|transfer|club|season|team|score|race|marathon", "|"),
    },
    "science": {
        "agent": _words("the researchers|the physicist|the lab|the biologist|the astronomers|the chemist|the team of scientists|the geologist|the engineers|the study", "|"),
        "verb": _words("discovered|measured|observed|published|tested|simulated|sequenced|detected|modeled|confirmed", "|"),
        "obj": _words("the protein|a new species|the particle|the galaxy|the enzyme|the fossil|the vaccine|the climate data|the genome|the experiment", "|"),
        "word": _words("theory|molecule|telescope|cells|hypothesis|quantum|data|peer|journal|orbit|dna|evidence|model|energy|laboratory", "|"),
    },
    "business": {
        "agent": _words("the company|the investors|the startup|the bank|the ceo|the retailer|the regulators|the shareholders|the firm|the analysts", "|"),
        "verb": _words("acquired|reported|invested in|cut|raised|launched|merged with|forecast|sold|restructured", "|"),
        "obj": _words("the quarterly profit|the shares|the merger|the new product|the loan|the dividend|the budget|the revenue|the market share|the contract", "|"),
        "word": _words("market|stock|earnings|growth|inflation|customers|prices|deal|economy|record|quarter|sales|trade|costs|profit", "|"),
    },
    "arts": {
        "agent": _words("the painter|the orchestra|the director|the novelist|the gallery|the choreographer|the poet|the actress|the band|the museum", "|"),
        "verb": _words("premiered|exhibited|composed|painted|staged|performed|curated|wrote|directed|restored", "|"),
        "obj": _words("the symphony|the exhibition|the opera|the sculpture|the novel|the portrait|the ballet|the album|the play|the installation", "|"),
        "word": _words("stage|canvas|audience|critics|festival|gallery|melody|theater|award|star|performance|premiere|poetry|record|studio", "|"),
    },
}
# Words every topic uses, so single words rarely settle the class.
_SHARED = _words(
    "on monday|this week|after months of work|in london|according to reports|despite the rain|"
    "for the first time|in a surprise move|late last night|again|once more|in the capital|"
    "after a long delay|with little warning|as expected",
    "|",
)
_SHARED_WORDS = _words("new|big|local|national|major|young|team|year|plan|result|win|record|star|model|growth|performance", "|")


def _topic_sentence(rng: np.random.Generator, topic: str, other: str) -> str:
    words = _TOPIC_WORDS[topic]
    # About one slot in seven comes from another topic: a distractor to be outvoted.
    def slot(kind: str) -> str:
        src = _TOPIC_WORDS[other] if rng.random() < 0.15 else words
        return _pick(rng, src[kind])

    parts = [slot("agent"), slot("verb"), slot("obj")]
    if rng.random() < 0.7:
        parts.append(_pick(rng, _SHARED))
    tail = rng.random()
    if tail < 0.5:
        parts.append(f", citing the {_pick(rng, _SHARED_WORDS)} {slot('word')}")
    elif tail < 0.8:
        parts.append(f"amid talk of {_pick(rng, _SHARED_WORDS)} {slot('word')} and {slot('word')}")
    return " ".join(parts) + " ."


_TOPIC_PARAMS = (
    Param("n_examples", "int", 4000, "Number of generated headlines.", low=100, high=500_000, log=True, sweepable=False, label="Examples", essential=True),
    Param("label_noise", "float", 0.03, "Share of labels moved to another topic at random.", low=0.0, high=0.4, sweepable=False, label="Label noise"),
    *_fraction_params(),
    _DATA_SEED,
)


@_register(
    "topics", _TOPIC_PARAMS, label="News topics",
    help="Generated news sentences in 4 topics: arts, business, science, sports (offline)",
    tasks=("classification", "word_embeddings", "masked_lm"), size="4,000 sentences, 4 classes",
)
def topics(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    rng = np.random.default_rng([p["data_seed"], 202])
    k = len(_TOPIC_NAMES)
    clean = _balanced_labels(rng, p["n_examples"], k)
    texts = []
    for y in clean:
        other = _TOPIC_NAMES[(int(y) + int(rng.integers(1, k))) % k]
        texts.append(_topic_sentence(rng, _TOPIC_NAMES[int(y)], other))
    labels, flipped = _flip(rng, clean, k, p["label_noise"])
    return _labeled_splits(
        texts, labels.tolist(), list(_TOPIC_NAMES), p, seed,
        description=(
            f"topics: {len(texts):,} generated news sentences in 4 balanced topics "
            "(arts, business, science, sports) with shared and cross-topic distractor words."
        ),
        notes=[f"{flipped} labels moved on purpose (label_noise={p['label_noise']:g})"],
    )


# -- python_docs ------------------------------------------------------------------------------

# Pure standard-library modules, imported in this order. A module missing from a trimmed
# Python build is skipped; the text is deterministic for a given Python version and build.
_DOC_MODULES = tuple(sorted({
    "_pyio", "abc", "argparse", "ast", "asyncio.base_events", "asyncio.events", "asyncio.futures",
    "asyncio.locks", "asyncio.protocols", "asyncio.queues", "asyncio.streams", "asyncio.tasks",
    "asyncio.transports", "base64", "binascii", "bisect", "builtins", "bz2", "calendar", "cmath",
    "cmd", "code", "codecs", "codeop", "collections", "collections.abc", "colorsys", "compileall",
    "concurrent.futures._base", "concurrent.futures.process", "concurrent.futures.thread",
    "configparser", "contextlib", "contextvars", "copy", "copyreg", "csv", "ctypes",
    "dataclasses", "datetime", "decimal", "difflib", "dis", "doctest", "email.charset",
    "email.contentmanager", "email.feedparser", "email.generator", "email.header",
    "email.headerregistry", "email.message", "email.parser", "email.policy", "email.utils",
    "enum", "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt",
    "gettext", "glob", "graphlib", "gzip", "hashlib", "heapq", "hmac", "html.parser",
    "http.client", "http.cookiejar", "http.cookies", "http.server", "imaplib", "importlib.abc",
    "importlib.util", "inspect", "io", "ipaddress", "itertools", "json", "keyword", "linecache",
    "locale", "logging", "logging.config", "logging.handlers", "lzma", "mailbox", "math",
    "mimetypes", "modulefinder", "netrc", "numbers", "operator", "optparse", "os", "pathlib",
    "pdb", "pickle", "pickletools", "pkgutil", "platform", "plistlib", "poplib", "pprint",
    "profile", "pstats", "py_compile", "pyclbr", "pydoc", "queue", "quopri", "random", "re",
    "reprlib", "rlcompleter", "runpy", "sched", "secrets", "selectors", "shelve", "shlex",
    "shutil", "smtplib", "socket", "socketserver", "statistics", "string", "struct",
    "subprocess", "symtable", "sysconfig", "tabnanny", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "token", "tokenize", "trace", "traceback", "types", "typing",
    "unittest.case", "unittest.loader", "unittest.mock", "unittest.result", "unittest.runner",
    "unittest.suite", "urllib.error", "urllib.parse", "urllib.request", "urllib.robotparser",
    "uuid", "warnings", "weakref", "wsgiref.handlers", "wsgiref.headers",
    "wsgiref.simple_server", "xml.dom.minidom", "xml.dom.pulldom", "xml.etree.ElementTree",
    "xml.sax", "xml.sax.handler", "xml.sax.saxutils", "xmlrpc.client", "xmlrpc.server",
    "zipfile", "zipimport",
}))


def _members(mod: Any) -> list[Any]:
    """The module, then its own public classes and functions (and their methods), by name."""
    out: list[Any] = [mod]
    for name in sorted(vars(mod)):
        obj = vars(mod)[name]
        if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue
        if inspect.isclass(obj):
            out.append(obj)
            out.extend(
                member for attr, member in sorted(vars(obj).items())
                if not attr.startswith("_") and (inspect.isroutine(member) or isinstance(member, property))
            )
        elif inspect.isroutine(obj):
            out.append(obj)
    return out


@functools.lru_cache(maxsize=1)
def _python_docs_text() -> str:
    seen: set[str] = set()
    docs: list[str] = []
    # Deprecation notices (e.g. typing.io) are not our business here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in _DOC_MODULES:
            try:
                mod = importlib.import_module(module)
            except ImportError:
                continue
            for obj in _members(mod):
                doc = inspect.getdoc(obj)
                # Very short docstrings are mostly "Return self." noise.
                if doc and len(doc) >= 40 and doc not in seen:
                    seen.add(doc)
                    docs.append(doc)
    return "\n\n".join(docs) + "\n"


_DOCS_PARAMS = (
    Param("max_chars", "int", 1_000_000, "Cap on the corpus size in characters (cut at a paragraph end).", low=10_000, high=5_000_000, log=True, sweepable=False, label="Max characters", essential=True),
    *_fraction_params(),
)


@_register(
    "python_docs", _DOCS_PARAMS, label="Python docstrings",
    help="English prose: docstrings of the Python standard library (offline)",
    tasks=("language_model", "word_embeddings", "masked_lm"), size="about 1,000,000 characters",
)
def python_docs(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    text = _python_docs_text()
    if len(text) < 10_000:
        raise DataError("python_docs", "the standard library has no docstrings here (is Python running with -OO?)")
    full = len(text)
    if len(text) > p["max_chars"]:
        cut = text.rfind("\n\n", 0, p["max_chars"])
        text = text[: cut if cut > 0 else p["max_chars"]] + "\n"
    train, val, test = split_text(text, p["val_fraction"], p["test_fraction"])
    return DatasetSplits(
        task="language_model",
        train=Split([train]),
        validation=Split([val]),
        test=Split([test]) if test else None,
        description=(
            f"python_docs: {len(text):,} characters of docstrings from {len(_DOC_MODULES)} Python "
            "standard-library modules; contiguous split (first part trains)."
        ),
        notes=[f"corpus of {full:,} characters capped at {len(text):,} (max_chars)"] if full > len(text) else [],
    )


# -- arithmetic -------------------------------------------------------------------------------

_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}

_ARITH_PARAMS = (
    Param("n_examples", "int", 8000, "Number of distinct problems, one per line.", low=100, high=1_000_000, log=True, sweepable=False, label="Examples", essential=True),
    Param("max_operand", "int", 99, "Operands are drawn from 0 to this number.", low=9, high=99_999, log=True, sweepable=False, label="Largest operand", essential=True),
    Param("operations", "str", "+", "Which operations appear.", choices=("+", "+-", "+-*"), sweepable=False, label="Operations", essential=True),
    *_fraction_params(),
    _DATA_SEED,
)


@_register(
    "arithmetic", _ARITH_PARAMS, label="Arithmetic sums",
    help="Lines like 23+58=81: a tiny character-level demo where learning is visible (offline)",
    tasks=("language_model",), size="8,000 lines",
)
def arithmetic(p: dict[str, Any], *, task: str, seed: int) -> DatasetSplits:
    rng = np.random.default_rng([p["data_seed"], 303])
    ops = p["operations"]
    m = p["max_operand"] + 1
    total = m * m * len(ops)
    n = min(p["n_examples"], total)
    # Distinct problems, so no validation line also appears in training.
    picks = rng.choice(total, size=n, replace=False)
    op_idx, rest = np.divmod(picks, m * m)
    a, b = np.divmod(rest, m)
    problems = [
        (f"{x}{ops[o]}{y}=", str(_OPS[ops[o]](x, y)))
        for o, x, y in zip(op_idx.tolist(), a.tolist(), b.tolist(), strict=True)
    ]
    lines = [f"{question}{answer}\n" for question, answer in problems]
    n_train_end = int(n * (1.0 - p["val_fraction"] - p["test_fraction"]))
    n_val_end = n - (n - int(n * (1.0 - p["test_fraction"])) if p["test_fraction"] > 0 else 0)
    train, val, test = lines[:n_train_end], lines[n_train_end:n_val_end], lines[n_val_end:]
    notes = [f"{n:,} of the {total:,} possible problems"]
    if n < p["n_examples"]:
        notes.append(f"n_examples={p['n_examples']} is more than the {total:,} distinct problems; using all")
    return DatasetSplits(
        task="language_model",
        train=Split(["".join(train)]),
        validation=Split(["".join(val)]),
        test=Split(["".join(test)]) if test else None,
        description=(
            f"arithmetic: {n:,} distinct problems like '23+58=81' (operands 0-{p['max_operand']}, "
            f"operations {' '.join(ops)}), one per line; validation problems never occur in training."
        ),
        notes=notes,
        # The validation problems and their answers: the share the model answers right is the
        # sums_right metric (the language-model task decodes each answer greedily).
        extras={"sums": problems[n_train_end:n_val_end]},
    )
