"""The SSH transport to a target: commands, long-running programs and files.

Persistent paramiko transports: every command is a new channel on an
authenticated connection (no per-command handshake), the SFTP client is
cached.  Commands running at the same time use separate connections (see
``SshConnection`` for the dropbear bug that makes this necessary).

Security: key authentication only, and the server's host key must match a
pinned key (``SshConfig.host_key``) or a ``known_hosts`` entry; anything else
is refused before authenticating (``HostKeyMismatch``, ``HostKeyUnknown``).
Unknown keys are never accepted.

Commands are plain POSIX sh (QNX boards run ksh): a command given as a
sequence is quoted word by word with ``shlex.quote``; every remote path the
transport itself puts in a command line is quoted too.  Each command line is
preceded by ``echo __HIL_PID__=$$ >&2`` so the remote shell's pid is known
(the line is taken out of stderr): a command outliving its timeout is killed
on the target with its process tree, and ``RemoteProcess.signal``
reaches the program (dropbear has no SSH "signal" request, so signals are
sent by a separate ``kill`` command).

Failures:

* ``InfrastructureError``: target unreachable, handshake failed, connection
  dropped while a command ran (``ConnectionDropped``), host key refused
  (``HostKeyMismatch``, ``HostKeyUnknown``).
* ``SetupError``: our key was refused (``AuthenticationFailed``) or a
  configured file is missing or unreadable (``ConfigError``).
* ``AssertionError`` (a test failure: the device misbehaved): a command
  outliving its timeout (``hil.core.command.CommandTimeout``, with the output so
  far in ``partial``), a non-zero exit with ``check=True`` (``CommandFailed``).

A connection found dropped before a command started (or a file transfer,
which is idempotent) is reconnected once and the operation retried; if that
fails too, the ``InfrastructureError`` names host:port and the cause.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import io
import os
import re
import select
import shlex
import signal as signals
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import paramiko
from paramiko.common import MSG_CHANNEL_REQUEST

from hil.core.command import CommandResult, CommandTimeout, shell_command
from hil.core.deadline import Deadline
from hil.core.errors import ConfigError, InfrastructureError, SetupError

__all__ = [
    "AuthenticationFailed", "CommandFailed", "CommandResult", "CommandTimeout", "ConnectionDropped",
    "HostKeyError", "HostKeyMismatch", "HostKeyUnknown", "OutputCallback", "RemoteProcess",
    "SshConfig", "SshConnection", "fingerprint", "parse_public_key", "shell_join",
]

_T = TypeVar("_T")

#: ``on_output(stream, chunk)``: ``stream`` is ``"stdout"`` or ``"stderr"``.
OutputCallback = Callable[[str, bytes], None]

#: Receive window per channel and largest packet we accept: a large window
#: keeps bulk transfers (SFTP get, ``cat``) from waiting on window adjustments.
WINDOW_SIZE = 8 * 1024 * 1024
MAX_PACKET_SIZE = 32 * 1024
#: How much a single read takes from a channel's buffer.
_RECV_CHUNK = 1024 * 1024
#: stdin up to this size is written inline; larger stdin by a writer thread
#: (so a command that answers while reading cannot deadlock us).
_INLINE_STDIN = 16 * 1024
#: Connections kept open for reuse beyond the one in use (more are closed when given back).
_MAX_IDLE = 4
#: A request on an open SFTP channel unanswered this long means the link is dead.
_SFTP_REQUEST_TIMEOUT = 60.0

_PID_MARKER = b"__HIL_PID__="
_PID_LINE = re.compile(rb"__HIL_PID__=(\d+)\r?\n")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIGNAL_NAME = re.compile(r"[A-Z][A-Z0-9+-]*")

#: What a dropped or dead connection raises in paramiko.
_DROP_ERRORS = (paramiko.SSHException, EOFError, OSError)


# -- errors ---------------------------------------------------------------------------------------

class HostKeyError(InfrastructureError):
    """The server's host key was refused; the connection was closed before authenticating."""


class HostKeyMismatch(HostKeyError):
    """The server offered a host key other than the pinned one: possible man-in-the-middle."""


class HostKeyUnknown(HostKeyError):
    """``known_hosts`` has no key for this host:port (and no key is pinned)."""


class AuthenticationFailed(SetupError):
    """The server refused our key: the target definition names the wrong key or user."""


class ConnectionDropped(InfrastructureError):
    """The SSH connection died while a command was running on it."""


class CommandFailed(AssertionError):
    """``run(..., check=True)``: the command exited non-zero; ``result`` holds its output."""

    def __init__(self, message: str, result: CommandResult) -> None:
        super().__init__(message)
        self.result = result


# -- configuration --------------------------------------------------------------------------------

def parse_public_key(line: str) -> tuple[str, bytes]:
    """``"ssh-ed25519 AAAA... [comment]"`` -> (key type, key blob).  ValueError if malformed."""
    parts = line.split()
    if len(parts) < 2:
        raise ValueError(f"expected 'TYPE BASE64 [comment]', got {line!r}")
    kind, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the key data of {line!r} is not base64") from None
    # The blob starts with its own type as an SSH string: they must agree.
    if len(blob) < 4 or blob[4:4 + int.from_bytes(blob[:4], "big")] != kind.encode():
        raise ValueError(f"the key data does not hold a {kind} key")
    return kind, blob


def fingerprint(blob: bytes) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


shell_join = shell_command  # the one quoting rule of the project (hil.core.command)


