"""The bounded capture of a console's stream: ``Capture`` (the log file and the last bytes and their text, fed
by the console's reader, read by expects and fail-pattern watchers), ``Mark`` (a byte position), the text store
and the byte <-> text map.

Offsets: a ``Mark`` is a byte offset into the session's byte stream.  Text is
decoded with ``errors="surrogateescape"`` internally, which keeps the byte <->
text mapping exact even for invalid bytes; everything handed out as text
(``since``, ``text``, ``ConsoleMatch.text``, messages) has those replaced by
U+FFFD as with ``errors="replace"``.
"""

from __future__ import annotations

import bisect
import codecs
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import AnyStr, BinaryIO, Generic

from hil.core.errors import SetupError
from hil.links.regex_window import Overrun, Search

__all__ = ["ByteStore", "Capture", "Mark", "OffsetMap", "TextStore", "printable", "utc"]


@dataclass(frozen=True, order=True)
class Mark:
    """A position in a console session: ``offset`` bytes from its start."""

    offset: int


class _Pieces(Generic[AnyStr]):
    """An append-only sequence (text or bytes), sliceable without re-joining everything.

    Pieces are appended as they come; every ~64 K items the open pieces are
    sealed into one block.  ``slice(a, b)`` joins only the pieces it needs.  A
    list of pieces rather than one growing buffer: growing a buffer of
    megabytes while other large objects are allocated makes ``realloc`` copy it
    again and again (measured: 25 ms per 8 MB instead of 0.5 ms).
    """

    SEAL = 1 << 16

    def __init__(self, empty: AnyStr) -> None:
        self.length = 0
        self.first = 0  # what is before this was dropped (``drop_before``)
        self._empty: AnyStr = empty
        self._blocks: list[AnyStr] = []
        self._block_starts: list[int] = []
        self._open: list[AnyStr] = []
        self._open_starts: list[int] = []
        self._open_len = 0

    def append(self, piece: AnyStr) -> None:
        if not piece:
            return
        self._open.append(piece)
        self._open_starts.append(self.length)
        self.length += len(piece)
        self._open_len += len(piece)
        if self._open_len >= self.SEAL:
            self._block_starts.append(self._open_starts[0])
            self._blocks.append(self._open[0] if len(self._open) == 1 else self._empty.join(self._open))
            self._open, self._open_starts, self._open_len = [], [], 0

    def floor(self, t: int) -> int:
        """The start of the sealed block holding position ``t`` (where ``drop_before`` can cut exactly)."""
        if not self._blocks or t < self._block_starts[0]:
            return self.first
        open_start = self._open_starts[0] if self._open else self.length
        if t >= open_start:
            return open_start
        return self._block_starts[bisect.bisect_right(self._block_starts, t) - 1]

    def drop_before(self, t: int) -> None:
        """Forget what is before ``t``: the sealed blocks that end at or before it (``floor(t)``)."""
        k = bisect.bisect_right(self._block_starts, t)
        open_start = self._open_starts[0] if self._open else self.length
        if k and t < open_start:
            k -= 1  # the block holding t stays
        del self._blocks[:k], self._block_starts[:k]
        self.first = max(self.first, t)

    def held(self) -> int:
        """How many items are held in memory (whole blocks: from ``floor(first)`` on)."""
        return self.length - (self._block_starts[0] if self._blocks else self.first)

    def piece_at(self, t: int) -> tuple[AnyStr, int]:
        """The piece (sealed block or open piece) holding position ``t`` (``first <= t < length``) and its start."""
        open_start = self._open_starts[0] if self._open else self.length
        if t >= open_start:
            j = bisect.bisect_right(self._open_starts, t) - 1
            return self._open[j], self._open_starts[j]
        i = bisect.bisect_right(self._block_starts, t) - 1
        return self._blocks[i], self._block_starts[i]

    def slice(self, a: int, b: int | None = None) -> AnyStr:
        """``items[a:b]``, copying only the pieces that overlap it (nothing before ``first``)."""
        b = self.length if b is None else min(b, self.length)
        a = max(self.first, a)
        if a >= b:
            return self._empty[:0]
        open_start = self._open_starts[0] if self._open else self.length
        parts: list[AnyStr]
        if a < open_start:
            i = bisect.bisect_right(self._block_starts, a) - 1
            first = self._block_starts[i]
            k = bisect.bisect_left(self._block_starts, b, lo=i + 1)
            parts = self._blocks[i:k]
            last = self._block_starts[k - 1]
            if b > open_start:
                m = bisect.bisect_left(self._open_starts, b)
                parts.extend(self._open[:m])
                last = self._open_starts[m - 1]
        else:
            j = bisect.bisect_right(self._open_starts, a) - 1
            first = self._open_starts[j]
            m = bisect.bisect_left(self._open_starts, b)
            parts = self._open[j:m]
            last = self._open_starts[m - 1]
        if len(parts) == 1:
            whole: AnyStr = parts[0][a - first : b - first]
            return whole
        parts[0] = parts[0][a - first :]
        parts[-1] = parts[-1][: b - last]  # only what is asked for is copied
        joined: AnyStr = self._empty.join(parts)
        return joined


