"""The pages that read the store and files only never load torch into the app server: torch is
about 180 MB of the server's memory (docs/performance.md), loaded on the first visit of a page
that runs a model (``runs_models`` in app/navigation.py) and by nothing else.

Each page runs in a fresh interpreter (this one has torch already), on a store with a trained
transformer (its Run view draws saved attention snapshots) and a classification run on a few
hundred rows (the Train form's small-data check).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.navigation import PAGES
from core.store import Store
from tests.app.test_attention_page import train

ROOT = Path(__file__).resolve().parents[2]
READING_PAGES = [spec.name for spec in PAGES if not spec.runs_models]

SCRIPT = textwrap.dedent("""
    import json, sys
    from streamlit.testing.v1 import AppTest
    from app.navigation import page_path

    page, query = sys.argv[1], json.loads(sys.argv[2])
    at = AppTest.from_file(sys.argv[3], default_timeout=60).run()
    at.query_params.update(query)
    at.switch_page(str(page_path(page))).run()
    errors = [e.value for e in at.exception]
    print(json.dumps({"errors": errors, "torch": "torch" in sys.modules}))
""")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("lmwb-no-torch")
    run_id = train(Store(home=home), "tiny-transformer", {
        "name": "transformer_encoder", "d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32})
    return home, run_id


def _open(page: str, home: Path, query: dict[str, str]) -> dict:
    env = {"LMWB_HOME": str(home), "LMWB_NO_WORKERS": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, page, json.dumps(query), str(ROOT / "app" / "main.py")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("page", READING_PAGES)
def test_a_page_that_reads_the_store_loads_no_torch(page: str, home: tuple[Path, str]) -> None:
    folder, run_id = home
    query = {"run": run_id} if page == "run" else {"runs": run_id} if page == "compare" else {}
    seen = _open(page, folder, query)
    assert seen["errors"] == []
    assert seen["torch"] is False, f"the {page} page imported torch into the app server"


def test_a_page_that_runs_a_model_loads_it_on_its_visit(home: tuple[Path, str]) -> None:
    """The counter-check: the probe above does see torch when a page brings it."""
    folder, run_id = home
    seen = _open("attention", folder, {"run": run_id})
    assert seen["errors"] == [] and seen["torch"] is True
