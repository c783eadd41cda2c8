"""A real terminal server on 127.0.0.1: Debian's ``ser2net`` (v4) exporting a pty, and the board behind it.

Labs wire a board's console to a terminal server: ser2net exposes the serial
port as raw TCP (``socket://host:port``) or as telnet with RFC 2217
(``rfc2217://host:port``).  Here the "serial port" is the slave end of a pty
pair and the board is a thread of the test driving the master end:

* ``PtyBoard``: ``boot()`` prints a boot banner and the prompt; every line it
  receives is echoed (as a shell with echo on does) and answered with the
  prompt; ``burst N`` prints ``burst_data(N)`` (every byte value, 0xFF, the
  telnet IAC, included) and then ``END-OF-BURST``.
* ``Ser2net``: ``ser2net -n -u -c CONFIG -P PIDFILE`` in the foreground, its
  own YAML config (one connection) in a private folder, on the free port it
  picks at its first start (port 0, read back from /proc: no probe socket),
  kept so that ``stop()`` then ``start()`` is a terminal server restart: the
  connection drops and the same URL works again.

The slave end stays open in the test (raw mode) while ser2net opens and
closes it per client, so the board never sees a hang-up.  ``missing_tools()``
names what to install; ``Ser2net.start()`` raises when ser2net is missing, so
a host without it fails these tests loudly instead of skipping them
(``scripts/install-host-deps`` installs it).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import threading
import time
import tty
from pathlib import Path

from tests.support.ports import listening_port

BANNER = "U-Boot 2024.01 (hil test board)\r\nStarting kernel ...\r\nQNX 8.0.0 hil-board on ser2net\r\n"
PROMPT = "board# "
END_OF_BURST = "END-OF-BURST"
KINDS = ("rfc2217", "raw")  # ser2net accepters: telnet(rfc2217),tcp,PORT and tcp,PORT


def ser2net_path() -> str | None:
    """Path of the ser2net binary (it lives in /usr/sbin, not always on PATH), or None."""
    found = shutil.which("ser2net")
    if found:
        return found
    return "/usr/sbin/ser2net" if Path("/usr/sbin/ser2net").exists() else None


def missing_tools() -> list[str]:
    """What this host lacks to run the terminal server, as install hints (empty: nothing)."""
    return [] if ser2net_path() else ["ser2net (apt-get install ser2net)"]


def burst_data(size: int) -> bytes:
    """``size`` bytes of numbered text lines with every byte value (0x00 to 0xFF) among them."""
    block = b"".join(b"%08d the quick brown fox jumps over the lazy dog\r\n" % i for i in range(64)) + bytes(range(256))
    return (block * (size // len(block) + 1))[:size]


class PtyBoard:
    """The board: the master end of a pty pair, driven by a thread; ``device`` is the slave's path."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF mapping, no XON/XOFF until ser2net sets its own modes
        os.set_blocking(self.master, False)
        self.device = os.ttyname(self._slave)
        self.lines: list[str] = []  # what the board was sent, line by line
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-board", daemon=True)

    def start(self) -> PtyBoard:
        self._thread.start()
        return self

    def boot(self) -> None:
        """Print the boot banner and the prompt (a power cycle, as seen on the console)."""
        self.write((BANNER + PROMPT).encode())

    def write(self, data: bytes) -> None:
        """Send ``data`` to the console side, waiting while the pty is full (ser2net drains it)."""
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                view = view[os.write(self.master, view[:65536]) :]
            except BlockingIOError:
                select.select([], [self.master], [], 0.1)

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                pending += os.read(self.master, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # EIO: the slave end is closed (the board is stopped)
                return
            while b"\n" in pending:
                raw, pending = pending.split(b"\n", 1)
                self._answer(raw.rstrip(b"\r").decode(errors="replace"))

    def _answer(self, line: str) -> None:
        self.lines.append(line)
        self.write(line.encode() + b"\r\n")
        if line.startswith("burst "):
            self.write(burst_data(int(line.split()[1])) + END_OF_BURST.encode() + b"\r\n")
        self.write(PROMPT.encode())

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Ser2net:
    """ser2net exporting ``device`` on ``127.0.0.1:port`` as ``kind`` ``rfc2217`` or ``raw``; files under ``root``."""

    def __init__(self, root: Path, device: str, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.root = root
        self.device = device
        self.kind = kind
        self.port = 0  # ser2net picks a free one at the first start (read back from /proc); restarts keep it
        self.config = root / "ser2net.yaml"
        self.log = root / "ser2net.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rfc2217" if self.kind == "rfc2217" else "socket"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        accepter = "telnet(rfc2217),tcp" if self.kind == "rfc2217" else "tcp"
        self.config.write_text(
            "%YAML 1.1\n"
            "---\n"
            "connection: &board\n"
            f"  accepter: {accepter},127.0.0.1,{self.port}\n"
            f"  connector: serialdev,{self.device},115200n81,local\n"
            "  options:\n"
            "    chardelay: false\n"  # hand over each byte at once (no wait for more after a character)
            "    mdns: false\n"
        )

    def start(self, timeout: float = 5.0) -> Ser2net:
        """Start ser2net and wait until it listens (at most ``timeout`` seconds)."""
        binary = ser2net_path()
        if binary is None:
            raise RuntimeError("the terminal server tests need: " + ", ".join(missing_tools()))
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_config()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [binary, "-n", "-u", "-c", str(self.config), "-P", str(self.root / "ser2net.pid")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        end = time.monotonic() + timeout
        while not self._listening(self.process.pid):
            if self.process.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError(
                    f"ser2net did not listen on 127.0.0.1:{self.port} within {timeout} s; its log:\n"
                    + self.log.read_text(errors="replace")
                )
            time.sleep(0.01)
        return self

    def _listening(self, pid: int) -> bool:
        """Whether ser2net listens (on ``port``, or on the port it picked for 0, which becomes ``port``);
        read from /proc: a probe connection would open the port."""
        found = listening_port(pid)
        if found and (self.port == 0 or found == self.port):
            self.port = found
            return True
        return False

    def stop(self) -> None:
        """Stop ser2net (SIGTERM, SIGKILL after 5 s): every client connection drops."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PtyRelay:
    """A serial port wired to a VM's serial socket: the slave end of a pty (``device``, for ser2net's
    ``serialdev`` connector) relayed byte for byte to ``host:port`` by a thread."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.setblocking(False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pty-relay", daemon=True)

    def start(self) -> PtyRelay:
        self._thread.start()
        return self

    def _run(self) -> None:
        sock = self._sock.fileno()
        to_sock, to_pty = b"", b""
        while not self._stop.is_set():
            readers = [fd for fd, pending in ((self.master, to_sock), (sock, to_pty)) if not pending]
            writers = [fd for fd, pending in ((sock, to_sock), (self.master, to_pty)) if pending]
            ready_r, ready_w, _ = select.select(readers, writers, [], 0.1)
            try:
                if self.master in ready_r:
                    to_sock = os.read(self.master, 65536)
                if sock in ready_r:
                    to_pty = os.read(sock, 65536)
                    if not to_pty:
                        return  # the VM's socket closed
                if sock in ready_w:
                    to_sock = to_sock[os.write(sock, to_sock) :]
                if self.master in ready_w:
                    to_pty = to_pty[os.write(self.master, to_pty) :]
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # EIO: nobody has the slave open right now (ser2net between clients)
                time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
