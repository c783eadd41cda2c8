"""A long-running program started through a console shell: in the background, its output in files.

``start_process`` writes the command into a folder of its own under the
shell's workdir, then starts it in the background of the console shell::

    ( (exec sleep 1000000 > in) & echo $! > hold )  # holds the stdin FIFO open (11 days; close_stdin kills it)
    ( ( (exec sh -c 'echo $$ > pid; . ./cmd' < in > out 2> err); echo $? > st ) & )

each started from a subshell that exits at once, so the console shell has no
job of its own to reap (an interactive busybox ash whose background job dies of
a signal other than SIGKILL exits, taking the console's shell with it).  The
program's pid is the ``sh`` that sources the command (a command ending
in ``exec PROGRAM`` keeps it), its stdin is the FIFO ``in`` (``write_stdin``
writes to it with ``printf``), and its stdout, stderr and exit status are files.
A poller thread reads what the files gained, through the shell, every
``interval`` seconds (one framed exchange, of shell builtins, ``tail`` and,
only for new output, its encoding and checksum: the status first, so the output
read with it is final when it is there), hands new bytes to ``on_output`` and
ends once the status is read.  ``signal`` is ``kill -s NAME PID``.  The status
``$?`` of 128+N is signal N in the target OS's numbering.
"""

from __future__ import annotations

import errno
import re
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
        self._pid: int | None = None
        self._launch()
        self._poller = threading.Thread(target=self._poll_loop, name=f"hil-console-{self.folder}", daemon=True)
        self._poller.start()

    # ------------------------------------------------------------------ starting

    def _launch(self) -> None:
        """Write the command file and start the program: one exchange (the pid is read later)."""
        d, data = self._q, self.command.encode()
        big = len(data) > 32 << 10
        for _ in range(3):
            prepare = f"hil_w=0\nrm -rf {d}; mkdir -p {d} || hil_w=1\n"
            if big:
                self.shell.write_file(f"{self.folder}.cmd", data)
                prepare += f'[ "$hil_w" = 0 ] && {{ mv {d}.cmd {d}/cmd || hil_w=1; }}\n'
            else:
                prepare += self.shell.write_snippet(f"{self.folder}/cmd", data) + "\n"
            status, text = self.shell.exchange(
                prepare + f'if [ "$hil_w" = 0 ]; then cd {d} && mkfifo in && : > out && : > err && '
                f"( (exec sleep 1000000 > in) > /dev/null 2>&1 & echo $! > hold ) && "
                f"( ( (exec sh -c 'echo $$ > pid; . ./cmd' < in > out 2> err); echo $? > st.tmp; mv st.tmp st; "
                f'kill "$(cat hold)" 2>/dev/null) > /dev/null 2>&1 & ); hil_w=$?; cd /; fi\n(exit $hil_w)',
                30,
            )
            if status == 0:
                return
            if status != 97:  # 97: the command file met noise on the console: write it again
                break
        raise InfrastructureError(f"{self.shell.name}: could not start {self.command[:200]!r}: {text.strip()[-300:]!r}")

    @property
    def pid(self) -> int:
        """The program's pid on the target (read from its folder when the poller has not yet)."""
        end = time.monotonic() + 30
        while self._pid is None and time.monotonic() < end:
            _, text = self.shell.value(f"cat {self._q}/pid 2>/dev/null", 30)
            words = text.split()
            if words and words[0].isdigit():
                self._pid = int(words[0])
            else:
                time.sleep(0.02)
        if self._pid is None:
            raise InfrastructureError(
                f"{self.shell.name}: {self.command[:200]!r} did not report its pid within 30 s (folder {self.folder})"
            )
        return self._pid

    # ------------------------------------------------------------------ polling

    def _poll_once(self) -> str | None:
        """One exchange: the status file (read first, so the output read with it is final when it is
        there) and what the output files gained; hands new output on.  The status once it is read with
        intact output, else None."""
        d, shell = self._q, self.shell
        token = shell.new_token()
        body = (
            f"hil_st=; [ -f {d}/st ] && read -r hil_st < {d}/st; "
            f"hil_pid=; [ -f {d}/pid ] && read -r hil_pid < {d}/pid; if cd {d} 2>/dev/null; then "
            f"tail -c +{len(self._out) + 1} out > out.c; tail -c +{len(self._err) + 1} err > err.c; "
            f"printf '%s%s %s %s\\n' 'HILS' '{token}' \"$hil_st\" \"$hil_pid\"; {shell.emit('o', token, 'out.c')}; "
            f"{shell.emit('e', token, 'err.c')}; cd /; fi"
        )
        _, text = shell.exchange(body, 60)
        m = re.search(rf"HILS{token} (\d*) (\d*)", text)
        out, err = shell.parse(text, "o", token), shell.parse(text, "e", token)
        if m is None or out is None or err is None:
            return None  # noise on the console: read again next time (nothing was consumed)
        for stream, data, buffer in (("stdout", out, self._out), ("stderr", err, self._err)):
            if data:
                with self._cond:
                    buffer.extend(data)
                    self._cond.notify_all()
                if self._on_output is not None:
                    self._on_output(stream, data)
        if self._pid is None and m.group(2):
            self._pid = int(m.group(2))
        return m.group(1) or None

    def _poll_loop(self) -> None:
        try:
            while not self._stop.is_set():
                status = self._poll_once()
                if status is not None:
                    self._finish(status)
                    return
                self._stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - reported by wait()
            with self._cond:
                self._error = exc if isinstance(exc, InfrastructureError) else InfrastructureError(str(exc))
                self._cond.notify_all()

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
        raise WaitTimeout(f"{self.command[:200]!r} (pid {self._pid}) still running on the target after {timeout} s")

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
