"""The QEMU wiring every machine of ours shares: the host sockets, and the command-line pieces naming them.

The serial console is a loopback socket we listen on and hand to QEMU, SSH is
forwarded from a loopback port we hold until QEMU binds it, QMP is an abstract
unix socket; the command line names them and the pid file.
"""

from __future__ import annotations

import os
import socket
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


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    return sock


def reserved_port() -> socket.socket:
    """A bound, non-listening SO_REUSEADDR socket: its port stays ours until QEMU listens on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def qmp_listener() -> tuple[socket.socket, str]:
    """A listening unix socket in the abstract namespace (no path length limit, no file) for QMP."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = f"\0hil-qmp-{os.getpid()}-{os.urandom(6).hex()}"
    sock.bind(address)
    sock.listen(2)
    return sock, address