@dataclass(frozen=True)
class SshConfig:
    """How to reach a target over SSH.

    ``host_key`` pins the server's public key (``"ssh-ed25519 AAAA..."``),
    whatever host and port it is reached at (QEMU's forwarded port changes at
    every start); ``known_hosts`` is a known_hosts file looked up under
    ``host`` (port 22) or ``[host]:port``.  At least one is required; when
    both are given the pinned key decides.  ``key_path`` is the private key
    (OpenSSH/PEM format); ``None`` uses the ssh-agent's keys, then
    ``~/.ssh/id_ed25519``, ``id_ecdsa``, ``id_rsa``.  ``keepalive`` is the
    interval (s) of SSH and TCP keepalives, ``connect_timeout`` bounds one
    connection attempt (TCP, handshake and authentication).
    """

    host: str
    port: int = 22
    user: str = "root"
    key_path: Path | None = None
    host_key: str | None = None
    known_hosts: Path | None = None
    connect_timeout: float = 10.0
    keepalive: float = 5.0

    def __post_init__(self) -> None:
        where = f"SSH config for {self.host!r}"
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError("host must be a non-empty host name or address", where, "host")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"port must be an integer 1..65535, got {self.port!r}", where, "port")
        if not self.user:
            raise ConfigError("user must not be empty", where, "user")
        if self.host_key is None and self.known_hosts is None:
            raise ConfigError("the host key must be pinned: set host_key = 'ssh-ed25519 AAAA...' "
                              "(the target's public host key) or known_hosts = PATH; "
                              "unknown host keys are never accepted", where, "host_key")
        if self.host_key is not None:
            try:
                parse_public_key(self.host_key)
            except ValueError as exc:
                raise ConfigError(f"host_key is not a public key line: {exc}; "
                                  "expected e.g. 'ssh-ed25519 AAAAC3Nza...'", where, "host_key") from None
        for name in ("key_path", "known_hosts"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, Path(value))
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        if self.connect_timeout <= 0:
            raise ConfigError("connect_timeout must be positive", where, "connect_timeout")
        if self.keepalive < 0:
            raise ConfigError("keepalive must be >= 0 (0: off)", where, "keepalive")

    @property
    def address(self) -> str:
        """``host:port`` as messages show it."""
        return f"{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name this host has in a known_hosts file."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


# -- paramiko plumbing ------------------------------------------------------------------------------

def _channel_request(chan: paramiko.Channel, m: paramiko.Message) -> None:
    """Channel request handler that also records ``exit-signal`` (paramiko ignores it)."""
    start = m.packet.tell()
    kind = m.get_text()
    if kind == "exit-signal":
        m.get_boolean()  # want_reply: always false for exit-signal
        chan._hil_exit_signal = m.get_text()
        chan.status_event.set()
        return
    m.packet.seek(start)
    paramiko.Channel._handle_request(chan, m)


class _Transport(paramiko.Transport):  # type: ignore[misc]
    """paramiko's transport, knowing which signal killed a remote command."""

    _channel_handler_table = {**paramiko.Transport._channel_handler_table,
                              MSG_CHANNEL_REQUEST: _channel_request}


def _exit_signal(chan: paramiko.Channel) -> str | None:
    return getattr(chan, "_hil_exit_signal", None)


class _Output:
    """A command's stdout and stderr as they arrive, with the pid marker taken out of stderr.

    Thread-safe; ``cond`` is notified at every chunk and when the pid is known.
    ``stdout_sink`` (if set) receives stdout instead of the buffer.
    """

    def __init__(self, on_output: OutputCallback | None, stdout_sink: Callable[[bytes], object] | None = None,
                 want_pid: bool = True) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.cond = threading.Condition()
        self.pid: int | None = None
        self.on_output = on_output
        self.stdout_sink = stdout_sink
        self._scan: bytearray | None = bytearray() if want_pid else None

    def feed(self, stream: str, chunk: bytes) -> None:
        if stream == "stderr" and self._scan is not None:
            chunk = self._take_marker(chunk)
            if not chunk:
                return
        if stream == "stdout" and self.stdout_sink is not None:
            self.stdout_sink(chunk)
        else:
            with self.cond:
                (self.stdout if stream == "stdout" else self.stderr).extend(chunk)
                self.cond.notify_all()
        if self.on_output is not None:
            self.on_output(stream, chunk)

    def _take_marker(self, chunk: bytes) -> bytes:
        """Hold stderr until the marker line is seen; return what may pass on."""
        assert self._scan is not None
        self._scan += chunk
        match = _PID_LINE.search(self._scan)
        if match is None:
            if len(self._scan) < 4096:
                return b""
            rest = bytes(self._scan)  # no marker in sight: give up looking
        else:
            rest = bytes(self._scan[:match.start()] + self._scan[match.end():])
            with self.cond:
                self.pid = int(match.group(1))
                self.cond.notify_all()
        self._scan = None
        return rest

    def finish(self) -> None:
        """The command ended: release stderr still held back."""
        if self._scan is not None:
            rest, self._scan = bytes(self._scan), None
            if rest:
                self.feed("stderr", rest)
        with self.cond:
            self.cond.notify_all()

    def snapshot(self) -> tuple[bytes, bytes]:
        with self.cond:
            return bytes(self.stdout), bytes(self.stderr)


#: Longest sleep in ``_pump`` between checks (a backstop: wake-ups come from the channel's pipe).
_PUMP_BACKSTOP = 0.5


