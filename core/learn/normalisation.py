"""LayerNorm and BatchNorm side by side over a real batch: the learner's text and the next rows of
a trained classifier's own validation split, padded as training pads them, looked up in the run's
token embedding (the vectors its model would go on to normalise).

LayerNorm normalises each token over its features (μ and σ² per row); BatchNorm normalises each
feature over the batch and its positions (μ and σ² per column, padding left out), and updates its
running statistics with momentum 0.1, which eval mode uses instead. γ and β are the run's own first
LayerNorm's where the model has one (a Transformer's ``blocks.0.ln1``), else γ = 1, β = 0; BatchNorm's
are 1 and 0 (a freshly made nn.BatchNorm1d: no model of the workbench has one). Checks: LayerNorm
against ``F.layer_norm``, BatchNorm against ``F.batch_norm`` in training mode on the same tensor, the
running statistics against what ``nn.BatchNorm1d`` stores after one forward, and eval mode against
that module in eval mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import ConfigError, WorkbenchError
from core.inspect.maps import display_token
from core.learn.walkthrough import Step, Symbol, Walkthrough, check
from core.runs import evaluation_data
from core.tasks.classification import EncodedSplit

FORMULA = (r"\mathrm{LN}(x_i)=\gamma\odot\frac{x_i-\mu_i}{\sqrt{\sigma_i^2+\epsilon}}+\beta,\ "
           r"\mu_i=\frac{1}{d}\sum_j x_{ij}\quad "
           r"\mathrm{BN}(x_{ij})=\gamma_j\frac{x_{ij}-\mu_j}{\sqrt{\sigma_j^2+\epsilon}}+\beta_j,\ "
           r"\mu_j=\frac{1}{N}\sum_i x_{ij}\quad "
           r"\hat\mu_j\leftarrow(1-m)\,\hat\mu_j+m\,\mu_j,\ \hat\sigma_j^2\leftarrow(1-m)\,\hat\sigma_j^2+m\,"
           r"\frac{N}{N-1}\sigma_j^2")
MOMENTUM = 0.1  # nn.BatchNorm1d's default
EPS = 1e-5  # both modules' default ε


def walkthrough(trained: Any, text: str, *, batch: int = 4, token: int = 0, feature: int = 0) -> Walkthrough:
    """LayerNorm and BatchNorm of ``trained``'s token embeddings over a batch of ``batch`` rows: ``text``
    first, then the run's validation texts; ``token`` (of your text) and ``feature`` worked through."""
    if trained is None or trained.run.task != "classification":
        raise WorkbenchError("this chapter reads a classification run's own texts and token embedding: pick one")
    backbone = getattr(trained.model, "backbone", trained.model)
    embedding: nn.Embedding | None = getattr(backbone, "token_embedding", None)
    if embedding is None:
        raise WorkbenchError(f"run {trained.run.id}'s model has no token embedding of the workbench's own")
    if batch < 2:
        raise ConfigError("batch", batch, "2 or more", reason="BatchNorm's variance needs at least two rows")
    _, data = evaluation_data(trained)
    others = list(data.validation.texts)[: batch - 1]
    if len(others) < batch - 1:
        raise ConfigError("batch", batch, f"2 to {len(others) + 1}",
                          reason=f"the run's validation split has {len(others)} texts")
    task = trained.task
    texts = [text or " ", *others]
    encoded = task.encode(texts)
    if not encoded[0]:
        raise WorkbenchError("your text has no token this run knows: type a few words")
    ids, pad_mask, _ = EncodedSplit(encoded, [0] * len(texts), trained.tokenizer.pad_id,
                                    task.params["max_length"]).rows(torch.arange(len(texts)))
    real = ~pad_mask  # (B, T): True where a token is text, not padding
    yours = int(real[0].sum())
    if not 0 <= token < yours:
        raise ConfigError("token", token, f"0 to {yours - 1}", reason=f"your text has {yours} tokens")
    with torch.no_grad():
        vectors = embedding.weight.detach().cpu()[ids]  # (B, T, d): the rows the embedding looks up
    d = vectors.shape[-1]
    if not 0 <= feature < d:
        raise ConfigError("feature", feature, f"0 to {d - 1}", reason=f"the embedding has {d} features")
    x_t = vectors[real]  # (N, d): the real tokens, row by row; padding left out
    x = x_t.double().numpy()
    n = x.shape[0]
    words = [display_token(trained.tokenizer.id_to_token(int(i))) for i in ids[real]]
    owner = np.repeat(np.arange(len(texts)), real.sum(dim=1).numpy())
    labels = tuple(f"{'yours' if b == 0 else f'row {b}'}: {w}" for b, w in zip(owner, words, strict=True))
    dims = tuple(str(j) for j in range(d))
    pads = int(pad_mask.sum())
    notes = [f"The batch: your text and the first {batch - 1} texts of run {trained.run.id}'s validation split, "
             f"encoded and cut to task.max_length = {task.params['max_length']} as training reads them, padded "
             f"to the longest ({ids.shape[1]} positions): {n} real tokens, {pads} padding positions. Padding "
             "is masked: it is in no statistic and no table below."]

    # LayerNorm: per row (token), over its d features.
    ln = _first_layer_norm(backbone)
    gamma = _numpy(ln.weight) if ln is not None and ln.weight is not None else np.ones(d)
    beta = _numpy(ln.bias) if ln is not None and ln.bias is not None else np.zeros(d)
    ln_eps = float(ln.eps) if ln is not None else EPS
    which = ("the run's own γ and β: its first block's LayerNorm (blocks.0.ln1), applied here to the token "
             "embeddings before positions are added" if ln is not None else
             "γ = 1 and β = 0: this model has no LayerNorm of its own, so the plain normalisation is shown")
    notes.append(f"LayerNorm uses {which}. BatchNorm uses γ = 1 and β = 0, a freshly made nn.BatchNorm1d's "
                 "(no model of the workbench has a BatchNorm): only the statistics differ between the two.")
    mu_row = x.mean(axis=1, keepdims=True)
    var_row = x.var(axis=1, keepdims=True)  # biased (÷ d), as LayerNorm divides
    ln_out = (x - mu_row) / np.sqrt(var_row + ln_eps) * gamma + beta
    # BatchNorm: per column (feature), over every real token of the batch.
    mu_col = x.mean(axis=0)
    var_col = x.var(axis=0)  # biased (÷ N) to normalise; the running variance takes the unbiased one
    bn_out = (x - mu_col) / np.sqrt(var_col + EPS)
    running_mean = (1 - MOMENTUM) * 0.0 + MOMENTUM * mu_col
    running_var = (1 - MOMENTUM) * 1.0 + MOMENTUM * var_col * n / (n - 1)
    eval_out = (x - running_mean) / np.sqrt(running_var + EPS)

    with torch.no_grad():
        engine_ln = F.layer_norm(x_t, (d,), _tensor(gamma), _tensor(beta), ln_eps)
        engine_bn = F.batch_norm(x_t, torch.zeros(d), torch.ones(d), training=True, momentum=MOMENTUM, eps=EPS)
        module = nn.BatchNorm1d(d, eps=EPS, momentum=MOMENTUM).train()
        module(x_t)
        engine_eval = module.eval()(x_t)
    checks = [
        check("LayerNorm by hand against torch.nn.functional.layer_norm on the same tensor", ln_out,
              _numpy(engine_ln)),
        check("BatchNorm by hand against torch.nn.functional.batch_norm (training mode)", bn_out, _numpy(engine_bn)),
        check("running mean and variance by hand against what nn.BatchNorm1d stores after one forward",
              np.stack([running_mean, running_var]), np.stack([_numpy(module.running_mean),
                                                               _numpy(module.running_var)])),
        check("eval mode by hand (running statistics) against nn.BatchNorm1d in eval mode", eval_out,
              _numpy(engine_eval)),
    ]

    t = token  # your text's tokens are the first rows
    j = feature
    column = x[:, j]
    steps = [
        Step("X: the batch's token embeddings (rows: real tokens; columns: features)", x, labels, dims,
             tex=r"X\in\mathbb{R}^{N\times d}", heatmap=True,
             note="Each row is one token's vector from the run's embedding table; the padding rows are left out."),
        Step("LayerNorm's statistics: per row, over the features", np.hstack([mu_row, var_row]), labels, ("μ_i", "σ²_i"),
             tex=r"\mu_i=\frac{1}{d}\sum_j x_{ij},\quad \sigma_i^2=\frac{1}{d}\sum_j(x_{ij}-\mu_i)^2", decimals=4,
             note="One mean and variance per token: a token's normalisation never looks at any other token."),
        Step(f"LayerNorm of token {t} ({words[t]}), feature by feature",
             np.stack([x[t], (x[t] - mu_row[t]) / np.sqrt(var_row[t] + ln_eps), gamma, beta, ln_out[t]]),
             ("x", "(x - μ)/√(σ² + ε)", "γ", "β", "LN(x)"), dims, decimals=4,
             tex=rf"\mu_{{{t}}}={mu_row[t, 0]:.4f},\quad \sigma_{{{t}}}^2={var_row[t, 0]:.4f}",
             note=f"Centred on its own mean, divided by its own spread (ε = {ln_eps:g} against division by 0), "
                  "then scaled by γ and shifted by β."),
        Step("LN(X): every token normalised over its features", ln_out, labels, dims, heatmap=True,
             tex=r"\mathrm{LN}(X)", note="Before γ and β each row has mean 0 and variance ≈ 1, whatever else is in "
             "the batch."),
        Step("BatchNorm's statistics: per feature, over the batch and positions",
             np.stack([mu_col, var_col, running_mean, running_var]),
             ("μ_j", "σ²_j", "running μ̂_j", "running σ̂²_j"), dims, decimals=4,
             tex=r"\mu_j=\frac{1}{N}\sum_i x_{ij},\quad \sigma_j^2=\frac{1}{N}\sum_i(x_{ij}-\mu_j)^2",
             note=f"One mean and variance per feature, over all {n} real tokens. The running statistics start at "
                  f"0 and 1 and move a share m = {MOMENTUM} toward this batch's (the variance unbiased, × N/(N-1))."),
        Step(f"BatchNorm of feature {j}, token by token",
             np.stack([column, (column - mu_col[j]) / np.sqrt(var_col[j] + EPS), eval_out[:, j]], axis=1),
             labels, ("x_ij", "BN (training)", "BN (eval)"), decimals=4, mark=t,
             tex=rf"\mu_{{{j}}}={mu_col[j]:.4f},\ \sigma_{{{j}}}^2={var_col[j]:.4f},\quad "
                 rf"\hat\mu_{{{j}}}={running_mean[j]:.4f},\ \hat\sigma_{{{j}}}^2={running_var[j]:.4f}",
             note="Training mode divides by this batch's statistics, so a token's output depends on the other texts "
                  "in its batch. Eval mode uses the running ones instead: one text at a time has no batch to "
                  "average, and a prediction must not change with its neighbours. ◀: your token worked through above."),
        Step("BN(X): every feature normalised over the batch", bn_out, labels, dims, heatmap=True,
             tex=r"\mathrm{BN}(X)", note="Each column now has mean 0 and variance ≈ 1 over the batch; a single row "
             "need not (compare LN(X), where each row does)."),
    ]
    symbols = (
        Symbol("x_i", f"token i's embedding vector, a row of X (d = {d} features)"),
        Symbol("x_{ij}", "feature j of token i"),
        Symbol("N", f"the real tokens in the batch ({n}; padding left out)"),
        Symbol("d", f"the embedding's width ({d})"),
        Symbol(r"\mu_i,\ \sigma_i^2", "LayerNorm's mean and variance of row i, over its features"),
        Symbol(r"\mu_j,\ \sigma_j^2", "BatchNorm's mean and variance of feature j, over the batch's tokens"),
        Symbol(r"\epsilon", f"a tiny constant against division by 0 ({ln_eps:g} for LayerNorm, {EPS:g} for BatchNorm)"),
        Symbol(r"\gamma,\ \beta", "the learned scale and shift after normalising (LayerNorm: "
               + ("the run's own" if ln is not None else "1 and 0") + "; BatchNorm: 1 and 0)"),
        Symbol("m", f"BatchNorm's momentum ({MOMENTUM}): how far the running statistics move per batch"),
        Symbol(r"\hat\mu_j,\ \hat\sigma_j^2", "BatchNorm's running mean and variance, used in eval mode"),
        Symbol(r"\leftarrow", "is replaced by, after each training batch"),
    )
    return Walkthrough("normalisation", FORMULA, symbols, steps, checks, notes)


def _first_layer_norm(backbone: nn.Module) -> nn.LayerNorm | None:
    """The first block's pre-attention LayerNorm of a workbench Transformer, else None."""
    blocks = getattr(backbone, "blocks", None)
    ln = getattr(blocks[0], "ln1", None) if blocks is not None and len(blocks) else None
    return ln if isinstance(ln, nn.LayerNorm) else None


def _numpy(t: torch.Tensor | None) -> np.ndarray:
    assert t is not None
    return t.detach().double().cpu().numpy()


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).float()
