"""A long-running program started through a console shell: in the background, its output in files.

``start_process`` writes the command into a folder of its own under the
shell's workdir, then starts it in the background of the console shell::

    ( (exec sleep 2147483647 > in) & echo $! > hold )      # holds the stdin FIFO open (close_stdin kills it)
    ( (sh -c 'echo $$ > pid; . ./cmd' < in > out 2> err; echo $? > st) & )

each started from a subshell that exits at once, so the console shell has no
job of its own to reap (an interactive busybox ash whose background job dies of
a signal other than SIGKILL exits, taking the console's shell with it).  The
program's pid is the ``sh`` that sources the command (a command ending
in ``exec PROGRAM`` keeps it), its stdin is the FIFO ``in`` (``write_stdin``
writes to it with ``printf``), and its stdout, stderr and exit status are files.
A poller thread reads what the files gained, through the shell, every
``interval`` seconds (one framed exchange: the status first, so the output read
with it is final when it is there), hands new bytes to ``on_output`` and ends
once the status is read.  ``signal`` is ``kill -s NAME PID``.  The status
``$?`` of 128+N is signal N in the target OS's numbering.
"""

from __future__ import annotations

import errno
import signal as signals
import threading
import time

from hil.core.command import CommandResult, shell_command
from hil.core.errors import CommandTimeout, InfrastructureError, WaitTimeout
from hil.core.signals import split_shell_status
from hil.links.consoleshell import ConsoleShell
from hil.links.ssh.channel import OutputCallback
from hil.links.ssh.kill import kill_command, signal_spec

__all__ = ["ConsoleProcess", "start_process"]

_counter = iter(range(1, 1 << 62))


