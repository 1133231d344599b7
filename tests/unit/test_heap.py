"""app.heap: objects of imported modules are frozen once, and again only after new imports."""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterator

import pytest

from app import heap


@pytest.fixture
def fresh_heap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(heap, "_modules_at_freeze", 0)
    yield
    gc.unfreeze()  # give the test process its collector back


def test_freezes_once_then_only_after_new_imports(fresh_heap: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert heap.freeze_module_objects() is True
    assert gc.get_freeze_count() > 1000  # at least the objects of pytest's own modules
    assert heap.freeze_module_objects() is False  # nothing imported since: no collection
    monkeypatch.setitem(sys.modules, "lmwb_test_new_module", types.ModuleType("lmwb_test_new_module"))
    assert heap.freeze_module_objects() is True
