"""The authenticated transports of one SSH connection (``TransportPool``): one per command running at a time.

A transport runs one command at a time; commands running at the same time
get transports of their own, opened on demand and kept for reuse (at most
``MAX_IDLE`` idle).  This is not only for throughput: dropbear up to 2024.85
(Debian 12 ships 2022.83) closes a channel, or aborts the whole connection
("Failed assertion ... !channel->sent_close"), when one of its children exits
while another channel of the same connection awaits its command
(mkj/dropbear#321).  A transport whose command may still be dying is
therefore closed when given back, never reused.

``Session``: a channel on a transport checked out for it alone, given back
once (``release``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paramiko

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError, SetupError
from hil.links.ssh.config import SshConfig
from hil.links.ssh.errors import HostKeyError
from hil.links.ssh.handshake import expected_keys, load_keys, open_transport

__all__ = ["MAX_IDLE", "Session", "TransportPool"]

#: Idle transports kept for reuse; more are closed when given back.
MAX_IDLE = 4


class TransportPool:
    """The live transports to ``config``'s host: idle ones for reuse, busy ones running a command.

    Thread-safe.  ``checkout`` hands a transport to one caller (reconnecting
    once when every transport died); ``checkin`` takes it back.  Each
    transport closed here is first passed to the ``on_discard`` callbacks
    (what lives on it, such as a cached SFTP client, is forgotten).
    """

    def __init__(self, config: SshConfig, name: str) -> None:
        self.config = config
        self.name = name
        #: Called with a transport about to be closed (under the pool's lock: keep them short).
        self.on_discard: list[Callable[[paramiko.Transport], None]] = []
        self._idle: list[paramiko.Transport] = []  # connected, no command running
        self._busy: set[paramiko.Transport] = set()  # running a command (or a RemoteProcess)
        self._ever_connected = False
        self._lock = threading.RLock()
        self._keys: list[paramiko.PKey] | None = None

    @property
    def where(self) -> str:
        """``name (user@host:port)`` for messages."""
        return f"{self.name} ({self.config.user}@{self.config.address})"

    @property
    def connected(self) -> bool:
        """Whether at least one transport is up."""
        with self._lock:
            return any(t.is_active() for t in [*self._idle, *self._busy])

    @property
    def open_count(self) -> int:
        """How many transports are open (idle or running a command)."""
        with self._lock:
            return sum(1 for t in [*self._idle, *self._busy] if t.is_active())

    def connect(self, deadline: Deadline | None = None, *, retry: bool = False) -> None:
        """Open a transport (no-op if one is up); see ``SshConnection.connect``."""
        if self.connected:
            return
        outer = deadline or Deadline.after(
            self.config.connect_timeout if retry else None, f"SSH connection to {self.name}"
        )
        while True:
            attempt = outer.child(self.config.connect_timeout)
            try:
                transport = self._open(attempt)
                break
            except (HostKeyError, SetupError):
                raise
            except InfrastructureError:
                if not retry or outer.remaining() < 0.05:
                    raise
            time.sleep(min(0.05, outer.remaining()))
        with self._lock:
            self._ever_connected = True
            self._idle.append(transport)

    def close(self) -> None:
        """Close every transport (idempotent; a later ``checkout`` connects again)."""
        with self._lock:
            for transport in [*self._idle, *self._busy]:
                self._discard(transport)
            self._idle.clear()
            self._busy.clear()
            self._ever_connected = False

    def checkout(self) -> tuple[paramiko.Transport, bool]:
        """A live transport for this caller alone, and whether it was opened just now.

        An idle one is reused; dead ones are thrown away.  A new one is opened
        when none is idle; if connections existed and all died, that is the
        reconnect, and its failure says so.
        """
        with self._lock:
            dead = 0
            while self._idle:
                transport = self._idle.pop()
                if transport.is_active():
                    self._busy.add(transport)
                    return transport, False
                self._discard(transport)
                dead += 1
            dropped = self._ever_connected and (dead > 0 or not any(t.is_active() for t in self._busy))
        try:
            transport = self._open(Deadline.after(self.config.connect_timeout))
        except HostKeyError:
            raise
        except (InfrastructureError, SetupError) as exc:
            if not dropped:
                raise
            raise InfrastructureError(f"SSH connection to {self.where} dropped and reconnecting failed: {exc}") from exc
        with self._lock:
            self._ever_connected = True
            self._busy.add(transport)
        return transport, True

    def checkin(self, transport: paramiko.Transport, reusable: bool = True) -> None:
        """Give a transport back; one whose command may still be dying is closed instead (module doc)."""
        with self._lock:
            self._busy.discard(transport)
            if reusable and transport.is_active() and len(self._idle) < MAX_IDLE:
                self._idle.append(transport)
                return
            self._forget(transport)
        transport.close()

    def _discard(self, transport: paramiko.Transport) -> None:
        self._forget(transport)
        transport.close()

    def _forget(self, transport: paramiko.Transport) -> None:
        for forget in self.on_discard:
            forget(transport)

    def _open(self, deadline: Deadline) -> paramiko.Transport:
        expected = expected_keys(self.config)
        if self._keys is None:
            self._keys = load_keys(self.config)
        return open_transport(self.config, self.name, expected, self._keys, deadline)


class Session:
    """A channel on a transport that ``pool`` handed to one command alone; ``release`` gives it back once."""

    def __init__(self, channel: paramiko.Channel, transport: paramiko.Transport, pool: TransportPool) -> None:
        self.channel = channel
        self.transport = transport
        self.pool = pool
        self._released = False

    def release(self, reusable: bool) -> None:
        """Close the channel and give the transport back (``reusable``: the command is known to be over)."""
        self.channel.close()
        if not self._released:
            self._released = True
            self.pool.checkin(self.transport, reusable)
