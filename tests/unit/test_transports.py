"""Transports over real things: TCP sockets on 127.0.0.1, ptys, pyserial loop://, socketpairs."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from hil.core.errors import ConfigError, InfrastructureError, TransportClosed
from hil.links.transports import (
    SerialTransport,
    SocketLikeTransport,
    TcpTransport,
    Transport,
    _pyserial_url,
    open_transport,
)


def read_exactly(t: Transport, n: int, timeout: float = 5.0) -> bytes:
    got = b""
    end = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < end:
        got += t.read(n - len(got), 0.5)
    return got


def read_fd_exactly(fd: int, n: int) -> bytes:
    got = b""
    while len(got) < n:
        got += os.read(fd, n - len(got))
    return got


@pytest.fixture
def tcp() -> Iterator[tuple[TcpTransport, socket.socket]]:
    """A TcpTransport connected to a real listening socket, and the server's end."""
    listener = socket.create_server(("127.0.0.1", 0))
    t = TcpTransport("127.0.0.1", listener.getsockname()[1])
    t.open()
    peer, _ = listener.accept()
    listener.close()
    yield t, peer
    t.close()
    peer.close()


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A pty: the master fd (the "device" side we drive) and the slave's path (what a user opens)."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


# ---------------------------------------------------------------- open_transport


