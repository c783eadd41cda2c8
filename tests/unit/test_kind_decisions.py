"""Target kinds own their quirks: no decision on a target's kind outside ``hil/targets/``.

Code outside the kinds asks a target what it can do (``on_this_host``,
``runs_qvmsim_builds``, ``guest_control``, ``ssh_login``, ``console_url``,
``for_definition``...) instead of testing which kind it is, so a new kind (a
serial-only board, say) is one class and no edits elsewhere.  This test reads
every module of the package outside ``hil/targets/`` (its syntax tree, not its
text, so comments and strings do not count) for a comparison of a ``.kind`` with
a target kind's name, a ``.kind in ...`` test, or an ``isinstance`` against a
target class.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hil
from hil.cli.attach import console_url, ssh_argv
from hil.core.errors import ConfigError
from hil.targets.definition import KINDS, parse_definition

pytestmark = pytest.mark.quick

PACKAGE = Path(hil.__file__).resolve().parent

#: Decisions that stay, each with its reason (path relative to the package, line text).
ALLOWED = {
    # the test's own @pytest.mark.hil_kinds(...) selects targets by the kinds it names
    ("pytestplugin/selection.py", "names = [n for n in names if pool.definitions[n].kind in marker.args]"),
}

TARGET_CLASS_NAMES = {"Target", "RemoteTarget", "LocalTarget", "QemuTarget", "BoardTarget", "SerialBoardTarget",
                      "LabgridTarget"}  # fmt: skip


def _is_kind(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "kind"


def _names_a_kind(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value in KINDS:
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_a_kind(e) for e in node.elts)
    return False


def decisions(path: Path) -> list[tuple[int, str]]:
    """(line, source line) of each kind decision in ``path``."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        hit = False
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            kinds = any(_is_kind(s) for s in sides)
            if kinds and any(_names_a_kind(s) for s in sides):  # x.kind == "qemu", x.kind in ("local", ...)
                hit = True
            if kinds and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):  # x.kind in <anything>
                hit = True
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            classes = list(ast.walk(node.args[1])) if len(node.args) == 2 else []
            names = {n.id for n in classes if isinstance(n, ast.Name)}
            names |= {n.attr for n in classes if isinstance(n, ast.Attribute)}
            hit = bool(names & TARGET_CLASS_NAMES)
        if hit:
            assert isinstance(node, ast.expr)  # a Compare or a Call: an expression, which has a line
            found.append((node.lineno, lines[node.lineno - 1].strip()))
    return found


def test_no_kind_decision_outside_the_kinds() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("targets/"):
            continue
        for line, text in decisions(path):
            if (rel, text) not in ALLOWED:
                offenders.append(f"hil/{rel}:{line}: {text}")
    assert not offenders, (
        "target-kind decisions outside hil/targets/ (ask the target instead: a capability on Target, overridden "
        "by its kind):\n" + "\n".join(offenders)
    )


def test_the_check_finds_each_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "if target.kind == 'local': pass\n"
        'if definition.kind != "qemu": pass\n'
        "if d.kind in ('board', 'labgrid'): pass\n"
        "if isinstance(t, RemoteTarget): pass\n"
        "if isinstance(t, (int, targets.QemuTarget)): pass\n"
        "if toolchain.kind == 'gcc': pass\n"  # not a target kind
        "x = 'target.kind == \"local\"'\n"  # a string, not a decision
    )
    assert [line for line, _ in decisions(sample)] == [1, 2, 3, 4, 5]


def test_allowed_decisions_still_exist() -> None:
    for rel, text in ALLOWED:
        assert text in {t for _, t in decisions(PACKAGE / rel)}, f"ALLOWED names a decision no longer in hil/{rel}"


def test_terminals_are_the_kinds_own(tmp_path: Path) -> None:
    """``hil target ssh``/``console`` ask the kind: a board its [ssh] and [console], a qemu target its
    ``hil target up`` state."""
    board = parse_definition(
        {"kind": "board", "ssh": {"host": "10.0.0.2", "port": 2222, "host_key": "ssh-ed25519 AAAAkey"},
         "console": {"url": "rfc2217://lab:4001"}},
        "b.toml", "b",
    )  # fmt: skip
    argv = ssh_argv(board, tmp_path / "known_hosts")
    assert argv[0] == "ssh" and argv[-1] == "root@10.0.0.2" and "2222" in argv and "StrictHostKeyChecking=yes" in argv
    assert (tmp_path / "known_hosts").read_text() == "[10.0.0.2]:2222 ssh-ed25519 AAAAkey\n"
    assert console_url(board) == "rfc2217://lab:4001"
    serial = parse_definition({"kind": "board", "console": {"url": "/dev/ttyUSB0"}}, "s.toml", "s")
    assert console_url(serial) == "/dev/ttyUSB0"
    with pytest.raises(ConfigError, match="not reached over SSH"):
        ssh_argv(serial, tmp_path / "kh")
    vm = parse_definition({"kind": "qemu"}, "q.toml", "never-up-i26")
    with pytest.raises(ConfigError, match=r"not running in the background.*hil target up --target never-up-i26"):
        console_url(vm)
