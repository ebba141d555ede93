"""The package stays readable: modules under 400 lines, functions under 50, and reads of
another object's underscore members rare and explained (issue 18).

Counted by `ast` over fast_channels/: a function's lines run from its `def` (decorators
excluded) to its last line; an underscore read is an attribute `x._name` (not a dunder) whose
`x` is not `self`, `cls`, `super()` or `type(self)` and `_name` is no namedtuple method
(`_replace`, ...), outside `_compat.py`, whose whole job is reading our dependencies'
internals. Each such read carries a `# why:` comment on its line or
in the comment right above it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import fast_channels

ROOT = Path(fast_channels.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
MAX_UNDERSCORE_READS = 10
OWN = {"self", "cls"}
# A namedtuple's public API: underscored only so as not to clash with field names.
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}


def _modules() -> Iterator[tuple[Path, str, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        yield path.relative_to(ROOT.parent), source, ast.parse(source)


def _is_own(value: ast.expr) -> bool:
    if isinstance(value, ast.Name):
        return value.id in OWN
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        if value.func.id == "super":
            return True
        return value.func.id == "type" and len(value.args) == 1 and _is_own(value.args[0])
    return False


def _underscore_reads(tree: ast.Module) -> Iterator[ast.Attribute]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        if node.attr in NAMEDTUPLE_API:
            continue
        if not _is_own(node.value):
            yield node


def _explained(lines: list[str], node: ast.Attribute) -> bool:
    """A `# why:` on the read's lines or in the comment lines right above them."""
    first = node.lineno - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return any("# why:" in line for line in lines[first : node.end_lineno or node.lineno])


def test_no_module_over_400_lines() -> None:
    long = {
        str(path): len(source.splitlines())
        for path, source, _ in _modules()
        if len(source.splitlines()) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_over_50_lines() -> None:
    long = {
        f"{path}:{node.lineno} {node.name}": node.end_lineno - node.lineno + 1
        for path, _, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert long == {}


def test_reads_of_other_objects_underscore_members_are_few_and_explained() -> None:
    reads: list[str] = []
    unexplained: list[str] = []
    for path, source, tree in _modules():
        if path.name == "_compat.py":
            continue
        lines = source.splitlines()
        for node in _underscore_reads(tree):
            where = f"{path}:{node.lineno} {ast.unparse(node)}"
            reads.append(where)
            if not _explained(lines, node):
                unexplained.append(where)
    assert unexplained == []
    assert len(reads) <= MAX_UNDERSCORE_READS, reads


def test_the_checks_see_what_they_count() -> None:
    """The underscore rule tells another object's members from one's own."""
    tree = ast.parse(
        "self._a; cls._b; super()._c; type(self)._d; other._e; self.x._f; a.__g__; t._replace"
    )
    assert [ast.unparse(node) for node in _underscore_reads(tree)] == ["other._e", "self.x._f"]