class TextStore(_Pieces[str]):
    """The decoded session text (positions are characters of the whole session)."""

    def __init__(self) -> None:
        super().__init__("")


class ByteStore(_Pieces[bytes]):
    """The session's bytes (positions are byte offsets of the whole session)."""

    def __init__(self) -> None:
        super().__init__(b"")


class OffsetMap:
    """Maps text positions to byte offsets and back.

    The stream is cut into segments; a "pure" segment has one byte per
    character (ASCII, latin-1, escaped bytes), so the mapping inside it is
    linear.  Other segments (multi-byte characters) are at most ~64 K long and
    mapped by re-encoding or re-decoding the part in question.
    """

    LIMIT = 1 << 16

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._text = array("q")
        self._bytes = array("q")
        self._pure: list[bool] = []
        self.text_end = 0
        self.byte_end = 0  # bytes consumed by the decoder (a partial character may follow)
        self.byte_base = 0  # stream offset of the first byte kept in memory (``rebase``)

    def rebase(self, t: int, b: int) -> None:
        """Text before ``t`` (bytes before ``b``, the same place) is no longer kept."""
        i = max(0, bisect.bisect_right(self._text, t) - 1)
        pure = self._pure[i]
        self._text = array("q", [t]) + self._text[i + 1 :]
        self._bytes = array("q", [b]) + self._bytes[i + 1 :]
        self._pure = [pure, *self._pure[i + 1 :]]
        self.byte_base = b

    def add(self, text_len: int, byte_len: int) -> None:
        if not byte_len and not text_len:
            return
        pure = text_len == byte_len
        if self._pure and self._pure[-1] == pure and (pure or self.text_end - self._text[-1] < self.LIMIT):
            pass  # extends the last segment
        else:
            self._text.append(self.text_end)
            self._bytes.append(self.byte_end)
            self._pure.append(pure)
        self.text_end += text_len
        self.byte_end += byte_len

    def text_to_byte(self, t: int, store: TextStore) -> int:
        if not self._pure or t <= 0:
            return 0
        t = min(t, self.text_end)
        i = bisect.bisect_right(self._text, t) - 1
        ts, bs = self._text[i], self._bytes[i]
        if self._pure[i]:
            return bs + (t - ts)
        return bs + len(store.slice(ts, t).encode(self.encoding, "surrogateescape"))

    def byte_to_text(self, b: int, data: ByteStore) -> int:
        if not self._pure or b <= 0:
            return 0
        if b >= self.byte_end:
            return self.text_end
        i = bisect.bisect_right(self._bytes, b) - 1
        ts, bs = self._text[i], self._bytes[i]
        if self._pure[i]:
            return ts + (b - bs)
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="surrogateescape")
        return ts + len(decoder.decode(data.slice(bs, b), final=False))


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c not in (9,)}
_CONTROL[127] = "\\x7f"


def printable(line: str) -> str:
    """A console line with escapes for control characters (ANSI colours etc.)."""
    return line.translate(_CONTROL)


