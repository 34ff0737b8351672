"""The import graph of the package: data flows one way (inputs -> features -> statistics -> metrics -> reports).

Every ``from ganmetrics... import`` and ``import ganmetrics...`` in the package's source is read with ``ast``
(function-level imports included, since a lazy import is still an arrow), and the graph is checked for the rules
of STYLE.md and issue 12: no circles, the metric and io rooms import no higher layer, only the trainer imports
the trainer, the regression checks import no metric function, and nothing imports the package root.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ganmetrics"
LEAVES = ("ganmetrics._version", "ganmetrics.keys", "ganmetrics.defaults", "ganmetrics.numerics")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Return module -> the package modules it imports (a name imported from a package counts as the
    submodule when one of that name exists, else as the package)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("ganmetrics"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else str(node.module))
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == "ganmetrics")
        graph[name] = targets - {name}
    return graph


GRAPH = _graph()


def _in(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def test_the_graph_was_read() -> None:
    assert (
        "ganmetrics.metrics.frechet" in GRAPH and "ganmetrics.metrics.statistics" in GRAPH["ganmetrics.metrics.frechet"]
    )


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components; package __init__ files that re-export their children are left
    out (importing a child runs its parent, but a child importing a sibling is not an arrow to the parent)."""
    graph = {m: {t for t in ts if t in GRAPH} for m, ts in GRAPH.items()}
    packages = {m for m in graph if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    graph = {m: ts - packages for m, ts in graph.items() if m not in packages}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


@pytest.mark.parametrize("room", ["ganmetrics.metrics", "ganmetrics.io"])
def test_metrics_and_io_import_no_higher_layer(room: str) -> None:
    allowed = (room, *LEAVES)
    wrong = {
        module: sorted(t for t in targets if not any(_in(t, a) for a in allowed))
        for module, targets in GRAPH.items()
        if _in(module, room)
    }
    assert {m: t for m, t in wrong.items() if t} == {}


def test_only_the_trainer_imports_the_trainer() -> None:
    importers = {
        m for m, ts in GRAPH.items() if not _in(m, "ganmetrics.train") and any(_in(t, "ganmetrics.train") for t in ts)
    }
    assert importers == set()


def test_regression_checks_import_no_metric_function() -> None:
    assert sorted(t for t in GRAPH["ganmetrics.checks"] if _in(t, "ganmetrics.metrics")) == []


def test_nothing_imports_the_package_root() -> None:
    assert sorted(m for m, ts in GRAPH.items() if "ganmetrics" in ts) == []
