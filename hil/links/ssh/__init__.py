"""The SSH transport to a target: commands, long-running programs and files.

Persistent paramiko transports: every command is a new channel on an
authenticated connection (no per-command handshake), the SFTP client is
cached.  Commands running at the same time use separate connections (see
``SshConnection`` for the dropbear bug that makes this necessary).

Security: key authentication only, and the server's host key must match a
pinned key (``SshConfig.host_key``) or a ``known_hosts`` entry; anything else
is refused before authenticating (``HostKeyMismatch``, ``HostKeyUnknown``).
Unknown keys are never accepted.

Commands are plain POSIX sh (QNX boards run ksh): a command given as a
sequence is quoted word by word with ``shlex.quote``; every remote path the
transport itself puts in a command line is quoted too.  Each command line is
preceded by ``echo __HIL_PID__=$$ >&2`` so the remote shell's pid is known
(the line is taken out of stderr): a command outliving its timeout is killed
on the target with its process tree, and ``RemoteProcess.signal``
reaches the program (dropbear has no SSH "signal" request, so signals are
sent by a separate ``kill`` command).

Failures:

* ``InfrastructureError``: target unreachable, handshake failed, connection
  dropped while a command ran (``ConnectionDropped``), host key refused
  (``HostKeyMismatch``, ``HostKeyUnknown``).
* ``SetupError``: our key was refused (``AuthenticationFailed``) or a
  configured file is missing or unreadable (``ConfigError``).
* ``DeviceFailure`` (an ``AssertionError``: a test failure, the device
  misbehaved): a command outliving its timeout (``CommandTimeout``, with the
  output so far in ``partial``), a non-zero exit with ``check=True``
  (``CommandFailed``), output a program never printed (``RemoteProcess.wait_for``:
  ``ExpectTimeout``).  ``RemoteProcess.wait`` running out is a ``WaitTimeout``.

A connection found dropped before a command started (or a file transfer,
which is idempotent) is reconnected once and the operation retried; if that
fails too, the ``InfrastructureError`` names host:port and the cause.

The package, one concern a module: ``config`` (``SshConfig``, public keys),
``errors`` (what SSH adds to ``hil.core.errors``), ``channel`` (paramiko
patched for exit signals; a command's channel I/O), ``handshake`` (one
authenticated transport, the pinned host key), ``kill`` (remote signals and
the tree kill), ``pool`` (``TransportPool``: the transports, one per running
command; ``Session``), ``commands`` (``CommandRunner``: a command's script,
start, end or timeout), ``transfer`` (``FileTransfer``: SFTP or ``cat``),
``process`` (``RemoteProcess``), and ``connection`` (``SshConnection``, which
owns a pool, a command runner and a file transfer and delegates to them).
The public names are importable from ``hil.links.ssh`` (each loaded on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hil.core.command import CommandResult
    from hil.core.errors import CommandFailed, CommandTimeout, ExpectTimeout, WaitTimeout
    from hil.links.ssh.channel import OutputCallback
    from hil.links.ssh.config import SshConfig, fingerprint, parse_public_key
    from hil.links.ssh.connection import SshConnection, shell_join
    from hil.links.ssh.errors import (
        AuthenticationFailed,
        ConnectionDropped,
        HostKeyError,
        HostKeyMismatch,
        HostKeyUnknown,
    )
    from hil.links.ssh.process import RemoteProcess

#: Where each public name lives: imported on first use (PEP 562), so that what needs only
#: ``SshConfig`` (the ``hil`` commands) does not load paramiko.
_HOMES = {
    "CommandResult": "hil.core.command",
    "CommandFailed": "hil.core.errors",
    "CommandTimeout": "hil.core.errors",
    "ExpectTimeout": "hil.core.errors",
    "WaitTimeout": "hil.core.errors",
    "OutputCallback": "hil.links.ssh.channel",
    "SshConfig": "hil.links.ssh.config",
    "fingerprint": "hil.links.ssh.config",
    "parse_public_key": "hil.links.ssh.config",
    "SshConnection": "hil.links.ssh.connection",
    "shell_join": "hil.links.ssh.connection",
    "AuthenticationFailed": "hil.links.ssh.errors",
    "ConnectionDropped": "hil.links.ssh.errors",
    "HostKeyError": "hil.links.ssh.errors",
    "HostKeyMismatch": "hil.links.ssh.errors",
    "HostKeyUnknown": "hil.links.ssh.errors",
    "RemoteProcess": "hil.links.ssh.process",
}

__all__ = [
    "AuthenticationFailed",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "ConnectionDropped",
    "ExpectTimeout",
    "HostKeyError",
    "HostKeyMismatch",
    "HostKeyUnknown",
    "OutputCallback",
    "RemoteProcess",
    "SshConfig",
    "SshConnection",
    "WaitTimeout",
    "fingerprint",
    "parse_public_key",
    "shell_join",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