@pytest.mark.parametrize(
    ("url", "cls", "description"),
    [
        ("socket://127.0.0.1:4555", TcpTransport, "socket://127.0.0.1:4555"),
        ("socket://[::1]:4555", TcpTransport, "socket://[::1]:4555"),
        ("/dev/ttyUSB0", SerialTransport, "/dev/ttyUSB0"),
        ("loop://", SerialTransport, "loop://"),
        ("rfc2217://10.0.0.5:7000", SerialTransport, "rfc2217://10.0.0.5:7000"),
    ],
)
def test_open_transport_picks_the_class(url: str, cls: type, description: str) -> None:
    t = open_transport(url)
    assert type(t) is cls
    assert t.description == description
    assert isinstance(t, Transport)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "empty"),
        ("socket://", "no host"),
        ("socket://127.0.0.1", "no port"),
        ("socket://127.0.0.1:http", "bad port"),
        ("socket://127.0.0.1:70000", "bad port"),
        ("socket://127.0.0.1:0", "port 0"),
        ("socket://127.0.0.1:4555?logging=debug", "options"),
        ("telnet://127.0.0.1:23", "unknown scheme 'telnet://'"),
        ("ttyUSB0", "not an absolute device path"),
    ],
)
def test_bad_urls_are_config_errors_that_say_why(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        open_transport(url)
    assert says in str(err.value)
    assert repr(url) in str(err.value)


def test_bad_baudrate() -> None:
    with pytest.raises(ConfigError, match="baud rate 0"):
        open_transport("/dev/ttyS0", baudrate=0)


def test_serial_transport_refuses_socket_urls() -> None:
    with pytest.raises(ConfigError, match="TcpTransport"):
        SerialTransport("socket://127.0.0.1:4555")


# ---------------------------------------------------------------- TCP


def test_tcp_round_trip_and_timeout(tcp: tuple[TcpTransport, socket.socket]) -> None:
    t, peer = tcp
    t.write(b"hello\n")
    assert read_fd_exactly(peer.fileno(), 6) == b"hello\n"
    peer.sendall(b"x" * 100_000)
    assert read_exactly(t, 100_000) == b"x" * 100_000
    before = time.monotonic()
    assert t.read(10, 0.05) == b""
    assert time.monotonic() - before >= 0.04


def test_tcp_read_returns_what_is_there_without_waiting_for_max(tcp: tuple[TcpTransport, socket.socket]) -> None:
    t, peer = tcp
    peer.sendall(b"abc")
    assert t.read(65536, 5.0) == b"abc"


def test_tcp_peer_close_is_transport_closed(tcp: tuple[TcpTransport, socket.socket]) -> None:
    t, peer = tcp
    peer.close()
    with pytest.raises(TransportClosed, match="closed by the other end"):
        t.read(10, 5.0)


def test_tcp_refused_is_infrastructure_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    t = TcpTransport("127.0.0.1", port)
    with pytest.raises(InfrastructureError, match=f"socket://127.0.0.1:{port}.*running"):
        t.open()


def test_tcp_close_from_another_thread_wakes_a_blocked_read(tcp: tuple[TcpTransport, socket.socket]) -> None:
    t, _ = tcp
    threading.Timer(0.1, t.close).start()
    before = time.monotonic()
    with pytest.raises(TransportClosed):
        t.read(10, 10.0)
    assert time.monotonic() - before < 5


def test_tcp_reopen_after_close() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        t = TcpTransport("127.0.0.1", listener.getsockname()[1])
        t.open()
        listener.accept()[0].close()
        t.close()
        t.open()
        peer, _ = listener.accept()
        peer.sendall(b"again")
        assert read_exactly(t, 5) == b"again"
        t.close()
        peer.close()


# ---------------------------------------------------------------- serial: pty and loop://


def test_serial_over_a_pty(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    t = open_transport(path, baudrate=115200)
    assert isinstance(t, SerialTransport)
    t.open()
    try:
        os.write(master, b"U-Boot> \r\n")
        assert read_exactly(t, 10) == b"U-Boot> \r\n"
        t.write(b"boot\n")
        assert read_fd_exactly(master, 5) == b"boot\n"  # raw mode: no echo, no CRLF translation
        big = bytes(range(256)) * 64
        threading.Thread(target=os.write, args=(master, big)).start()
        assert read_exactly(t, len(big)) == big
    finally:
        t.close()


def test_serial_read_returns_early_and_times_out(pty_pair: tuple[int, str]) -> None:
    master, path = pty_pair
    t = SerialTransport(path)
    t.open()
    try:
        before = time.monotonic()
        assert t.read(4096, 0.05) == b""
        assert time.monotonic() - before >= 0.04
        os.write(master, b"ab")
        assert t.read(4096, 5.0) == b"ab"  # not waiting for 4096 bytes or the timeout
    finally:
        t.close()


def test_serial_close_wakes_a_blocked_read(pty_pair: tuple[int, str]) -> None:
    _, path = pty_pair
    t = SerialTransport(path)
    t.open()
    threading.Timer(0.1, t.close).start()
    before = time.monotonic()
    with pytest.raises(TransportClosed):
        t.read(10, 10.0)
    assert time.monotonic() - before < 5


def test_serial_missing_device_is_infrastructure_error(tmp_path: object) -> None:
    t = SerialTransport("/dev/ttyNOSUCHDEVICE9")
    with pytest.raises(InfrastructureError, match="cannot open serial console /dev/ttyNOSUCHDEVICE9"):
        t.open()


def test_serial_loop_url() -> None:
    t = open_transport("loop://")
    t.open()
    try:
        t.write(b"ping\n")
        assert read_exactly(t, 5) == b"ping\n"
        assert t.read(10, 0.05) == b""
    finally:
        t.close()
    with pytest.raises(TransportClosed):
        t.read(10, 0.05)


@pytest.mark.parametrize(
    ("url", "handed_to_pyserial"),
    [
        ("rfc2217://10.0.0.5:7000", "rfc2217://10.0.0.5:7000?ign_set_control"),
        ("rfc2217://10.0.0.5:7000?logging=debug", "rfc2217://10.0.0.5:7000?logging=debug&ign_set_control"),
        ("rfc2217://10.0.0.5:7000?ign_set_control", "rfc2217://10.0.0.5:7000?ign_set_control"),
        ("loop://", "loop://"),
        ("/dev/ttyUSB0", "/dev/ttyUSB0"),
    ],
)
def test_rfc2217_does_not_wait_for_modem_line_answers(url: str, handed_to_pyserial: str) -> None:
    """A terminal server port without modem lines never answers SET_CONTROL (DTR, RTS): pyserial must not wait."""
    assert _pyserial_url(url) == handed_to_pyserial
    assert open_transport(url).description == url  # messages show the URL as configured


def test_rfc2217_refused_says_terminal_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    t = open_transport(f"rfc2217://127.0.0.1:{port}")
    with pytest.raises(InfrastructureError, match=r"is the terminal server \(ser2net\) running") as err:
        t.open()
    assert "plugged in" not in str(err.value)


# ---------------------------------------------------------------- socket-like (paramiko Channel stand-in)


def test_socket_like_over_a_socketpair() -> None:
    a, b = socket.socketpair()
    t = SocketLikeTransport(a, "socketpair")
    t.open()
    b.sendall(b"# ")
    assert t.read(100, 5.0) == b"# "
    t.write(b"uname\n")
    assert read_fd_exactly(b.fileno(), 6) == b"uname\n"
    assert t.read(100, 0.05) == b""
    b.close()
    with pytest.raises(TransportClosed, match="closed by the other end"):
        t.read(100, 5.0)
    t.close()
    with pytest.raises(InfrastructureError, match="cannot be reopened"):
        t.open()


def test_socket_like_without_fileno_uses_settimeout() -> None:
    a, b = socket.socketpair()

    class NoFileno:
        def __init__(self, s: socket.socket) -> None:
            self.recv, self.sendall, self.settimeout, self.close = s.recv, s.sendall, s.settimeout, s.close

    t = SocketLikeTransport(NoFileno(a))
    assert t.read(10, 0.05) == b""
    b.sendall(b"ok")
    assert t.read(10, 5.0) == b"ok"
    t.close()
    b.close()


def test_socket_like_rejects_objects_without_recv() -> None:
    with pytest.raises(TypeError, match="recv"):
        SocketLikeTransport(object())
