"""Token salience: which input tokens pushed the model towards its prediction, by Captum.

For a classifier the output explained is the logit of one class (by default the predicted one);
for a language model, the logit of one next token after the last input token (by default the
model's top prediction). Two of Captum's methods, applied to the token embeddings:

* ``ig``: :class:`captum.attr.IntegratedGradients` from a baseline (the same input with every
  token replaced by ``<pad>``; a Hugging Face model keeps its [CLS] / [SEP]) to the input. Its
  completeness check is returned with it: the attributions should sum to the output's change
  from baseline to input (Captum's convergence delta is the gap);
* ``grad_x_input``: :class:`captum.attr.InputXGradient`, the gradient times the embedding.

A token's score is its attribution summed over embedding dimensions: positive pushes towards
the target ("for"), negative away from it ("against").

How embeddings get in: Captum attributes to a tensor that the forward function receives, so the
forward runs a *private view* of the model (:func:`_view`): the modules from the root to the
token embedding are shallow copies and the embedding itself is a stand-in returning the
embeddings Captum passes. Every parameter is shared; the cached model others use is never
changed, hooked or re-wired (Captum's ``configure_interpretable_embedding_layer`` would replace
its embedding layer in place, and would feed embeddings through the ``ids`` argument, which a
Hugging Face BERT refuses).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from core.errors import WorkbenchError
from core.inspect.capture import input_limit
from core.inspect.maps import ModelSource, display_token
from core.inspect.settings import COMPLETENESS_TOLERANCE, FLAT_OUTPUT, METHODS, STEPS
from core.models.base import evaluating
from core.qa.offsets import special_ids

TASKS = ("classification", "language_model")
_POINTS_PER_BATCH = 8192  # IG path points x tokens run in one internal batch at most


@dataclass
class Completeness:
    """IG's sanity check: sum of attributions vs F(input) - F(baseline)."""

    attribution_sum: float
    output: float  # F(input): the explained logit at the input
    baseline_output: float  # F(baseline)
    delta: float  # Captum's convergence delta: attribution_sum - (output - baseline_output)

    @property
    def difference(self) -> float:
        return self.output - self.baseline_output

    @property
    def relative_error(self) -> float:
        return abs(self.delta) / max(abs(self.difference), 1e-9)

    @property
    def flat(self) -> bool:
        """The output hardly moves from baseline to input: the model ignores the words (an
        untrained or collapsed model), and the relative gap means nothing."""
        return abs(self.difference) < FLAT_OUTPUT * max(1.0, abs(self.output)) and abs(self.attribution_sum) < FLAT_OUTPUT

    @property
    def ok(self) -> bool:
        return self.flat or self.relative_error <= COMPLETENESS_TOLERANCE

    def sentence(self) -> str:
        if self.flat:
            return (f"The output is {self.output:+.4f} at the input and {self.baseline_output:+.4f} at the baseline: "
                    "the model's output does not depend on these words, so every attribution is zero "
                    "(an untrained model, or one that predicts the same class for everything).")
        verdict = "complete" if self.ok else f"more than {COMPLETENESS_TOLERANCE:.0%} off: raise the IG steps"
        return (f"Completeness: the attributions sum to {self.attribution_sum:+.4f}; the output moved "
                f"{self.difference:+.4f} from baseline ({self.baseline_output:+.4f}) to input "
                f"({self.output:+.4f}); gap {self.delta:+.4f} ({self.relative_error:.1%}, {verdict}).")


@dataclass
class Salience:
    """Per-token attributions of one input for one target."""

    text: str
    tokens: list[str]  # display tokens, one per input position
    scores: list[float]  # attribution per token: + for the target, - against it
    method: str  # ig | grad_x_input
    target: str  # the class or next token explained
    target_kind: str  # "class" | "next token"
    target_probability: float
    prediction: str  # what the model predicts (may differ from an asked-for target)
    prediction_probability: float
    output_name: str  # what was attributed, e.g. "logit of class 'pos'"
    completeness: Completeness | None = None  # IG only
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return [{"position": i, "token": t, "score": s} for i, (t, s) in enumerate(zip(self.tokens, self.scores, strict=True))]

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        if self.completeness is not None:
            doc["completeness"].update(difference=self.completeness.difference,
                                       relative_error=self.completeness.relative_error, ok=self.completeness.ok)
        return doc


