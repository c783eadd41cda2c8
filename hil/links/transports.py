"""Byte transports for consoles: something that can be opened, read and written.

A transport knows nothing about lines, patterns or logs; ``hil.links.console.Console``
adds all of that on top.  Three kinds:

* ``TcpTransport``: ``socket://host:port``, a plain TCP socket of our own (QEMU's
  serial port on a loopback socket, a terminal server's raw TCP port).  pyserial's
  ``socket://`` handler reports at most one waiting byte, so a reader sized by
  ``in_waiting`` crawls at a few kB/s; owning the socket avoids that.
* ``UnixTransport``: ``unix:///path/to/socket``, a unix socket served by this user
  (QEMU's serial console, in a private folder: see ``hil.vm.qemuargs``); the
  listener's peer credentials are checked (``check_peer``).
* ``SerialTransport``: any other pyserial URL (``/dev/ttyUSB0``, ``rfc2217://``,
  ``loop://``) through ``serial.serial_for_url``.
* ``SocketLikeTransport``: an already open object with ``recv``/``sendall``/
  ``settimeout``/``close`` such as a paramiko ``Channel``; it cannot reconnect.

Contract every transport keeps (the console relies on it):

* ``read(max_bytes, timeout)`` returns at most ``max_bytes`` as soon as *any* byte
  is there, ``b""`` when ``timeout`` passes first, and raises ``TransportClosed``
  when the other end is gone.
* ``close()`` may be called from another thread while ``read()`` is blocked; it
  makes that ``read()`` return or raise promptly.  ``open()`` after ``close()``
  reconnects (where the transport can).
"""

from __future__ import annotations

import importlib.util
import os
import select
import socket
import threading
import urllib.parse
from typing import Any, Protocol, runtime_checkable

import serial
import serial.serialposix

from hil.core.errors import ConfigError, InfrastructureError, TransportClosed
from hil.core.peer import check_peer

__all__ = [
    "SerialTransport",
    "SocketLikeTransport",
    "TcpTransport",
    "Transport",
    "UnixTransport",
    "check_peer",
    "open_transport",
]


