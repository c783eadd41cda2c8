"""The report property keys are named once (hil/pytestplugin/reportkeys.py): nothing else in hil/ spells one."""

from __future__ import annotations

import ast

import pytest

from hil.pytestplugin import reportkeys
from tests.support.paths import REPO

pytestmark = pytest.mark.quick  # no process: reads and writes files only

HIL = REPO / "hil"
KEYS_MODULE = HIL / "pytestplugin" / "reportkeys.py"
#: hil's own packages and modules: ``"hil.targets.qemu"`` (a logger), ``"hil.core.errors"`` (a lazy import) are names
#: of code, not report keys
MODULES = frozenset(p.stem for p in HIL.iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file()))


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant of a module (f-strings' literal parts too), with its line."""
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def hand_spelled_keys(source: str) -> list[tuple[int, str]]:
    """The strings of ``source`` that spell a ``hil.*`` report key: any key of reportkeys, or any other
    ``hil.NAME...`` whose NAME is no module of hil (a new key spelled by hand)."""
    found = []
    for line, text in _strings(ast.parse(source)):
        if text in reportkeys.ALL:
            found.append((line, text))
        elif text.startswith("hil."):
            first = text[4:].split(".", 1)[0]
            if first not in MODULES:
                found.append((line, text))
    return found


def test_no_report_key_is_spelled_outside_its_module() -> None:
    offenders = []
    for path in sorted(HIL.rglob("*.py")):
        if path == KEYS_MODULE:
            continue
        for line, text in hand_spelled_keys(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
    assert offenders == [], "use the constants of hil/pytestplugin/reportkeys.py:\n" + "\n".join(offenders)


def test_the_check_finds_a_hand_spelled_key_and_leaves_module_names_alone() -> None:
    source = (
        'import logging\nlog = logging.getLogger("hil.targets.qemu")\nLAZY = {"SshConfig": "hil.links.ssh.config"}\n'
        'def f(props, v):\n    props.append(("hil.console", v))\n    props.append(("hil.new_key", f"hil.{v}"))\n'
    )
    assert hand_spelled_keys(source) == [(5, "hil.console"), (6, "hil.new_key"), (6, "hil.")]


def test_the_keys_are_the_documented_wire_names() -> None:
    """The keys are a contract with tests and other plugins (user_properties): their spelling never changes."""
    assert reportkeys.ALL == (
        "hil.target",
        "hil.target.facts",
        "hil.target.setup",
        "hil.console",
        "hil.qvm_log",
        "hil.guest_console",
        "hil.artifacts",
        "hil.infrastructure",
        "hil.vdev_warnings",
        "hil.measurement",
        "hil.sanitizer_expected",
    )
    assert all(type(key) is str for key in reportkeys.ALL)  # xdist's serializer takes no str subclass
