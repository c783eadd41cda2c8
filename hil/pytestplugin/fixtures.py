"""The target fixtures of every test on a target: hil_target, hil_artifacts, hil_console, hil_ssh, and its record."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hil.core.errors import InfrastructureError, SetupError
from hil.core.inputs import safe_name
from hil.pytestplugin import reportkeys
from hil.pytestplugin.live import LIVE_KEY
from hil.pytestplugin.outcomes import RETRIED_KEY
from hil.pytestplugin.pool import POOL_KEY, TARGET_KEY
from hil.targets import Target

if TYPE_CHECKING:
    from hil.links.console import Console, ConsoleMatch, PatternLike
    from hil.links.ssh import SshConnection


@pytest.fixture(scope="session")
def _hil_target_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """The selected target's name (parametrized per selected target, one session instance each)."""
    name: str = request.param
    yield name
    request.config.stash[POOL_KEY].release(name)


@pytest.fixture
def hil_target(request: pytest.FixtureRequest, _hil_target_name: str) -> Target:
    """The target this test runs on: up, healthy, shared by the session."""
    request.node.stash[TARGET_KEY] = _hil_target_name
    pool = request.config.stash[POOL_KEY]
    props = request.node.user_properties
    props.append((reportkeys.TARGET, _hil_target_name))
    facts = {
        "target.kind": pool.definitions[_hil_target_name].kind,
        "target.arch": pool.definitions[_hil_target_name].arch,
    }
    props.append((reportkeys.TARGET_FACTS, json.dumps(facts)))
    target = pool.get(_hil_target_name)
    props[-1] = (reportkeys.TARGET_FACTS, json.dumps({**facts, **target.facts()}))
    live = request.config.stash.get(LIVE_KEY, None)
    if live is not None and target.console is not None:  # --hil-console-live
        live.watch_console(target.console, "serial" if len(pool.definitions) == 1 else f"serial {_hil_target_name}")
    setup = pool.take_setup(_hil_target_name)
    if setup:
        props.append((reportkeys.TARGET_SETUP, f"{setup:.6f}"))  # the report counts it as the target's, not the test's
    return target


@pytest.fixture
def hil_artifacts(request: pytest.FixtureRequest, _hil_target_name: str) -> Path:
    """This test's own artifacts folder: ``<artifacts>/<target>/<test>/``."""
    pool = request.config.stash[POOL_KEY]
    path = pool.artifacts / safe_name(_hil_target_name) / safe_name(request.node.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def hil_console(hil_target: Target, hil_artifacts: Path) -> Iterator[ConsoleSlice]:
    """This test's slice of the target's serial console, saved as ``console.log`` in its artifacts."""
    if hil_target.console is None:
        raise SetupError(
            f"target '{hil_target.name}' ({hil_target.kind}) has no serial console; mark the test "
            f'@pytest.mark.hil_kinds("qemu", "board") to run it only where there is one'
        )
    yield ConsoleSlice(hil_target.console)


@pytest.fixture
def hil_ssh(hil_target: Target) -> SshConnection:
    """The target's SSH connection (``hil.links.ssh.SshConnection``)."""
    ssh: SshConnection | None = getattr(hil_target, "ssh", None)
    if ssh is None:
        raise SetupError(
            f"target '{hil_target.name}' ({hil_target.kind}) is not reached over SSH; mark the test "
            f'@pytest.mark.hil_kinds("qemu", "board") to run it only where it is'
        )
    return ssh


class ConsoleSlice:
    """The part of a session-long console that belongs to one test."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.start = console.mark()
        self._next = self.start
        self.started_at = time.time()

    def text(self) -> str:
        return str(self.console.since(self.start))

    def expect(self, pattern: PatternLike | Sequence[PatternLike], timeout: float = 10.0) -> ConsoleMatch:
        """Wait for ``pattern`` in this test's part of the stream, after the previous match."""
        __tracebackhide__ = True  # a console that never showed it is the test's failure
        match = self.console.expect(pattern, timeout, since=self._next)
        self._next = match.end
        return match

    def not_matching(self, pattern: PatternLike) -> None:
        __tracebackhide__ = True
        self.console.not_matching(pattern, since=self.start)

    def sendline(self, line: str) -> None:
        self.console.sendline(line)


#: How much of a test's qvm logs and guest consoles its report gets (the ends; all of it in the files).
REPORT_TAIL_BYTES = 256 << 10


def _joined(parts: list[Path], whole: Path) -> str:
    """Copy ``parts`` into ``whole`` (each after a ``--- NAME`` line, streamed: no size is too big) and
    return the report's text: the end of each part, ``REPORT_TAIL_BYTES`` in all, a cut said as such."""
    share = max(4096, REPORT_TAIL_BYTES // len(parts))
    shown = []
    with open(whole, "wb") as out:
        for part in parts:
            out.write(f"--- {part.name}\n".encode())
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
                size = f.tell()
                f.seek(max(0, size - share))
                tail = f.read(share)
            if size > share:
                cut = tail.find(b"\n")
                tail = tail[cut + 1 :] if 0 <= cut < 4096 else tail
                note = f"[hil: the first {size - len(tail)} bytes are left out here; all of it: {whole}]\n"
                tail = note.encode() + tail
            shown.append(f"--- {part.name}\n" + tail.decode("utf-8", "replace"))
    return "".join(shown)


@pytest.fixture(autouse=True)
def _hil_record(request: pytest.FixtureRequest) -> Iterator[None]:
    """For every test on a target: its console slice and qvm logs, saved and attached to the report."""
    if "_hil_target_name" not in request.fixturenames:
        yield
        return
    name = request.getfixturevalue("_hil_target_name")
    pool = request.config.stash[POOL_KEY]
    artifacts: Path = request.getfixturevalue("hil_artifacts")
    target = pool.targets.get(name)
    console = target.console if target is not None else None
    start = console.mark() if console is not None else None
    yield
    props = request.node.user_properties
    props.append((reportkeys.ARTIFACTS, str(artifacts)))
    target = pool.targets.get(name)
    console = target.console if target is not None else None
    if console is not None:
        text = console.since(start) if start is not None else console.text()
        retried = request.node.stash.get(RETRIED_KEY, None)
        if retried:
            text = f"[hil: this is the retry after an infrastructure error: {retried}]\n" + text
        (artifacts / "console.log").write_text(text, encoding="utf-8")
        props.append((reportkeys.CONSOLE, text))
    logs = sorted(artifacts.glob("run*.qvm.log"))
    if logs:
        props.append((reportkeys.QVM_LOG, _joined(logs, artifacts / "qvm.log")))
    crashes = sorted(artifacts.glob("run*.crash.txt"))  # symbolised backtraces: after the log, kept by its bound
    if crashes:
        props.append((reportkeys.QVM_LOG, "".join(f"--- {p.name}\n{p.read_text(encoding='utf-8')}" for p in crashes)))
    guests = [p for p in sorted(artifacts.glob("run*.guest.log")) if p.stat().st_size]
    if guests:
        props.append((reportkeys.GUEST_CONSOLE, _joined(guests, artifacts / "guest.log")))
    if console is not None:
        # A death string (kernel panic, ...) no expect was waiting for: the target is gone bad.
        seen = console.take_failures()
        if seen:
            pool.needs_reset.add(name)
            raise InfrastructureError(f"target '{name}' console: " + "; ".join(str(f) for f in seen))
