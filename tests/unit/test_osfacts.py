"""Per-OS target facts: QNX's signal numbers, its crash banner, the OS of each target kind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hil.core.errors import ConfigError, FailPatternSeen
from hil.core.osfacts import os_facts
from hil.core.signals import split_shell_status
from hil.links.console import Console
from hil.targets.definition import parse_definition

QNX, LINUX = os_facts("qnx"), os_facts("linux")


def test_qnx_signal_numbers_are_decoded_in_qnx_numbering() -> None:
    # <signal.h> of QNX: SIGBUS 10, SIGSYS 12, SIGUSR1 16, SIGUSR2 17, SIGCHLD 18, SIGSTOP 23
    assert [QNX.signal_name(n) for n in (7, 10, 12, 16, 17, 18, 23, 25)] == [
        "SIGEMT", "SIGBUS", "SIGSYS", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGSTOP", "SIGCONT",
    ]  # fmt: skip
    assert [LINUX.signal_name(n) for n in (7, 10, 12)] == ["SIGBUS", "SIGUSR1", "SIGUSR2"]
    # "killed by signal N" from a shell's $?: 128 + N in the target's numbering
    assert QNX.split_status(128 + 10) == (None, "SIGBUS")
    assert LINUX.split_status(128 + 10) == (None, "SIGUSR1")
    assert split_shell_status(128 + 16, "qnx") == (None, "SIGUSR1")
    assert QNX.split_status(65) == (65, None)


def test_signals_are_sent_by_name_in_the_target_numbering() -> None:
    assert QNX.kill_spec(16) == "USR1" and LINUX.kill_spec(16) == "STKFLT"
    assert QNX.kill_spec("sigusr2") == QNX.kill_spec(17) == "USR2"
    assert QNX.signal_number("SIGBUS") == 10 and LINUX.signal_number("BUS") == 7
    with pytest.raises(ValueError, match="qnx has no signal SIGSTKFLT"):
        QNX.kill_spec("STKFLT")


def test_qnx_shutdown_banner_is_a_death_string_on_qnx_consoles_only() -> None:
    # QNX's "Reading a Shutdown Message" technote, 8.0 and 7.x samples
    banner8 = "Shutdown[5] S/C/F=11/1/11 C/D=ffffff8060078020/ffffff806014de10 kernel persona"
    banner7 = "Shutdown[0,0] S/C/F=5/3/3 C/D=fe06601c/fe0fafb0"
    assert QNX.crash_signal(banner8) == "SIGSEGV" and QNX.crash_signal(banner7) == "SIGTRAP"
    for facts, crashed in ((QNX, True), (LINUX, False)):
        with socket.create_server(("127.0.0.1", 0)) as server:  # a ser2net-style socket:// console
            url = f"socket://127.0.0.1:{server.getsockname()[1]}"
            console = Console.for_url(url, name="c", fail_patterns=facts.crash_banners).start()
            peer, _ = server.accept()
            try:
                peer.sendall(b"booting\r\n" + banner8.encode() + b"\r\nQNX Version 8.0.0\r\n")
                if crashed:  # whatever the test waits for, the banner ends the wait
                    with pytest.raises(FailPatternSeen, match=r"Shutdown\[5\] S/C/F=11/1/11"):
                        console.expect("QNX Version", 5)
                else:
                    console.expect("QNX Version", 5)
                    assert console.take_failures() == []
            finally:
                console.close()
                peer.close()


def test_os_defaults_by_kind_and_can_be_set() -> None:
    def load(**extra: object) -> str:
        data = {"kind": "qemu", **extra}
        return parse_definition(data, "t.toml", "t").target_os

    assert load() == "linux" and load(kind="local") == "linux" and load(os="qnx") == "qnx"
    board = {"ssh": {"host": "h", "host_key": "ssh-ed25519 AAAA"}}
    assert load(kind="board", **board) == "qnx" and load(kind="board", os="linux", **board) == "linux"
    with pytest.raises(ConfigError, match=r"t\.toml.*os.*'qnx' or 'linux'"):
        load(os="vxworks")


def test_user_image_definition_errors_name_the_key(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 512)
    src = str(tmp_path / "mine.toml")
    ok = parse_definition({"kind": "qemu", "os": "qnx", "qemu": {
        "image": "disk.img", "ssh_key": "disk.img", "ssh_host_key": "ssh-ed25519 AAAA"}}, src, "mine")  # fmt: skip
    assert ok.qemu.user_image and ok.target_os == "qnx"  # booted by tests/vm/test_user_image_boot.py
    with pytest.raises(ConfigError, match=r"mine\.toml.*qemu\.ssh_key.*ssh_key = PATH"):
        parse_definition({"kind": "qemu", "qemu": {"image": "disk.img"}}, src, "mine")
    with pytest.raises(ConfigError, match=r"qemu\.kernel.*no file nope"):
        parse_definition({"kind": "qemu", "qemu": {
            "kernel": "nope", "ssh_key": "disk.img", "ssh_host_key": "k"}}, src, "mine")  # fmt: skip
