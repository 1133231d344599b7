"""Word vectors: neighbours, analogies, similarity, 2-D projections, word2vec text files.

``vectors`` is a (vocab, dim) matrix (numpy or torch) and ``vocab`` the word of each row. The
special tokens (``<pad>``...) are never returned as neighbours or exported.

Any classifier or language model can start from such a file: the tasks' parameters
``pretrained_embeddings`` (declared in ``core.tasks.catalog``) is applied by :func:`attach_pretrained`
when the task builds its model; ``task.freeze: embeddings`` keeps the vectors fixed.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from core.decoding.settings import WORDS_LISTED
from core.errors import ConfigError, DataError, WorkbenchError
from core.models.embeddings import TokenEmbedding
from core.source_runs import (
    VECTOR_TASKS,
    VECTOR_TASKS_TEXT,
    load_source,
    source_vectors,
    token_table,
)
from core.tokenize import SPECIALS

if TYPE_CHECKING:
    import pandas as pd

    from core.runs import TrainedRun
    from core.tasks.base import Task

Vectors = np.ndarray | torch.Tensor
_SPECIALS = frozenset(SPECIALS)

# -- lookups -------------------------------------------------------------------------------------

def _matrix(vectors: Vectors) -> np.ndarray:
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().float().cpu().numpy()
    return np.asarray(vectors, dtype=np.float32)


def _unit(matrix: np.ndarray) -> np.ndarray:
    # A zero row (the padding vector) stays zero instead of becoming NaN.
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def _index(vocab: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, word in enumerate(vocab):
        out.setdefault(word, i)  # a duplicate keeps its first (most frequent) row
    return out


def _row(index: dict[str, int], word: str) -> int:
    if word not in index and word.lower() in index:
        word = word.lower()  # "King" finds "king" in a lowercasing tokenizer's vocabulary
    if word not in index or word in _SPECIALS:
        raise WorkbenchError(f"{word!r} is not in the vocabulary ({len(index):,} words)")
    return index[word]


def _top(scores: np.ndarray, vocab: Sequence[str], k: int, exclude: set[int]) -> list[tuple[str, float]]:
    scores = scores.astype(np.float64)  # a copy: -inf below must not touch the caller's array
    scores[list(exclude | {i for i, w in enumerate(vocab) if w in _SPECIALS})] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    best = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.zeros(0, dtype=int)
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(vocab[int(i)], float(scores[i])) for i in best]


def nearest_neighbours(vectors: Vectors, vocab: Sequence[str], word: str, k: int = WORDS_LISTED.default) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine similarity to ``word`` (itself excluded)."""
    unit = _unit(_matrix(vectors))
    i = _row(_index(vocab), word)
    return _top(unit @ unit[i], vocab, k, {i})


def analogy(
    vectors: Vectors, vocab: Sequence[str], a: str, b: str, c: str, k: int = WORDS_LISTED.default
) -> list[tuple[str, float]]:
    """a : b :: c : ?  -- the words closest to b - a + c (3CosAdd), a, b and c excluded."""
    unit = _unit(_matrix(vectors))
    index = _index(vocab)
    ia, ib, ic = (_row(index, w) for w in (a, b, c))
    query = _unit(unit[ib] - unit[ia] + unit[ic])
    return _top(unit @ query, vocab, k, {ia, ib, ic})


def similarity(vectors: Vectors, vocab: Sequence[str], w1: str, w2: str) -> float:
    """Cosine similarity of two words."""
    unit = _unit(_matrix(vectors))
    index = _index(vocab)
    return float(unit[_row(index, w1)] @ unit[_row(index, w2)])


def neighbour_hits(
    vectors: Vectors, vocab: Sequence[str], pairs: Sequence[tuple[str, str]], k: int
) -> tuple[int, int]:
    """(found, checked): pairs (a, b) where b is among a's ``k`` nearest neighbours.

    Pairs with a word outside the vocabulary are not checked. One matrix product for all.
    """
    index = _index(vocab)
    known = [(index[a], index[b]) for a, b in pairs if a in index and b in index]
    if not known:
        return 0, 0
    unit = _unit(_matrix(vectors))
    rows = np.array([a for a, _ in known])
    scores = unit[rows] @ unit.T
    scores[np.arange(len(rows)), rows] = -np.inf
    scores[:, [i for i, w in enumerate(vocab) if w in _SPECIALS]] = -np.inf
    target = scores[np.arange(len(rows)), [b for _, b in known]]
    # Rank = how many words score higher than the partner.
    ranks = (scores > target[:, None]).sum(1)
    return int((ranks < k).sum()), len(known)


