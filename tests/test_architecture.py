"""The import rules of the codebase, checked on the source: no import cycles between modules, and the
composition root (``glasshouse.services``) imported only by the surfaces and entry points it is composed for,
never by the domains it composes (not even for type checking)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMPOSITION_ROOT = "glasshouse.services"
#: Packages that are surfaces or entry points: they build or receive the composed services.
SURFACES = ("rest", "web", "rekognition", "s3api", "http", "cli", "bench")
#: Surface and entry-point modules that live beside their domain: the portal's REST routes, the public
#: transparency pages, the Celery worker and the job runner (whose handlers get the process's services).
ENTRY_POINTS = frozenset(
    {
        "glasshouse.portal.rest",
        "glasshouse.transparency.web",
        "glasshouse.jobs.celery_app",
        "glasshouse.jobs.runner",
    }
)


def _modules() -> dict[str, ast.Module]:
    found: dict[str, ast.Module] = {}
    for path in sorted((SRC / "glasshouse").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return found


def _imported(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        yield node.module
        yield from (f"{node.module}.{alias.name}" for alias in node.names)
    elif isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)


def _runtime_imports(tree: ast.Module) -> Iterator[str]:
    """What a module imports when it is imported: its top level, less ``if TYPE_CHECKING:`` blocks (imports
    inside functions run later and cannot close a cycle at import time)."""
    for statement in tree.body:
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
            continue
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(statement):
            yield from _imported(node)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others() -> None:
    modules = _modules()
    graph = {
        name: {m for m in _runtime_imports(tree) if m in modules} - {name} for name, tree in modules.items()
    }
    assert _cycles(graph) == []


def test_only_surfaces_and_entry_points_import_the_composition_root() -> None:
    offenders = sorted(
        name
        for name, tree in _modules().items()
        if any(
            m == COMPOSITION_ROOT or m.startswith(f"{COMPOSITION_ROOT}.")
            for n in ast.walk(tree)
            for m in _imported(n)
        )
        and name.split(".")[1] not in SURFACES
        and name not in ENTRY_POINTS
        and name != COMPOSITION_ROOT
    )
    assert offenders == [], f"domain modules importing {COMPOSITION_ROOT}: {offenders}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