@dataclass
class AnswerSalience(Salience):
    """Salience of a reader's answer over the window it came from (``tokens``: [CLS] question
    [SEP] context [SEP]), with where each part lies in it."""

    question: tuple[int, int] = (0, 0)  # input positions [a, b) of the question's tokens
    context: tuple[int, int] = (0, 0)  # ... and of the window's context tokens
    answer: tuple[int, int] = (0, 0)  # positions of the answer's first and last tokens; (0, 0): [CLS]
    window: int = 0  # which of the question's windows (0-based)
    windows: int = 1


def unsupported(source: ModelSource) -> str | None:
    """Why salience does not apply to this run (None when it does)."""
    task = getattr(source.task, "name", "")
    if task not in TASKS:
        return f"salience explains classifiers and language models, not {task or 'this'} runs"
    if _embedding_path(source.model) is None:
        return f"{type(source.model).__name__} has no token embedding to attribute to"
    return None


def explain(
    source: ModelSource, text: str, *, method: str = "ig", target: str | int | None = None,
    steps: int = STEPS.default,
) -> Salience:
    """Attributions of ``text``'s tokens to the target's logit (see the module docstring).

    ``target``: a class name or index (classification) or one token (language model); None
    explains the model's own prediction. Raises WorkbenchError for an unknown method or target,
    an empty text or a run salience does not apply to.
    """
    if method not in METHODS:
        raise WorkbenchError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if problem := unsupported(source):
        raise WorkbenchError(problem)
    model, task = source.model, source.task
    tokenizer = task.tokenizer
    language_model = task.name == "language_model"
    ids, notes = _input_ids(task, text, language_model)
    device = next(model.parameters()).device
    ids_t = torch.tensor([ids], dtype=torch.long, device=device)
    stand_in = _GivenEmbeddings()
    view = _view(model, _embedding_path(model) or "", stand_in)

    def forward(embeddings: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        stand_in.value = embeddings
        if language_model:
            return view(ids=ids)[:, -1, :].float()
        return view(ids=ids, pad_mask=None).float()

    embedding = _embedding_module(model)
    with evaluating(model), _grad_ready(device):
        inputs = embedding(ids_t).detach()
        baseline = embedding(_baseline_ids(tokenizer, ids_t)).detach()
        with torch.no_grad():
            logits = forward(inputs, ids_t)[0]
            base_logits = forward(baseline, ids_t)[0]
        probs = logits.softmax(-1)
        predicted = int(probs.argmax())
        target_index = predicted if target is None else _target_index(task, target, logits.shape[-1], language_model)
        name = _names(task, language_model)
        attributions, completeness = _attribute(
            forward, method, inputs, baseline, target_index, (ids_t,), steps,
            (float(logits[target_index]), float(base_logits[target_index])))
    kind = "next token" if language_model else "class"
    return Salience(
        text=text, tokens=[display_token(tokenizer.id_to_token(i)) for i in ids],
        scores=[float(s) for s in attributions.detach().sum(-1)[0].cpu()], method=method,
        target=name(target_index), target_kind=kind, target_probability=float(probs[target_index]),
        prediction=name(predicted), prediction_probability=float(probs[predicted]),
        output_name=f"logit of {kind} {name(target_index)!r}", completeness=completeness, notes=notes,
    )


def _attribute(forward: Callable[..., torch.Tensor], method: str, inputs: torch.Tensor,
               baseline: torch.Tensor, target: int, args: tuple[torch.Tensor, ...], steps: int,
               outputs: tuple[float, float]) -> tuple[torch.Tensor, Completeness | None]:
    """Attributions of ``inputs`` (1, T, D) to ``forward``'s output ``target`` by ``method``; with IG
    its completeness check, ``outputs`` being that output at the input and at the baseline."""
    if method == "ig":
        from captum.attr import IntegratedGradients

        batch = max(1, min(steps, _POINTS_PER_BATCH // max(1, inputs.shape[1])))
        attributions, delta = IntegratedGradients(forward).attribute(
            inputs, baselines=baseline, target=target, additional_forward_args=args,
            n_steps=steps, internal_batch_size=batch, return_convergence_delta=True,
        )
        return attributions, Completeness(float(attributions.sum()), *outputs, float(delta.reshape(-1)[0]))
    from captum.attr import InputXGradient

    attributions = InputXGradient(forward).attribute(inputs.requires_grad_(), target=target,
                                                     additional_forward_args=args)
    return attributions, None


def answer_unsupported(source: ModelSource) -> str | None:
    """Why answer salience does not apply to this run (None when it does)."""
    task = getattr(source.task, "name", "")
    if task != "qa":
        return f"answer salience explains question-answering readers, not {task or 'this'} runs"
    if _embedding_path(source.model) is None:
        return f"{type(source.model).__name__} has no token embedding to attribute to"
    return None


def explain_answer(source: ModelSource, question: str, context: str, *, method: str = "ig",
                   steps: int = STEPS.default) -> AnswerSalience:
    """Attributions of the tokens of ``question`` and ``context`` to the reader's answer: the start
    logit of its first token plus the end logit of its last (both [CLS]'s when it answers nothing),
    over the window the answer came from, as :meth:`core.tasks.qa.QATask.read` picks it. The IG
    baseline is that window with every token <pad> but [CLS] and [SEP], which mark the parts."""
    if method not in METHODS:
        raise WorkbenchError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if problem := answer_unsupported(source):
        raise WorkbenchError(problem)
    if not question.strip() or not context.strip():
        raise WorkbenchError("a question and a context are both needed")
    model, task = source.model, source.task
    reading = task.read(model, question, context)
    window = task.encode([question], [context])[0][reading.window]
    device = next(model.parameters()).device
    ids_t = torch.tensor([window.ids], dtype=torch.long, device=device)
    # Segments as the task's Windows.rows gives them: 0 for [CLS] and the question, 1 from the context on.
    type_ids = (torch.arange(len(window.ids), device=device) >= window.context_start).long().unsqueeze(0)
    first, last = reading.positions
    stand_in = _GivenEmbeddings()
    view = _view(model, _embedding_path(model) or "", stand_in)

    def forward(embeddings: torch.Tensor, ids: torch.Tensor, type_ids: torch.Tensor) -> torch.Tensor:
        stand_in.value = embeddings
        start, end = view(ids=ids, pad_mask=None, type_ids=type_ids)
        return (start[:, first] + end[:, last]).float().unsqueeze(-1)

    keep = torch.tensor(sorted(set(special_ids(task.tokenizer))), device=device)
    base_ids = torch.where(torch.isin(ids_t, keep), ids_t, torch.full_like(ids_t, task.tokenizer.pad_id))
    embedding = _embedding_module(model)
    with evaluating(model), _grad_ready(device):
        inputs = embedding(ids_t).detach()
        baseline = embedding(base_ids).detach()
        with torch.no_grad():
            outputs = float(forward(inputs, ids_t, type_ids)), float(forward(baseline, ids_t, type_ids))
        attributions, completeness = _attribute(forward, method, inputs, baseline, 0, (ids_t, type_ids), steps,
                                                outputs)
    name = repr(reading.text) if reading.span is not None else "(no answer)"
    notes = []
    if reading.windows > 1:
        notes.append(f"The context is read in {reading.windows} overlapping windows; shown: window "
                     f"{reading.window + 1}, the one the answer came from.")
    return AnswerSalience(
        text=question, tokens=[display_token(task.tokenizer.id_to_token(i)) for i in window.ids],
        scores=[float(s) for s in attributions.detach().sum(-1)[0].cpu()], method=method, target=name,
        target_kind="answer", target_probability=reading.probability, prediction=name,
        prediction_probability=reading.probability,
        output_name=("start logit + end logit of the answer " + name) if reading.span is not None
        else "start logit + end logit of [CLS] (no answer)",
        completeness=completeness, notes=notes, question=(1, window.context_start - 1),
        context=(window.context_start, window.context_end), answer=(first, last), window=reading.window,
        windows=reading.windows,
    )


# -- inputs and targets ------------------------------------------------------------------------
def _input_ids(task: Any, text: str, language_model: bool) -> tuple[list[int], list[str]]:
    tokenizer = task.tokenizer
    # A sentence-pair run reads "a [SEP] b" as its task encodes it (<bos> a <eos> b).
    ids = task.encode([text])[0] if (task.state or {}).get("text_pair") else tokenizer.encode(text)
    if not ids:
        raise WorkbenchError("the text has no tokens to explain")
    notes = []
    limit = input_limit(task)
    if limit is not None and len(ids) > limit:
        # A language model predicts from the end of its context; a classifier reads the start.
        notes.append(f"Input truncated: explaining the {'last' if language_model else 'first'} {limit} of {len(ids)} tokens.")
        ids = ids[-limit:] if language_model else ids[:limit]
    return ids, notes


def _baseline_ids(tokenizer: Any, ids: torch.Tensor) -> torch.Tensor:
    """Every token replaced by <pad>, except a pretrained tokenizer's [CLS] / [SEP]."""
    keep = {tokenizer.bos_id, tokenizer.eos_id} if getattr(tokenizer, "kind", "") == "pretrained" else set()
    base = torch.full_like(ids, tokenizer.pad_id)
    for special in keep:
        base = torch.where(ids == special, ids, base)
    return base


def _names(task: Any, language_model: bool) -> Callable[[int], str]:
    if language_model:
        return lambda i: display_token(task.tokenizer.id_to_token(i))
    labels = list((task.state or {}).get("label_names") or [])
    return lambda i: str(labels[i]) if i < len(labels) else str(i)


def _target_index(task: Any, target: str | int, size: int, language_model: bool) -> int:
    if language_model:
        text = str(target)
        for candidate in (text, f" {text}"):  # byte-level BPE glues a space to a word
            ids = task.tokenizer.encode(candidate)
            if len(ids) == 1:
                return int(ids[0])
        raise WorkbenchError(f"target {text!r} is not one token of this model's vocabulary")
    labels = [str(n) for n in (task.state or {}).get("label_names") or []]
    if str(target) in labels:
        return labels.index(str(target))
    if (isinstance(target, int) or str(target).isdigit()) and 0 <= int(target) < size:
        return int(target)
    raise WorkbenchError(f"target {target!r} is not a class of this run; classes: {', '.join(labels)}")


# -- the private view ---------------------------------------------------------------------------
class _GivenEmbeddings(nn.Module):
    """Stands in for the token embedding in a private view: returns the embeddings it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.value: torch.Tensor | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        assert self.value is not None and self.value.shape[:2] == ids.shape, "embeddings and ids disagree"
        return self.value


def _embedding_module(model: nn.Module) -> nn.Module:
    hf = getattr(model, "hf", None)
    if hf is not None and hasattr(hf, "get_input_embeddings"):
        return hf.get_input_embeddings()
    return model.get_submodule("backbone.token_embedding")


def _embedding_path(model: nn.Module) -> str | None:
    """The module name of the token embedding (``backbone.tokens.embedding``)."""
    try:
        target = _embedding_module(model)
    except AttributeError:
        return None
    return next((name for name, m in model.named_modules() if m is target and name), None)


def _view(model: nn.Module, path: str, replacement: nn.Module) -> nn.Module:
    """``model`` with the module at ``path`` replaced, without touching ``model``: the modules
    on the way are shallow copies (own child table, shared parameters), the rest is shared."""
    parts = path.split(".")
    root = copy.copy(model)
    root._modules = dict(model._modules)
    new, old = root, model
    for name in parts[:-1]:
        old_child = old._modules[name]
        assert old_child is not None, path  # a path from named_modules: every step is a module
        child = copy.copy(old_child)
        child._modules = dict(old_child._modules)
        new._modules[name] = child
        new, old = child, old_child
    new._modules[parts[-1]] = replacement
    return root


@contextlib.contextmanager
def _grad_ready(device: torch.device) -> Iterator[None]:
    """Gradients on, even under a caller's no_grad; cuDNN's RNN has no backward in eval mode."""
    with torch.enable_grad():
        if device.type == "cuda":
            with torch.backends.cudnn.flags(enabled=False):
                yield
        else:
            yield
