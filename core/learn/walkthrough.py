"""A chapter's computation as data: the formula typeset, each symbol in one line, the steps
with the real tensor values of the learner's run and input, and the checks that hold the hand
computation to the engine's own. The app draws a :class:`Walkthrough`; the CLI prints
:meth:`Walkthrough.text`; both show the same numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Symbol:
    """One symbol of a formula: its LaTeX and what it stands for here (with its size or value)."""

    tex: str
    meaning: str


MARK = " ◀"  # after the label of a step's marked row, in the app and the terminal alike


@dataclass(frozen=True)
class Step:
    """One step of the computation: a vector or matrix of real values, labelled.

    ``rows`` / ``cols`` label a matrix's rows and columns (tokens, dimensions, classes); a vector
    is one row. ``heatmap`` draws it as a picture rather than a table (attention weights).
    ``text``: a table of words instead (tokens, merges, n-grams), one tuple per row under ``cols``;
    ``values`` is then unused. ``curve``: drawn as a line of column 1 against column 0 with the
    area under it filled (a ROC curve); ``mark``: the row to point out (the current threshold, the
    chosen time step), by :data:`MARK` after its label in every drawing."""

    title: str
    values: np.ndarray
    rows: tuple[str, ...] = ()
    cols: tuple[str, ...] = ()
    tex: str = ""  # the formula of this step, LaTeX
    note: str = ""  # one sentence: what to look at
    heatmap: bool = False
    decimals: int = 3
    text: tuple[tuple[str, ...], ...] = ()
    curve: bool = False
    mark: int | None = None
    # A word table that is a tree: each row's label names a node, its first column the node it
    # grew from, its last column what became of it ("kept", "finished…", "pruned"); the page
    # draws it as a tree above the table (beam search).
    tree: bool = False

    def matrix(self) -> np.ndarray:
        """The values as a 2-D float array (a vector is one row)."""
        values = np.asarray(self.values, dtype=np.float64)
        return values.reshape(1, -1) if values.ndim == 1 else values

    def row_labels(self) -> list[str]:
        n = len(self.text) if self.text else self.matrix().shape[0]
        return list(self.rows) if len(self.rows) == n else [str(i) for i in range(n)]

    def marked(self, rows: list[str]) -> list[str]:
        """``rows`` (this step's row labels, perhaps made distinct) with the marked one pointed out."""
        return [f"{r}{MARK}" if i == self.mark else r for i, r in enumerate(rows)]

    def col_labels(self) -> list[str]:
        n = len(self.text[0]) if self.text else self.matrix().shape[1]
        return list(self.cols) if len(self.cols) == n else [str(j) for j in range(n)]


@dataclass(frozen=True)
class Check:
    """The hand computation against the engine's: the largest absolute difference."""

    what: str  # e.g. "softmax(QKᵀ/√d_k) against the weights the model attended with"
    difference: float
    tolerance: float = 1e-5

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.difference)) and self.difference <= self.tolerance

    def sentence(self) -> str:
        verdict = "equal" if self.ok else "DIFFERENT"
        if self.tolerance == 0:  # ids, counts: nothing but the same numbers will do
            return f"{self.what}: {verdict}" + (", exactly" if self.ok else f" (largest difference {self.difference:g})")
        return f"{self.what}: {verdict} (largest difference {self.difference:.1e}, allowed {self.tolerance:.0e})"


def check(what: str, mine: np.ndarray, engine: np.ndarray, tolerance: float = 1e-5) -> Check:
    """A :class:`Check` of ``mine`` against ``engine`` (same shape, else an infinite difference)."""
    a, b = np.asarray(mine, dtype=np.float64), np.asarray(engine, dtype=np.float64)
    diff = float(np.max(np.abs(a - b))) if a.shape == b.shape and a.size else float("inf")
    return Check(what, diff, tolerance)


@dataclass
class Walkthrough:
    """What a chapter shows for one run, input and choice of knobs."""

    chapter: str
    formula: str  # the whole computation, LaTeX
    symbols: tuple[Symbol, ...]
    steps: list[Step]
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # truncation, what the run is, ...

    def text(self, width: int = 10) -> str:
        """The walkthrough as plain text, for a terminal or a notebook."""
        lines = [plain(self.formula), ""]
        pad = max([4, *(len(plain(s.tex)) for s in self.symbols)])
        lines += [f"  {plain(s.tex):<{pad}}  {s.meaning}" for s in self.symbols]
        lines += [f"note: {n}" for n in self.notes]
        for step in self.steps:
            lines += ["", f"== {step.title}" + (f"   {plain(step.tex)}" if step.tex else "")]
            if step.note:
                lines.append(step.note)
            lines += _words(step) if step.text else _table(step, width)
        if self.checks:
            lines.append("")
            lines += [f"check: {c.sentence()}" for c in self.checks]
        return "\n".join(lines)


