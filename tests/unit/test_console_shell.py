"""The console shell (``hil.links.consoleshell``) on the shells boards have, over a real terminal.

Each shell runs interactively on a pty served as ``socket://`` (``tests.support.ptyshell``):
``dash``, busybox ``ash`` (the public VM's) and ``mksh``, a pdksh descendant as QNX's
``ksh`` is.  Commands (status, separate output, binary bytes, stdin, a fresh shell each,
Ctrl-C at the timeout), files (base64 with md5sum, and what a QNX target without base64
uses: ``printf`` octal, ``od`` and POSIX ``cksum``) and background processes (stdin, output,
exit status, signals) are checked on each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.errors import CommandTimeout
from hil.links.console import Console
from hil.links.consolecodec import Checksum, Encoding
from hil.links.consoleprocess import ConsoleProcess
from hil.links.consoleshell import ConsoleShell
from hil.links.transports import TcpTransport
from tests.support.needs import require_program
from tests.support.ptyshell import PtyShell

SHELLS = {"dash": ["dash", "-i"], "busybox": ["busybox", "sh", "-i"], "mksh": ["mksh", "-i"]}
PACKAGES = {"dash": "dash", "busybox": "busybox-static", "mksh": "mksh"}


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConsoleShell]:
    name = str(request.param)
    require_program(SHELLS[name][0], PACKAGES[name])
    (tmp_path / "home").mkdir()
    served = PtyShell(SHELLS[name], tmp_path / "home")
    console = Console(TcpTransport("127.0.0.1", served.port), log_path=tmp_path / "console.log", name=name).start()
    try:
        link = ConsoleShell(console, str(tmp_path / "work"), name=f"{name} shell")
        link.attach(20)
        yield link
    finally:
        console.close()
        served.stop()


def test_commands(shell: ConsoleShell) -> None:
    result = shell.run(["sh", "-c", 'echo "$1"; echo err >&2; exit 3', "sh", "it's a $HOME; `x` \\ %s"], 20)
    assert (result.exit_status, result.stdout_text, result.stderr_text) == (3, "it's a $HOME; `x` \\ %s\n", "err\n")
    assert shell.run("printf '\\000\\001\\377\\r\\n'", 20).stdout == b"\x00\x01\xff\r\n"
    assert shell.run("cat", 20, stdin=bytes(range(256))).stdout == bytes(range(256))
    assert shell.run("echo " + "y" * 3000, 20).stdout_text == "y" * 3000 + "\n"
    assert shell.run("cd /tmp && pwd", 20).stdout_text == "/tmp\n"
    assert shell.run("pwd", 20).stdout_text == "/\n"  # a fresh shell per command, from /
    assert shell.run("kill -s TERM $$", 20).signal == "SIGTERM"


def test_timeout_interrupts_and_the_shell_goes_on(shell: ConsoleShell) -> None:
    with pytest.raises(CommandTimeout) as err:
        shell.run("echo started; sleep 20", timeout=0.5)
    assert err.value.partial is not None and err.value.partial.stdout == b"started\n"
    assert shell.run("echo again", 20).stdout_text == "again\n"


@pytest.mark.parametrize(("encoding", "checksum"), [("base64", "md5sum"), ("octal", "cksum"), ("octal", "size")])
def test_files(shell: ConsoleShell, tmp_path: Path, encoding: Encoding, checksum: Checksum) -> None:
    link = ConsoleShell(shell.console, shell.workdir, encoding=encoding, checksum=checksum)
    link.attach(20)
    assert (link.codec.encoding, link.codec.checksum) == (encoding, checksum)
    data = os.urandom(20_000) + bytes(range(256))
    (tmp_path / "blob").write_bytes(data)
    target = tmp_path / "on target" / "blob 'x'"
    target.parent.mkdir()
    link.put(tmp_path / "blob", str(target), 0o640)
    assert target.read_bytes() == data and (target.stat().st_mode & 0o777) == 0o640
    link.get(str(target), tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data
    with pytest.raises(FileNotFoundError):
        link.get(str(tmp_path / "missing"), tmp_path / "none")


def test_background_process(shell: ConsoleShell) -> None:
    got: list[bytes] = []
    process = ConsoleProcess(shell, "echo up; cat; echo bye >&2; exit 4", lambda stream, chunk: got.append(chunk))
    process.write_stdin(b"ping\n")
    end = time.monotonic() + 20
    while b"ping" not in process.stdout and time.monotonic() < end:
        time.sleep(0.02)
    process.close_stdin()
    result = process.wait(20)
    assert (result.exit_status, result.stdout, result.stderr) == (4, b"up\nping\n", b"bye\n")
    assert b"".join(got) == b"up\nping\nbye\n"
    sleeper = ConsoleProcess(shell, "exec sleep 60", None)
    sleeper.signal("USR1")
    assert sleeper.wait(20).signal == "SIGUSR1"
    assert shell.run("echo the shell survived", 20).stdout_text == "the shell survived\n"


def test_a_chunk_spoiled_on_the_way_is_sent_again(
    shell: ConsoleShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loaded target's UART loses a character of a file being sent (here: dropped from the first chunk's
    first base64 line on its way to the real shell): base64 fails on the target, and the file is sent again,
    not reported as one the target cannot write."""
    link = ConsoleShell(shell.console, shell.workdir, encoding="base64")
    link.attach(20)
    data = os.urandom(100_000)  # several chunks
    (tmp_path / "blob").write_bytes(data)
    console, spoiled = link.console, list[str]()
    write = console.write

    def lossy(text: str | bytes) -> None:
        lines = (text if isinstance(text, str) else text.decode()).split("\n")
        for i, line in enumerate(lines[:-1]):
            if not spoiled and line.startswith("base64 -d >>"):
                lines[i + 1] = lines[i + 1][:10] + lines[i + 1][11:]  # one character lost
                spoiled.append(lines[i + 1])
        write("\n".join(lines))

    monkeypatch.setattr(console, "write", lossy)
    target = tmp_path / "sent"
    link.put(tmp_path / "blob", str(target), 0o600)
    assert spoiled and target.read_bytes() == data
