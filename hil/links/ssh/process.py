"""A long-running program on the target (``RemoteProcess``): its output, stdin, signals and end."""

from __future__ import annotations

import errno
import re
import signal as signals
import threading
import time
from typing import Protocol

from hil.core.command import CommandResult
from hil.core.errors import CommandTimeout, ExpectTimeout, InfrastructureError, WaitTimeout
from hil.core.text import tail_chars
from hil.links.ssh.channel import DROP_ERRORS, ChannelOutput, OutputCallback, exited, pump, status_of
from hil.links.ssh.errors import ConnectionDropped
from hil.links.ssh.kill import signal_spec
from hil.links.ssh.pool import Session

__all__ = ["ProcessOwner", "RemoteProcess"]


class ProcessOwner(Protocol):
    """What a ``RemoteProcess`` asks of the connection that started it (``SshConnection`` is one)."""

    @property
    def where(self) -> str:
        """``name (user@host:port)`` for messages."""
        ...

    def signal(self, pid: int, sig: str | int = "TERM", *, group: bool = False) -> bool:
        """Send ``sig`` to a remote pid (or its group); False if there is no such process."""
        ...


#: With an ``on_output`` consumer, a process keeps only this much of each stream's end itself.
STREAMED_TAIL_BYTES = 1 << 20


class RemoteProcess:
    """A program started by ``SshConnection.start``, running on the target.

    Its ``Session`` (a channel on a transport of its own) is given back to the
    pool when it ends; ``connection`` (a ``ProcessOwner``) sends its signals.
    ``pid`` is its remote pid; ``stdout``/``stderr`` are the bytes so far
    (thread-safe; also streamed to ``on_output`` from a reader thread).
    ``poll()`` is None while it runs, then its exit status (minus the host's
    number of the killing signal, like ``subprocess``).  Usable as a context
    manager: leaving it kills the program if it still runs.
    """

    def __init__(
        self,
        conn: ProcessOwner,
        session: Session,
        command: str,
        on_output: OutputCallback | None,
        started: float,
    ) -> None:
        self.connection = conn
        self.command = command
        self._session = session
        self._chan = session.channel
        self._started = started
        # streamed to on_output: only the ends kept here (a program printing gigabytes fills no memory)
        self._out = ChannelOutput(on_output, keep=STREAMED_TAIL_BYTES if on_output is not None else None)
        self._done = threading.Event()
        self._result: CommandResult | None = None
        self._error: Exception | None = None
        self._reader = threading.Thread(target=self._read, name=f"hil-ssh-{command[:30]}", daemon=True)
        self._reader.start()
        with self._out.cond:
            self._out.cond.wait_for(
                lambda: self._out.pid is not None or self._done.is_set(), session.pool.config.connect_timeout
            )
        if self._out.pid is None:
            self.close()
            stdout, stderr = self._out.snapshot()
            raise InfrastructureError(
                f"{conn.where}: the shell starting {command!r} did not report its pid "
                f"(stderr: {tail_chars(stderr, 500)!r}, stdout: {tail_chars(stdout, 500)!r})"
            )
        self.pid: int = self._out.pid

    def _read(self) -> None:
        ended = False
        try:
            pump(self._chan, self._out, None)
            self._chan.status_event.wait()
            self._out.finish()
            status, sig = status_of(self._chan)
            ended = exited(self._chan)
            stdout, stderr = self._out.snapshot()
            if not ended and not self._session.transport.is_active():
                self._error = ConnectionDropped(
                    f"SSH connection to {self.connection.where} dropped while running {self.command!r} "
                    f"(stderr so far: {tail_chars(stderr, 500)!r})"
                )
            self._result = CommandResult(self.command, status, sig, stdout, stderr, time.monotonic() - self._started)
        except Exception as exc:  # never lose the end of a process to a reader crash  # noqa: BLE001
            self._error = exc
        finally:
            self._session.release(reusable=ended)
            self._done.set()
            with self._out.cond:
                self._out.cond.notify_all()

    @property
    def stdout(self) -> bytes:
        return self._out.snapshot()[0]

    @property
    def stderr(self) -> bytes:
        return self._out.snapshot()[1]

    def write_stdin(self, data: bytes) -> None:
        """Send bytes to the program's stdin (BrokenPipeError once it is closed or the program ended)."""
        try:
            self._chan.sendall(data)
        except DROP_ERRORS as exc:
            raise BrokenPipeError(
                errno.EPIPE, f"stdin of {self.command!r} on {self.connection.where} is closed: {exc}"
            ) from exc

    def close_stdin(self) -> None:
        """Send EOF to the program's stdin."""
        try:
            self._chan.shutdown_write()
        except DROP_ERRORS:
            pass

    def signal(self, sig: str | int, *, group: bool = False) -> None:
        """Send a signal (``"TERM"``, ``"SIGUSR1"``, ``signal.SIGINT``; a bare int is the TARGET's number).

        Sent with ``kill`` in a separate command; a program that already
        ended is left alone.
        """
        if self._done.is_set():
            return
        if not self.connection.signal(self.pid, sig, group=group) and not self._done.wait(0.5):
            raise InfrastructureError(
                f"could not send SIG{signal_spec(sig)} to pid {self.pid} ({self.command!r}) on {self.connection.where}"
            )

    def kill(self) -> None:
        """SIGKILL the program and its process group."""
        self.signal("KILL", group=True)

    def poll(self) -> int | None:
        if not self._done.is_set():
            return None
        result = self._result
        if result is None:
            return -1
        if result.exit_status is not None:
            return result.exit_status
        number = getattr(signals, f"SIG{result.signal}", None)
        return -int(number) if number is not None else -1

    def wait(self, timeout: float | None = None) -> CommandResult:
        """The result once the program ends; ``WaitTimeout`` if it still runs after ``timeout`` s."""
        if not self._done.wait(timeout):
            raise WaitTimeout(
                f"{self.command!r} (pid {self.pid}) still running on {self.connection.where} after {timeout} s"
            )
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def wait_for(
        self, pattern: bytes | re.Pattern[bytes], stream: str = "stdout", timeout: float | None = None
    ) -> re.Match[bytes]:
        """Wait until ``pattern`` (bytes literal or compiled regex) appears in ``stream`` output;
        ``ExpectTimeout`` (with the output's tail) if it does not within ``timeout`` s or the program ends."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        found: list[re.Match[bytes]] = []

        def seen() -> bool:
            match = regex.search(self._out.stdout if stream == "stdout" else self._out.stderr)
            if match:
                found.append(match)
            return bool(match) or self._done.is_set()

        with self._out.cond:
            self._out.cond.wait_for(seen, timeout)
        if not found:
            state = "ended" if self._done.is_set() else f"not seen after {timeout} s"
            last = tail_chars(self.stdout if stream == "stdout" else self.stderr, 500)
            raise ExpectTimeout(
                f"{pattern!r} not in {stream} of {self.command!r} on {self.connection.where} "
                f"({state}); last output: {last!r}"
            )
        return found[0]

    def close(self) -> None:
        """Kill the program if it still runs and release the channel."""
        if not self._done.is_set() and getattr(self, "pid", None) is not None:
            try:
                self.kill()
                self._done.wait(2)
            except (InfrastructureError, CommandTimeout):
                pass
        self._chan.close()
        self._reader.join(timeout=2)

    def __enter__(self) -> RemoteProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if not self._done.is_set() else f"ended {self.poll()}"
        return f"RemoteProcess(pid={getattr(self, 'pid', None)}, {self.command!r}, {state})"
