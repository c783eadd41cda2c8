"""One command's channel: paramiko patched to report the killing signal, output pumping, stdin, exit status."""

from __future__ import annotations

import collections
import re
import select
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import paramiko
from paramiko.common import MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA, MSG_CHANNEL_REQUEST

__all__ = [
    "DROP_ERRORS",
    "MAX_PACKET_SIZE",
    "PID_MARKER",
    "WINDOW_SIZE",
    "ChannelOutput",
    "OutputCallback",
    "SignalingTransport",
    "exited",
    "keep_arrival_order",
    "pump",
    "send_stdin",
    "status_of",
]

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

#: What a command's script prints on stderr first, followed by the remote shell's pid and a newline
#: (``hil.links.ssh.commands.command_script``); ``ChannelOutput`` takes the line out of stderr.
PID_MARKER = "__HIL_PID__="
_PID_LINE = re.compile(re.escape(PID_MARKER).encode() + rb"(\d+)\r?\n")

#: What a dropped or dead connection raises in paramiko.
DROP_ERRORS = (paramiko.SSHException, EOFError, OSError)


def _channel_request(chan: paramiko.Channel, m: paramiko.Message) -> None:
    """Channel request handler that also records ``exit-signal`` (paramiko ignores it)."""
    start = m.packet.tell()
    kind = m.get_text()
    if kind == "exit-signal":
        m.get_boolean()  # want_reply: always false for exit-signal
        chan._hil_exit_signal = m.get_text()  # type: ignore[attr-defined]  # noqa: SLF001
        chan.status_event.set()
        return
    m.packet.seek(start)
    paramiko.Channel._handle_request(chan, m)  # type: ignore[attr-defined]  # noqa: SLF001


def keep_arrival_order(chan: paramiko.Channel) -> None:
    """From now on (before its command starts) ``chan`` notes which stream each data message was for, in
    arrival order, so that ``pump`` hands stdout and stderr on in that order however late it reads
    (paramiko keeps the two streams in separate buffers)."""
    chan._hil_order = collections.deque()  # type: ignore[attr-defined]  # noqa: SLF001


def _arrival(chan: paramiko.Channel, m: paramiko.Message, stream: str) -> None:
    """Note a data message's stream and size on a channel that keeps the arrival order (called in paramiko's
    transport thread before the data is put in its buffer; the message is left unread)."""
    order: collections.deque[list[Any]] | None = getattr(chan, "_hil_order", None)
    if order is None:
        return
    start = m.packet.tell()
    if stream == "stderr":
        if m.get_int() != 1:  # only extended data of type 1 (stderr) is kept by paramiko
            m.packet.seek(start)
            return
        if chan.combine_stderr:
            stream = "stdout"  # paramiko puts it in the stdout buffer
    size = m.get_int()  # the length of the data that follows
    m.packet.seek(start)
    if size:
        order.append([stream, size])


def _channel_data(chan: paramiko.Channel, m: paramiko.Message) -> None:
    _arrival(chan, m, "stdout")
    paramiko.Channel._feed(chan, m)  # type: ignore[attr-defined]  # noqa: SLF001


def _channel_extended_data(chan: paramiko.Channel, m: paramiko.Message) -> None:
    _arrival(chan, m, "stderr")
    paramiko.Channel._feed_extended(chan, m)  # type: ignore[attr-defined]  # noqa: SLF001


class SignalingTransport(paramiko.Transport):
    """paramiko's transport, knowing which signal killed a remote command, and the order in which a
    command's stdout and stderr arrived (``keep_arrival_order``)."""

    _channel_handler_table = {
        **paramiko.Transport._channel_handler_table,  # type: ignore[attr-defined]  # noqa: SLF001
        MSG_CHANNEL_REQUEST: _channel_request,
        MSG_CHANNEL_DATA: _channel_data,
        MSG_CHANNEL_EXTENDED_DATA: _channel_extended_data,
    }


def _exit_signal(chan: paramiko.Channel) -> str | None:
    return getattr(chan, "_hil_exit_signal", None)


