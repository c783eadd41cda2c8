"""No two files of ``hil`` depend on each other, however indirectly: the file-level import graph has no cycle.

``tests/unit/test_layers.py`` forbids cycles among the imports run when a
module loads; this test is stricter, because a cycle hidden in a function or
under ``TYPE_CHECKING`` is still two files that cannot be understood, changed
or moved one without the other.  Every import of a ``hil`` module counts:
module level, inside functions and classes, under ``TYPE_CHECKING``;
``from hil.pkg import name`` is an edge to ``hil/pkg/name.py`` when that file
exists (else to the package's ``__init__.py``) and ``from . import name`` is
resolved the same way.  Importing ``hil.a.b`` also runs ``hil/a/__init__.py``,
but that is no dependency of the importer on the package's other files: only
the named file counts.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

import hil

pytestmark = pytest.mark.quick

PACKAGE = Path(hil.__file__).resolve().parent

#: Cycles known to exist and not yet broken, by the set of their files.  A listed cycle that is gone
#: passes too (the entry is then stale: delete it).  None now: hil/qvm/guest <-> runner went with the
#: hil.qvmrun split; hil/targets/board <-> serialboard with the serial-only variant registering itself
#: with its kind (``BoardTarget.serial_only``).
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()


def module_name(path: Path, root: Path) -> str:
    """``hil.links.ssh`` for ``hil/links/ssh/__init__.py``, ``hil.core.errors`` for ``hil/core/errors.py``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path, modules: set[str]) -> Iterator[tuple[str, int]]:
    """(module of ``modules``, line) for every import in ``path``, wherever it stands in the file."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:  # "from hil.vm import snapshot": the file hil/vm/snapshot.py
                    yield sub, node.lineno
                elif base in modules:
                    yield base, node.lineno


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """Each module of the package under ``root`` -> {module it imports: line of the first such import}."""
    paths = {module_name(p, root): p for p in sorted((root / "hil").rglob("*.py"))}
    modules = set(paths)
    graph: dict[str, dict[str, int]] = {}
    for name, path in paths.items():
        edges: dict[str, int] = {}
        for imported, line in imported_modules(path, root, modules):
            if imported != name:
                edges[imported] = min(line, edges.get(imported, line))
        graph[name] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of modules that import each other (Tarjan), each of two or more modules, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def one_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """A shortest import path from the group's first module back to itself, within the group."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt not in members or nxt in came_from:
                    continue
                came_from[nxt] = node
                if nxt == start:
                    path = [start]
                    while path[-1] != start or len(path) == 1:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {group}")


def describe(graph: dict[str, dict[str, int]], cycle: list[str]) -> str:
    """``hil/a.py:12 imports hil.b`` for each step of ``cycle``."""
    steps = []
    for here, there in itertools.pairwise(cycle):
        steps.append(f"  {here.replace('.', '/')}.py:{graph[here][there]} imports {there}")
    return "\n".join(steps)


def cycles_in(root: Path) -> list[str]:
    """One described cycle per group of modules importing each other, minus ``KNOWN_CYCLES``."""
    graph = import_graph(root)
    found = []
    for group in strongly_connected(graph):
        if frozenset(group) in KNOWN_CYCLES:
            continue
        found.append(f"{' <-> '.join(group)}:\n{describe(graph, one_cycle(graph, group))}")
    return found


def test_no_file_level_import_cycle_in_hil() -> None:
    found = cycles_in(PACKAGE.parent)
    assert not found, (
        "files of hil import each other (module level, in a function or under TYPE_CHECKING); make the "
        "dependency point one way (move what both need into a module of its own):\n" + "\n".join(found)
    )


def test_the_checker_finds_every_kind_of_import(tmp_path: Path) -> None:
    """A cycle through a function-level, a TYPE_CHECKING and a relative import is found and printed."""
    pkg = tmp_path / "hil" / "pkg"
    pkg.mkdir(parents=True)
    (tmp_path / "hil" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from hil.pkg.b import g\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n")
    (pkg / "c.py").write_text("import os\n\nfrom hil.pkg import a\n")
    (pkg / "d.py").write_text("from hil.pkg import a\n")  # imports into the cycle, is not part of it
    found = cycles_in(tmp_path)
    assert found == [
        "hil.pkg.a <-> hil.pkg.b <-> hil.pkg.c:\n"
        "  hil/pkg/a.py:2 imports hil.pkg.b\n"
        "  hil/pkg/b.py:3 imports hil.pkg.c\n"
        "  hil/pkg/c.py:3 imports hil.pkg.a"
    ]
    (pkg / "c.py").write_text("import hil.pkg\n")  # the package's __init__, not its files: no cycle
    assert cycles_in(tmp_path) == []
