"""The package's layers: a module never imports a higher layer, and module-level imports have no cycle.

Layers, lowest first (README, "Architecture"): ``hil.core`` < ``hil.qvm`` <
``hil.links`` < ``hil.vm`` < ``hil.targets`` < ``hil.qvmrun`` < ``hil.orchestrate`` <
``hil.pytestplugin`` < ``hil.cli``.  Every import counts for the layer rule,
also those inside functions and under ``TYPE_CHECKING``; module-level imports
(outside ``TYPE_CHECKING``) must also form no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hil

PACKAGE = Path(hil.__file__).resolve().parent
LAYERS = ("core", "qvm", "links", "vm", "targets", "qvmrun", "orchestrate", "pytestplugin", "cli")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "hil":
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, module-level at run time) for every ``hil`` import of ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.body:
                    visit_one(sub, False)
                for sub in child.orelse:
                    visit_one(sub, top)
            else:
                visit_one(child, top)

    def visit_one(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno, top) for a in node.names if a.name.startswith("hil"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hil") and node.level == 0:
            for alias in node.names:  # "from hil.x import y" may import the module hil.x.y
                sub = f"{node.module}.{alias.name}"
                found.append(
                    (
                        sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() else node.module,
                        node.lineno,
                        top,
                    )
                )
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            visit(node, False)
        else:
            visit(node, top)

    visit(tree, True)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_a_layer() -> None:
    loose = [m for m in MODULES if layer(m) is None and m not in ("hil", "hil.__main__")]
    assert not loose, f"modules outside the layers {LAYERS}: {loose}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for name, path in MODULES.items():
        mine = layer(name)
        if mine is None:
            continue
        for imported, line, _ in imports(path):
            theirs = layer(imported)
            if theirs is not None and theirs > mine:
                upward.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: {name} ({LAYERS[mine]}) imports "
                    f"{imported} ({LAYERS[theirs]})"
                )
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_module_level_imports_have_no_cycle() -> None:
    graph = {
        name: sorted({imp for imp, _, top in imports(path) if top and imp in MODULES and imp != name})
        for name, path in MODULES.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            walk(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The checker itself: an upward import and a lazy one are found."""
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hil.cli import main\n"
        "def f():\n    import hil.qvmrun.runner\nfrom hil.core import errors\n"
    )
    got = imports(src)
    assert ("hil.cli.main", 3, False) in got and ("hil.qvmrun.runner", 5, False) in got
    assert ("hil.core.errors", 6, True) in got
    assert layer("hil.cli.main") == LAYERS.index("cli") and layer("hil.core.errors") == 0


#: What the qvm model (``hil.qvm``) may not import: it computes, it does not run or reach anything.
RUNNING = ("subprocess", "socket", "threading", "multiprocessing", "asyncio", "signal", "select", "shutil")


def _all_imports(path: Path) -> list[tuple[str, int]]:
    """Every import of ``path`` (``hil`` or not), also inside functions and under ``TYPE_CHECKING``."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def test_the_qvm_model_is_pure() -> None:
    """``hil.qvm`` is the pure model of a qvm run: it imports only ``hil.core`` and itself (not even
    lazily or for typing) and nothing that runs processes or opens connections; the running side
    is ``hil.qvmrun``."""
    model = {name: path for name, path in MODULES.items() if name == "hil.qvm" or name.startswith("hil.qvm.")}
    assert {"hil.qvm.config", "hil.qvm.log", "hil.qvm.exitcodes", "hil.qvm.result", "hil.qvm.timeline"} <= set(model)
    impure = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: imports {imported}"
        for name, path in model.items()
        for imported, line in _all_imports(path)
        if (imported.startswith("hil.") and imported.split(".")[1] not in ("core", "qvm"))
        or imported.split(".")[0] in RUNNING
    ]
    assert not impure, "the qvm model imports the running side:\n" + "\n".join(impure)


def test_the_guest_controls_do_not_import_the_runner() -> None:
    """``qvmrun.guest`` drives a ``QvmChannel`` (a protocol): the runner imports it, never the reverse,
    not even for typing (the file-level cycle ``guest`` <-> ``runner``)."""
    guest = [imp for imp, _ in _all_imports(MODULES["hil.qvmrun.guest"])]
    assert not [imp for imp in guest if imp.startswith("hil.qvmrun.runner")], guest
    assert "hil.qvmrun.guest" in {imp for imp, _ in _all_imports(MODULES["hil.qvmrun.runner"])}