def _pump(chan: paramiko.Channel, out: _Output, until: float | None) -> bool:
    """Move output from ``chan`` to ``out`` until EOF (True) or monotonic time ``until`` (False).

    paramiko wakes ``select`` on ``chan.fileno()`` through one pipe shared by
    stdout and stderr, whose set/clear can race across threads (a read that
    empties stderr may clear the wake-up of stdout data arriving meanwhile):
    so both buffers are checked again after any read, before sleeping.
    """
    fd = chan.fileno()
    while True:
        got = False
        for stream, ready, recv in (("stdout", chan.recv_ready, chan.recv),
                                    ("stderr", chan.recv_stderr_ready, chan.recv_stderr)):
            while ready():
                data = recv(_RECV_CHUNK)
                if not data:
                    break
                out.feed(stream, data)
                got = True
        if got:
            continue
        if chan.eof_received or chan.closed:
            return True
        wait = _PUMP_BACKSTOP if until is None else min(_PUMP_BACKSTOP, until - time.monotonic())
        if wait <= 0:
            return False
        select.select([fd], [], [], wait)


def _send_stdin(chan: paramiko.Channel, data: bytes | IO[bytes] | None, close: bool = True) -> threading.Thread | None:
    """Write ``data`` to the command's stdin, then send EOF (``close``)."""
    if data is None or (isinstance(data, (bytes, bytearray)) and len(data) <= _INLINE_STDIN):
        try:
            if data:
                chan.sendall(data)
            if close:
                chan.shutdown_write()
        except _DROP_ERRORS:
            pass  # the command already ended; its exit status says how
        return None

    def write() -> None:
        try:
            if isinstance(data, (bytes, bytearray)):
                chan.sendall(data)
            else:
                while chunk := data.read(256 * 1024):
                    chan.sendall(chunk)
            if close:
                chan.shutdown_write()
        except _DROP_ERRORS:
            pass

    thread = threading.Thread(target=write, name="hil-ssh-stdin", daemon=True)
    thread.start()
    return thread


def _signal_spec(sig: str | int) -> str:
    """``kill`` argument for a signal: a name is portable (TERM), a number is the target's own."""
    if isinstance(sig, signals.Signals):
        return sig.name[3:]
    if isinstance(sig, int):
        if sig < 0:
            raise ValueError(f"bad signal number {sig}")
        return str(sig)
    name = sig.strip().upper()
    name = name[3:] if name.startswith("SIG") else name
    if not _SIGNAL_NAME.fullmatch(name):
        raise ValueError(f"bad signal name {sig!r}: use e.g. 'TERM', 'SIGUSR1' or a number")
    return name


#: Signal a process and all its descendants.  The pid alone is not enough: dropbear runs a
#: command without a pty in the connection's own process group, so ``kill -- -PID`` finds no
#: group.  The tree is listed (POSIX ``ps -A -o``, busybox ``ps -o``) and stopped, twice (so a
#: child forked meanwhile is caught), then signalled and continued.
_TREE_KILL = """kill -s 0 @PID@ 2>/dev/null || exit 1
hil_tree() {
  (ps -A -o pid= -o ppid= 2>/dev/null || ps -o pid= -o ppid=) | awk -v r=@PID@ \
    '{p[$1]=$2} END{d[r]=1; do{c=0; for(k in p) if(!(k in d) && (p[k] in d)){d[k]=1; c=1}} while(c);
     for(k in d) printf "%s ", k}'
}
kill -s STOP @PID@ 2>/dev/null
tree=$(hil_tree); kill -s STOP $tree 2>/dev/null
tree=$(hil_tree); kill -s STOP $tree 2>/dev/null
kill -s @SIG@ -- -@PID@ 2>/dev/null || kill -s @SIG@ -@PID@ 2>/dev/null
kill -s @SIG@ ${tree:-@PID@} 2>/dev/null
kill -s CONT ${tree:-@PID@} 2>/dev/null
exit 0"""


def _kill_command(sig: str, pid: int, group: bool) -> str:
    """Send ``sig`` to ``pid`` (``group``: and to its process group and descendants); exit 1 if no such pid.

    Portable to dash, bash, busybox and ksh (dash needs ``--`` before a negative pid, busybox refuses it).
    """
    if not group:
        return f"kill -s {sig} {pid}"
    return _TREE_KILL.replace("@PID@", str(int(pid))).replace("@SIG@", sig)


def _tail(data: bytes, limit: int = 2000) -> str:
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= limit else "..." + text[-limit:]


def _exited(chan: paramiko.Channel) -> bool:
    """Whether the server reported the command's end (an exit status or a killing signal)."""
    return (chan.exit_status_ready() and chan.exit_status >= 0) or _exit_signal(chan) is not None


def _status_of(chan: paramiko.Channel) -> tuple[int | None, str | None]:
    status = chan.exit_status if chan.exit_status_ready() else -1
    return (None if status < 0 else status), _exit_signal(chan)


# -- the connection -----------------------------------------------------------------------------------

