"""Commands over a ``TransportPool`` (``CommandRunner``): a command's script, its session, its end or timeout.

Each command line is preceded by ``echo __HIL_PID__=$$ >&2`` so the remote
shell's pid is known (``ChannelOutput`` takes the line out of stderr): a
command outliving its timeout is killed on the target with its process tree.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping
from typing import IO

from hil.core.command import CommandResult
from hil.core.errors import CommandTimeout, InfrastructureError
from hil.core.text import tail_chars
from hil.links.ssh.channel import (
    DROP_ERRORS,
    PID_MARKER,
    ChannelOutput,
    OutputCallback,
    exited,
    keep_arrival_order,
    pump,
    send_stdin,
    status_of,
)
from hil.links.ssh.errors import ConnectionDropped
from hil.links.ssh.kill import kill_command
from hil.links.ssh.pool import Session, TransportPool

__all__ = ["CommandRunner", "command_script"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def command_script(line: str, env: Mapping[str, str] | None = None, cwd: str | None = None, exec_: bool = False) -> str:
    """The remote script running ``line``: report the shell's pid, export ``env``, enter ``cwd``
    (``exec_``: replace the shell by the program, so the pid is the program's)."""
    parts = ["echo " + PID_MARKER + "$$ >&2"]
    for key, value in (env or {}).items():
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(f"bad environment variable name {key!r}")
        parts.append(f"export {key}={shlex.quote(str(value))}")
    if cwd is not None:
        parts.append(f"cd {shlex.quote(cwd if not cwd.startswith('-') else './' + cwd)} || exit")
    parts.append(("exec " if exec_ else "") + line)
    return "\n".join(parts)


class CommandRunner:
    """Starts scripts on transports of ``pool`` (a session each) and runs them to their end."""

    def __init__(self, pool: TransportPool) -> None:
        self.pool = pool

    def open(self, script: str, what: str) -> Session:
        """Start ``script`` on a transport of its own; a dead connection is reconnected once.

        The caller owns the session until it ``release``s it.
        """
        pool, where, timeout = self.pool, self.pool.where, self.pool.config.connect_timeout
        transport, fresh = pool.checkout()
        try:
            chan = transport.open_session(timeout=timeout)
        except DROP_ERRORS as exc:
            pool.checkin(transport, reusable=False)
            if fresh:
                raise InfrastructureError(
                    f"SSH connection to {where} refused a session right after "
                    f"connecting ({what!r}): {exc or type(exc).__name__}"
                ) from exc
            transport, _ = pool.checkout()  # the reconnect: this one is fresh
            try:
                chan = transport.open_session(timeout=timeout)
            except DROP_ERRORS as exc2:
                pool.checkin(transport, reusable=False)
                raise InfrastructureError(
                    f"SSH connection to {where} dropped ({exc or type(exc).__name__}) "
                    f"and the new one refused a session too: "
                    f"{exc2 or type(exc2).__name__}"
                ) from exc2
        keep_arrival_order(chan)  # stdout and stderr handed on as they came
        try:
            chan.exec_command(script)
        except DROP_ERRORS as exc:
            chan.close()
            alive = transport.is_active()
            pool.checkin(transport, reusable=False)
            if alive:
                raise InfrastructureError(f"{where} refused to run {what!r}: {exc or type(exc).__name__}") from exc
            raise ConnectionDropped(
                f"SSH connection to {where} dropped while starting {what!r}: {exc or type(exc).__name__}"
            ) from exc
        return Session(chan, transport, pool)

    def execute(
        self,
        line: str,
        script: str,
        timeout: float | None = None,
        stdin: bytes | IO[bytes] | None = None,
        on_output: OutputCallback | None = None,
        stdout_sink: Callable[[bytes], object] | None = None,
    ) -> CommandResult:
        """Run ``script`` (shown as ``line``) to its end: its status and output (stdout to
        ``stdout_sink`` instead, when given).  One outliving ``timeout`` is killed with its process
        tree and ``CommandTimeout`` raised with the output so far."""
        started = time.monotonic()
        until = None if timeout is None else started + timeout
        session = self.open(script, line)
        chan, transport = session.channel, session.transport
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
                    f"command on {self.pool.where} outlived its {timeout:g} s timeout and {killed}: {line}\n"
                    f"--- stderr so far:\n{tail_chars(stderr)}\n--- stdout so far:\n{tail_chars(stdout)}",
                    partial,
                )
            out.finish()
            status, sig = status_of(chan)
            ended = exited(chan)
            if not ended and not transport.is_active():
                stdout, stderr = out.snapshot()
                raise ConnectionDropped(
                    f"SSH connection to {self.pool.where} dropped while running {line!r} "
                    f"(after {time.monotonic() - started:.1f} s; stderr so far: "
                    f"{tail_chars(stderr, 500)!r})"
                )
            stdout, stderr = out.snapshot()
            return CommandResult(line, status, sig, stdout, stderr, time.monotonic() - started)
        finally:
            chan.close()
            if writer is not None:
                writer.join(timeout=5)
            session.release(reusable=ended)

    def _kill_after_timeout(self, pid: int | None) -> str:
        """Kill a timed-out command's process group; say what was done."""
        if pid is None:
            return "was abandoned (its remote pid was not known yet: it may still run)"
        try:
            self.execute(
                f"kill -s KILL {pid} and its descendants",
                command_script(kill_command("KILL", pid, True)),
                self.pool.config.connect_timeout,
            )
        except (InfrastructureError, CommandTimeout) as exc:
            return f"could not be killed (pid {pid}: {exc})"
        return f"was killed (SIGKILL to pid {pid}, its process group and descendants)"
