"""The target kinds against a real public QEMU VM: SSH, console, the board kind, the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import CommandTimeout, ConfigError, InfrastructureError
from hil.links.ssh import HostKeyMismatch, SshConfig, SshConnection
from hil.qvmrun.guest import guest_for
from hil.targets import BoardTarget, QemuTarget, make_target
from hil.targets.definition import LeaseSection, parse_definition
from tests.support.cli import hil
from tests.support.keys import STRANGER_HOST_KEY
from tests.support.paths import REPO as ROOT


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QemuTarget]:
    definition = parse_definition({"kind": "qemu"}, "<test>", "vm")
    target = make_target(definition, tmp_path_factory.mktemp("vm"))
    assert isinstance(target, QemuTarget)
    target.up(Deadline.after(180))
    yield target
    target.down()


def test_ssh_run_put_get(vm: QemuTarget, tmp_path: Path) -> None:
    result = vm.run(["sh", "-c", 'echo "$1"; echo err >&2; exit 3', "sh", "it's a $HOME"], timeout=30)
    assert (result.exit_status, result.stdout_text, result.stderr_text) == (3, "it's a $HOME\n", "err\n")
    data = os.urandom(300_000)
    (tmp_path / "blob").write_bytes(data)
    vm.put(tmp_path / "blob", "/tmp/blob with space", 0o600)
    assert vm.run("stat -c %a '/tmp/blob with space'", timeout=30).stdout_text.strip() == "600"
    vm.get("/tmp/blob with space", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


def test_ssh_timeout_kills_the_command(vm: QemuTarget) -> None:
    with pytest.raises(CommandTimeout) as err:
        vm.run("echo started; sleep 30", timeout=2.0)  # the echo must come first: TCG, loaded
    assert err.value.partial is not None and b"started" in err.value.partial.stdout
    assert "sleep 30" not in vm.run("ps", timeout=30).stdout_text


def test_host_key_mismatch_is_refused(vm: QemuTarget) -> None:
    assert vm.image is not None and vm.machine is not None
    other = STRANGER_HOST_KEY
    config = SshConfig(
        host="127.0.0.1", port=vm.machine.ssh_port, user="root", key_path=vm.image.client_key, host_key=other
    )
    with pytest.raises(HostKeyMismatch, match=r"fingerprint|SHA256"):
        SshConnection(config).connect()


def test_console_sees_the_guest(vm: QemuTarget) -> None:
    assert vm.console is not None
    mark = vm.console.mark()
    vm.run("echo hello-from-ssh > /dev/ttyS0", timeout=30)
    vm.console.expect("hello-from-ssh", 10)
    assert "hello-from-ssh" in vm.console.since(mark)


def test_qemu_death_is_an_infrastructure_error(tmp_path: Path) -> None:
    target = make_target(parse_definition({"kind": "qemu"}, "<test>", "victim"), tmp_path)
    assert isinstance(target, QemuTarget)
    target.up(Deadline.after(180))
    try:
        assert target.machine is not None
        os.kill(target.machine.pid, 9)
        time.sleep(0.3)
        with pytest.raises(InfrastructureError, match="QEMU of target 'victim' died"):
            target.run("true", timeout=10)
        assert not target.healthy()
    finally:
        target.down()


def _console_through_a_pty(vm_toml: str) -> None:
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil", "target", "console", "--target", vm_toml],
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        sent = 0.0
        while b"console-42" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if b"connected to" in seen and time.monotonic() - sent > 3:  # again, until the shell answers
                os.write(master, b"echo console-$((6*7))\r")
                sent = time.monotonic()
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
        assert b"console-42" in seen, seen[-2000:]
        os.write(master, b"\x1d")  # Ctrl-] detaches
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_board_kind_attached_to_a_running_vm(tmp_path: Path) -> None:
    """`hil target up` leaves a VM running; a board definition attaches to it by its ports and keys."""
    env_name = f"board-vm-{os.getpid()}"
    (tmp_path / "vm.toml").write_text(f'name = "{env_name}"\nkind = "qemu"\n')
    up = hil("target", "up", "--target", str(tmp_path / "vm.toml"), "--json")
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads(up.stdout)
        status = hil("target", "status", "--target", env_name, "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["pid"] == state["pid"]
        # hil target ssh / console attach to it (host key pinned); the console through a pty
        vm_toml = str(tmp_path / "vm.toml")
        ssh = hil("target", "ssh", "--target", vm_toml, "--", "uname", "-a")
        assert ssh.returncode == 0 and ssh.stdout.startswith("Linux"), ssh.stderr
        assert hil("target", "ssh", "--target", vm_toml, "--", "exit", "3").returncode == 3
        _console_through_a_pty(vm_toml)
        board = parse_definition(
            {
                "kind": "board",
                "ssh": {
                    "host": "127.0.0.1",
                    "port": state["ssh_port"],
                    "user": "root",
                    "key": state["client_key"],
                    "host_key": state["host_key_pub"],
                },
                "console": {"url": state["console_url"]},
                "toolchain": {"kind": "gcc"},
                "guest": {"start_kicking": "echo kicker-on-every-{interval_ms}-ms", "stop_kicking": "echo kicker-off"},
            },
            str(tmp_path / "board.toml"),
            "lab-board",
        )
        target = make_target(board, tmp_path / "board")
        assert isinstance(target, BoardTarget)
        target.up(Deadline.after(60))
        try:
            assert target.run("uname -s", timeout=30).stdout_text.strip() == "Linux"
            assert target.console is not None
            mark = target.console.mark()
            target.console.sendline("echo board-$((6*7))")
            target.console.expect("board-42", 10, since=mark)
            # a board's guest is driven through its console, with the definition's commands
            guest = guest_for(target, None)  # type: ignore[arg-type]  # no qvm session: the board drives its guest itself
            guest.kick_every(0.25)
            target.console.expect(r"kicker-on-every-250-ms", 10)
            guest.stop_kicking()
            target.console.expect(r"kicker-off", 10)
            with pytest.raises(ConfigError, match=r"guest\.shutdown"):
                guest.shutdown()
            # a second run wanting the same board waits for the lease, then names its holder
            rival = make_target(dataclasses.replace(board, lease=LeaseSection(wait=1.0)), tmp_path / "rival")
            with pytest.raises(InfrastructureError, match=rf"busy: lease .* held by .*:{os.getpid()}"):
                rival.up(Deadline.after(60))
        finally:
            target.down()
        rival.up(Deadline.after(60))  # released: free again
        rival.down()
    finally:
        down = hil("target", "down", "--target", env_name)
        assert down.returncode == 0, down.stderr
    assert hil("target", "status", "--target", env_name).returncode == 1
