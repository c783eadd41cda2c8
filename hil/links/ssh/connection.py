"""The SSH connection to a target (``SshConnection``): a pool of authenticated transports, commands, programs.

Persistent paramiko transports: every command is a new channel on an
authenticated connection (no per-command handshake).  Commands running at the
same time use separate connections (see ``SshConnection`` for the dropbear bug
that makes this necessary).  Files: ``hil.links.ssh.transfer``.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

import paramiko

from hil.core.command import CommandResult, shell_command
from hil.core.deadline import Deadline
from hil.core.errors import CommandFailed, CommandTimeout, InfrastructureError, SetupError
from hil.core.text import tail_chars
from hil.links.ssh.channel import DROP_ERRORS, ChannelOutput, OutputCallback, exited, pump, send_stdin, status_of
from hil.links.ssh.config import SshConfig
from hil.links.ssh.errors import ConnectionDropped, HostKeyError
from hil.links.ssh.handshake import expected_keys, load_keys, open_transport
from hil.links.ssh.kill import kill_command, signal_spec
from hil.links.ssh.process import RemoteProcess
from hil.links.ssh.transfer import FileTransfer

__all__ = ["SshConnection", "shell_join"]

_MAX_IDLE = 4

_PID_MARKER = b"__HIL_PID__="
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

shell_join = shell_command  # the one quoting rule of the project (hil.core.command)


class SshConnection(FileTransfer):
    """A persistent SSH connection to a target, reconnected once when found dropped.

    Every command is a channel on an already-authenticated transport: no
    per-command handshake.  A transport runs one command at a time; commands
    running at the same time (``start``, several threads) get transports of
    their own, opened on demand and kept for reuse.  This is not only for
    throughput: dropbear up to 2024.85 (Debian 12 ships 2022.83) closes a
    channel, or aborts the whole connection ("Failed assertion ...
    !channel->sent_close"), when one of its children exits while another
    channel of the same connection awaits its command (mkj/dropbear#321).

    Thread-safe.  ``sftp_available`` is ``None`` until the first transfer,
    then whether the target has SFTP (if not, transfers stream through
    ``cat``); the answer is kept across reconnects.  Connects lazily on first
    use if ``connect`` was not called.
    """

    def __init__(self, config: SshConfig, name: str = "target") -> None:
        self.config = config
        self.name = name
        self.sftp_available: bool | None = None
        self.sftp_unavailable_reason: str | None = None
        self._idle: list[paramiko.Transport] = []  # connected, no command running
        self._busy: set[paramiko.Transport] = set()  # running a command (or a RemoteProcess)
        self._ever_connected = False
        self._lock = threading.RLock()
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_transport: paramiko.Transport | None = None
        self._sftp_lock = threading.Lock()
        self._keys: list[paramiko.PKey] | None = None

    # -- describing ourselves --

    @property
    def where(self) -> str:
        """``name (user@host:port)`` for messages."""
        return f"{self.name} ({self.config.user}@{self.config.address})"

    @property
    def connected(self) -> bool:
        """Whether at least one transport is up."""
        with self._lock:
            return any(t.is_active() for t in [*self._idle, *self._busy])

    @property
    def transports(self) -> int:
        """How many SSH connections are open (idle or running a command)."""
        with self._lock:
            return sum(1 for t in [*self._idle, *self._busy] if t.is_active())

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
        if self.connected:
            return
        outer = deadline or Deadline.after(
            self.config.connect_timeout if retry else None, f"SSH connection to {self.name}"
        )
        while True:
            attempt = outer.child(self.config.connect_timeout)
            try:
                transport = self._open_transport(attempt)
                break
            except (HostKeyError, SetupError):
                raise
            except InfrastructureError:
                if not retry or outer.remaining() < 0.05:
                    raise
            time.sleep(min(0.05, outer.remaining()))
        with self._lock:
            self._ever_connected = True
            self._idle.append(transport)

    def close(self) -> None:
        """Close every transport (idempotent; a later command connects again).

        Programs started with ``start`` lose their connection (their ``wait``
        raises ``ConnectionDropped``): stop them first.
        """
        with self._lock:
            self._drop_sftp()
            for transport in [*self._idle, *self._busy]:
                transport.close()
            self._idle.clear()
            self._busy.clear()
            self._ever_connected = False

    def _drop_sftp(self, transport: paramiko.Transport | None = None) -> None:
        """Forget the cached SFTP client (only if it lives on ``transport``, when given)."""
        with self._sftp_lock:
            if self._sftp is None or (transport is not None and self._sftp_transport is not transport):
                return
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001, S110
                pass
            self._sftp = self._sftp_transport = None

    def _open_transport(self, deadline: Deadline) -> paramiko.Transport:
        expected = expected_keys(self.config)
        if self._keys is None:
            self._keys = load_keys(self.config)
        return open_transport(self.config, self.name, expected, self._keys, deadline)

    def _checkout(self) -> tuple[paramiko.Transport, bool]:
        """A live transport for this caller alone, and whether it was opened just now.

        An idle one is reused; dead ones are thrown away.  A new one is opened
        when none is idle; if connections existed and all died, that is the
        reconnect, and its failure says so.
        """
        with self._lock:
            dead = 0
            while self._idle:
                transport = self._idle.pop()
                if transport.is_active():
                    self._busy.add(transport)
                    return transport, False
                self._drop_sftp(transport)
                transport.close()
                dead += 1
            dropped = self._ever_connected and (dead > 0 or not any(t.is_active() for t in self._busy))
        try:
            transport = self._open_transport(Deadline.after(self.config.connect_timeout))
        except HostKeyError:
            raise
        except (InfrastructureError, SetupError) as exc:
            if not dropped:
                raise
            raise InfrastructureError(f"SSH connection to {self.where} dropped and reconnecting failed: {exc}") from exc
        with self._lock:
            self._ever_connected = True
            self._busy.add(transport)
        return transport, True

    def _checkin(self, transport: paramiko.Transport, reusable: bool = True) -> None:
        """Give a transport back; one whose command may still be dying is closed instead.

        (Reusing it could put a new channel in the dropbear window described in the class doc.)
        """
        with self._lock:
            self._busy.discard(transport)
            if reusable and transport.is_active() and len(self._idle) < _MAX_IDLE:
                self._idle.append(transport)
                return
            self._drop_sftp(transport)
        transport.close()

    def _exec(self, script: str, what: str) -> tuple[paramiko.Channel, paramiko.Transport]:
        """Start ``script`` on a transport of its own; a dead connection is reconnected once.

        The caller owns the transport until it gives it back with ``_checkin``.
        """
        transport, fresh = self._checkout()
        try:
            chan = transport.open_session(timeout=self.config.connect_timeout)
        except DROP_ERRORS as exc:
            self._checkin(transport, reusable=False)
            if fresh:
                raise InfrastructureError(
                    f"SSH connection to {self.where} refused a session right after "
                    f"connecting ({what!r}): {exc or type(exc).__name__}"
                ) from exc
            transport, _ = self._checkout()  # the reconnect: this one is fresh
            try:
                chan = transport.open_session(timeout=self.config.connect_timeout)
            except DROP_ERRORS as exc2:
                self._checkin(transport, reusable=False)
                raise InfrastructureError(
                    f"SSH connection to {self.where} dropped ({exc or type(exc).__name__}) "
                    f"and the new one refused a session too: "
                    f"{exc2 or type(exc2).__name__}"
                ) from exc2
        try:
            chan.exec_command(script)
        except DROP_ERRORS as exc:
            chan.close()
            alive = transport.is_active()
            self._checkin(transport, reusable=False)
            if alive:
                raise InfrastructureError(f"{self.where} refused to run {what!r}: {exc or type(exc).__name__}") from exc
            raise ConnectionDropped(
                f"SSH connection to {self.where} dropped while starting {what!r}: {exc or type(exc).__name__}"
            ) from exc
        return chan, transport

    @staticmethod
    def _script(line: str, env: Mapping[str, str] | None, cwd: str | None, exec_: bool) -> str:
        parts = ["echo " + _PID_MARKER.decode() + "$$ >&2"]
        for key, value in (env or {}).items():
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"bad environment variable name {key!r}")
            parts.append(f"export {key}={shlex.quote(str(value))}")
        if cwd is not None:
            parts.append(f"cd {shlex.quote(cwd if not cwd.startswith('-') else './' + cwd)} || exit")
        parts.append(("exec " if exec_ else "") + line)
        return "\n".join(parts)

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
        result = self._execute(line, self._script(line, env, cwd, False), timeout, stdin, on_output, None)
        if check and not result.ok:
            raise CommandFailed.of(result, self.where)
        return result

    def _execute(
        self,
        line: str,
        script: str,
        timeout: float | None,
        stdin: bytes | IO[bytes] | None,
        on_output: OutputCallback | None,
        stdout_sink: Callable[[bytes], object] | None,
    ) -> CommandResult:
        started = time.monotonic()
        until = None if timeout is None else started + timeout
        chan, transport = self._exec(script, line)
        out = ChannelOutput(on_output, stdout_sink)
        writer = None
        ended = False  # the remote process is known to be gone
        try:
            writer = send_stdin(chan, stdin)
            finished = pump(chan, out, until)
            if finished:
                left = None if until is None else max(0.0, until - time.monotonic())
                finished = chan.status_event.wait(left)
            if not finished:
                killed = self._kill_after_timeout(out.pid)
                ended = chan.status_event.wait(2.0) and exited(chan)
                chan.close()
                out.finish()
                stdout, stderr = out.snapshot()
                partial = CommandResult(line, None, None, stdout, stderr, time.monotonic() - started)
                raise CommandTimeout(
                    f"command on {self.where} outlived its {timeout:g} s timeout and {killed}: {line}\n"
                    f"--- stderr so far:\n{tail_chars(stderr)}\n--- stdout so far:\n{tail_chars(stdout)}",
                    partial,
                )
            out.finish()
            status, sig = status_of(chan)
            ended = exited(chan)
            if not ended and not transport.is_active():
                stdout, stderr = out.snapshot()
                raise ConnectionDropped(
                    f"SSH connection to {self.where} dropped while running {line!r} "
                    f"(after {time.monotonic() - started:.1f} s; stderr so far: "
                    f"{tail_chars(stderr, 500)!r})"
                )
            stdout, stderr = out.snapshot()
            return CommandResult(line, status, sig, stdout, stderr, time.monotonic() - started)
        finally:
            chan.close()
            if writer is not None:
                writer.join(timeout=5)
            self._checkin(transport, reusable=ended)

    def _kill_after_timeout(self, pid: int | None) -> str:
        """Kill a timed-out command's process group; say what was done."""
        if pid is None:
            return "was abandoned (its remote pid was not known yet: it may still run)"
        try:
            self._execute(
                f"kill -s KILL {pid} and its descendants",
                self._script(kill_command("KILL", pid, True), None, None, False),
                self.config.connect_timeout,
                None,
                None,
                None,
            )
        except (InfrastructureError, CommandTimeout) as exc:
            return f"could not be killed (pid {pid}: {exc})"
        return f"was killed (SIGKILL to pid {pid}, its process group and descendants)"

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
        script = self._script(line, env, cwd, not isinstance(command, str))
        started = time.monotonic()
        chan, transport = self._exec(script, line)
        return RemoteProcess(self, chan, transport, line, on_output, started)

    def signal(self, pid: int, sig: str | int = "TERM", *, group: bool = False) -> bool:
        """Send a signal to a remote pid (or its process group); False if there is no such process."""
        spec = signal_spec(sig)
        result = self.run(kill_command(spec, pid, group), timeout=self.config.connect_timeout)
        return result.ok
