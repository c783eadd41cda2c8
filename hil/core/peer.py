"""Who is at the other end of a unix socket: the listener's credentials, checked before a word is sent.

QEMU's control sockets (QMP, the serial console) live in a private folder of this user
(``hil.vm.qemuargs``); a client also checks that the process listening is this user's
(``SO_PEERCRED``), so a socket someone else put in its place is refused, never talked to.
"""

from __future__ import annotations

import os
import socket
import struct

from hil.core.errors import InfrastructureError


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected unix socket (``SO_PEERCRED``)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


def check_peer(sock: socket.socket, what: str) -> None:
    """Refuse (``InfrastructureError``, the socket closed) a unix socket whose listener is not a process
    of this user."""
    uid = peer_uid(sock)
    if uid != os.getuid():
        sock.close()
        raise InfrastructureError(
            f"{what} is served by uid {uid}, not by this user (uid {os.getuid()}): refused, "
            "someone else's socket is in its place"
        )
