"""QEMU command-line pieces every machine of ours shares: the serial console, the SSH port, the pid file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def console_net_tail(
    serial_fd: int,
    console_wait: bool,
    ssh_port: int,
    nic: str,
    pidfile: Path,
    extra_args: Sequence[str] = (),
    guest_ssh_port: int = 22,
) -> list[str]:
    """The console on an inherited listening socket, user-mode networking forwarding a loopback
    port to the guest's SSH port, the pid file, and the definition's extra arguments (last)."""
    return [
        "-chardev",
        f"socket,id=console,fd={serial_fd},server=on,wait={'on' if console_wait else 'off'}",
        "-serial",
        "chardev:console",
        "-netdev",
        f"user,id=net0,hostfwd=tcp:127.0.0.1:{ssh_port}-:{guest_ssh_port}",
        "-device",
        f"{nic},netdev=net0",
        "-pidfile",
        str(pidfile),
        *extra_args,
    ]