class SshConnection:
    """A persistent SSH connection to a target, reconnected once when found dropped.

    Every command is a channel on an already-authenticated transport: no
    per-command handshake.  A transport runs one command at a time; commands
    running at the same time (``start``, several threads) get transports of
    their own, opened on demand and kept for reuse.  This is not only for
    throughput: dropbear up to 2024.85 (Debian 12 ships 2022.83) closes a
    channel, or aborts the whole connection ("Failed assertion ...
    !channel->sent_close"), when one of its children exits while another
    channel of the same connection awaits its command (mkj/dropbear#321).

    Thread-safe.  ``sftp_available`` is ``None`` until the first transfer,
    then whether the target has SFTP (if not, transfers stream through
    ``cat``); the answer is kept across reconnects.  Connects lazily on first
    use if ``connect`` was not called.
    """

    def __init__(self, config: SshConfig, name: str = "target") -> None:
        self.config = config
        self.name = name
        self.sftp_available: bool | None = None
        self.sftp_unavailable_reason: str | None = None
        self._idle: list[paramiko.Transport] = []  # connected, no command running
        self._busy: set[paramiko.Transport] = set()  # running a command (or a RemoteProcess)
        self._ever_connected = False
        self._lock = threading.RLock()
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_transport: paramiko.Transport | None = None
        self._sftp_lock = threading.Lock()
        self._keys: list[paramiko.PKey] | None = None

    # -- describing ourselves --

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
    def transports(self) -> int:
        """How many SSH connections are open (idle or running a command)."""
        with self._lock:
            return sum(1 for t in [*self._idle, *self._busy] if t.is_active())

    def __repr__(self) -> str:
        return f"SshConnection({self.where}, connected={self.connected})"

    def __enter__(self) -> "SshConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connecting --

    def connect(self, deadline: Deadline | None = None, *, retry: bool = False) -> None:
        """Open the connection (no-op if it is up).

        One attempt is bounded by ``connect_timeout`` (and ``deadline``).  With
        ``retry`` (for a target that is still booting) a refused, reset or
        silent attempt is repeated until ``deadline`` (without one: for
        ``connect_timeout``); a refused host key or key is never retried.
        """
        if self.connected:
            return
        outer = deadline or Deadline.after(self.config.connect_timeout if retry else None,
                                           f"SSH connection to {self.name}")
        while True:
            attempt = outer.child(self.config.connect_timeout)
            try:
                transport = self._open_transport(attempt)
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
        """Close every transport (idempotent; a later command connects again).

        Programs started with ``start`` lose their connection (their ``wait``
        raises ``ConnectionDropped``): stop them first.
        """
        with self._lock:
            self._drop_sftp()
            for transport in [*self._idle, *self._busy]:
                transport.close()
            self._idle.clear()
            self._busy.clear()
            self._ever_connected = False

    def _drop_sftp(self, transport: paramiko.Transport | None = None) -> None:
        """Forget the cached SFTP client (only if it lives on ``transport``, when given)."""
        with self._sftp_lock:
            if self._sftp is None or (transport is not None and self._sftp_transport is not transport):
                return
            try:
                self._sftp.close()
            except Exception:
                pass
            self._sftp = self._sftp_transport = None

    def _open_transport(self, deadline: Deadline) -> paramiko.Transport:
        cfg = self.config
        expected = self._expected_keys()
        keys = self._load_keys()
        try:
            sock = socket.create_connection((cfg.host, cfg.port), timeout=max(0.01, deadline.remaining()))
        except OSError as exc:
            raise InfrastructureError(f"cannot reach {self.name} over SSH at {cfg.address}: "
                                      f"{exc.strerror or exc} (is the target up and its SSH server "
                                      "listening? check host and port)") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if cfg.keepalive > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for opt, value in (("TCP_KEEPIDLE", cfg.keepalive), ("TCP_KEEPINTVL", cfg.keepalive),
                               ("TCP_KEEPCNT", 3)):
                if hasattr(socket, opt):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), max(1, int(value)))
        transport = _Transport(sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE)
        try:
            left = max(0.01, deadline.remaining())
            transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = left
            self._prefer_key_types(transport, [kind for kind, _ in expected])
            try:
                transport.start_client(timeout=left)
            except _DROP_ERRORS as exc:
                raise InfrastructureError(f"SSH handshake with {self.name} at {cfg.address} failed: "
                                          f"{exc or type(exc).__name__}") from exc
            self._check_host_key(transport.get_remote_server_key(), expected)
            self._authenticate(transport, keys)
            if cfg.keepalive > 0:
                transport.set_keepalive(cfg.keepalive)
            return transport
        except BaseException:
            transport.close()
            raise

    def _expected_keys(self) -> list[tuple[str, bytes]]:
        cfg = self.config
        if cfg.host_key is not None:
            return [parse_public_key(cfg.host_key)]
        assert cfg.known_hosts is not None
        if not cfg.known_hosts.is_file():
            raise ConfigError(f"known_hosts file {cfg.known_hosts} does not exist: create it with the "
                              f"target's host key, or pin host_key instead", f"SSH config for {cfg.host}",
                              "known_hosts")
        try:
            entries = paramiko.HostKeys(str(cfg.known_hosts)).lookup(cfg.known_hosts_name)
        except (OSError, paramiko.SSHException) as exc:
            raise ConfigError(f"cannot read known_hosts file {cfg.known_hosts}: {exc}",
                              f"SSH config for {cfg.host}", "known_hosts") from exc
        if not entries:
            return []
        return [(kind, entries[kind].asbytes()) for kind in entries.keys()]

    @staticmethod
    def _prefer_key_types(transport: paramiko.Transport, kinds: list[str]) -> None:
        """Ask for the pinned key's type first, as OpenSSH does for known hosts."""
        options = transport.get_security_options()
        available = list(options.key_types)
        wanted: list[str] = []
        for kind in kinds:
            wanted += ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if kind == "ssh-rsa" else [kind]
        first = [k for k in wanted if k in available]
        if first:
            options.key_types = first + [k for k in available if k not in first]

    def _check_host_key(self, offered: paramiko.PKey, expected: list[tuple[str, bytes]]) -> None:
        cfg = self.config
        blob = offered.asbytes()
        if any(blob == want for _, want in expected):
            return
        offered_desc = f"{offered.get_name()} {fingerprint(blob)}"
        if cfg.host_key is not None:
            source = "the pinned host_key"
            fix = ("set host_key to the target's new public host key (read it on the target's console, "
                   "e.g. `dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key` or "
                   "`cat /etc/ssh/ssh_host_ed25519_key.pub`)")
        else:
            source = f"known_hosts {cfg.known_hosts} ({cfg.known_hosts_name})"
            fix = (f"remove the old entry (`ssh-keygen -R '{cfg.known_hosts_name}' -f {cfg.known_hosts}`) and "
                   "add the new key after checking its fingerprint on the target's console")
        if not expected:
            raise HostKeyUnknown(
                f"REFUSED: {self.name} at {cfg.address} offered host key {offered_desc}, which is not in "
                f"{source}; qnx-hil never accepts unknown host keys. Check the fingerprint on the "
                f"target's console, then add `{cfg.known_hosts_name} {offered.get_name()} "
                f"{offered.get_base64()}` to {cfg.known_hosts}, or pin it with host_key.")
        wanted = ", ".join(f"{kind} {fingerprint(want)}" for kind, want in expected)
        raise HostKeyMismatch(
            f"REFUSED: the SSH host key of {self.name} at {cfg.address} does not match {source}: "
            f"expected {wanted}, offered {offered_desc}. Someone may be intercepting the connection, "
            f"or the target was reinstalled (or its image rebuilt). If the change is expected, re-pin: {fix}.")

    def _load_keys(self) -> list[paramiko.PKey]:
        if self._keys is not None:
            return self._keys
        cfg = self.config
        where = f"SSH config for {cfg.host}"
        keys: list[paramiko.PKey] = []
        if cfg.key_path is not None:
            try:
                keys.append(paramiko.PKey.from_path(cfg.key_path))
            except FileNotFoundError:
                raise ConfigError(f"private key {cfg.key_path} does not exist", where, "key_path") from None
            except paramiko.PasswordRequiredException:
                raise ConfigError(f"private key {cfg.key_path} is encrypted: use an unencrypted key for the "
                                  "lab, or load it into ssh-agent and leave key_path unset", where,
                                  "key_path") from None
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise ConfigError(f"cannot load private key {cfg.key_path}: {exc}", where, "key_path") from exc
        else:
            try:
                keys += list(paramiko.Agent().get_keys())
            except paramiko.SSHException:
                pass
            for stem in ("id_ed25519", "id_ecdsa", "id_rsa"):
                path = Path.home() / ".ssh" / stem
                if path.is_file():
                    try:
                        keys.append(paramiko.PKey.from_path(path))
                    except (OSError, paramiko.SSHException, ValueError):
                        pass
            if not keys:
                raise ConfigError("no private key: set key_path (no ssh-agent keys and no ~/.ssh/id_* found)",
                                  where, "key_path")
        self._keys = keys
        return keys

    def _authenticate(self, transport: paramiko.Transport, keys: list[paramiko.PKey]) -> None:
        cfg = self.config
        causes = []
        for key in keys:
            try:
                transport.auth_publickey(cfg.user, key)
                if transport.is_authenticated():
                    return
            except paramiko.BadAuthenticationType as exc:
                raise AuthenticationFailed(
                    f"{cfg.user}@{cfg.address} ({self.name}) does not accept public keys "
                    f"(it allows: {', '.join(exc.allowed_types) or 'nothing'}); qnx-hil uses key "
                    "authentication only: authorize a key for this user on the target") from exc
            except paramiko.AuthenticationException as exc:
                if "timeout" in str(exc).lower() or not transport.is_active():
                    raise InfrastructureError(f"SSH authentication with {self.name} at {cfg.address} did not "
                                              f"complete: {exc}") from exc
                causes.append(f"{key.get_name()} {key.fingerprint}")
            except _DROP_ERRORS as exc:
                raise InfrastructureError(f"SSH connection to {self.name} at {cfg.address} dropped while "
                                          f"authenticating: {exc}") from exc
        source = str(cfg.key_path) if cfg.key_path else "ssh-agent/~/.ssh keys"
        raise AuthenticationFailed(
            f"{cfg.user}@{cfg.address} ({self.name}) refused our key(s) from {source}: "
            f"{'; '.join(causes)}. Add the public key to ~{cfg.user}/.ssh/authorized_keys on the target, "
            "or set key_path/user to what the target authorizes.")

    def _checkout(self) -> tuple[paramiko.Transport, bool]:
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
                self._drop_sftp(transport)
                transport.close()
                dead += 1
            dropped = self._ever_connected and (dead > 0 or not any(t.is_active() for t in self._busy))
        try:
            transport = self._open_transport(Deadline.after(self.config.connect_timeout))
        except HostKeyError:
            raise
        except (InfrastructureError, SetupError) as exc:
            if not dropped:
                raise
            raise InfrastructureError(f"SSH connection to {self.where} dropped and reconnecting failed: "
                                      f"{exc}") from exc
        with self._lock:
            self._ever_connected = True
            self._busy.add(transport)
        return transport, True

    def _checkin(self, transport: paramiko.Transport, reusable: bool = True) -> None:
        """Give a transport back; one whose command may still be dying is closed instead.

        (Reusing it could put a new channel in the dropbear window described in the class doc.)
        """
        with self._lock:
            self._busy.discard(transport)
            if reusable and transport.is_active() and len(self._idle) < _MAX_IDLE:
                self._idle.append(transport)
                return
            self._drop_sftp(transport)
        transport.close()

    def _exec(self, script: str, what: str) -> tuple[paramiko.Channel, paramiko.Transport]:
        """Start ``script`` on a transport of its own; a dead connection is reconnected once.

        The caller owns the transport until it gives it back with ``_checkin``.
        """
        transport, fresh = self._checkout()
        try:
            chan = transport.open_session(timeout=self.config.connect_timeout)
        except _DROP_ERRORS as exc:
            self._checkin(transport, reusable=False)
            if fresh:
                raise InfrastructureError(f"SSH connection to {self.where} refused a session right after "
                                          f"connecting ({what!r}): {exc or type(exc).__name__}") from exc
            transport, _ = self._checkout()  # the reconnect: this one is fresh
            try:
                chan = transport.open_session(timeout=self.config.connect_timeout)
            except _DROP_ERRORS as exc2:
                self._checkin(transport, reusable=False)
                raise InfrastructureError(f"SSH connection to {self.where} dropped ({exc or type(exc).__name__}) "
                                          f"and the new one refused a session too: "
                                          f"{exc2 or type(exc2).__name__}") from exc2
        try:
            chan.exec_command(script)
        except _DROP_ERRORS as exc:
            chan.close()
            alive = transport.is_active()
            self._checkin(transport, reusable=False)
            if alive:
                raise InfrastructureError(f"{self.where} refused to run {what!r}: "
                                          f"{exc or type(exc).__name__}") from exc
            raise ConnectionDropped(f"SSH connection to {self.where} dropped while starting {what!r}: "
                                    f"{exc or type(exc).__name__}") from exc
        return chan, transport

    @staticmethod
    def _script(line: str, env: Mapping[str, str] | None, cwd: str | None, exec_: bool) -> str:
        parts = ["echo " + _PID_MARKER.decode() + "$$ >&2"]
        for key, value in (env or {}).items():
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"bad environment variable name {key!r}")
            parts.append(f"export {key}={shlex.quote(str(value))}")
        if cwd is not None:
            parts.append(f"cd {shlex.quote(cwd if not cwd.startswith('-') else './' + cwd)} || exit")
        parts.append(("exec " if exec_ else "") + line)
        return "\n".join(parts)

    # -- commands --

    def run(self, command: str | Sequence[str], timeout: float | None = None, *, stdin: bytes | None = None,
            on_output: OutputCallback | None = None, check: bool = False,
            env: Mapping[str, str] | None = None, cwd: str | None = None) -> CommandResult:
        """Run a command to its end and return its exit status, signal and output.

        ``stdin`` is written to the command, then EOF (without it: EOF at
        once).  ``on_output(stream, chunk)`` is called as output arrives.
        ``env`` is exported and ``cwd`` entered before the command runs.
        A command outliving ``timeout`` is killed on the target with its
        process group and ``CommandTimeout`` raised with the output so far;
        ``check=True`` raises ``CommandFailed`` on a non-zero exit or a signal.
        """
        line = shell_join(command)
        result = self._execute(line, self._script(line, env, cwd, False), timeout, stdin, on_output, None)
        if check and not result.ok:
            how = f"was killed by SIG{result.signal}" if result.signal else f"exited {result.exit_status}"
            raise CommandFailed(f"command on {self.where} {how}: {line}\n--- stderr:\n{_tail(result.stderr)}"
                                f"\n--- stdout:\n{_tail(result.stdout)}", result)
        return result

    def _execute(self, line: str, script: str, timeout: float | None, stdin: bytes | IO[bytes] | None,
                 on_output: OutputCallback | None, stdout_sink: Callable[[bytes], object] | None) -> CommandResult:
        started = time.monotonic()
        until = None if timeout is None else started + timeout
        chan, transport = self._exec(script, line)
        out = _Output(on_output, stdout_sink)
        writer = None
        ended = False  # the remote process is known to be gone
        try:
            writer = _send_stdin(chan, stdin)
            finished = _pump(chan, out, until)
            if finished:
                left = None if until is None else max(0.0, until - time.monotonic())
                finished = chan.status_event.wait(left)
            if not finished:
                killed = self._kill_after_timeout(out.pid)
                ended = chan.status_event.wait(2.0) and _exited(chan)
                chan.close()
                out.finish()
                stdout, stderr = out.snapshot()
                partial = CommandResult(line, None, None, stdout, stderr, time.monotonic() - started)
                raise CommandTimeout(
                    f"command on {self.where} outlived its {timeout:g} s timeout and {killed}: {line}\n"
                    f"--- stderr so far:\n{_tail(stderr)}\n--- stdout so far:\n{_tail(stdout)}", partial)
            out.finish()
            status, sig = _status_of(chan)
            ended = _exited(chan)
            if not ended and not transport.is_active():
                stdout, stderr = out.snapshot()
                raise ConnectionDropped(f"SSH connection to {self.where} dropped while running {line!r} "
                                        f"(after {time.monotonic() - started:.1f} s; stderr so far: "
                                        f"{_tail(stderr, 500)!r})")
            stdout, stderr = out.snapshot()
            return CommandResult(line, status, sig, stdout, stderr, time.monotonic() - started)
        finally:
            chan.close()
            if writer is not None:
                writer.join(timeout=5)
            self._checkin(transport, reusable=ended)

    def _kill_after_timeout(self, pid: int | None) -> str:
        """Kill a timed-out command's process group; say what was done."""
        if pid is None:
            return "was abandoned (its remote pid was not known yet: it may still run)"
        try:
            self._execute(f"kill -s KILL {pid} and its descendants",
                          self._script(_kill_command("KILL", pid, True), None, None, False),
                          self.config.connect_timeout, None, None, None)
        except (InfrastructureError, CommandTimeout) as exc:
            return f"could not be killed (pid {pid}: {exc})"
        return f"was killed (SIGKILL to pid {pid}, its process group and descendants)"

    def start(self, command: str | Sequence[str], *, on_output: OutputCallback | None = None,
              env: Mapping[str, str] | None = None, cwd: str | None = None) -> "RemoteProcess":
        """Start a long-running program; returns once its remote pid is known.

        A sequence is ``exec``'d by the remote shell, so ``pid`` is the
        program's own; a string runs as is in the shell whose pid is ``pid``
        (end it with ``exec prog ...`` to make that the program's).  The pid
        is reported just before the ``exec``: a signal sent in that instant
        reaches the shell (which dies of it all the same); wait for the
        program's first output before relying on its signal handlers.  Its
        stdin stays open for ``write_stdin`` until ``close_stdin``.  The
        program has a transport of its own until it ends.
        """
        line = shell_join(command)
        script = self._script(line, env, cwd, not isinstance(command, str))
        started = time.monotonic()
        chan, transport = self._exec(script, line)
        return RemoteProcess(self, chan, transport, line, on_output, started)

    def signal(self, pid: int, sig: str | int = "TERM", *, group: bool = False) -> bool:
        """Send a signal to a remote pid (or its process group); False if there is no such process."""
        spec = _signal_spec(sig)
        result = self.run(_kill_command(spec, pid, group), timeout=self.config.connect_timeout)
        return result.ok

    # -- files --

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

    def _transfer(self, what: str, remote: str, by_sftp: Callable[[paramiko.SFTPClient], _T],
                  by_cat: Callable[[], _T]) -> _T:
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
                    raise _remote_error(exc, self.name, remote) from None  # the target said no
                cause = exc or type(exc).__name__
                if transport is not None:
                    self._drop_sftp(transport)
                    transport.close()
            if attempt == 2:
                raise InfrastructureError(f"SSH connection to {self.where} dropped during {what} "
                                          f"(after reconnecting once): {cause}")
        raise AssertionError("unreachable")

    def _sftp_client(self) -> paramiko.SFTPClient | None:
        """The cached SFTP client (opened on a live transport), or None when the target has no SFTP."""
        if self.sftp_available is False:
            return None
        with self._sftp_lock:
            if self._sftp is not None and self._sftp_transport is not None and self._sftp_transport.is_active():
                return self._sftp
        # Open the SFTP channel on a transport we hold alone (see the class doc), then share it.
        chan, transport = None, None
        try:
            transport, _ = self._checkout()
            chan = transport.open_session(timeout=self.config.connect_timeout)
            chan.settimeout(self.config.connect_timeout)
            chan.invoke_subsystem("sftp")
            client = paramiko.SFTPClient(chan)
            chan.settimeout(max(_SFTP_REQUEST_TIMEOUT, 3 * self.config.connect_timeout))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            ended = False
            if chan is not None:  # e.g. sftp-server not found: wait for the end of that shell
                ended = chan.status_event.wait(1.0) and _exited(chan)
                chan.close()
            alive = transport is not None and transport.is_active()
            if transport is not None:
                self._checkin(transport, reusable=alive and ended)
            if not alive or self.sftp_available:
                raise InfrastructureError(f"SSH connection to {self.where} failed while opening SFTP: "
                                          f"{exc or type(exc).__name__}") from exc
            self.sftp_available = False
            self.sftp_unavailable_reason = str(exc) or type(exc).__name__
            return None
        with self._sftp_lock:
            old = self._sftp
            self._sftp, self._sftp_transport = client, transport
        if old is not None:
            try:
                old.close()
            except Exception:
                pass
        self._checkin(transport)
        self.sftp_available = True
        return client

    def _cat_put(self, data: bytes | IO[bytes], remote: str, mode: int | None) -> None:
        path = shlex.quote(remote)
        line = f"cat > {path}" + (f" && chmod {mode:o} {path}" if mode is not None else "")
        result = self._execute(line, self._script(line, None, None, False), None, data, None, None)
        if not result.ok:
            raise _cat_error(result, self.name, remote)

    def _cat_get(self, remote: str, sink: Callable[[bytes], object]) -> None:
        line = f"cat {shlex.quote(remote)}"
        result = self._execute(line, self._script(line, None, None, False), None, None, None, sink)
        if not result.ok:
            raise _cat_error(result, self.name, remote)


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
    for needle, number in (("no such file", errno.ENOENT), ("nonexistent", errno.ENOENT),
                           ("permission denied", errno.EACCES), ("is a directory", errno.EISDIR),
                           ("not a directory", errno.ENOTDIR), ("no space", errno.ENOSPC),
                           ("read-only", errno.EROFS)):
        if needle in text.lower():
            code = number
            break
    error = OSError(code, f"{name}:{remote}: {text}")
    error.hil_remote = True  # type: ignore[attr-defined]
    return error


