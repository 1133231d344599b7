"""The app's pages, declared once: file, title, icon, url path, heading and a one-line summary.

Navigation (``app/main.py``), :func:`page_path` (links and ``st.switch_page``), the page tests
and the installed-wheel check all read :data:`PAGES`. The files live in the top-level
``pages/`` package, installed beside ``app/``; a declared page whose file is missing stops the
app with :class:`MissingPagesError` (a broken install, never a shorter menu).

No Streamlit import here: the CLI and the wheel check read this without starting a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# pages/ sits beside app/ in the repository and in site-packages alike (the wheel ships both).
PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"


@dataclass(frozen=True)
class PageSpec:
    """One page of the app."""

    file: str  # inside pages/
    title: str  # the sidebar label
    icon: str  # a Material icon (drawn by Streamlit's bundled font: no network)
    url_path: str  # /<url_path> in the browser
    heading: str  # the page's own title, what a person (and the browser check) sees first
    summary: str  # one line: what the page is for
    # Runs a trained model in the app's own process (so loads torch, about 180 MB, on the first
    # visit); the other pages read the store and files only.
    runs_models: bool = False

    @property
    def name(self) -> str:
        """The page's short name: its file without ``.py`` (``page_path`` takes this)."""
        return Path(self.file).stem


PAGES: tuple[PageSpec, ...] = (
    PageSpec("home.py", "Home", ":material/home:", "home", "LM Workbench",
             "what the workbench does, where to start, one-click demos"),
    PageSpec("data.py", "Data", ":material/dataset:", "data", "Data",
             "look at the built-in datasets or upload your own file"),
    PageSpec("train.py", "Train", ":material/model_training:", "train", "Train",
             "choose an architecture and its hyperparameters"),
    PageSpec("run.py", "Run", ":material/monitoring:", "run", "Run", "watch a run train, live"),
    PageSpec("runs.py", "Runs", ":material/list_alt:", "runs", "Runs", "every run, its status and scores"),
    PageSpec("compare.py", "Compare", ":material/compare_arrows:", "compare", "Compare runs",
             "overlay curves and metrics of several runs"),
    PageSpec("sweeps.py", "Sweeps", ":material/tune:", "sweeps", "Sweeps",
             "grid, random and Bayesian hyperparameter search"),
    PageSpec("attention.py", "Attention", ":material/visibility:", "attention", "Attention",
             "see what each attention head looks at", runs_models=True),
    PageSpec("explain.py", "Explain", ":material/insights:", "explain", "Explain", "why a run predicts what it does, and where it fails",
             runs_models=True),
    PageSpec("playground.py", "Playground", ":material/chat:", "playground", "Playground",
             "classify, generate, translate or ask questions with a trained model", runs_models=True),
    PageSpec("learn.py", "Learn", ":material/school:", "learn", "Learn",
             "each formula computed step by step on your own run and text", runs_models=True),
)
DEFAULT_PAGE = PAGES[0]


class MissingPagesError(RuntimeError):
    """A declared page has no file: the install is incomplete."""


def page_spec(name: str) -> PageSpec:
    """The declared page called ``name`` (its file stem, e.g. ``"run"``)."""
    for spec in PAGES:
        if spec.name == name:
            return spec
    raise KeyError(f"no page {name!r}; pages: {', '.join(p.name for p in PAGES)}")


def page_path(name: str) -> Path:
    """The file of a page (``"run"`` -> ``pages/run.py``), as navigation registers it."""
    return PAGES_DIR / page_spec(name).file


def missing_pages(pages_dir: Path | None = None) -> list[Path]:
    """Declared page files that are not in ``pages_dir`` (default: the installed ``pages/``)."""
    folder = PAGES_DIR if pages_dir is None else pages_dir
    return [folder / spec.file for spec in PAGES if not (folder / spec.file).is_file()]


def check_pages(pages_dir: Path | None = None) -> None:
    """Raise :class:`MissingPagesError` naming every declared page file that is missing."""
    pages_dir = PAGES_DIR if pages_dir is None else pages_dir
    missing = missing_pages(pages_dir)
    if missing:
        names = ", ".join(p.name for p in missing)
        raise MissingPagesError(
            f"LM Workbench is incomplete: {len(missing)} page file(s) missing from {pages_dir} "
            f"({names}). Reinstall LM Workbench (pip install .) or restore the files."
        )


if __name__ == "__main__":  # `lmwb ui` checks an install by path: python app/navigation.py [PAGES_DIR]
    import sys

    try:
        check_pages(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    except MissingPagesError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
