"""The ``local`` target: this host, no VM.  qvmsim runs here directly.

Its deployment folders go to this user's private folder (``<tmp>/qnx-hil-<uid>/work``, mode 0700)
unless the definition names a ``[qvm] workdir``: another local user can neither enter nor replace
what a run deploys (``hil.targets.deploy`` checks any workdir before using it).
"""

from __future__ import annotations

import os
import shutil
import signal as signals
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from hil.core.command import CommandResult, shell_command
from hil.core.deadline import Deadline
from hil.core.errors import CommandFailed, CommandTimeout, WaitTimeout
from hil.core.signals import signal_name
from hil.targets.base import OutputCallback, Target, register


def _signal_number(sig: str | int) -> int:
    return sig if isinstance(sig, int) else int(getattr(signals, signal_name(sig)))


def _status(returncode: int) -> tuple[int | None, str | None]:
    if returncode < 0:
        return None, signals.Signals(-returncode).name
    return returncode, None


#: With an ``on_output`` consumer, a process keeps only this much of each stream's end itself.
STREAMED_TAIL_BYTES = 1 << 20


class LocalProcess:
    """A host process with the same face as an SSH ``RemoteProcess``.

    With ``on_output`` every chunk goes to it and the process keeps only the last
    ``STREAMED_TAIL_BYTES`` of each stream (``stdout``/``stderr``, the result's), so a program
    printing gigabytes does not fill memory; without it, everything is kept.
    """

    def __init__(self, command: str, on_output: OutputCallback | None, cwd: Path | None = None) -> None:
        self.command = command
        self._on_output = on_output
        self._started = time.monotonic()
        self._popen = subprocess.Popen(
            ["sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=cwd,
        )
        self.pid = self._popen.pid
        self._chunks: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._lock = threading.Lock()
        assert self._popen.stdout is not None and self._popen.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self._popen.stdout), ("stderr", self._popen.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            with self._lock:
                kept = self._chunks[name]
                kept += chunk
                if self._on_output is not None and len(kept) > 2 * STREAMED_TAIL_BYTES:
                    del kept[: len(kept) - STREAMED_TAIL_BYTES]
            if self._on_output:
                self._on_output(name, chunk)
        stream.close()

    @property
    def stdout(self) -> bytes:
        with self._lock:
            return bytes(self._chunks["stdout"])

    @property
    def stderr(self) -> bytes:
        with self._lock:
            return bytes(self._chunks["stderr"])

    def write_stdin(self, data: bytes) -> None:
        assert self._popen.stdin is not None
        self._popen.stdin.write(data)
        self._popen.stdin.flush()

    def close_stdin(self) -> None:
        if self._popen.stdin and not self._popen.stdin.closed:
            self._popen.stdin.close()

    def signal(self, sig: str | int) -> None:
        if self._popen.poll() is None:
            os.kill(self.pid, _signal_number(sig))

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, timeout: float | None) -> CommandResult:
        try:
            returncode = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(
                f"'{self.command}' (pid {self.pid}) still running on this host after {timeout} s"
            ) from None
        for reader in self._readers:
            reader.join()
        self.close_stdin()
        status, sig = _status(returncode)
        return CommandResult(self.command, status, sig, self.stdout, self.stderr, time.monotonic() - self._started)


@register
class LocalTarget(Target):
    """Runs everything on this host: the fastest target, no isolation."""

    kind = "local"
    on_this_host = True  # its files are this host's
    runs_qvmsim_builds = True  # qvmsim built here

    def up(self, deadline: Deadline) -> None:
        pass

    def down(self) -> None:
        pass

    def run(
        self,
        command: str | Sequence[str],
        timeout: float | None = None,
        *,
        stdin: bytes | None = None,
        check: bool = False,
    ) -> CommandResult:
        process = LocalProcess(shell_command(command), None)
        if stdin:
            process.write_stdin(stdin)
        process.close_stdin()
        try:
            result = process.wait(timeout)
        except WaitTimeout:
            os.killpg(process.pid, signals.SIGKILL)
            partial = process.wait(None)
            raise CommandTimeout(f"local command timed out after {timeout} s: {process.command}", partial) from None
        if check and not result.ok:
            raise CommandFailed.of(result, f"{self.name} (this host)")
        return result

    def start(self, command: str | Sequence[str], *, on_output: OutputCallback | None = None) -> LocalProcess:
        return LocalProcess(shell_command(command), on_output)

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        shutil.copyfile(local, remote)
        if mode is not None:
            os.chmod(remote, mode)

    def get(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)

    def healthy(self) -> bool:
        return True

    def workdir(self) -> str:
        """The definition's ``[qvm] workdir`` when it sets one, else this user's private folder
        ``<tmp>/qnx-hil-<uid>/work`` (mode 0700, checked: ``hil.core.paths.private_dir``), never a
        folder shared by the host's users."""
        if self.definition.qvm.workdir != type(self.definition.qvm)().workdir:
            return self.definition.qvm.workdir
        from hil.core.paths import private_dir

        return str(private_dir("work"))

    def qvm_command(self) -> str:
        """The definition's ``[qvm] command`` when it sets one (a wrapper, another qvm), else this
        host's qvmsim build."""
        default = type(self.definition.qvm)().command
        if self.definition.qvm.command != default:
            return self.definition.qvm.command
        from hil.targets.sdk import build_qvmsim

        return str(build_qvmsim())