# -- long-running programs -------------------------------------------------------------------------------

class RemoteProcess:
    """A program started by ``SshConnection.start``, running on the target.

    ``pid`` is its remote pid; ``stdout``/``stderr`` are the bytes so far
    (thread-safe; also streamed to ``on_output`` from a reader thread).
    ``poll()`` is None while it runs, then its exit status (minus the host's
    number of the killing signal, like ``subprocess``).  Usable as a context
    manager: leaving it kills the program if it still runs.
    """

    def __init__(self, conn: SshConnection, chan: paramiko.Channel, transport: paramiko.Transport, command: str,
                 on_output: OutputCallback | None, started: float) -> None:
        self.connection = conn
        self.command = command
        self._chan = chan
        self._transport = transport
        self._started = started
        self._out = _Output(on_output)
        self._done = threading.Event()
        self._result: CommandResult | None = None
        self._error: Exception | None = None
        self._reader = threading.Thread(target=self._read, name=f"hil-ssh-{command[:30]}", daemon=True)
        self._reader.start()
        with self._out.cond:
            self._out.cond.wait_for(lambda: self._out.pid is not None or self._done.is_set(),
                                    conn.config.connect_timeout)
        if self._out.pid is None:
            self.close()
            stdout, stderr = self._out.snapshot()
            raise InfrastructureError(f"{conn.where}: the shell starting {command!r} did not report its pid "
                                      f"(stderr: {_tail(stderr, 500)!r}, stdout: {_tail(stdout, 500)!r})")
        self.pid: int = self._out.pid

    def _read(self) -> None:
        ended = False
        try:
            _pump(self._chan, self._out, None)
            self._chan.status_event.wait()
            self._out.finish()
            status, sig = _status_of(self._chan)
            ended = _exited(self._chan)
            stdout, stderr = self._out.snapshot()
            if not ended and not self._transport.is_active():
                self._error = ConnectionDropped(
                    f"SSH connection to {self.connection.where} dropped while running {self.command!r} "
                    f"(stderr so far: {_tail(stderr, 500)!r})")
            self._result = CommandResult(self.command, status, sig, stdout, stderr,
                                         time.monotonic() - self._started)
        except Exception as exc:  # never lose the end of a process to a reader crash
            self._error = exc
        finally:
            self._chan.close()
            self.connection._checkin(self._transport, reusable=ended)
            self._done.set()
            with self._out.cond:
                self._out.cond.notify_all()

    @property
    def stdout(self) -> bytes:
        return self._out.snapshot()[0]

    @property
    def stderr(self) -> bytes:
        return self._out.snapshot()[1]

    def write_stdin(self, data: bytes) -> None:
        """Send bytes to the program's stdin (BrokenPipeError once it is closed or the program ended)."""
        try:
            self._chan.sendall(data)
        except _DROP_ERRORS as exc:
            raise BrokenPipeError(errno.EPIPE, f"stdin of {self.command!r} on {self.connection.where} "
                                  f"is closed: {exc}") from exc

    def close_stdin(self) -> None:
        """Send EOF to the program's stdin."""
        try:
            self._chan.shutdown_write()
        except _DROP_ERRORS:
            pass

    def signal(self, sig: str | int, *, group: bool = False) -> None:
        """Send a signal (``"TERM"``, ``"SIGUSR1"``, ``signal.SIGINT``; a bare int is the TARGET's number).

        Sent with ``kill`` in a separate command; a program that already
        ended is left alone.
        """
        if self._done.is_set():
            return
        if not self.connection.signal(self.pid, sig, group=group) and not self._done.wait(0.5):
            raise InfrastructureError(f"could not send SIG{_signal_spec(sig)} to pid {self.pid} "
                                      f"({self.command!r}) on {self.connection.where}")

    def kill(self) -> None:
        """SIGKILL the program and its process group."""
        self.signal("KILL", group=True)

    def poll(self) -> int | None:
        if not self._done.is_set():
            return None
        result = self._result
        if result is None:
            return -1
        if result.exit_status is not None:
            return result.exit_status
        number = getattr(signals, f"SIG{result.signal}", None)
        return -int(number) if number is not None else -1

    def wait(self, timeout: float | None = None) -> CommandResult:
        """The result once the program ends; TimeoutError if it still runs after ``timeout`` s."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.command!r} (pid {self.pid}) still running on {self.connection.where} "
                               f"after {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def wait_for(self, pattern: bytes | re.Pattern[bytes], stream: str = "stdout",
                 timeout: float | None = None) -> re.Match[bytes]:
        """Wait until ``pattern`` (bytes literal or compiled regex) appears in ``stream`` output."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        found: list[re.Match[bytes]] = []

        def seen() -> bool:
            match = regex.search(self._out.stdout if stream == "stdout" else self._out.stderr)
            if match:
                found.append(match)
            return bool(match) or self._done.is_set()

        with self._out.cond:
            self._out.cond.wait_for(seen, timeout)
        if not found:
            state = "ended" if self._done.is_set() else f"not seen after {timeout} s"
            tail = _tail(self.stdout if stream == "stdout" else self.stderr, 500)
            raise TimeoutError(f"{pattern!r} not in {stream} of {self.command!r} on {self.connection.where} "
                               f"({state}); last output: {tail!r}")
        return found[0]

    def close(self) -> None:
        """Kill the program if it still runs and release the channel."""
        if not self._done.is_set() and getattr(self, "pid", None) is not None:
            try:
                self.kill()
                self._done.wait(2)
            except (InfrastructureError, CommandTimeout):
                pass
        self._chan.close()
        self._reader.join(timeout=2)

    def __enter__(self) -> "RemoteProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if not self._done.is_set() else f"ended {self.poll()}"
        return f"RemoteProcess(pid={getattr(self, 'pid', None)}, {self.command!r}, {state})"
