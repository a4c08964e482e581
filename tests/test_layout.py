"""The layout holds: the stage order is written once, and otelproc's modules import one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from otelproc.pipeline import STAGES, ordered

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_states_the_stage_order_of_STAGES():
    readme = (ROOT / "README.md").read_text()
    lines = re.findall(r"^\s*pipeline/ stages: (.*)$", readme, re.M)
    assert len(lines) == 1, "README's data flow diagram names the stages on one 'pipeline/ stages:' line"
    assert tuple(name.strip() for name in lines[0].split("─►")) == STAGES


def test_the_pipeline_runs_its_stages_in_the_order_of_STAGES():
    def stage(batch):
        return batch

    given = {name: stage for name in reversed(STAGES) if name != "ai"}  # any order, one stage left out
    assert [name for name, _ in ordered(given)] == [name for name in STAGES if name != "ai"]
    with pytest.raises(ValueError, match="unknown pipeline stage"):
        ordered({"detect": stage})


# -- imports -------------------------------------------------------------------------------------------

PACKAGE = ROOT / "otelproc"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, dict[str, str]]:
    """otelproc's modules -> the otelproc modules each imports -> where (file:line).

    Every import counts, wherever it is: at module level, inside a function, under
    ``if TYPE_CHECKING:``; an import put in a function to dodge a circle is still a circle.
    A package's ``__init__`` is a module like the others; the compiled core (``otelproc._core``)
    imports nothing of otelproc's and is left out.
    """
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = graph.setdefault(module, {})
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, up level - 1
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from p import m`` imports the module p.m when there is one, else a name of p
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names]
            else:
                continue
            for target in targets:
                if target in paths and target != module:
                    edges.setdefault(target, f"{path.relative_to(ROOT)}:{node.lineno}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str]:
    """One cycle of ``graph`` as [a, b, ..., a], or [] when there is none (depth-first search)."""
    state: dict[str, str] = {}  # visiting | done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "visiting"
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "visiting":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_import_graph_sees_imports_inside_functions_and_type_checking_blocks():
    graph = import_graph()
    assert "otelproc.service" in graph["otelproc"]  # in the package's __getattr__
    assert "otelproc.store.duckdb" in graph["otelproc.admin.playbooks"]  # under TYPE_CHECKING
    assert "otelproc.pipeline.scan" in graph["otelproc.pipeline"]  # a package's __init__
    assert find_cycle({"a": {"b": ""}, "b": {"c": ""}, "c": {"a": ""}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": ""}, "b": {}, "c": {"a": "", "b": ""}}) == []


def test_otelproc_modules_import_one_way():
    graph = import_graph()
    cycle = find_cycle(graph)
    steps = [f"{a} -> {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
    assert not cycle, "an import circle:\n" + "\n".join(steps)
