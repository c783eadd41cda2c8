"""Files to and from a target: SFTP on a shared channel, or ``cat`` when the target has no SFTP."""

from __future__ import annotations

import errno
import io
import os
import shlex
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import paramiko

from hil.core.command import CommandResult
from hil.core.errors import InfrastructureError
from hil.links.ssh.channel import exited
from hil.links.ssh.commands import CommandRunner, command_script
from hil.links.ssh.errors import ConnectionDropped
from hil.links.ssh.pool import TransportPool

__all__ = ["FileTransfer"]

_T = TypeVar("_T")

#: A request on an open SFTP channel unanswered this long means the link is dead.
_SFTP_REQUEST_TIMEOUT = 60.0


class FileTransfer:
    """Files to and from the host of ``pool``: by SFTP on one shared channel, or ``cat`` run by ``commands``.

    Thread-safe.  ``sftp_available`` is ``None`` until the first transfer,
    then whether the target has SFTP (if not, transfers stream through
    ``cat``); the answer is kept across reconnects.  The SFTP client is opened
    on a transport checked out of the pool alone (see ``hil.links.ssh.pool``),
    then shared; ``forget_sftp`` drops it when its transport is closed.
    """

    def __init__(self, pool: TransportPool, commands: CommandRunner) -> None:
        self.pool = pool
        self.commands = commands
        self.sftp_available: bool | None = None
        self.sftp_unavailable_reason: str | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_transport: paramiko.Transport | None = None
        self._sftp_lock = threading.Lock()

    def forget_sftp(self, transport: paramiko.Transport | None = None) -> None:
        """Forget the cached SFTP client (only if it lives on ``transport``, when given)."""
        with self._sftp_lock:
            if self._sftp is None or (transport is not None and self._sftp_transport is not transport):
                return
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001, S110
                pass
            self._sftp = self._sftp_transport = None

    def put(self, local: Path, remote: str, mode: int | None = None) -> None:
        """Copy a host file to ``remote`` on the target (then ``chmod mode``)."""
        local = Path(local)
        if not local.is_file():
            raise FileNotFoundError(errno.ENOENT, f"cannot put {local}: no such file", str(local))

        def by_sftp(sftp: paramiko.SFTPClient) -> None:
            sftp.put(str(local), remote, confirm=True)
            if mode is not None:
                sftp.chmod(remote, mode)

        def by_cat() -> None:
            with open(local, "rb") as f:
                self._cat_put(f, remote, mode)

        self._transfer(f"put {local} -> {remote}", remote, by_sftp, by_cat)

    def put_bytes(self, data: bytes, remote: str, mode: int | None = None) -> None:
        """Write ``data`` to ``remote`` on the target (then ``chmod mode``)."""

        def by_sftp(sftp: paramiko.SFTPClient) -> None:
            sftp.putfo(io.BytesIO(data), remote, file_size=len(data), confirm=True)
            if mode is not None:
                sftp.chmod(remote, mode)

        self._transfer(f"put_bytes -> {remote}", remote, by_sftp, lambda: self._cat_put(data, remote, mode))

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` from the target to the host file ``local`` (written whole or not at all)."""
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{local.name}.", suffix=".part", dir=local.parent)
        os.close(fd)

        def by_cat() -> None:
            with open(tmp, "wb") as f:
                self._cat_get(remote, f.write)

        try:
            self._transfer(f"get {remote} -> {local}", remote, lambda sftp: sftp.get(remote, tmp), by_cat)
            os.replace(tmp, local)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def get_bytes(self, remote: str) -> bytes:
        """The content of ``remote`` on the target."""

        def by_sftp(sftp: paramiko.SFTPClient) -> bytes:
            buf = io.BytesIO()
            sftp.getfo(remote, buf)
            return buf.getvalue()

        def by_cat() -> bytes:
            chunks: list[bytes] = []
            self._cat_get(remote, chunks.append)
            return b"".join(chunks)

        return self._transfer(f"get_bytes {remote}", remote, by_sftp, by_cat)

    def _transfer(
        self, what: str, remote: str, by_sftp: Callable[[paramiko.SFTPClient], _T], by_cat: Callable[[], _T]
    ) -> _T:
        """Run a transfer by SFTP (or ``cat``); transfers are idempotent, so a drop is retried once."""
        for attempt in (1, 2):
            sftp = self._sftp_client()
            transport = self._sftp_transport
            try:
                return by_sftp(sftp) if sftp is not None else by_cat()
            except ConnectionDropped as exc:
                cause: object = exc
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if getattr(exc, "hil_remote", False):
                    raise  # already says where
                alive = sftp is None or (transport is not None and transport.is_active())
                if alive and isinstance(exc, OSError) and not isinstance(exc, (TimeoutError, ConnectionError)):
                    raise _remote_error(exc, self.pool.name, remote) from None  # the target said no
                cause = exc or type(exc).__name__
                if transport is not None:
                    self.forget_sftp(transport)
                    transport.close()
            if attempt == 2:
                raise InfrastructureError(
                    f"SSH connection to {self.pool.where} dropped during {what} (after reconnecting once): {cause}"
                )
        raise AssertionError("unreachable")

    def _sftp_client(self) -> paramiko.SFTPClient | None:
        """The cached SFTP client (opened on a live transport), or None when the target has no SFTP."""
        if self.sftp_available is False:
            return None
        with self._sftp_lock:
            if self._sftp is not None and self._sftp_transport is not None and self._sftp_transport.is_active():
                return self._sftp
        # Open the SFTP channel on a transport we hold alone (see the class doc), then share it.
        chan, transport, timeout = None, None, self.pool.config.connect_timeout
        try:
            transport, _ = self.pool.checkout()
            chan = transport.open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.invoke_subsystem("sftp")
            client = paramiko.SFTPClient(chan)
            chan.settimeout(max(_SFTP_REQUEST_TIMEOUT, 3 * timeout))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            ended = False
            if chan is not None:  # e.g. sftp-server not found: wait for the end of that shell
                ended = chan.status_event.wait(1.0) and exited(chan)
                chan.close()
            alive = transport is not None and transport.is_active()
            if transport is not None:
                self.pool.checkin(transport, reusable=alive and ended)
            if not alive or self.sftp_available:
                raise InfrastructureError(
                    f"SSH connection to {self.pool.where} failed while opening SFTP: {exc or type(exc).__name__}"
                ) from exc
            self.sftp_available = False
            self.sftp_unavailable_reason = str(exc) or type(exc).__name__
            return None
        with self._sftp_lock:
            old = self._sftp
            self._sftp, self._sftp_transport = client, transport
        if old is not None:
            try:
                old.close()
            except Exception:  # noqa: BLE001, S110
                pass
        self.pool.checkin(transport)
        self.sftp_available = True
        return client

    def _cat_put(self, data: bytes | IO[bytes], remote: str, mode: int | None) -> None:
        path = shlex.quote(remote)
        line = f"cat > {path}" + (f" && chmod {mode:o} {path}" if mode is not None else "")
        result = self.commands.execute(line, command_script(line), None, data)
        if not result.ok:
            raise _cat_error(result, self.pool.name, remote)

    def _cat_get(self, remote: str, sink: Callable[[bytes], object]) -> None:
        line = f"cat {shlex.quote(remote)}"
        result = self.commands.execute(line, command_script(line), stdout_sink=sink)
        if not result.ok:
            raise _cat_error(result, self.pool.name, remote)


def _remote_error(exc: OSError, name: str, remote: str) -> OSError:
    """The same OSError subclass, naming the target and path."""
    if exc.errno is None:
        error = OSError(errno.EIO, f"{name}:{remote}: {exc}")
    else:
        error = OSError(exc.errno, f"{name}:{remote}: {exc.strerror or exc}")
    error.hil_remote = True  # type: ignore[attr-defined]
    return error


def _cat_error(result: CommandResult, name: str, remote: str) -> OSError:
    """An OSError of the right subclass from what ``cat`` or the shell printed."""
    text = result.stderr_text.strip() or f"exit status {result.exit_status}"
    code = errno.EIO
    for needle, number in (
        ("no such file", errno.ENOENT),
        ("nonexistent", errno.ENOENT),
        ("permission denied", errno.EACCES),
        ("is a directory", errno.EISDIR),
        ("not a directory", errno.ENOTDIR),
        ("no space", errno.ENOSPC),
        ("read-only", errno.EROFS),
    ):
        if needle in text.lower():
            code = number
            break
    error = OSError(code, f"{name}:{remote}: {text}")
    error.hil_remote = True  # type: ignore[attr-defined]
    return error
