"""Waiting for a QEMU machine to come up: its ready marker on the serial console, then SSH's banner.

``BootWaits`` is the part of ``hil.vm.qemu.QemuMachine`` that waits, and that
reports a failed wait (or start) as an ``InfrastructureError`` with QEMU's exit
status, its stderr tail and the last console lines read.  The machine sets the
attributes declared here and says whether QEMU is ``alive()``.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError
from hil.core.text import tail_lines
from hil.vm.qemuargs import connect_unix

_TAIL_LINES = 25


class BootWaits:
    """Boot waits and failure reports for a QEMU machine (a base of ``QemuMachine``)."""

    pid: int
    ssh_port: int
    serial_port: int
    console_path: str
    run_dir: Path
    #: The guest's SSH port that ``ssh_port`` forwards to.
    guest_ssh_port: int
    _proc: subprocess.Popen[bytes] | None
    _console_tail: list[str]

    def alive(self) -> bool:
        """True while the QEMU process runs."""
        raise NotImplementedError

    @property
    def console_url(self) -> str:
        """``unix:///...`` (a private unix socket) or ``socket://127.0.0.1:PORT`` (``console_tcp``)."""
        if self.console_path:
            return f"unix://{self.console_path}"
        return f"socket://127.0.0.1:{self.serial_port}"

    def connect_console(self, timeout: float) -> socket.socket:
        """A raw connection to the serial console (the first one starts a waiting guest)."""
        if self.console_path:
            return connect_unix(self.console_path, timeout, f"console {self.console_url}")
        return socket.create_connection(("127.0.0.1", self.serial_port), timeout=timeout)

    @property
    def stderr_path(self) -> Path:
        return self.run_dir / "qemu.stderr"

    def _marker_seen(self, marker: str, console: bytes) -> bool:
        return marker.encode() in console

    def _read_console_for(self, marker: str, deadline: Deadline) -> None:
        buf = b""
        try:
            sock = self.connect_console(min(10.0, max(0.1, deadline.remaining())))
        except (OSError, InfrastructureError) as exc:
            self._fail(f"cannot connect to the serial console {self.console_url}: {exc}")
        with sock:
            sock.settimeout(0.1)
            while not self._marker_seen(marker, buf):
                if deadline.expired:
                    self._remember(buf)
                    self._fail(
                        f"the ready marker '{marker}' did not appear on the serial console "
                        f"within the deadline ({deadline.what})"
                    )
                if not self.alive():
                    self._remember(buf)
                    self._fail(f"QEMU exited before the ready marker '{marker}' appeared", settle=2.0)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError as exc:
                    self._remember(buf)
                    self._fail(f"serial console {self.console_url} failed: {exc}", settle=2.0)
                if not data:
                    self._remember(buf)
                    self._fail(
                        f"serial console {self.console_url} closed before the ready marker '{marker}'", settle=2.0
                    )
                buf = (buf + data)[-65536:]
            self._remember(buf)

    def _await_reader(self, reader: Callable[[str, float], object], marker: str, deadline: Deadline) -> None:
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                reader(marker, deadline.remaining())
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome.append(exc)

        thread = threading.Thread(target=run, name="hil-ready-marker", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(0.05)
            if thread.is_alive() and not self.alive():
                self._fail(f"QEMU exited before the ready marker '{marker}' appeared", settle=2.0)
        if outcome:
            self._fail(f"the ready marker '{marker}' did not appear on the serial console: {outcome[0]}")

    def _wait_ssh(self, deadline: Deadline) -> None:
        last = "no attempt"
        while True:
            if not self.alive():
                self._fail(f"QEMU exited before SSH answered on 127.0.0.1:{self.ssh_port}")
            try:
                with socket.create_connection(
                    ("127.0.0.1", self.ssh_port), timeout=max(0.05, min(2.0, deadline.remaining()))
                ) as sock:
                    sock.settimeout(max(0.05, min(3.0, deadline.remaining())))
                    banner = sock.recv(256)
                if banner.startswith(b"SSH-"):
                    return
                last = f"no SSH banner (got {banner[:40]!r})"
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if deadline.expired:
                self._fail(
                    f"SSH did not come up on 127.0.0.1:{self.ssh_port} "
                    f"(forwarded to the guest's port {self.guest_ssh_port}) "
                    f"after the ready marker: {last}"
                )
            time.sleep(0.05)

    def _remember(self, data: bytes) -> None:
        text = data.decode("utf-8", errors="replace").replace("\r", "")
        self._console_tail = tail_lines(text, _TAIL_LINES, skip_blank=True)

    def _fail(self, what: str, settle: float = 0.0) -> NoReturn:
        """Raise InfrastructureError for ``what``, with QEMU's exit and stderr and the console tail.

        ``settle``: how long to let a closing QEMU exit first (its console closes before it exits).
        """
        if self._proc is not None and settle:
            try:
                self._proc.wait(settle)
            except subprocess.TimeoutExpired:
                pass
        parts = [f"QEMU target (pid {self.pid}, run dir {self.run_dir}): {what}"]
        if self._proc is not None and self._proc.poll() is not None:
            parts.append(f"QEMU exited with status {self._proc.returncode}; stderr: {self._stderr_tail()}")
        if self._console_tail:
            parts.append("last console lines:\n  " + "\n  ".join(self._console_tail))
        raise InfrastructureError("\n".join(parts))

    def _stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def _stderr_tail(self) -> str:
        text = "\n".join(line for line in self._stderr_text().splitlines() if "waiting for connection" not in line)
        return " | ".join(tail_lines(text, 5, skip_blank=True)) or "(empty)"
