"""A minimal QMP client (QEMU's JSON monitor protocol) over a unix socket.

The socket is a path in a private folder of ours (``hil.vm.qemuargs.control_dir``); the
listener's peer credentials are checked before a word is sent (``check_peer``).

Only what the snapshot start needs: the greeting, ``qmp_capabilities``, commands
and their answers (events are skipped).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from hil.core.errors import InfrastructureError
from hil.core.peer import check_peer


class Qmp:
    """One QMP connection; ``command(name, **args)`` returns the ``return`` value or raises."""

    def __init__(self, path: Path | str, timeout: float = 10.0) -> None:
        """``path``: the socket's file (served by this user's QEMU: another user's is refused)."""
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        end = time.monotonic() + timeout
        while True:
            try:
                self._sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                if time.monotonic() > end:
                    self._sock.close()
                    raise InfrastructureError(f"QMP socket {path} did not answer: {exc}") from exc
                time.sleep(0.01)
        check_peer(self._sock, f"QMP socket {path}")
        self._buf = b""
        self._read()  # the greeting
        self.command("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            try:
                chunk = self._sock.recv(65536)
            except OSError as exc:
                raise InfrastructureError(f"QMP socket {self.path} failed: {exc}") from exc
            if not chunk:
                raise InfrastructureError(f"QMP socket {self.path} closed (QEMU exited?)")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def command(self, name: str, **arguments: Any) -> Any:
        request: dict[str, Any] = {"execute": name}
        if arguments:
            request["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as exc:
            raise InfrastructureError(f"QMP socket {self.path} failed: {exc}") from exc
        while True:
            message = self._read()
            if "event" in message:
                continue
            if "error" in message:
                raise InfrastructureError(f"QMP {name} failed: {message['error'].get('desc', message['error'])}")
            return message.get("return")

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
