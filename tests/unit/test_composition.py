"""Classes of ``hil`` are composed, not cut into mixins that re-declare their host's private fields.

A mixin that declares, under ``if TYPE_CHECKING:`` in its class body, the
fields and methods "provided by" the class it is mixed into shares that class's
private state without owning any of it: neither half can be read, tested or
changed alone, and mypy checks only what the declarations claim.  The
alternative is an object that holds the state it needs, passed in, and that
its owner delegates to (``SshConnection``: a ``TransportPool``, a
``CommandRunner``, a ``FileTransfer``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hil
from hil.links.capture import Capture
from hil.links.console import Console
from hil.links.expect import Expecter
from hil.links.failpatterns import FailWatchers
from hil.links.reader import Reader
from hil.links.ssh import SshConnection
from hil.links.ssh.commands import CommandRunner
from hil.links.ssh.pool import TransportPool
from hil.links.ssh.transfer import FileTransfer
from hil.links.transports import open_transport

pytestmark = pytest.mark.quick

PACKAGE = Path(hil.__file__).resolve().parent

#: Mixins known to exist and being recomposed on another branch (file, class).  One that is gone passes
#: too (the entry is then stale: delete it).
KNOWN_MIXINS: frozenset[tuple[str, str]] = frozenset()


def host_declaring_classes(root: Path) -> list[tuple[str, str, int]]:
    """(file, class, line) of every class whose body has an ``if TYPE_CHECKING:`` block."""
    found = []
    for path in sorted((root / "hil").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            for statement in node.body:
                if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
                    found.append((path.relative_to(root).as_posix(), node.name, statement.lineno))
    return found


def test_no_class_re_declares_its_hosts_fields() -> None:
    found = [
        f"{file}:{line}: class {name} declares fields under TYPE_CHECKING (a mixin sharing its host's state)"
        for file, name, line in host_declaring_classes(PACKAGE.parent)
        if (file, name) not in KNOWN_MIXINS
    ]
    assert not found, "hold the state in the object that uses it, passed in, and delegate to it:\n" + "\n".join(found)


def test_the_checker_sees_a_mixin(tmp_path: Path) -> None:
    (tmp_path / "hil").mkdir()
    (tmp_path / "hil" / "m.py").write_text(
        "from typing import TYPE_CHECKING\nclass Half:\n    if TYPE_CHECKING:\n        _state: int\n"
        "if TYPE_CHECKING:\n    import os\n"
    )
    assert host_declaring_classes(tmp_path) == [("hil/m.py", "Half", 3)]


def test_ssh_connection_owns_its_collaborators() -> None:
    """``SshConnection`` is a class of its own whose parts hold their state, not a sum of mixins."""
    assert SshConnection.__mro__ == (SshConnection, object)
    for part in (TransportPool, CommandRunner, FileTransfer):
        assert part.__mro__ == (part, object), part


def test_console_owns_its_collaborators() -> None:
    """``Console`` is a class of its own that owns a capture, a reader, fail-pattern watchers and an expect
    engine; the watchers and the expect engine take the capture as their collaborator (no shared private state)."""
    assert Console.__mro__ == (Console, object)
    for part in (Capture, Reader, FailWatchers, Expecter):
        assert part.__mro__ == (part, object), part
    console = Console(open_transport("loop://"), fail_patterns=["panic"])
    assert console.reader.capture is console.capture
    assert console.watchers.capture is console.capture
    assert (console.expecter.capture, console.expecter.reader, console.expecter.watchers) == (
        console.capture,
        console.reader,
        console.watchers,
    )
    assert console.capture.watchers, "the fail-pattern watchers are called by the capture as text arrives"
