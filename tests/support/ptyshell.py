"""A shell on a terminal, served on 127.0.0.1 as a terminal server serves a board's console.

``PtyShell(argv)`` starts an interactive shell (``dash -i``, ``busybox sh -i``,
``mksh -i``: a pdksh descendant, as QNX's ``ksh`` is) on the slave end of a pty
pair, as its controlling terminal (so Ctrl-C interrupts its foreground command),
in a session of its own; a thread relays the master end to one TCP client at a
time on ``port`` (``socket://127.0.0.1:PORT``).  The port is picked by the
kernel for a listening socket held from the start: no bind-close race.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import subprocess
import termios
import threading
import time
from pathlib import Path


def _controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyShell:
    """An interactive shell on a pty, its terminal on ``socket://127.0.0.1:port``."""

    def __init__(self, argv: list[str], home: Path) -> None:
        self.master, slave = os.openpty()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PS1": "board$ ", "TERM": "vt100"}
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=home,
            env=env,
            start_new_session=True,
            preexec_fn=_controlling_tty,  # noqa: PLW1509 - the shell needs the pty as its controlling tty
        )
        os.close(slave)
        self._greeting = self._wait_ready()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pty-shell", daemon=True)
        self._thread.start()

    def _wait_ready(self, timeout: float = 10.0) -> bytes:
        """The shell's first output (its prompt), once it has stopped coming: before that the shell may
        not handle Ctrl-C yet (mksh starting up dies of SIGINT).  Handed to the first client."""
        seen = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.3 if seen else 0.05)
            if ready:
                seen += os.read(self.master, 65536)
            elif seen:
                return seen
        raise RuntimeError(f"the shell {self.process.args!r} printed no prompt within {timeout} s: {seen!r}")

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with client:
                greeting, self._greeting = self._greeting, b""
                client.sendall(greeting)
                self._relay(client)

    def _relay(self, client: socket.socket) -> None:
        watched: list[int | socket.socket] = [self.master, client]
        while not self._stop.is_set():
            ready, _, _ = select.select(watched, [], [], 0.1)
            try:
                if self.master in ready:
                    data = os.read(self.master, 65536)
                    if not data:
                        return
                    client.sendall(data)
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        return  # the client left: keep the shell for the next one
                    view = memoryview(data)
                    while view:
                        view = view[os.write(self.master, view) :]
            except OSError:
                return

    def session(self) -> list[int]:
        """Pids of the shell's session: the shell and everything it started (background jobs included)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[3]) == self.process.pid:  # field 6, the session id
                    pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        """Kill the shell's whole session (what a test left running goes too)."""
        self._stop.set()
        for pid in self.session():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self._thread.join(timeout=5)
        self._listener.close()
        os.close(self.master)