@runtime_checkable
class Transport(Protocol):
    """A byte pipe to a console: read, write, (re)open, close."""

    description: str

    def open(self) -> None:
        """(Re)connect; raises ``InfrastructureError`` saying why it could not."""
        ...

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes`` as soon as any arrive; ``b""`` on timeout; ``TransportClosed`` when gone."""
        ...

    def write(self, data: bytes) -> None:
        """Send all of ``data``; ``TransportClosed`` when gone."""
        ...

    def close(self) -> None:
        """Disconnect (idempotent, callable from another thread while ``read`` blocks)."""
        ...


_buffers = threading.local()
#: The most a read of a tty asks for: a tty never holds more than a few KiB, and asking for more costs an
#: allocation of that size per read.
_TTY_READ = 1 << 16


def _buffer(size: int) -> memoryview:
    """This thread's read buffer of ``size`` bytes: reads go into it and only what came is copied out.

    ``recv(n)``/``os.read(n)`` allocate ``n`` bytes for every read and shrink them after; at 256 KiB that is
    an ``mmap`` and page faults per read (about 20 us on a round trip: ``bench/bench_console.py``)."""
    buffer: memoryview | None = getattr(_buffers, "view", None)
    if buffer is None or len(buffer) != size:
        buffer = _buffers.view = memoryview(bytearray(size))
    return buffer


def _wait_readable(fds: list[Any], timeout: float) -> list[Any]:
    """``select`` for reading; returns the ready subset (empty on timeout)."""
    ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
    return ready


class TcpTransport:
    """A raw TCP connection (``socket://host:port``) on a socket we own.

    The socket stays in blocking mode (so ``write`` never times out half way);
    ``read`` waits with ``select`` and then takes whatever the kernel has, up to
    ``max_bytes``, in one ``recv``.
    """

    def __init__(self, host: str, port: int, connect_timeout: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        shown = f"[{host}]" if ":" in host else host
        self.description = f"socket://{shown}:{port}"
        self._sock: socket.socket | None = None
        self._poll: select.poll | None = None

    def open(self) -> None:
        self.close()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise InfrastructureError(
                f"cannot connect to console {self.description}: {exc.strerror or exc}; "
                "is the target (QEMU, terminal server) running and is the port right?"
            ) from exc
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._use(sock)

    def _use(self, sock: socket.socket) -> None:
        poll = select.poll()  # cheaper than select() per read (the round trip: bench/bench_console.py)
        poll.register(sock, select.POLLIN)
        self._sock, self._poll = sock, poll

    def _live(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            raise TransportClosed(f"console {self.description} is not connected")
        return sock

    def read(self, max_bytes: int, timeout: float) -> bytes:
        sock, poll = self._sock, self._poll
        if sock is None or poll is None:
            raise TransportClosed(f"console {self.description} is not connected")
        try:
            if not poll.poll(max(0.0, timeout) * 1000):
                return b""
            buffer = _buffer(max_bytes)
            data = bytes(buffer[: sock.recv_into(buffer, max_bytes)])
        except (OSError, ValueError) as exc:  # ValueError: closed by another thread (fileno -1)
            raise TransportClosed(f"console {self.description} failed: {exc}") from exc
        if not data:
            raise TransportClosed(f"console {self.description} was closed by the other end")
        return data

    def write(self, data: bytes) -> None:
        sock = self._live()
        try:
            sock.sendall(data)
        except OSError as exc:
            raise TransportClosed(f"writing to console {self.description} failed: {exc}") from exc

    def close(self) -> None:
        sock, self._sock, self._poll = self._sock, None, None
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in select()
        except OSError:
            pass
        sock.close()

    def __repr__(self) -> str:
        return f"TcpTransport({self.description!r})"


class UnixTransport(TcpTransport):
    """A unix-socket connection (``unix:///path``) to a listener of this user (peer credentials checked)."""

    def __init__(self, path: str, connect_timeout: float = 3.0) -> None:
        self.path = path
        self.connect_timeout = connect_timeout
        self.description = f"unix://{path}"
        self._sock: socket.socket | None = None
        self._poll: select.poll | None = None

    def open(self) -> None:
        self.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise InfrastructureError(
                f"cannot connect to console {self.description}: {exc.strerror or exc}; is the target (QEMU) running?"
            ) from exc
        check_peer(sock, f"console {self.description}")
        sock.settimeout(None)
        self._use(sock)

    def __repr__(self) -> str:
        return f"UnixTransport({self.description!r})"


def _is_rfc2217(url: str) -> bool:
    return url.lower().startswith("rfc2217://")


def _pyserial_url(url: str) -> str:
    """The URL handed to pyserial: ``rfc2217://`` gets ``ign_set_control`` (see ``SerialTransport``)."""
    if not _is_rfc2217(url):
        return url
    parts = urllib.parse.urlsplit(url)
    if "ign_set_control" in urllib.parse.parse_qs(parts.query, keep_blank_values=True):
        return url
    query = f"{parts.query}&ign_set_control" if parts.query else "ign_set_control"
    return urllib.parse.urlunsplit(parts._replace(query=query))


class SerialTransport:
    """A pyserial port opened with ``serial.serial_for_url`` (device path or URL).

    Local devices (``/dev/tty*``, ptys) are read straight from the file
    descriptor: ``select`` then one ``os.read`` of up to ``max_bytes``, so a
    read returns as soon as anything arrives (pyserial's own ``read(n)`` waits
    for all ``n`` bytes or the timeout, which would add the timeout to every
    round trip).  A private wake-up pipe lets ``close()`` interrupt a blocked
    read.  Ports without a descriptor (``loop://``, ``rfc2217://``) wait for
    the first byte with pyserial's ``read(1)`` and then take the bytes those
    handlers already hold queued (they count them exactly, unlike ``socket://``,
    which ``open_transport`` sends to ``TcpTransport``).

    ``rfc2217://`` URLs are opened with pyserial's ``ign_set_control`` option
    (unless the URL has it already): pyserial still asks the server to raise
    DTR and RTS but does not wait for answers, which a console never needs.  A
    port without modem lines (ser2net on a pty, some USB adapters and terminal
    servers) never answers, and pyserial would otherwise fail every open after
    3 s with "timeout while waiting for option 'control'".
    """

    def __init__(self, url: str, baudrate: int = 115200, read_timeout: float = 0.2) -> None:
        if url.startswith("socket://"):
            raise ConfigError(
                f"SerialTransport does not take {url!r}: pyserial's socket:// handler reads "
                "one byte at a time; use TcpTransport (open_transport() picks it for you)"
            )
        self.url = url
        self.baudrate = baudrate
        self.read_timeout = read_timeout
        self.description = url
        self._port: serial.SerialBase | None = None
        self._fd: int | None = None
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._poll: select.poll | None = None
        self._lock = threading.Lock()  # held by read() while it uses the descriptor

    def open(self) -> None:
        self.close()
        try:
            port = serial.serial_for_url(_pyserial_url(self.url), baudrate=self.baudrate, timeout=self.read_timeout)
        except ValueError as exc:  # pyserial: unknown protocol or bad parameter
            raise ConfigError(f"bad serial console URL {self.url!r}: {exc}") from exc
        except (OSError, serial.SerialException) as exc:
            if _is_rfc2217(self.url):
                hint = (
                    "is the terminal server (ser2net) running, is the port right, and does it speak "
                    "RFC 2217 there (ser2net: accepter telnet(rfc2217),tcp,PORT; raw TCP is socket://)?"
                )
            else:
                hint = "is the device present (plugged in, powered) and not held by another program (screen, minicom)?"
            raise InfrastructureError(f"cannot open serial console {self.url}: {exc}; {hint}") from exc
        fd: int | None = None
        if isinstance(port, serial.serialposix.Serial) and type(port).read is serial.serialposix.Serial.read:
            fd = port.fileno()
        wake_r, wake_w = os.pipe()
        poll = select.poll()  # cheaper than select() per read (the round trip: bench/bench_console.py)
        for end in (fd, wake_r) if fd is not None else (wake_r,):
            poll.register(end, select.POLLIN)
        with self._lock:
            self._port, self._fd, self._wake_r, self._wake_w, self._poll = port, fd, wake_r, wake_w, poll

    def read(self, max_bytes: int, timeout: float) -> bytes:
        with self._lock:
            port, fd, wake_r, poll = self._port, self._fd, self._wake_r, self._poll
            if port is None or wake_r is None or poll is None:
                raise TransportClosed(f"serial console {self.url} is not open")
            try:
                if fd is not None:
                    return self._read_fd(fd, poll, max_bytes, timeout)
                return self._read_port(port, max_bytes, timeout)
            except (OSError, serial.SerialException) as exc:
                raise TransportClosed(f"serial console {self.url} failed: {exc}") from exc

    def _read_fd(self, fd: int, poll: select.poll, max_bytes: int, timeout: float) -> bytes:
        ready = poll.poll(max(0.0, timeout) * 1000)
        if not ready:
            return b""
        if any(end != fd for end, _ in ready):
            raise TransportClosed(f"serial console {self.url} was closed")
        try:
            data = os.read(fd, min(max_bytes, _TTY_READ))
        except BlockingIOError:
            return b""
        if not data:
            raise TransportClosed(f"serial console {self.url} hung up (device gone or other end closed)")
        return data

    def _read_port(self, port: serial.SerialBase, max_bytes: int, timeout: float) -> bytes:
        if port.timeout != timeout:
            port.timeout = timeout  # rfc2217 renegotiates here: the console always passes the same value
        first = port.read(1)
        if not first or max_bytes <= 1:
            return bytes(first)
        queued: int = port.in_waiting  # type: ignore[attr-defined]  # every concrete port has it
        return bytes(first) + (bytes(port.read(min(queued, max_bytes - 1))) if queued else b"")

    def write(self, data: bytes) -> None:
        port = self._port
        if port is None:
            raise TransportClosed(f"serial console {self.url} is not open")
        try:
            port.write(data)
        except (OSError, serial.SerialException) as exc:
            raise TransportClosed(f"writing to serial console {self.url} failed: {exc}") from exc

    def close(self) -> None:
        wake_w = self._wake_w
        if wake_w is not None:
            try:
                os.write(wake_w, b"x")  # wake a read() blocked in select()
            except OSError:
                pass
        port = self._port
        if port is not None and self._fd is None:
            try:
                port.close()  # loop:// and rfc2217 wake their blocked read() on close
            except (OSError, serial.SerialException):
                pass
        with self._lock:
            port, self._port, self._fd, self._poll = self._port, None, None, None
            pipes = (self._wake_r, self._wake_w)
            self._wake_r = self._wake_w = None
            if port is not None:
                try:
                    port.close()
                except (OSError, serial.SerialException):
                    pass
            for end in pipes:
                if end is not None:
                    os.close(end)

    def __repr__(self) -> str:
        return f"SerialTransport({self.url!r}, baudrate={self.baudrate})"


class SocketLikeTransport:
    """An open socket-like object (paramiko ``Channel``, ``socket.socket``).

    Needs ``recv``, ``sendall``, ``settimeout`` and ``close``.  If it also has
    ``fileno()`` (both examples do) reads wait with ``select`` and the object
    stays blocking, so ``sendall`` never times out; otherwise ``settimeout`` is
    used for reads.  It cannot reconnect: ``open()`` after ``close()`` or after
    the other end closed raises ``InfrastructureError``.
    """

    def __init__(self, channel: Any, description: str = "channel") -> None:
        for needed in ("recv", "sendall", "settimeout", "close"):
            if not callable(getattr(channel, needed, None)):
                raise TypeError(f"SocketLikeTransport needs an object with {needed}(); got {type(channel).__name__}")
        self.description = description
        self.can_reconnect = False  # the console does not retry open() on it
        self._chan = channel
        self._closed = False
        self._selectable = callable(getattr(channel, "fileno", None))
        self._timeout: float | None = None

    def open(self) -> None:
        if self._closed:
            raise InfrastructureError(
                f"{self.description} is closed and cannot be reopened; open a new channel and wrap it"
            )

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if self._closed:
            raise TransportClosed(f"{self.description} is closed")
        chan = self._chan
        try:
            if self._selectable:
                if not _wait_readable([chan], timeout):
                    return b""
            elif self._timeout != timeout:
                chan.settimeout(timeout)
                self._timeout = timeout
            data = chan.recv(max_bytes)
        except TimeoutError:
            return b""
        except (OSError, ValueError, EOFError) as exc:
            self._closed = True
            raise TransportClosed(f"{self.description} failed: {exc}") from exc
        if not data:
            self._closed = True
            raise TransportClosed(f"{self.description} was closed by the other end")
        return bytes(data)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise TransportClosed(f"{self.description} is closed")
        try:
            self._chan.sendall(data)
        except (OSError, EOFError) as exc:
            raise TransportClosed(f"writing to {self.description} failed: {exc}") from exc

    def close(self) -> None:
        self._closed = True
        shutdown = getattr(self._chan, "shutdown", None)
        try:
            if callable(shutdown):
                shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in select()
        except (OSError, EOFError):
            pass
        try:
            self._chan.close()
        except (OSError, EOFError):
            pass

    def __repr__(self) -> str:
        return f"SocketLikeTransport({self.description!r})"


_URL_HELP = (
    "use socket://HOST:PORT (raw TCP), unix:///PATH (a unix socket), rfc2217://HOST:PORT, loop://, "
    "or a device path such as /dev/ttyUSB0"
)


def _tcp_from_url(url: str) -> TcpTransport:
    parts = urllib.parse.urlsplit(url)
    problem = None
    port: int | None = None
    try:
        port = parts.port
    except ValueError as exc:
        problem = f"bad port ({exc})"
    if problem is None:
        if not parts.hostname:
            problem = "no host"
        elif port is None:
            problem = "no port"
        elif port == 0:
            problem = "port 0 is not a port one can connect to"
        elif parts.query or parts.fragment or parts.path not in ("", "/"):
            problem = "options, paths and fragments are not supported for raw TCP"
    if problem is not None or port is None or not parts.hostname:
        raise ConfigError(
            f"bad console URL {url!r}: {problem}; expected socket://HOST:PORT, e.g. socket://127.0.0.1:4555"
        )
    return TcpTransport(parts.hostname, port)


def open_transport(url: str, baudrate: int = 115200) -> Transport:
    """The transport for a console URL (not yet opened).

    ``socket://host:port`` gives a ``TcpTransport``; a device path or any other
    pyserial URL (``rfc2217://``, ``loop://``, ``spy://``, ...) a
    ``SerialTransport``.  Malformed URLs raise ``ConfigError`` saying what is
    wrong and what is accepted.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"bad console URL {url!r}: empty; {_URL_HELP}")
    if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
        raise ConfigError(f"bad baud rate {baudrate!r} for console {url!r}: expected a positive integer such as 115200")
    url = url.strip()
    if "://" not in url:
        if not url.startswith("/"):
            raise ConfigError(f"bad console URL {url!r}: not a URL and not an absolute device path; {_URL_HELP}")
        return SerialTransport(url, baudrate)
    scheme = url.split("://", 1)[0].lower()
    if scheme == "socket":
        return _tcp_from_url(url)
    if scheme == "unix":
        path = url.split("://", 1)[1]
        if not path.startswith("/"):
            raise ConfigError(f"bad console URL {url!r}: expected unix:///ABSOLUTE/PATH of a unix socket")
        return UnixTransport(path)
    if not scheme.isidentifier() or importlib.util.find_spec(f"serial.urlhandler.protocol_{scheme}") is None:
        raise ConfigError(f"bad console URL {url!r}: unknown scheme '{scheme}://'; {_URL_HELP}")
    return SerialTransport(url, baudrate)
