"""``hil target ssh`` and ``hil target console``: attach to a running target.

The background QEMU target (``hil target up``) is reached with the client key
and the pinned host key its state records; a board with its definition's
``[ssh]`` (key, ``host_key`` or ``known_hosts``) and ``[console]`` URL.  The
host key is always pinned (``StrictHostKeyChecking=yes``).
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import termios
import tty
from pathlib import Path

from hil.core.errors import InfrastructureError, SetupError
from hil.core.peer import check_peer
from hil.targets import target_class
from hil.targets.definition import TargetDefinition

#: Ctrl-] ends ``hil target console`` (as telnet's escape).
CONSOLE_ESCAPE = b"\x1d"


def ssh_argv(definition: TargetDefinition, known_hosts: Path) -> list[str]:
    """The ``ssh`` command line reaching the target, its host key pinned (the kind says how:
    ``Target.ssh_login``)."""
    common = ["-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"]
    return ["ssh", *common, *target_class(definition).ssh_login(definition, known_hosts)]


def run_ssh(definition: TargetDefinition, command: list[str]) -> int:
    """``ssh`` to the target: an interactive shell, or ``command``; its exit status."""
    if shutil.which("ssh") is None:
        raise SetupError("'hil target ssh' needs the ssh client (Debian: apt-get install openssh-client)")
    with tempfile.TemporaryDirectory(prefix="hil-ssh-") as tmp:
        argv = ssh_argv(definition, Path(tmp) / "known_hosts")
        if command:
            argv += ["--", *command]
        elif sys.stdin.isatty():
            argv.insert(1, "-t")
        return subprocess.run(argv, check=False).returncode


def console_url(definition: TargetDefinition) -> str:
    """The serial console's URL (the kind says where: ``Target.console_url``)."""
    return target_class(definition).console_url(definition)


def run_console(definition: TargetDefinition) -> int:
    """Bridge this terminal to the target's serial console until Ctrl-] (or the console closes)."""
    url = console_url(definition)
    if not url.startswith(("socket://", "unix://")):
        raise SetupError(
            f"'hil target console' attaches to socket:// and unix:// consoles; '{definition.name}' has {url} "
            f"(use e.g. 'python -m serial.tools.miniterm {url}')"
        )
    try:
        if url.startswith("unix://"):  # the private console of 'hil target up' (this user's only)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            try:
                sock.connect(url[len("unix://") :])
                check_peer(sock, f"{definition.name}'s console {url}")
            except BaseException:
                sock.close()
                raise
        else:
            host, _, port = url[len("socket://") :].rpartition(":")
            sock = socket.create_connection((host, int(port)), timeout=10)
    except (OSError, InfrastructureError) as exc:
        raise SetupError(f"cannot connect to {definition.name}'s console at {url}: {exc}") from exc
    sys.stderr.write(f"[hil: connected to {definition.name}'s console {url}; Ctrl-] ends]\n")
    sys.stderr.flush()
    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    if saved is not None:
        tty.setraw(stdin)
    try:
        with sock:
            sock.setblocking(False)
            while True:
                ready, _, _ = select.select([sock, stdin], [], [])
                if sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return 0
                    os.write(sys.stdout.fileno(), data)
                if stdin in ready:
                    data = os.read(stdin, 4096)
                    if not data or CONSOLE_ESCAPE in data:
                        data = data.split(CONSOLE_ESCAPE)[0]
                        if data:
                            sock.sendall(data)
                        return 0
                    sock.sendall(data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        sys.stderr.write("\r\n[hil: console detached]\r\n")