class ConsoleProcess:
    """A program running on the target in the background of a ``ConsoleShell``; the ``Process`` protocol."""

    def __init__(
        self, shell: ConsoleShell, command: str, on_output: OutputCallback | None, interval: float = 0.1
    ) -> None:
        self.shell = shell
        self.command = command
        self.interval = interval
        self._on_output = on_output
        self.folder = f"{shell.workdir}/p{next(_counter)}"
        self._q = shell_command([self.folder])
        self._cond = threading.Condition()
        self._out = bytearray()
        self._err = bytearray()
        self._result: CommandResult | None = None
        self._error: Exception | None = None
        self._stop = threading.Event()
        self._started = time.monotonic()
        self.pid = self._launch()
        self._poller = threading.Thread(target=self._poll_loop, name=f"hil-console-proc-{self.pid}", daemon=True)
        self._poller.start()

    # ------------------------------------------------------------------ starting

    def _launch(self) -> int:
        d = self._q
        self.shell.write_file(f"{self.folder}.cmd", self.command.encode())
        status, text = self.shell.exchange(
            f"rm -rf {d} && mkdir -p {d} && mv {d}.cmd {d}/cmd && cd {d} && mkfifo in && : > out && : > err && "
            f"( (exec sleep 2147483647 > in) > /dev/null 2>&1 & echo $! > hold ) && "
            f"( ( (exec sh -c 'echo $$ > pid; . ./cmd' < in > out 2> err); echo $? > st.tmp; mv st.tmp st; "
            f'kill "$(cat hold)" 2>/dev/null) > /dev/null 2>&1 & ); cd /',
            30,
        )
        if status != 0:
            raise InfrastructureError(
                f"{self.shell.name}: could not start {self.command[:200]!r}: {text.strip()[-300:]!r}"
            )
        end = time.monotonic() + 30
        while time.monotonic() < end:
            status, text = self.shell.value(f"cat {d}/pid 2>/dev/null", 30)
            words = text.split()
            if words and words[0].isdigit():
                return int(words[0])
            time.sleep(0.05)
        raise InfrastructureError(
            f"{self.shell.name}: {self.command[:200]!r} did not report its pid within 30 s (folder {self.folder})"
        )

    # ------------------------------------------------------------------ polling

    def _poll_once(self) -> None:
        """Read what the output files gained since the last poll and hand it on."""
        d = self._q
        prefix = (
            f"if cd {d} 2>/dev/null; then tail -c +{len(self._out) + 1} out > out.c; "
            f"tail -c +{len(self._err) + 1} err > err.c; cd /; fi; "
        )
        files = self.shell.read_files({"o": f"{self.folder}/out.c", "e": f"{self.folder}/err.c"}, 60, prefix=prefix)
        for stream, data, buffer in (("stdout", files["o"], self._out), ("stderr", files["e"], self._err)):
            if data:
                with self._cond:
                    buffer.extend(data)
                    self._cond.notify_all()
                if self._on_output is not None:
                    self._on_output(stream, data)

    def _poll_loop(self) -> None:
        try:
            while not self._stop.is_set():
                status = self._read_status()
                self._poll_once()
                if status is not None:
                    self._finish(status)
                    return
                self._stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - reported by wait()
            with self._cond:
                self._error = exc if isinstance(exc, InfrastructureError) else InfrastructureError(str(exc))
                self._cond.notify_all()

    def _read_status(self) -> str | None:
        status, text = self.shell.value(f"cat {self._q}/st 2>/dev/null", 30)
        words = text.split()
        return words[0] if status == 0 and words and words[0].isdigit() else None

    def _finish(self, status: str) -> None:
        code, sig = split_shell_status(int(status), self.shell.numbering)
        with self._cond:
            self._result = CommandResult(
                self.command, code, sig, bytes(self._out), bytes(self._err), time.monotonic() - self._started
            )
            self._cond.notify_all()
        try:
            self.shell.exchange(f"rm -rf {self._q}", 30)
        except (InfrastructureError, CommandTimeout):
            pass

    # ------------------------------------------------------------------ the Process protocol

    @property
    def stdout(self) -> bytes:
        with self._cond:
            return bytes(self._out)

    @property
    def stderr(self) -> bytes:
        with self._cond:
            return bytes(self._err)

    def write_stdin(self, data: bytes) -> None:
        """Write ``data`` to the program's stdin (its FIFO); ``BrokenPipeError`` once it has ended."""
        if self._result is not None:
            raise BrokenPipeError(errno.EPIPE, f"{self.command[:80]!r} has ended: its stdin is closed")
        from hil.links.consolecodec import octal

        d = self._q
        lines = [f"printf '{octal(data[i : i + 200])}'" for i in range(0, len(data), 200)]
        script = f"[ -f {d}/hold ] && ! [ -f {d}/st ] && {{ {'; '.join(lines) or ':'}; }} > {d}/in"
        status, _ = self.shell.exchange(script, 10)
        if status != 0:
            raise BrokenPipeError(errno.EPIPE, f"stdin of {self.command[:80]!r} is closed")

    def close_stdin(self) -> None:
        """EOF on the program's stdin: the process holding the FIFO open ends."""
        if self._result is None:
            self.shell.exchange(f'kill "$(cat {self._q}/hold)" 2>/dev/null; rm -f {self._q}/hold', 10)

    def signal(self, sig: str | int, *, group: bool = False) -> None:
        """Send ``sig`` (a name, or the TARGET's number) with ``kill``; an ended program is left alone."""
        if self._result is not None:
            return
        self.shell.exchange(kill_command(signal_spec(sig), self.pid, group), 10)

    def kill(self) -> None:
        self.signal("KILL", group=True)

    def poll(self) -> int | None:
        with self._cond:
            result = self._result
        if result is None:
            return None
        if result.exit_status is not None:
            return result.exit_status
        number = getattr(signals, str(result.signal), None)
        return -int(number) if number is not None else -1

    def wait(self, timeout: float | None = None) -> CommandResult:
        """The result once the program ends (``WaitTimeout`` after ``timeout`` s); the link's failure
        (``InfrastructureError``) if the console shell was lost meanwhile."""
        with self._cond:
            self._cond.wait_for(lambda: self._result is not None or self._error is not None, timeout)
            if self._result is not None:
                return self._result
            if self._error is not None:
                raise self._error
        raise WaitTimeout(f"{self.command[:200]!r} (pid {self.pid}) still running on the target after {timeout} s")

    def stop_polling(self) -> None:
        """Stop reading the program's files (the link is going away); ``wait`` then reports that."""
        self._stop.set()
        with self._cond:
            if self._result is None and self._error is None:
                self._error = InfrastructureError(f"{self.shell.name}: the link closed while {self.command[:80]!r} ran")
            self._cond.notify_all()

    def close(self) -> None:
        """Kill the program if it still runs and stop polling."""
        if self._result is None and self._error is None:
            try:
                self.kill()
                self.wait(5)
            except (InfrastructureError, CommandTimeout, WaitTimeout):
                pass
        self._stop.set()
        self._poller.join(timeout=5)

    def __enter__(self) -> ConsoleProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_process(shell: ConsoleShell, command: str, on_output: OutputCallback | None = None) -> ConsoleProcess:
    """Start ``command`` (a shell command line) in the background of ``shell``."""
    return ConsoleProcess(shell, command, on_output)
