"""No import cycle under core/, imports inside functions included.

lint-imports keeps the layers pointing down, but two modules of one layer can still import each
other, and a cycle closed by an import inside a function hides until the wrong module is imported
first. Imports under ``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import grimp
import networkx as nx


def import_graph() -> nx.DiGraph:
    graph = grimp.build_graph("core", exclude_type_checking_imports=True)
    edges = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    return edges


def cycles(edges: nx.DiGraph) -> list[list[str]]:
    """Each group of modules that import one another, through any chain."""
    return [sorted(group) for group in nx.strongly_connected_components(edges) if len(group) > 1]


def test_no_module_under_core_is_part_of_an_import_cycle():
    found = cycles(import_graph())
    assert not found, "modules that import one another (through imports inside functions too):\n" + "\n".join(
        " <-> ".join(group) for group in found)


def test_the_check_sees_a_cycle_closed_inside_a_function():
    # core.jobs.queue imports core.store at the top; an import of core.jobs.queue inside a
    # function of core.store.runs would close a cycle, which the check must report.
    edges = import_graph()
    assert not cycles(edges)
    edges.add_edge("core.store.runs", "core.jobs.queue")
    assert any({"core.store.runs", "core.jobs.queue"} <= set(group) for group in cycles(edges))
