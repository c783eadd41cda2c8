"""The QEMU wiring every machine of ours shares: the host sockets, and the command-line pieces naming them.

QEMU's control channels are reachable by their owner only.  QMP (which can run
commands as QEMU's user: ``migrate exec:``) and the serial console (a root shell
on the public image) are unix sockets we bind and listen on ourselves, in a
folder of mode 0700 of this user (``control_dir``: ``<tmp>/qnx-hil-<uid>/vm/<random>``,
checked by ``hil.core.paths.private_dir``), and hand to QEMU as inherited
descriptors; a client checks the listener's peer credentials (``check_peer``).
Another local user cannot enter the folder, so can neither connect nor put a
socket of its own in their place; the abstract namespace (no permissions, names
listed in ``/proc/net/unix``) is not used.  A console on a loopback TCP port
(``listening_socket``) is only made on request (``console_tcp``: a console exported
to a lab on purpose).  SSH is forwarded from a loopback port we hold until QEMU
binds it; the command line names them and the pid file.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hil.core.paths import private_dir
from hil.core.peer import check_peer


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


def control_dir() -> Path:
    """A new folder (mode 0700) for one QEMU's control sockets, in this user's private folder."""
    return Path(tempfile.mkdtemp(prefix="", dir=private_dir("vm")))


def remove_control_dir(folder: Path | None) -> None:
    """Remove a ``control_dir`` (its sockets), only when it is one of ours: in ``private_dir("vm")``."""
    if folder is None or folder.parent != private_dir("vm") or folder.is_symlink():
        return
    shutil.rmtree(folder, ignore_errors=True)


def unix_listener(path: Path) -> socket.socket:
    """A listening unix socket at ``path`` (in a ``control_dir``; replaced if a stale one is there)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(4)
    except BaseException:
        sock.close()
        raise
    return sock


def qmp_listener(folder: Path) -> tuple[socket.socket, str]:
    """A listening unix socket ``folder/qmp`` for QMP (``folder``: a ``control_dir``), and its path."""
    path = folder / "qmp"
    return unix_listener(path), str(path)


def connect_unix(path: str | Path, timeout: float, what: str) -> socket.socket:
    """A connection to our unix socket ``path``, its listener's credentials checked (``check_peer``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except BaseException:
        sock.close()
        raise
    check_peer(sock, what)
    return sock
