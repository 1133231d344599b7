"""Every shipped example config is a valid run config, and every recipe header is one
bench/recipes.py can read (goal, budget, device)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from core.config import load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def _recipes_module():
    spec = importlib.util.spec_from_file_location("recipes", REPO / "bench" / "recipes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["recipes"] = module  # dataclasses look their module up while the file runs
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config["task"]["name"]


def test_recipe_headers_name_a_goal_a_budget_and_a_device() -> None:
    recipes = [r for r in map(_recipes_module().read_recipe, EXAMPLES) if r is not None]
    names = {r.name for r in recipes}
    assert {"sst2_bilstm_sentences", "minilm_sst2_sentences", "multi30k_transformer"} <= names
    for recipe in recipes:
        assert recipe.minutes and recipe.minutes > 0, recipe.name
        assert recipe.device in ("any", "cuda"), recipe.name
        assert recipe.split in ("val", "heldout") and recipe.op in (">=", "<=")
    assert {r.name for r in recipes if r.device == "cuda"} == {"minilm_sst2_sentences_gpu", "multi30k_transformer_gpu"}