class ChannelOutput:
    """A command's stdout and stderr as they arrive, with the pid marker taken out of stderr.

    Thread-safe; ``cond`` is notified at every chunk and when the pid is known.
    ``stdout_sink`` (if set) receives stdout instead of the buffer.  ``keep``: only the last
    ``keep`` bytes of each stream are kept (the rest went to ``on_output``); None keeps all.
    """

    def __init__(
        self,
        on_output: OutputCallback | None,
        stdout_sink: Callable[[bytes], object] | None = None,
        want_pid: bool = True,
        keep: int | None = None,
    ) -> None:
        self.keep = keep
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
                kept = self.stdout if stream == "stdout" else self.stderr
                kept.extend(chunk)
                if self.keep is not None and len(kept) > 2 * self.keep:
                    del kept[: len(kept) - self.keep]
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
            rest = bytes(self._scan[: match.start()] + self._scan[match.end() :])
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


#: Longest sleep in ``pump`` between checks (a backstop: wake-ups come from the channel's pipe).
_PUMP_BACKSTOP = 0.5


def pump(chan: paramiko.Channel, out: ChannelOutput, until: float | None) -> bool:
    """Move output from ``chan`` to ``out`` until EOF (True) or monotonic time ``until`` (False); in the order
    it arrived across stdout and stderr when the channel keeps it (``keep_arrival_order``).

    paramiko wakes ``select`` on ``chan.fileno()`` through one pipe shared by
    stdout and stderr, whose set/clear can race across threads (a read that
    empties stderr may clear the wake-up of stdout data arriving meanwhile):
    so both buffers are checked again after any read, before sleeping.
    """
    fd = chan.fileno()
    order: collections.deque[list[Any]] | None = getattr(chan, "_hil_order", None)
    while True:
        if _pump_in_order(chan, out, order) if order is not None else _pump_any(chan, out):
            continue
        if chan.eof_received or chan.closed:
            # all data came before the EOF; what no note names (none expected) is not left behind
            if order is not None and _pump_any(chan, out):
                continue
            return True
        wait = _PUMP_BACKSTOP if until is None else min(_PUMP_BACKSTOP, until - time.monotonic())
        if wait <= 0:
            return False
        select.select([fd], [], [], wait)


def _pump_any(chan: paramiko.Channel, out: ChannelOutput) -> bool:
    """Read whatever both buffers hold, stdout first (True if anything was read)."""
    got = False
    for stream, ready, recv in (
        ("stdout", chan.recv_ready, chan.recv),
        ("stderr", chan.recv_stderr_ready, chan.recv_stderr),
    ):
        while ready():
            data = recv(_RECV_CHUNK)
            if not data:
                break
            out.feed(stream, data)
            got = True
    return got


def _pump_in_order(chan: paramiko.Channel, out: ChannelOutput, order: collections.deque[list[Any]]) -> bool:
    """Read what the arrival notes of ``order`` name, stream by stream in their order (True if anything was read).
    A note comes a moment before its data: a note whose data is not in yet ends the round."""
    got = False
    while order:
        note = order[0]
        stream, size = note
        ready, recv = (chan.recv_ready, chan.recv) if stream == "stdout" else (chan.recv_stderr_ready, chan.recv_stderr)
        if not ready():
            break
        data = recv(min(size, _RECV_CHUNK))
        if not data:
            break
        if len(data) >= size:
            order.popleft()
        else:
            note[1] = size - len(data)
        out.feed(stream, data)
        got = True
    return got


def send_stdin(chan: paramiko.Channel, data: bytes | IO[bytes] | None, close: bool = True) -> threading.Thread | None:
    """Write ``data`` to the command's stdin, then send EOF (``close``)."""
    if data is None or (isinstance(data, (bytes, bytearray)) and len(data) <= _INLINE_STDIN):
        try:
            if data:
                chan.sendall(data)
            if close:
                chan.shutdown_write()
        except DROP_ERRORS:
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
        except DROP_ERRORS:
            pass

    thread = threading.Thread(target=write, name="hil-ssh-stdin", daemon=True)
    thread.start()
    return thread


def exited(chan: paramiko.Channel) -> bool:
    """Whether the server reported the command's end (an exit status or a killing signal)."""
    return (chan.exit_status_ready() and chan.exit_status >= 0) or _exit_signal(chan) is not None


def status_of(chan: paramiko.Channel) -> tuple[int | None, str | None]:
    status = chan.exit_status if chan.exit_status_ready() else -1
    return (None if status < 0 else status), _exit_signal(chan)
