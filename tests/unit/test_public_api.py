"""One public API: a test author imports what a test needs from ``hil`` (issue 26).

``hil.__all__`` names the qvm model, the running side, the types the fixtures hand out and the
errors; each is loaded on first use, so ``import hil`` (every ``hil`` command) loads nothing else.
The README's and the ``hil init`` template's examples import from ``hil`` only, and every fixture's
return type is one of those names.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hil
import hil.pytestplugin.plugin as plugin
from hil.qvm.log import parse_log

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(hil.__file__).resolve().parent


@pytest.mark.quick
def test_every_public_name_is_importable_from_hil() -> None:
    homes: dict[str, str] = hil._HOMES
    assert sorted(hil.__all__) == hil.__all__ and set(hil.__all__) == set(homes)
    for name in hil.__all__:
        assert getattr(hil, name) is getattr(importlib.import_module(homes[name]), name), name
    wanted = {"QvmConfig", "Exit", "QvmResult", "QvmSession", "QvmRunner", "GuestControl", "DeployedVdev"}
    wanted |= {"SweepReport", "HilError", "InfrastructureError", "SetupError", "ConfigError", "DeviceFailure"}
    assert wanted <= set(hil.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        hil.nothing_here  # noqa: B018


def test_import_hil_loads_nothing_else() -> None:
    """``hil`` commands import ``hil`` first: the public names must not make that slower."""
    code = "import sys, hil; print(sorted(m for m in sys.modules if m.startswith('hil.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S)


def _hil_imports(source: str) -> list[str]:
    """The modules of the ``hil`` imports of ``source`` (``from hil.x import y`` → ``hil.x``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hil":
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "hil"]
    return found


@pytest.mark.quick
def test_the_readme_and_the_template_import_from_hil() -> None:
    sources = {
        f"README.md block {i}": block for i, block in enumerate(_python_blocks((ROOT / "README.md").read_text()))
    }
    template = PACKAGE / "cli" / "project_template"
    sources |= {str(p.relative_to(PACKAGE)): p.read_text() for p in sorted(template.rglob("*.py"))}
    imported = {where: _hil_imports(text) for where, text in sources.items()}
    assert any(imported.values()), "no hil import found: the check reads nothing"
    deep = {where: [m for m in mods if m != "hil"] for where, mods in imported.items()}
    assert not any(deep.values()), f"import these from 'hil' itself: { {w: m for w, m in deep.items() if m} }"


@pytest.mark.quick
def test_the_repository_hil_tests_import_from_hil() -> None:
    """tests/hil is written as a user's tests are: the test author's names come from ``hil``."""
    deep = {
        str(p.relative_to(ROOT)): [m for m in _hil_imports(p.read_text()) if m != "hil"]
        for p in sorted((ROOT / "tests" / "hil").glob("test_*.py"))
    }
    assert deep and not any(deep.values()), {p: m for p, m in deep.items() if m}


def _fixtures() -> dict[str, object]:
    return {name: getattr(plugin, name) for name in plugin.__all__ if name.startswith("hil_")}


@pytest.mark.quick
def test_every_fixture_returns_a_public_type() -> None:
    """Typed fixtures: what each ``hil_*`` fixture hands out is importable from ``hil`` (or a ``Path``)."""
    untyped, private = [], []
    for name, fixture in _fixtures().items():
        returned = inspect.unwrap(fixture).__annotations__.get("return")  # type: ignore[arg-type]
        if returned is None:
            untyped.append(name)
            continue
        m = re.fullmatch(r"(?:Iterator\[)?(\w+)\]?", str(returned))
        if m is None or (m[1] not in hil.__all__ and m[1] != "Path"):
            private.append(f"{name} -> {returned}")
    assert set(_fixtures()) >= {"hil_target", "hil_vdev", "hil_qvm", "hil_sweep", "hil_fuzz", "hil_console", "hil_ssh"}
    assert not untyped, f"fixtures without a return type: {untyped}"
    assert not private, f"fixtures returning a type not exported by hil: {private}"


@pytest.mark.quick
def test_the_deprecated_result_name_warns() -> None:
    """``QvmResult.expect_stdout`` is ``assert_stdout``'s old name: it still works, and says so."""
    run = hil.QvmResult(0, None, hil.Exit.NORMAL, 0.1, parse_log(""), stdout="hello there\n")
    with pytest.warns(DeprecationWarning, match=r"expect_stdout\(\) is deprecated: use run\.assert_stdout"):
        assert run.expect_stdout(r"hello (\w+)")[1] == "there"
    assert run.assert_stdout(r"hello (\w+)")[1] == "there"