def analogy_hits(
    vectors: Vectors, vocab: Sequence[str], questions: Sequence[tuple[str, str, str, str]]
) -> tuple[int, int]:
    """(correct, checked): analogies a:b::c:d whose top answer (3CosAdd) is d."""
    index = _index(vocab)
    known = [tuple(index[w] for w in q) for q in questions if all(w in index for w in q)]
    if not known:
        return 0, 0
    unit = _unit(_matrix(vectors))
    ids = np.array(known)
    queries = _unit(unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]])
    scores = queries @ unit.T
    rows = np.arange(len(ids))
    for col in range(3):
        scores[rows, ids[:, col]] = -np.inf
    scores[:, [i for i, w in enumerate(vocab) if w in _SPECIALS]] = -np.inf
    return int((scores.argmax(1) == ids[:, 3]).sum()), len(known)


def project_2d(
    vectors: Vectors, vocab: Sequence[str], method: str = "pca", words: Sequence[str] | None = None,
    max_words: int = 300, seed: int = 0,
) -> pd.DataFrame:
    """A DataFrame (word, x, y) for a plotly scatter: PCA or t-SNE (scikit-learn).

    ``words`` picks the words to show (unknown ones are skipped); by default the first
    ``max_words`` of the vocabulary, which the word tokenizer orders by frequency.
    """
    import pandas as pd

    matrix = _matrix(vectors)
    index = _index(vocab)
    if words is None:
        rows = [i for i, w in enumerate(vocab) if w not in _SPECIALS][:max_words]
    else:
        rows = [index[w] for w in dict.fromkeys(words) if w in index and w not in _SPECIALS]
    if len(rows) < 3:
        raise WorkbenchError(f"a 2-D projection needs at least 3 known words, got {len(rows)}")
    points = matrix[rows]
    if method == "pca":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=seed).fit_transform(points)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        # Perplexity must stay below the number of points; 30 is scikit-learn's default. Exact
        # gradients beat Barnes-Hut's threaded tree code below ~1,000 points (measured 4-40x).
        perplexity = float(min(30, len(rows) - 1))
        xy = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed,
            method="exact" if len(rows) <= 1000 else "barnes_hut",
        ).fit_transform(points)
    else:
        raise WorkbenchError(f"projection method must be 'pca' or 'tsne', got {method!r}")
    return pd.DataFrame({"word": [vocab[i] for i in rows], "x": xy[:, 0], "y": xy[:, 1]})


# -- word2vec text format ------------------------------------------------------------------------

