"""The SSH connection to a target (``SshConnection``): commands, programs and files, by its collaborators.

``SshConnection`` owns three objects and delegates to them: the
``TransportPool`` (``hil.links.ssh.pool``: authenticated transports, one per
command running at a time, reconnected once when found dropped), the
``CommandRunner`` (``hil.links.ssh.commands``: a command's script, its
channel, its end or its timeout) and the ``FileTransfer``
(``hil.links.ssh.transfer``: SFTP or ``cat``).  A program it starts is a
``RemoteProcess`` (``hil.links.ssh.process``) holding its own session.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from hil.core.command import CommandResult, shell_command
from hil.core.deadline import Deadline
from hil.core.errors import CommandFailed
from hil.links.ssh.channel import OutputCallback
from hil.links.ssh.commands import CommandRunner, command_script
from hil.links.ssh.config import SshConfig
from hil.links.ssh.kill import kill_command, signal_spec
from hil.links.ssh.pool import TransportPool
from hil.links.ssh.process import RemoteProcess
from hil.links.ssh.transfer import FileTransfer

__all__ = ["SshConnection", "shell_join"]

shell_join = shell_command  # the one quoting rule of the project (hil.core.command)


class SshConnection:
    """A persistent SSH connection to a target, reconnected once when found dropped.

    Every command is a channel on an already-authenticated transport: no
    per-command handshake.  A transport runs one command at a time; commands
    running at the same time (``start``, several threads) get transports of
    their own, opened on demand and kept for reuse (why: ``hil.links.ssh.pool``,
    a dropbear bug).

    Thread-safe.  ``sftp_available`` is ``None`` until the first transfer,
    then whether the target has SFTP (if not, transfers stream through
    ``cat``; setting it to False forces ``cat``); the answer is kept across
    reconnects.  Connects lazily on first use if ``connect`` was not called.
    """

    def __init__(self, config: SshConfig, name: str = "target") -> None:
        self._pool = TransportPool(config, name)
        self._commands = CommandRunner(self._pool)
        self._files = FileTransfer(self._pool, self._commands)
        self._pool.on_discard.append(self._files.forget_sftp)  # an SFTP client dies with its transport

    # -- describing ourselves --

    @property
    def config(self) -> SshConfig:
        """Where and how to connect (host, port, user, keys, pinned host key, timeouts)."""
        return self._pool.config

    @property
    def name(self) -> str:
        """The target's name, for messages."""
        return self._pool.name

    @property
    def where(self) -> str:
        """``name (user@host:port)`` for messages."""
        return self._pool.where

    @property
    def connected(self) -> bool:
        """Whether at least one transport is up."""
        return self._pool.connected

    @property
    def transports(self) -> int:
        """How many SSH connections are open (idle or running a command)."""
        return self._pool.open_count

    @property
    def sftp_available(self) -> bool | None:
        """None before the first transfer, then whether the target has SFTP (False: ``cat``)."""
        return self._files.sftp_available

    @sftp_available.setter
    def sftp_available(self, value: bool | None) -> None:
        self._files.sftp_available = value

    @property
    def sftp_unavailable_reason(self) -> str | None:
        """Why SFTP could not be opened (None while it works or was not tried)."""
        return self._files.sftp_unavailable_reason

    def __repr__(self) -> str:
        return f"SshConnection({self.where}, connected={self.connected})"

    def __enter__(self) -> SshConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connecting --

    def connect(self, deadline: Deadline | None = None, *, retry: bool = False) -> None:
        """Open the connection (no-op if it is up).

        One attempt is bounded by ``connect_timeout`` (and ``deadline``).  With
        ``retry`` (for a target that is still booting) a refused, reset or
        silent attempt is repeated until ``deadline`` (without one: for
        ``connect_timeout``); a refused host key or key is never retried.
        """
        self._pool.connect(deadline, retry=retry)

    def close(self) -> None:
        """Close every transport (idempotent; a later command connects again).

        Programs started with ``start`` lose their connection (their ``wait``
        raises ``ConnectionDropped``): stop them first.
        """
        self._files.forget_sftp()
        self._pool.close()

    # -- commands --

    def run(
        self,
        command: str | Sequence[str],
        timeout: float | None = None,
        *,
        stdin: bytes | None = None,
        on_output: OutputCallback | None = None,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        """Run a command to its end and return its exit status, signal and output.

        ``stdin`` is written to the command, then EOF (without it: EOF at
        once).  ``on_output(stream, chunk)`` is called as output arrives.
        ``env`` is exported and ``cwd`` entered before the command runs.
        A command outliving ``timeout`` is killed on the target with its
        process group and ``CommandTimeout`` raised with the output so far;
        ``check=True`` raises ``CommandFailed`` on a non-zero exit or a signal.
        """
        line = shell_join(command)
        result = self._commands.execute(line, command_script(line, env, cwd), timeout, stdin, on_output)
        if check and not result.ok:
            raise CommandFailed.of(result, self.where)
        return result

    def start(
        self,
        command: str | Sequence[str],
        *,
        on_output: OutputCallback | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> RemoteProcess:
        """Start a long-running program; returns once its remote pid is known.

        A sequence is ``exec``'d by the remote shell, so ``pid`` is the
        program's own; a string runs as is in the shell whose pid is ``pid``
        (end it with ``exec prog ...`` to make that the program's).  The pid
        is reported just before the ``exec``: a signal sent in that instant
        reaches the shell (which dies of it all the same); wait for the
        program's first output before relying on its signal handlers.  Its
        stdin stays open for ``write_stdin`` until ``close_stdin``.  The
        program has a transport of its own until it ends.
        """
        line = shell_join(command)
        script = command_script(line, env, cwd, exec_=not isinstance(command, str))
        started = time.monotonic()
        return RemoteProcess(self, self._commands.open(script, line), line, on_output, started)

    def signal(self, pid: int, sig: str | int = "TERM", *, group: bool = False) -> bool:
        """Send a signal to a remote pid (or its process group); False if there is no such process."""
        spec = signal_spec(sig)
        result = self.run(kill_command(spec, pid, group), timeout=self.config.connect_timeout)
        return result.ok

    # -- files (``hil.links.ssh.transfer``) --

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        """Copy a host file to ``remote`` on the target (then ``chmod mode``)."""
        self._files.put(local, remote, mode)

    def put_bytes(self, data: bytes, remote: str, mode: int | None = None) -> None:
        """Write ``data`` to ``remote`` on the target (then ``chmod mode``)."""
        self._files.put_bytes(data, remote, mode)

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` from the target to the host file ``local`` (written whole or not at all)."""
        self._files.get(remote, local)

    def get_bytes(self, remote: str) -> bytes:
        """The content of ``remote`` on the target."""
        return self._files.get_bytes(remote)
