"""Run life cycle on top of the store: create, execute, reload for prediction, evaluate.

The CLI, the worker processes and the pages all go through these few functions.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import torch
from torch import nn

from core import checkpoint as ckpt
from core.assemble import build_task, load_dataset
from core.config import RunConfig, processes_wanted, validate_config
from core.data.types import DatasetSplits
from core.decoding import settings as decoding
from core.device import pick_device, visible_gpu_ids
from core.distill.distiller import attach_teacher
from core.distill.teacher import find_teacher, link_teacher
from core.errors import DataError, WorkbenchError
from core.export.live import finish as finish_trackers
from core.export.live import live_sink
from core.finetune import link_parent
from core.jobs.liveness import worker_label
from core.metrics.catalog import METRICS, metric_value
from core.models.sentence import minilm_encoder
from core.qa.retrieval import ENCODERS, RETRIEVERS, Encoder
from core.registry import TASKS
from core.run_guard import RunGuard, StopEvent
from core.store import Run, Store
from core.store.claims import Claim, ClaimedRun, ClaimLost
from core.strategies import DDP
from core.strategies.group import Ranks, first_line, is_comm_failure
from core.tasks.base import EvalResult, Task
from core.tokenize import Tokenizer, load_tokenizer
from core.train import Callback, Trainer, TrainResult

if TYPE_CHECKING:  # checked by the run's task name below, not imported: importing registers components
    from core.tasks.classification import ClassificationTask
    from core.tasks.language_model import LanguageModelTask
    from core.tasks.qa import QATask, Reading
    from core.tasks.translation import TranslationTask


def create_run(
    store: Store, config: RunConfig, *, name: str | None = None, tags: Sequence[str] = (),
    status: str = "queued", parent_id: str | None = None, sweep_id: str | None = None,
) -> Run:
    # A fine-tune records the run it starts from (task.init_from_run, resolved to an id).
    config, parent_id = link_parent(store, config, parent_id)
    config = link_teacher(store, config)  # a distilled run names its teacher by id (task.teacher)
    return store.create_run(
        config.to_dict(), name=name, task=config.task, arch=config.arch, status=status,
        tags=list(tags), parent_id=parent_id, sweep_id=sweep_id,
    )


def warm_up() -> None:
    """One tiny optimizer step, so the first real run doesn't pay torch's lazy start-up.

    The first ``Optimizer.step`` in a process imports ``torch._dynamo`` (about 1 s on CPU), and
    the first classification evaluation imports scikit-learn's metrics; done here, while the
    worker is idle, both are off the queue-to-first-loss path. Queue and sweep workers call it.
    """
    with contextlib.suppress(Exception):
        import sklearn.metrics  # noqa: F401  (core.metrics imports it lazily, on first use)
        weight = torch.nn.Parameter(torch.zeros(2))
        optimizer = torch.optim.AdamW([weight], lr=1e-3)
        (weight * 2).sum().backward()
        optimizer.step()


class EventLog(Protocol):
    """Where a run's log lines go: the store, or the store as the run's claim holder sees it
    (:class:`ClaimedRun`, whose writes are fenced)."""

    def log_event(self, run_id: str, level: str, message: str) -> None: ...


class RunLog(Callback):
    """Trainer callback that writes what happened to the run's log: the start (device,
    precision, size, data, notes), each evaluation and checkpoint, a stop seen, the end."""

    def __init__(self, store: EventLog, run_id: str, checkpoints: bool) -> None:
        self.store, self.run_id, self.checkpoints = store, run_id, checkpoints

    def on_start(self, info: dict[str, Any]) -> None:
        data = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in info["data"].items())
        where = f"resumed at step {info['step']}" if info["step"] else "started"
        self._log(f"{where} on {info['device']} ({info.get('precision', 'fp32')}), "
                  f"{info['params']:,} trainable parameters, {info['max_steps']:,} steps; data: {data}")
        for note in info.get("notes", []):
            self._log(f"note: {note}")

    def on_eval(self, step: int, metrics: dict[str, float], details: dict[str, Any]) -> None:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in METRICS and METRICS[k].headline)
        saved = "; checkpoint saved" if self.checkpoints else ""
        self._log(f"evaluation at step {step}: {shown}{saved}")

    def on_stop(self, step: int, by: str) -> None:
        # A request through the store was logged by whoever made it (core.jobs.stop_run).
        asked = f"stop requested by {by}; " if by else "stop request seen: "
        self._log(f"{asked}stopping after step {step}")

    def on_end(self, result: TrainResult) -> None:
        best = (result.summary.get("best") or {})
        metric = str(result.summary.get("metric") or "")
        best_text = (f"; best val {metric} {metric_value(metric, best['value'])} at step {best['step']}"
                     if best.get("value") is not None else "")
        self._log(f"{result.status} at step {result.step}{best_text}")

    def _log(self, message: str) -> None:
        with contextlib.suppress(WorkbenchError):  # a deleted run: nothing to log to
            self.store.log_event(self.run_id, "info", message)


def execute_run(
    store: Store, run_id: str, *, resume: bool = False, callbacks: Sequence[Callback] = (),
    stop_event: threading.Event | None = None, ranks: Ranks | None = None, worker: str | None = None,
    claim: Claim | None = None, also_stop_on: Sequence[threading.Event] = (),
) -> TrainResult:
    """Train a stored run to the end, recording status, errors and metrics in the store.

    Errors are recorded on the run (status failed, readable message) and re-raised.

    ``claim``: this process's claim on the run (a queue worker's, from its claim); without one
    the run is claimed here. Every write for the run is fenced by it (:mod:`core.store.claims`):
    once the run was declared orphaned and taken by another worker, the first write raises
    :class:`ClaimLost`, nothing more is written, and the error says who holds the run now.

    ``ranks``: this process is one of several training the run (:mod:`core.distributed`); rank 0
    records as above, the others only train. A run that asks for several processes is started
    by :func:`core.distributed.launch_run`, never here. ``worker``: the label the run shows
    (default: this process; a launcher passes its own, as it outlives its ranks).

    While it trains, the run's guard (:class:`core.run_guard.RunGuard`) polls its stop flag,
    beats its heartbeat, and stops it when one of ``also_stop_on`` is set (a worker's shutdown).
    """
    run = store.get_run(run_id)
    config = validate_config(run.config)
    if ranks is None and (wanted := processes_wanted(config)) > 1:
        message = (f"the run asks for {wanted} processes (training.nproc_per_node x nnodes): start it with "
                   "`lmwb train`, `lmwb resume` or a worker, which launch torchrun")
        (ClaimedRun(store, claim) if claim else store).set_status(run.id, "failed", error=message)
        raise WorkbenchError(message)
    if ranks is not None and not ranks.is_main:
        trainer = Trainer(config, store.run_dir(run.id), stop_event=stop_event, strategy=DDP(ranks))
        trainer.setup(resume=resume)
        load_teacher(store, trainer)
        return trainer.fit()
    # The stop flag is cleared when a run is queued or resumed, not here: a stop that arrives
    # between a worker's claim and this line must still count.
    if resume and claim is None:
        # Its checkpoints must be here, else it would silently train again from step 1. Asked
        # before claiming: the row still says where the run trained (a claim makes it here).
        store.run_files(run.id)
    writer = ClaimedRun(store, claim or store.take_claim(run.id, worker or worker_label()))
    log = RunLog(writer, run.id, config["training"]["checkpoint"])
    stop = stop_event if stop_event is not None else StopEvent()
    sink: Any = writer
    try:
        with RunGuard(writer, stop, also_stop_on):
            if resume and claim is not None:  # a worker's claim: its files must be on this machine too
                store.run_files(run.id)
            sink = live_sink(writer, run, config)  # the store, plus the live trackers training.trackers asks for
            trainer = Trainer(
                config, store.run_dir(run.id), sink=sink, run_id=run.id, callbacks=[log, *callbacks],
                stop_event=stop, strategy=DDP(ranks) if ranks is not None else None,
            )
            trainer.setup(resume=resume)
            load_teacher(store, trainer, lambda line: writer.log_event(run.id, "info", line))
            writer.update_run(run.id, device=str(trainer.device))
            if trainer.device.type == "cuda":  # which GPUs of the machine it holds (the sidebar's busy/free)
                writer.set_summary(run.id, {"gpus": visible_gpu_ids(), "host": socket.gethostname()})
            result = trainer.fit()
        if writer.lost is not None:  # a write failed quietly (a callback's log line): still lost
            raise writer.lost
    except ClaimLost:
        # Someone else holds the run now: nothing may be written for it, not even "failed"; the
        # error says why, in the worker's log or the terminal.
        finish_trackers(sink, "failed")
        raise
    except BaseException as exc:
        if (lost := _lost(writer)) is not None:  # e.g. a frozen worker whose database session was ended
            finish_trackers(sink, "failed")
            raise lost from exc
        message = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted"
        elif ranks is not None and is_comm_failure(exc):
            message = f"lost contact with another process of this run (it failed or was stopped): {first_line(exc)}"
        with contextlib.suppress(ClaimLost):
            writer.set_status(run.id, "failed", error=message)
            writer.log_event(run.id, "error", message)
            if not isinstance(exc, WorkbenchError | KeyboardInterrupt):
                # A bug, not a problem the user can fix: keep where it happened for a report.
                writer.log_event(run.id, "debug", traceback.format_exc(limit=20))
        finish_trackers(sink, "failed")
        raise
    finish_trackers(sink, result.status)
    if result.reason:
        writer.log_event(run.id, "info", result.reason)
    writer.set_status(run.id, result.status)
    return result


def load_teacher(store: Store, trainer: Trainer, log: Callable[[str], None] | None = None) -> None:
    """A distilled run's teacher (task.teacher), loaded once on the run's device and handed to its
    task (core.distill: frozen, checked against the student, its logits cached); ``log`` gets the
    lines the run's log shows (how long the cache took)."""
    if (found := find_teacher(store, trainer.config)) is not None:  # checked again: it may have gone since
        teacher = load_trained(store, found.id, device=str(trainer.device))
        attach_teacher(trainer.task, teacher.task, teacher.model, teacher.run.id, log)


def _lost(writer: ClaimedRun) -> ClaimLost | None:
    """Whether ``writer`` has lost its claim (asked of the store unless already known): a run
    that failed after that is reported as taken over, and nothing is written for it."""
    if writer.lost is None:
        with contextlib.suppress(Exception):
            writer.check_writable(writer.run_id)
    return writer.lost


@dataclass
class TrainedRun:
    """A finished (or checkpointed) run, ready to predict."""

    run: Run
    config: RunConfig
    tokenizer: Tokenizer
    task: Task
    model: nn.Module
    checkpoint: str  # "best" or "last"
    folder: Path | None = None  # the run's files (its checkpoints: the optimizer's state)


def load_trained(store: Store, run_ref: str, which: str = "best", device: str = "cpu") -> TrainedRun:
    run = store.get_run(run_ref)
    config = validate_config(run.config)
    folder = store.run_files(run.id)
    chosen = which if ckpt.has_checkpoint(folder / "checkpoints" / which) else "last"
    if not ckpt.has_checkpoint(folder / "checkpoints" / chosen):
        raise WorkbenchError(f"run {run.id} has no checkpoint yet (status: {run.status})")
    tokenizer = load_tokenizer(folder / "tokenizer")
    state = json.loads((folder / "task_state.json").read_text())
    dev = pick_device(device)
    task = build_task(config, tokenizer, state, dev)
    task.load_artifacts(folder)  # e.g. a translation run's target tokenizer
    model = task.build_model().to(dev)
    ckpt.load_weights(folder / "checkpoints" / chosen, model, dev)
    model.eval()
    return TrainedRun(run, config, tokenizer, task, model, chosen, folder)


def predict_texts(trained: TrainedRun, texts: list[str]) -> list[dict[str, float]]:
    """Class probabilities per text, keyed by class name."""
    if trained.config.task != "classification":
        raise WorkbenchError(f"run {trained.run.id} is a {trained.config.task} run; predict needs classification")
    probs = cast("ClassificationTask", trained.task).predict_proba(trained.model, texts)
    names = trained.task.state["label_names"]
    return [{names[j]: float(p[j]) for j in range(len(names))} for p in probs]


def generate_text(
    trained: TrainedRun, prompt: str, *, max_new_tokens: int = decoding.MAX_NEW_TOKENS.default,
    temperature: float = decoding.TEMPERATURE.default, top_k: int | None = decoding.TOP_K.default,
    top_p: float | None = decoding.TOP_P.default, greedy: bool = decoding.GREEDY.default, seed: int | None = None,
) -> str:
    if trained.config.task != "language_model":
        raise WorkbenchError(f"run {trained.run.id} is a {trained.config.task} run; generate needs a language model")
    return cast("LanguageModelTask", trained.task).sample(
        trained.model, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
        top_k=top_k, top_p=top_p, greedy=greedy, seed=seed,
    )


def is_seq2seq(task: str) -> bool:
    """Does ``task`` map a source text to a target text (translation, summarisation)?"""
    return task in TASKS.names(seq2seq=True)


def translate_texts(
    trained: TrainedRun, texts: list[str], *, beam: int | None = None, max_len: int | None = None,
    length_penalty: float | None = None, min_len: int | None = None, no_repeat_ngram: int | None = None,
) -> list[str]:
    """Translations (or summaries) of ``texts`` (beam 1: greedy; None: the run's own setting)."""
    if not is_seq2seq(trained.config.task):
        raise WorkbenchError(f"run {trained.run.id} is a {trained.config.task} run; translate and summarise "
                             "need a translation or summarisation run")
    for name, value in (("beam", beam), ("max_len", max_len)):
        if value is not None and value < 1:
            raise WorkbenchError(f"{name} must be at least 1, got {value}")
    for name, value in (("min_len", min_len), ("no_repeat_ngram", no_repeat_ngram)):
        if value is not None and value < 0:
            raise WorkbenchError(f"{name} must be at least 0, got {value}")
    task = cast("TranslationTask", trained.task)  # summarisation's is one too
    return task.translate(
        trained.model, texts, beam_size=beam, max_len=max_len, length_penalty=length_penalty,
        limits=task.limits(min_len, no_repeat_ngram),
    )


# What a user may type for the hidden token, besides the tokenizer's own mask string (which for
# the workbench's tokenizers is "<bos>", a poor thing to ask anyone to type). Case-insensitive.
MASK_PLACEHOLDERS = ("[MASK]", "<mask>")


def mask_literals(tokenizer: Tokenizer) -> list[str]:
    """The strings that ``fill_mask`` reads as the mask: the placeholders, then the tokenizer's own."""
    return list(dict.fromkeys([*MASK_PLACEHOLDERS, tokenizer.id_to_token(tokenizer.mask_id)]))


def _masked_ids(tokenizer: Tokenizer, text: str) -> list[int]:
    """``text``'s ids with every mask literal as ``tokenizer.mask_id``.

    The workbench's tokenizers never turn typed text into a special id, so the pieces between
    masks are encoded one by one and joined with the mask id. A pretrained (Hugging Face)
    tokenizer does parse its own mask token (and adds [CLS]/[SEP] around each call), so when the
    whole text already yields mask ids, those are used as they are.
    """
    literals = mask_literals(tokenizer)
    pattern = re.compile("|".join(re.escape(m) for m in sorted(literals, key=len, reverse=True)), re.IGNORECASE)
    pieces = pattern.split(text)
    if len(pieces) == 1:
        shown = " or ".join(repr(m) for m in literals)
        raise WorkbenchError(f"the text has no mask: type {shown} where a token should be guessed")
    whole = tokenizer.encode(tokenizer.id_to_token(tokenizer.mask_id).join(pieces))
    if tokenizer.mask_id in whole:
        return whole
    ids: list[int] = []
    for i, piece in enumerate(pieces):
        if i < len(pieces) - 1 and tokenizer.kind == "bpe":
            # Byte-level BPE glues a space to the next word (" sat"): the mask stands for that
            # token, so the space typed before the mask must not become a token of its own.
            piece = piece.rstrip()
        ids += tokenizer.encode(piece) if piece else []
        if i < len(pieces) - 1:
            ids.append(tokenizer.mask_id)
    return ids


@torch.no_grad()
def fill_mask(trained: TrainedRun, text: str, k: int = decoding.GUESSES.default) -> list[list[tuple[str, float]]]:
    """For each mask in ``text`` (left to right): the ``k`` likeliest tokens and their
    probabilities, most likely first, from the masked-LM run's own model."""
    if trained.config.task != "masked_lm":
        raise WorkbenchError(f"run {trained.run.id} is a {trained.config.task} run; fill-mask needs a masked_lm run")
    if k < 1:
        raise WorkbenchError(f"k must be at least 1, got {k}")
    tokenizer = trained.tokenizer
    ids = _masked_ids(tokenizer, text)
    longest = int(trained.task.params["max_length"])  # the position table has no room beyond it
    if len(ids) > longest:
        raise WorkbenchError(f"the text is {len(ids)} tokens long; this run reads at most {longest} (task.max_length)")
    device = next(trained.model.parameters()).device
    batch = torch.tensor([ids], dtype=torch.long, device=device)
    select = batch == tokenizer.mask_id
    # select: logits only at the masks, (n_masks, vocab), as in training.
    logits = trained.model(batch, pad_mask=torch.zeros_like(select), select=select)
    probs = torch.softmax(logits.float(), dim=-1)
    top = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [
        [(tokenizer.id_to_token(int(i)), float(p)) for p, i in zip(values.tolist(), index.tolist(), strict=True)]
        for values, index in zip(top.values, top.indices, strict=True)
    ]


def passage_encoder(trained: TrainedRun, encoder: str = "run") -> Encoder:
    """Sentence vectors for dense retrieval: ``run``, the qa run's reader encoder, mean-pooled
    (:meth:`core.tasks.qa.QATask.embed`); ``minilm``, the offline all-MiniLM-L6-v2
    (:mod:`core.models.sentence`)."""
    if encoder not in ENCODERS:
        raise WorkbenchError(f"--encoder {encoder!r}: choose {' or '.join(ENCODERS)}")
    if encoder == "minilm":
        return minilm_encoder(next(trained.model.parameters()).device)
    task, model = cast("QATask", trained.task), trained.model
    return lambda texts: task.embed(model, list(texts))


def check_retriever(retriever: str, encoder: str | None) -> None:
    """A WorkbenchError naming the flag when ``retriever`` or ``encoder`` is not one there is."""
    if retriever not in RETRIEVERS:
        raise WorkbenchError(f"--retriever {retriever!r}: choose {' or '.join(RETRIEVERS)}")
    if encoder is not None and retriever != "dense":
        raise WorkbenchError(f"--encoder {encoder} is for --retriever dense (BM25 reads words, not vectors)")
    if encoder is not None and encoder not in ENCODERS:
        raise WorkbenchError(f"--encoder {encoder!r}: choose {' or '.join(ENCODERS)}")


def qa_readings(trained: TrainedRun, limit: int | None = None) -> list[Reading]:
    """A qa run's answer to each of its first ``limit`` validation questions (all: None), read as
    evaluation reads it, with exact match and F1 (:meth:`core.tasks.qa.QATask.readings`)."""
    if trained.config.task != "qa":
        raise WorkbenchError(f"run {trained.run.id} is a {trained.config.task} run; answers need a qa run")
    config, data = evaluation_data(trained)
    # A task of its own (the loaded one has no data); a copy of the state, which set_data writes.
    task = cast("QATask", build_task(config, trained.tokenizer, dict(trained.task.state),
                                     next(trained.model.parameters()).device))
    task.set_data(data)
    return task.readings(trained.model, limit)


def evaluate_file(
    trained: TrainedRun, path: str | Path | None = None, *, source_path: str | Path | None = None,
    target_path: str | Path | None = None, beam: int | None = None, retriever: str = "bm25",
    encoder: str | None = None, **data_params: Any,
) -> EvalResult:
    """Score a trained run on a whole file (every row / all the text / every pair counts).

    Translation runs take one TSV/CSV/JSONL file with source and target columns (``path``) or
    two aligned files (``source_path`` + ``target_path``), and are decoded with ``beam``
    (default: the run's task.beam_size). A qa run's passage retrieval scores come from
    ``retriever`` (and ``encoder``, as :func:`passage_search` takes them).
    """
    if (retriever != "bm25" or encoder is not None) and trained.config.task != "qa":
        raise WorkbenchError(f"--retriever and --encoder score a qa run's passage retrieval; run {trained.run.id} "
                             f"is a {trained.config.task} run")
    config, data = evaluation_data(trained, path, source_path=source_path, target_path=target_path,
                                   beam=beam, **data_params)
    task = build_task(config, trained.tokenizer, trained.task.state, trained.task.device)
    if trained.config.task == "qa":
        check_retriever(retriever, encoder)
        if retriever == "dense":
            cast("QATask", task).dense_retrieval = passage_encoder(trained, encoder or "run")
    task.adopt_artifacts(trained.task)  # e.g. a translation run's target tokenizer
    try:
        task.set_data(data)
    except DataError as exc:  # the file stands in for every split here: name it, not "training"
        raise DataError(path or source_path or "the validation split", f"cannot be scored with this run ({exc})") from None
    return task.evaluate(trained.model, None, 64)


def evaluation_data(
    trained: TrainedRun, path: str | Path | None = None, *, source_path: str | Path | None = None,
    target_path: str | Path | None = None, beam: int | None = None, **data_params: Any,
) -> tuple[RunConfig, DatasetSplits]:
    """The run's config and a data file read as its validation split (and, since a dataset
    needs one, as training: nothing is trained): what :func:`evaluate_file` scores and
    ``core.examples`` lists. Class labels are mapped onto the run's; translation keeps
    every pair and decodes with ``beam`` (default: the run's task.beam_size). No file at all: the
    run's own validation split, read as it was for training."""
    raw = trained.config.to_dict()
    own_split = path is None and source_path is None and target_path is None
    if own_split and data_params:
        flags = ", ".join("--" + key.replace("_", "-") for key in data_params)
        raise WorkbenchError(f"{flags} describe the columns of a --data file; without one, the run's own "
                             "validation split is scored as the run read it")
    if is_seq2seq(trained.config.task):
        if not own_split:
            raw["data"] = _pair_files_section(path, source_path, target_path, data_params)
        if beam is not None and beam < 1:
            raise WorkbenchError(f"beam must be at least 1, got {beam}")
        # Every pair is translated and scored; the sample table keeps a handful.
        raw["task"] = {**raw["task"], "eval_max_sentences": None, "beam_size": beam or raw["task"].get("beam_size", 1)}
    elif trained.config.task == "qa":
        if not own_split:  # the qa_file reader, every question of the file scored
            if source_path or target_path:
                raise WorkbenchError("a qa run is scored on one data file (--data: SQuAD JSON, or context, question "
                                     "and answers columns), not on --source/--target pairs")
            raw["data"] = {"name": "qa_file", "path": str(path), "validation_path": str(path), **data_params}
        raw["task"] = {**raw["task"], "eval_max_questions": None}
    elif not own_split:  # else the run's own data section, as it is
        if path is None or source_path or target_path:
            raise WorkbenchError(f"a {trained.config.task} run is scored on one data file (--data), not on "
                                 "--source/--target pairs")
        # How the run read its rows (columns, header, pairs, label names) reads the file too.
        shaping = ("text_column", "label_column", "format", "header", "text_fields", "separator",
                   "label_names", "label_names_file", "label_name_column")
        data_section = {k: v for k, v in raw["data"].items() if k in shaping}
        data_section.update(data_params)
        raw["data"] = {"name": "file", "path": str(path), "validation_path": str(path), **data_section}
    config = validate_config(raw)
    data = load_dataset(config)
    if config.task == "classification":
        data = align_labels(data, trained.task.state["label_names"], path or "the validation split")
    return config, data


def _pair_files_section(
    path: str | Path | None, source_path: str | Path | None, target_path: str | Path | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The ``parallel`` dataset section that reads the given pairs as validation (and, since a
    dataset needs one, as training: nothing is trained)."""
    if bool(source_path) != bool(target_path):
        raise WorkbenchError("--source and --target go together: two files aligned line by line")
    if bool(path) == bool(source_path):
        raise WorkbenchError("give a translation run either --data FILE (TSV/CSV/JSONL with source and target columns) "
                             "or --source FILE --target FILE (aligned lines)")
    if path:
        return {"name": "parallel", "path": str(path), "validation_path": str(path), **extra}
    return {"name": "parallel", "source_path": str(source_path), "target_path": str(target_path),
            "validation_source_path": str(source_path), "validation_target_path": str(target_path), **extra}


def align_labels(data: DatasetSplits, run_labels: list[str], path: str | Path) -> DatasetSplits:
    """Map the data's label names onto the run's class indices."""
    file_labels = data.label_names or []
    unknown = [name for name in file_labels if name not in run_labels]
    if unknown:
        raise DataError(path, f"labels {unknown} were not seen in training; the run knows {run_labels}")
    mapping = np.array([run_labels.index(name) for name in file_labels])
    for split in (data.train, data.validation):
        split.labels = [int(mapping[i]) for i in split.labels or []]
    data.label_names = list(run_labels)
    return data