def export_word2vec_text(path: str | Path, vocab: Sequence[str], vectors: Vectors) -> int:
    """Write ``N DIM`` then ``word v1 ... vDIM`` per line; returns the number of words written.

    Special tokens and words containing whitespace (which the format cannot hold) are left out.
    """
    matrix = _matrix(vectors)
    if matrix.ndim != 2 or matrix.shape[0] != len(vocab):
        raise ValueError(f"vectors of shape {matrix.shape} do not match a vocabulary of {len(vocab)}")
    rows = [i for i, w in enumerate(vocab) if w and w not in _SPECIALS and not any(ch.isspace() for ch in w)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(f"{len(rows)} {matrix.shape[1]}\n")
        for i in rows:
            f.write(vocab[i] + " " + " ".join(f"{v:.6g}" for v in matrix[i].tolist()) + "\n")
    tmp.replace(path)  # never leave a half-written file under the real name
    return len(rows)


def load_word2vec_text(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text file (plain or gzip; the ``N DIM`` header is optional, as GloVe's
    own files have none). Malformed lines raise DataError naming the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(path, f"broken gzip data ({exc})") from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(path, "not UTF-8 text", raw[: exc.start].count(b"\n") + 1) from None
    words: list[str] = []
    rows: list[np.ndarray] = []
    declared: tuple[int, int] | None = None
    dim: int | None = None
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
            declared = (int(parts[0]), int(parts[1]))
            dim = declared[1]
            continue
        if len(parts) < 2:
            raise DataError(path, f"expected a word followed by numbers, got {line[:60]!r}", number)
        if dim is None:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise DataError(path, f"{len(parts) - 1} numbers after {parts[0]!r}; expected {dim}", number)
        try:
            # One float32 array per line: a 400k-word GloVe file stays near its binary size.
            values = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            bad = next(v for v in parts[1:] if not _is_float(v))
            raise DataError(path, f"{bad!r} after {parts[0]!r} is not a number", number) from None
        words.append(parts[0])
        rows.append(values)
    if not rows:
        raise DataError(path, "no word vectors in the file")
    if declared is not None and declared[0] != len(rows):
        raise DataError(path, f"the header announces {declared[0]} words but the file has {len(rows)}", 1)
    matrix = np.stack(rows)
    if not np.isfinite(matrix).all():
        bad_row = int(np.flatnonzero(~np.isfinite(matrix).all(1))[0])
        raise DataError(path, f"the vector of {words[bad_row]!r} is not finite")
    return words, matrix


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- pretrained vectors into any model -----------------------------------------------------------

def attach_pretrained(task: Task, model: nn.Module) -> nn.Module:
    """Apply ``task.pretrained_embeddings`` (a word2vec text file) or ``task.embeddings_run`` (a
    stored run's word vectors) to ``model``'s token embedding.

    Rows of tokenizer tokens found among the vectors' words are replaced, the others keep their
    random initialisation; ``task.freeze`` (applied after this) may keep them fixed. The coverage
    goes into the task's data summary. Returns ``model`` so a task's ``build_model`` can wrap its
    return value.
    """
    path = task.params.get("pretrained_embeddings", "")
    ref = task.params.get("embeddings_run", "")
    summary = getattr(task, "_summary", None)
    if not (path or ref) or summary is None:
        # No vectors, or the model is being rebuilt for a checkpoint (no data): the saved weights
        # replace the embedding anyway, and the file or run may no longer be there.
        return model
    field, given = ("task.embeddings_run", ref) if ref else ("task.pretrained_embeddings", path)
    backbone = getattr(model, "backbone", model)
    tokens = getattr(backbone, "tokens", None)
    if not isinstance(tokens, TokenEmbedding):
        raise ConfigError(field, given, f"an architecture with a token embedding ({task.config.arch} has none)")
    if ref:
        source = load_source(None, ref, field, VECTOR_TASKS, "the id or name of " + VECTOR_TASKS_TEXT)
        words, matrix = source_vectors(source, field, VECTOR_TASKS_TEXT)
        origin = f"run {source.id}"
    else:
        words, matrix = load_word2vec_text(path)
        origin = Path(path).name
    weight = tokens.weight
    if matrix.shape[1] != weight.shape[1]:
        size = next((f for f in ("embed_dim", "d_model") if f in task.config["model"]), "embedding size")
        raise ConfigError(
            f"model.{size}", weight.shape[1], f"{matrix.shape[1]} to match {field} ({given})",
            reason=f"the vectors have {matrix.shape[1]} dimensions",
        )
    index = _index(words)
    tokenizer = task.tokenizer
    found = [(i, index[tok]) for i in range(len(SPECIALS), tokenizer.vocab_size) if (tok := tokenizer.id_to_token(i)) in index]
    total = tokenizer.vocab_size - len(SPECIALS)
    if not found:
        raise DataError(path or f"{field} ({given})", f"none of the {total:,} tokenizer tokens has a vector there")
    ids, rows = zip(*found, strict=True)
    full = weight.detach().clone()
    full[list(ids)] = torch.from_numpy(matrix[list(rows)]).to(full)
    tokens.load_vectors(full)
    freeze = task.params.get("freeze", "none") != "none"  # core.finetune.apply_freeze does it
    summary["pretrained_embeddings"] = (
        f"{len(found):,} of {total:,} tokens found in {origin} ({'frozen' if freeze else 'trainable'})"
    )
    return model


# -- trained runs --------------------------------------------------------------------------------

def run_vectors(trained: TrainedRun) -> tuple[list[str], np.ndarray]:
    """(vocab, vectors) of a trained run: a word-vector model's vectors, any model's token
    embedding (so a classifier's learnt embedding can be inspected and exported too), a
    pretrained encoder's input embeddings."""
    table = token_table(trained.model)
    if table is None:
        raise WorkbenchError(f"run {trained.run.id} ({trained.config.arch}) has no token embedding")
    tok = trained.tokenizer
    n = min(tok.vocab_size, len(table))
    return [tok.id_to_token(i) for i in range(n)], _matrix(table.detach()[:n])