TEXT_COLUMNS = 12  # a terminal shows this many columns of a wide matrix; a note says how many more


def _words(step: Step) -> list[str]:
    """A table of words, each column as wide as its widest cell."""
    rows = [step.col_labels(), *(list(r) for r in step.text)]
    labels = ["", *step.row_labels()]
    label = max(len(r) for r in labels)
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    return [f"{name:<{label}}  " + "  ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=True)).rstrip()
            for name, r in zip(labels, rows, strict=True)]


def _table(step: Step, width: int) -> list[str]:
    matrix = step.matrix()
    rows, cols = step.row_labels(), step.col_labels()
    hidden = max(0, matrix.shape[1] - TEXT_COLUMNS)
    matrix, cols = matrix[:, :TEXT_COLUMNS], cols[:TEXT_COLUMNS]
    rows = step.marked(rows)
    label = max([4, *(len(r) for r in rows)])
    cols = [c[: width - 1] for c in cols]
    out = [" " * label + " " + "".join(f"{c:>{width}}" for c in cols)]
    for name, row in zip(rows, matrix, strict=True):
        cells = "".join(f"{v:>{width}.{step.decimals}f}" if np.isfinite(v) else " " * width if np.isnan(v)
                        else f"{'-inf' if v < 0 else 'inf':>{width}}" for v in row)
        out.append(f"{name:<{label}} {cells}")
    if hidden:
        out.append(f"({hidden} more columns; the app shows them all)")
    return out


# LaTeX as a terminal shows it: the macros the chapters use, in Unicode or words.
_SYMBOLS = {
    r"\top": "ᵀ", r"\cdot": "·", r"\star": "⋆", r"\odot": "⊙", r"\times": "×", r"\in": "∈", r"\sum": "Σ",
    r"\dots": "…", r"\ldots": "…", r"\ge": "≥", r"\le": "≤", r"\neq": "≠", r"\approx": "≈", r"\infty": "∞",
    r"\alpha": "α", r"\beta": "β", r"\gamma": "γ", r"\delta": "δ", r"\Delta": "Δ", r"\epsilon": "ε",
    r"\varepsilon": "ε", r"\eta": "η", r"\theta": "θ", r"\lambda": "λ", r"\mu": "μ", r"\sigma": "σ",
    r"\tanh": " tanh", r"\log": " log ", r"\exp": "exp", r"\min": "min", r"\max": "max", r"\sin": "sin",
    r"\cos": "cos", r"\#": "#", r"\mathbb{R}": "ℝ", r"\hat y": "ŷ", r"\hat{y}": "ŷ",
    r"\hat m": "m̂", r"\hat v": "v̂", r"\partial": "∂", r"\lVert": "‖", r"\rVert": "‖",
}
_DROPPED = (r"\left", r"\right", r"\Big", r"\big", r"\textstyle", r"\displaystyle", r"\!")
_SPACES = (r"\qquad", r"\quad", r"\,", r"\;", r"\ ")
_INNER = r"\{([^{}]*)\}"  # a braced group with no braces inside


def plain(tex: str) -> str:
    """``tex`` readable in a terminal: fractions as a/b, roots as √, macros as symbols or words."""
    out = tex
    for name in (r"\\begin{aligned}", r"\\end{aligned}", r"\\begin{cases}", r"\\end{cases}"):
        out = re.sub(name, "", out)
    out = out.replace("&", "").replace("\\\\", "; ")
    for macro in _DROPPED:
        out = out.replace(macro, "")
    for macro in _SPACES:
        out = out.replace(macro, " ")
    for macro, text in sorted(_SYMBOLS.items(), key=lambda kv: -len(kv[0])):
        out = re.sub(re.escape(macro) + r"(?![A-Za-z])", text.replace("\\", r"\\"), out)
    for _ in range(6):  # innermost groups first, until none is left
        before = out
        out = re.sub(r"\\t?frac" + _INNER + _INNER, lambda m: f"{_group(m[1])}/{_group(m[2])}", out)
        out = re.sub(r"\\sqrt" + _INNER, r"√(\1)", out)
        out = re.sub(r"\\(?:mathrm|text|operatorname|mathbf|overline)" + _INNER, r"\1", out)
        out = re.sub(r"\^" + _INNER, lambda m: "^" + _group(m[1]), out)
        out = re.sub(r"_" + _INNER, lambda m: "_" + (m[1] if len(m[1]) == 1 else f"({m[1]})"), out)
        if out == before:
            break
    out = re.sub(r"\\([A-Za-z]+)", r"\1", out).replace("{", "").replace("}", "").replace("^ᵀ", "ᵀ")
    return re.sub(r"[ ]{3,}", "  ", out).strip()


def _group(text: str) -> str:
    """A fraction's or power's part, in parentheses unless it is one symbol or number."""
    return text if re.fullmatch(r"[\w.√()ᵀ]+", text) and not re.search(r"[+\-·]", text) else f"({text})"
