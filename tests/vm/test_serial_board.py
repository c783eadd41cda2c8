"""A serial-only board: the public VM reached through its serial console alone, its sshd stopped.

The module boots one private public-image VM, stops its sshd (dropbear) through
the console, and hands out board definitions with a ``[console]`` and no
``[ssh]`` (``SerialBoardTarget``): the console is the VM's serial socket
directly (``socket://``), or a real ser2net (``tests.support.ser2net``, raw TCP
and RFC 2217) exporting a serial port (a pty) wired to that socket, as a lab's
terminal server exports a board's serial port.  The shell, the file transfers and the background
processes are tested on it, then the HIL suite's watchdog and
configuration-fault tests run on it in an inner session, directly and through
ser2net.  QEMU's serial socket takes one client at a time: every test opens and
closes its own.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import CommandTimeout
from hil.links.console import Console
from hil.links.consolecodec import Encoding
from hil.links.consoleshell import ConsoleShell
from hil.links.transports import TcpTransport
from hil.targets import SerialBoardTarget, make_target
from hil.targets.definition import load_definition, resolve
from hil.targets.qemu import public_image, qemu_options
from hil.vm.qemu import QemuMachine
from tests.support.inner import run_inner_pytest
from tests.support.ser2net import PtyRelay, Ser2net

pytestmark = pytest.mark.filterwarnings(r"ignore:set(Daemon|Name)\(\) is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QemuMachine]:
    """A private public-image VM whose sshd has been stopped through its console."""
    (definition,) = resolve("qemu")
    # The board's console as a lab's terminal server has it: a loopback TCP port (QEMU's own console
    # is a private unix socket unless asked for TCP).
    machine = QemuMachine(
        public_image(definition),
        qemu_options(definition),
        run_dir=tmp_path_factory.mktemp("vm"),
        snapshot=True,
        console_tcp=True,
    )
    machine.start()
    try:
        machine.wait_ready(Deadline.after(180))
        with Console(TcpTransport("127.0.0.1", machine.serial_port), name="vm console") as console:
            shell = ConsoleShell(console, "/tmp/hil-console")
            shell.attach(30)
            shell.run("kill $(pidof dropbear)", 30, check=True)
            # no sshd any more: waited for (a loaded TCG guest may take its time to end it), not slept on
            gone = (
                "i=0; while pidof dropbear >/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; pidof dropbear"
            )
            assert shell.run(gone, 30).exit_status == 1
        yield machine
    finally:
        machine.stop()


def board_toml(folder: Path, url: str, name: str = "serial-vm") -> Path:
    """A serial-only board definition: a console, no [ssh]; qvmsim's guest through qvm's stdin."""
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nkind = "board"\nos = "linux"\n[console]\nurl = "{url}"\n[guest]\ncontrol = "scripted"\n'
    )
    return path


@pytest.fixture
def board(vm: QemuMachine, tmp_path: Path) -> Iterator[SerialBoardTarget]:
    target = make_target(load_definition(board_toml(tmp_path, f"socket://127.0.0.1:{vm.serial_port}")), tmp_path)
    assert isinstance(target, SerialBoardTarget)
    target.up(Deadline.after(60))
    yield target
    target.down()


def test_commands_status_output_and_stdin_over_the_console(board: SerialBoardTarget) -> None:
    assert board.run("pidof dropbear", 30).exit_status == 1  # SSH is not what carries this
    result = board.run(["sh", "-c", 'echo "$1"; echo err >&2; exit 3', "sh", "it's a $HOME; `x`"], timeout=30)
    assert (result.exit_status, result.stdout_text, result.stderr_text) == (3, "it's a $HOME; `x`\n", "err\n")
    binary = board.run("printf '\\000\\001\\377\\r\\n%%'", 30).stdout
    assert binary == b"\x00\x01\xff\r\n%"
    assert board.run("cat", 30, stdin=b"line\x00two\n").stdout == b"line\x00two\n"
    long = "echo " + "x" * 5000  # longer than a tty line: goes through a file
    assert board.run(long, 30).stdout_text == "x" * 5000 + "\n"
    assert board.run("cd /tmp; pwd", 30).stdout_text == "/tmp\n"
    assert board.run("pwd", 30).stdout_text == "/\n"  # every command in a fresh shell, as over SSH
    assert board.run("kill -s SEGV $$", 30).signal == "SIGSEGV"


def test_a_command_past_its_timeout_is_interrupted_and_the_shell_goes_on(board: SerialBoardTarget) -> None:
    with pytest.raises(CommandTimeout) as err:
        board.run("echo started; sleep 30", timeout=3.0)  # "started" arrives well within it, even loaded
    assert err.value.partial is not None and err.value.partial.stdout == b"started\n"
    assert "sleep 30" not in board.run("ps", 30).stdout_text
    assert board.run("echo still here", 30).stdout_text == "still here\n"


def test_a_console_shell_that_dies_and_respawns_is_picked_up(board: SerialBoardTarget) -> None:
    """busybox init respawns the console's shell (echo and prompt back on): the framing does not rely
    on either, so the next command works, and a reset re-attaches."""
    with pytest.raises(CommandTimeout):
        board.run("kill -9 $PPID", timeout=3)  # the command's parent is the console shell
    assert board.run("echo back", 30).stdout_text == "back\n"
    board.reset(Deadline.after(60))
    assert board.run("echo reset", 30).stdout_text == "reset\n"


@pytest.mark.parametrize("encoding", ["base64", "octal"])
def test_files_are_binary_safe_and_checked(board: SerialBoardTarget, tmp_path: Path, encoding: Encoding) -> None:
    assert board.console is not None
    shell = ConsoleShell(board.console, "/tmp/hil-console-test", encoding=encoding)
    shell.attach(30)
    assert shell.codec.encoding == encoding
    data = os.urandom(40_000) + bytes(range(256)) * 4
    (tmp_path / "blob").write_bytes(data)
    shell.put(tmp_path / "blob", "/tmp/blob with space", 0o600)
    assert shell.run("stat -c %a '/tmp/blob with space'", 30).stdout_text == "600\n"
    shell.get("/tmp/blob with space", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data
    with pytest.raises(FileNotFoundError):
        shell.get("/tmp/no such file", tmp_path / "none")


def test_console_noise_during_a_transfer_is_caught_by_the_checksum(board: SerialBoardTarget, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "big").write_bytes(data)
    board.put(tmp_path / "big", "/tmp/big", 0o644)
    # kernel-message-like lines written straight to the console while the file is read back
    board.run("( (for i in 1 2 3; do sleep 0.2; echo 'kernel: noise 42 ab cd' > /dev/ttyS0; done) & )", 30)
    board.get("/tmp/big", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data
    assert board.console is not None and "kernel: noise" in board.console.text()


def test_background_programs_stream_output_take_stdin_and_signals(board: SerialBoardTarget) -> None:
    chunks: list[tuple[str, bytes]] = []
    process = board.start("echo ready; cat; echo done >&2; exit 7", on_output=lambda s, b: chunks.append((s, b)))
    assert process.pid > 1 and process.poll() is None
    process.write_stdin(b"hello\n")
    deadline = time.monotonic() + 20
    while b"hello" not in process.stdout and time.monotonic() < deadline:
        time.sleep(0.05)  # the poller reads the output files
    process.close_stdin()
    result = process.wait(20)
    assert (result.exit_status, result.stdout, result.stderr) == (7, b"ready\nhello\n", b"done\n")
    assert b"".join(c for s, c in chunks if s == "stdout") == b"ready\nhello\n"
    sleeper = board.start("exec sleep 100")
    sleeper.signal("TERM")
    assert sleeper.wait(20).signal == "SIGTERM" and sleeper.poll() == -15
    with pytest.raises(BrokenPipeError):
        sleeper.write_stdin(b"x")


def _hil_suite(target: str, artifacts: Path) -> str:
    """The HIL suite's watchdog and configuration-fault tests on ``target`` in an inner session."""
    result = run_inner_pytest(
        "tests/hil/test_watchdog.py",
        "tests/hil/test_config_faults.py",
        "-q",
        targets=(target,),
        artifacts=artifacts,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    return result.stdout


def _counts(out: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error|skipped)", out)}


def test_hil_suite_on_the_serial_console_alone(vm: QemuMachine, tmp_path: Path) -> None:
    out = _hil_suite(str(board_toml(tmp_path, f"socket://127.0.0.1:{vm.serial_port}")), tmp_path / "art")
    assert _counts(out) == {"passed": 11}, out[-3000:]


@pytest.mark.parametrize("kind", ["raw", "rfc2217"])
def test_through_ser2net(vm: QemuMachine, tmp_path: Path, kind: str) -> None:
    """ser2net exports a serial port (a pty wired to the VM's serial socket); the board's console is ser2net's port."""
    relay = PtyRelay("127.0.0.1", vm.serial_port).start()
    server = Ser2net(tmp_path / "ser2net", relay.device, kind).start()
    try:
        toml = board_toml(tmp_path, server.url, name=f"serial-{kind}")
        target = make_target(load_definition(toml), tmp_path / "shell")
        target.up(Deadline.after(60))
        try:
            assert target.run(["sh", "-c", "echo $0", "via ser2net"], 30).stdout_text == "via ser2net\n"
            data = bytes(range(256)) * 64
            (tmp_path / "blob").write_bytes(data)
            target.put(tmp_path / "blob", "/tmp/blob-ser2net")
            target.get("/tmp/blob-ser2net", tmp_path / "back")
            assert (tmp_path / "back").read_bytes() == data
        finally:
            target.down()
        if kind == "rfc2217":  # the whole suite once through the terminal server
            out = _hil_suite(str(toml), tmp_path / "art")
            assert _counts(out) == {"passed": 11}, out[-3000:]
    finally:
        server.stop()
        relay.stop()