class Capture:
    """The bounded capture of one console stream, fed by its reader and read by everyone else.

    Every byte ``feed`` gets goes to the log file (flushed per chunk: a crash
    loses nothing) and to memory: the raw bytes from ``base`` on and their text
    (decoded incrementally with ``surrogateescape``, mapped byte <-> text by an
    ``OffsetMap``).  Only the last ``memory`` bytes are kept, in whole ~64 K
    blocks, except what a waiting expect still needs (its searches are
    ``pins``; up to ``PIN_FACTOR`` x ``memory``).  ``watchers`` (the fail-pattern
    watchers) are called with the lock held after new text is added;
    ``listeners`` (live views) with each chunk, after it is logged and kept.

    ``cond`` guards everything here and is notified on new data and on changes
    of the link's state (``connected``, ``ended``, ...), which the reader sets.
    """

    PIN_FACTOR = 2  # a waiting expect keeps unsearched text up to this many times ``memory``

    def __init__(self, name: str, encoding: str, memory: int, log_path: Path | None) -> None:
        self.name = name
        self.encoding = encoding
        self.memory = memory
        self.log_path = log_path
        self.cond = threading.Condition(threading.Lock())
        self.data = ByteStore()  # the stream from byte ``base`` on
        self.base = 0
        self.store = TextStore()
        self.map = OffsetMap(encoding)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        self._pending = 0  # bytes of a partial character the decoder holds
        self.pins: list[Search] = []  # searches of waiting expects: what they still need is kept
        self.watchers: list[Callable[[], None]] = []  # called (lock held) after new text: fail patterns
        self.listeners: list[Callable[[bytes], None]] = []
        self.sleepers = 0  # threads waiting on ``cond`` (no notify when there are none)
        self._log: BinaryIO | None = None
        self._log_last = b"\n"
        # the link's state, set by the reader (lock: cond)
        self.started = False
        self.connected = False
        self.ended = False  # the reader stopped: no more data will come
        self.end_reason = ""
        self.lost_at: float | None = None
        self.lost_reason = ""
        self.reconnects = 0

    # ------------------------------------------------------------------ the log file

    def open_log(self) -> None:
        if self.log_path is not None and self._log is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed in close_log()

    def close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def log_note(self, note: str) -> None:
        """A note in the log only (never in what is matched), on a line of its own."""
        self._log_write((b"" if self._log_last == b"\n" else b"\n") + note.encode())

    def _log_write(self, data: bytes) -> None:
        log = self._log
        if log is None or not data:
            return
        written = log.write(data)
        if written is not None and written < len(data):
            view = memoryview(data)[written:]
            while view:
                view = view[log.write(view) or 0 :]
        self._log_last = data[-1:]

    # ------------------------------------------------------------------ feeding

    def feed(self, data: bytes) -> None:
        """Take a chunk from the transport: log it, keep it and its text, run the watchers, wake waiters."""
        self._log_write(data)
        with self.cond:
            self.data.append(data)
            total = self.data.length
            text = self._decoder.decode(data)
            if self._pending or len(text) != len(data):  # else one character a byte, nothing left pending
                self._pending = len(self._decoder.getstate()[0])
            self.map.add(len(text), total - self._pending - self.map.byte_end)
            if text:
                self.store.append(text)
                for watcher in self.watchers:
                    watcher()
            if total - self.base > self.memory:
                self._trim()
            if self.sleepers:
                self.cond.notify_all()
        if self.listeners:
            for listener in tuple(self.listeners):  # live views (--hil-console-live): never the reader's end
                try:
                    listener(data)
                except Exception:  # noqa: BLE001, S110
                    pass

    def notify(self) -> None:
        """Wake every thread waiting on ``cond`` (lock held)."""
        if self.sleepers:
            self.cond.notify_all()

    def wait(self, timeout: float | None) -> None:
        """Wait on ``cond`` (lock held) until notified or ``timeout``."""
        self.sleepers += 1
        try:
            self.cond.wait(timeout)
        finally:
            self.sleepers -= 1

    def _trim(self) -> None:
        """Drop the oldest data, keeping about 3/4 of ``memory`` and what waiting expects still need (lock held)."""
        keep_from = self.map.byte_to_text(max(self.base, self.total - self.memory * 3 // 4), self.data)
        cut = self.store.floor(keep_from)
        for search in self.pins:  # a waiting expect that is behind: search for it now, before the text goes
            if search.hit is None and search.needed() < cut:
                search.lock.acquire()  # its expect may be running it now (without our lock: no deadlock)
                try:
                    prepared = search.prepare(self.store, self.store.length)
                    if prepared is not None and search.hit is None:
                        search.hit = search.run(prepared)
                except Overrun:
                    pass  # already too late: its expect says so
                finally:
                    search.lock.release()
        pinned = min((n for n in (s.needed() for s in self.pins) if n >= self.store.first), default=keep_from)
        if pinned < keep_from and self.total - self.text_to_byte(pinned) <= self.PIN_FACTOR * self.memory:
            keep_from = pinned
        cut = self.store.floor(keep_from)
        if cut <= self.store.first:
            return
        cut_byte = self.text_to_byte(cut)
        self.store.drop_before(cut)
        self.map.rebase(cut, cut_byte)
        self.data.drop_before(cut_byte)
        self.base = cut_byte

    # ------------------------------------------------------------------ reading (lock held unless said)

    @property
    def total(self) -> int:
        """Bytes received in the whole session."""
        return self.data.length

    def byte_to_text(self, offset: int) -> int:
        return self.map.byte_to_text(offset, self.data)

    def text_to_byte(self, t: int) -> int:
        return self.map.text_to_byte(t, self.store)

    def too_old(self, mark: Mark, what: str) -> SetupError:
        log = f"the full log is {self.log_path}" if self.log_path else "no log file keeps them (pass log_path=)"
        return SetupError(
            f"console '{self.name}': cannot {what} from byte {mark.offset}: only bytes from {self.base} on are "
            f"kept in memory (the last {self.memory >> 20 or 1} MiB: memory= or HIL_CONSOLE_MEMORY_MB); {log}. "
            f"Take the mark (console.mark()) just before the output in question, or raise the bound"
        )

    def clean(self, text: str) -> str:
        """Internal text (surrogate-escaped) as handed out (U+FFFD for undecodable bytes)."""
        if text.isascii():
            return text
        return text.encode(self.encoding, "surrogateescape").decode(self.encoding, "replace")

    def line_at(self, a: int, b: int) -> str:
        """The line holding text ``a``..``b`` (at most 500 characters either side)."""
        around = self.store.slice(max(self.store.first, a - 500), min(self.store.length, b + 500))
        lo = a - max(self.store.first, a - 500)
        first = around.rfind("\n", 0, lo) + 1
        last = around.find("\n", lo + (b - a))
        line = around[first : last if last >= 0 else None].strip("\r\n")
        return self.clean(line)

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines, made printable and cut to 300 characters."""
        chunk = self.data.slice(self.data.length - 200 * lines).decode(self.encoding, "replace")
        return [printable(line.rstrip("\r"))[:300] for line in chunk.split("\n")[-lines:]]

    def since(self, mark: Mark, until: Mark | None = None) -> str:
        """The text from ``mark`` (to ``until``); bytes no longer kept are replaced by a note (takes the lock)."""
        note = ""
        with self.cond:
            start = max(mark.offset, self.base)
            if start > mark.offset:
                where = f"; all of it is in {self.log_path}" if self.log_path else ""
                note = (
                    f"[hil: {start - mark.offset} bytes from byte {mark.offset} on are not kept in memory "
                    f"(the last {self.memory} bytes are){where}]\n"
                )
            chunk = self.data.slice(start, None if until is None else until.offset)
        return note + chunk.decode(self.encoding, "replace")

    def raw(self, mark: Mark, until: Mark | None = None) -> bytes:
        """The bytes from ``mark`` (to ``until``); ``SetupError`` if no longer kept (takes the lock)."""
        with self.cond:
            if mark.offset < self.base:
                raise self.too_old(mark, "return the bytes")
            return self.data.slice(mark.offset, None if until is None else until.offset)
