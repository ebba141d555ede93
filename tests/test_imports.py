"""The package's imports run one way: no module of fast_channels imports, by any route, a module
that imports it back. Counted: every import statement, at module level, inside functions (lazy)
and under `if TYPE_CHECKING:` (mypy follows those; a cycle there is still two modules that
cannot be read, moved or tested apart). `lint-imports` (pyproject.toml) checks the direction
between packages in CI; this test names any cycle at module level, with no dependency beyond
the standard library."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Container, Iterator
from pathlib import Path

import fast_channels

PACKAGE = "fast_channels"
ROOT = Path(fast_channels.__file__).parent

Graph = dict[str, set[str]]


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(
    node: ast.Import | ast.ImportFrom, module: str, modules: Container[str], is_package: bool
) -> Iterator[str]:
    """The modules an import statement names, as grimp (import-linter) counts them: `from a
    import b` names `a.b` when that is a module, else `a`; relative imports are resolved
    against `module`."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules else base


def import_graph() -> Graph:
    modules = _modules()
    graph: Graph = {module: set() for module in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            named = _imported(node, module, modules, is_package)
            graph[module] |= {name for name in named if name in modules} - {module}
    return graph


def _reachable(graph: Graph, start: str) -> set[str]:
    seen: set[str] = set()
    queue = deque(graph[start])
    while queue:
        node = queue.popleft()
        if node not in seen:
            seen.add(node)
            queue.extend(graph[node])
    return seen


def _tangles(graph: Graph) -> list[set[str]]:
    """The groups of modules that import each other by some route (each with 2+ modules)."""
    reach = {module: _reachable(graph, module) for module in graph}
    found: list[set[str]] = []
    for module in sorted(graph):
        if module in reach[module] and not any(module in tangle for tangle in found):
            found.append({other for other in reach[module] if module in reach[other]})
    return found


def shortest_cycle(graph: Graph, component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, as `a -> b -> ... -> a`."""
    start = min(component)
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def cycles(graph: Graph) -> list[str]:
    return [
        f"{' -> '.join(shortest_cycle(graph, component))} (modules in the tangle: "
        f"{', '.join(sorted(component))})"
        for component in _tangles(graph)
    ]


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles in fast_channels:\n" + "\n".join(found)


def test_the_cycle_finder_names_a_cycle() -> None:
    graph: Graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == ["a -> b -> c -> a (modules in the tangle: a, b, c)"]


def test_the_graph_counts_lazy_and_typing_only_imports() -> None:
    graph = import_graph()
    # reliable.py names the layer's Protocol under TYPE_CHECKING only.
    assert "fast_channels.layers.redis._types" in graph["fast_channels.layers.redis.reliable"]
    # The demo CLI imports its app inside a function.
    assert "fast_channels.demo.app" in graph["fast_channels.demo.cli"]
