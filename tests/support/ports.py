"""Loopback TCP ports for the tests, handed over without a bind-then-close race.

A port nobody listens on is held bound (``unused_port``) for as long as the test needs it refused; a
server started on port 0 picks its own port and it is read back from /proc (``listening_port``).  No
port is ever chosen by binding a probe socket and closing it: another program can take it in between
(the product avoids the same race).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path


@contextmanager
def unused_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that nobody listens on while the block runs: it stays bound here (no
    listen), so no other program can take it meanwhile and a connection to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def listening_port(pid: int, host: str = "127.0.0.1") -> int | None:
    """The TCP port process ``pid`` listens on at ``host`` (read from /proc), or None yet.

    Servers started on port 0 pick a free port themselves and it is read back here: no port is
    chosen by binding and closing a probe socket (a race another program can win)."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[len("socket:[") : -1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
    except OSError:
        return None
    want = "".join(f"{int(part):02X}" for part in reversed(host.split(".")))
    for table in ("/proc/net/tcp",):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            address, port = cols[1].split(":")
            if cols[3] == "0A" and cols[9] in inodes and address == want:  # 0A: LISTEN
                return int(port, 16)
    return None


#: ``closed_port()``: one more loopback port nobody listens on (see ``held_unused_ports``).
ClosedPort = Callable[[], int]


@contextmanager
def held_unused_ports() -> Iterator[ClosedPort]:
    """A maker of loopback ports nobody listens on, each held bound (not listening) until the block
    ends: a connection to one is refused and no other program can take it meanwhile.  For a test's
    fixture: ``with held_unused_ports() as closed_port: yield closed_port``."""
    with ExitStack() as held:
        yield lambda: held.enter_context(unused_port())
