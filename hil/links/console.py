"""One console core for every transport: capture, log, expect, fail patterns, reconnect.

A ``Console`` needs only a ``hil.links.transports.Transport`` (read and write bytes).
A background reader thread keeps every byte of the session:

* appended to the log file, flushed per chunk (a crash loses nothing), with a
  note such as ``[hil: console lost at ..., reconnected after 1.23 s]`` where
  the connection dropped (the note is in the log only, never in what is matched);
* appended to an in-memory byte buffer and decoded incrementally into text.

``expect`` searches that text from a ``Mark`` (default: where the previous
expect's match ended, like pexpect) and is woken by a condition variable as
data arrives.  Searches are incremental: on each wake only the region a new
match could involve is searched again (see ``_Search``), so waiting for a
marker at the end of megabytes of output stays linear.

Fail patterns ("death strings", as in tbot: kernel panic, a qvm fatal banner)
are scanned by the reader as data arrives, across chunk boundaries; a hit is
kept in ``failures`` and raised as ``FailPatternSeen`` by the waiting (or next)
expect.

Memory is bounded: only the last ``memory`` bytes of the stream (default
``DEFAULT_MEMORY``, 32 MiB; ``HIL_CONSOLE_MEMORY_MB`` or ``memory=``) and their
text are kept in memory, in whole ~64 K blocks; every byte is in the log file.
An ``expect`` that is waiting while a flood goes by keeps what it has not
searched yet: before dropping text a waiting expect has not searched, the
reader searches it on the expect's behalf, so a marker arriving during or
after a flood is found (a match found so is kept, up to 2x the bound; beyond
that the expect is an ``InfrastructureError`` saying so).
The peak RSS grows by less than 5x the bound plus 32 MiB (measured, a 200 to
600 MB flood with the default bound: +97 to +150 MB, where it grew by twice the
flood before).  A pattern
that can span lines with no bound on its length matches within the last
``memory / 2`` characters.  A ``Mark`` older than what is kept (``expect``,
``not_matching``, ``data``) is a ``SetupError`` saying so and naming the log
file; ``since``/``text`` return what is kept, after a note.

Offsets: a ``Mark`` is a byte offset into the session's byte stream.  Text is
decoded with ``errors="surrogateescape"`` internally, which keeps the byte <->
text mapping exact even for invalid bytes; everything handed out as text
(``since``, ``text``, ``ConsoleMatch.text``, messages) has those replaced by
U+FFFD as with ``errors="replace"``.
"""

from __future__ import annotations

import bisect
import codecs
import functools
import os
import re
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, BinaryIO, Union

from hil.core.deadline import Deadline
from hil.core.errors import ExpectTimeout, FailPatternSeen, InfrastructureError, SetupError, TransportClosed
from hil.links.transports import Transport, open_transport

__all__ = ["Mark", "ConsoleMatch", "Failure", "Console", "PatternLike"]

PatternLike = Union[str, "re.Pattern[str]"]

_INF = float("inf")
_TAIL_LINES = 20


@dataclass(frozen=True, order=True)
class Mark:
    """A position in a console session: ``offset`` bytes from its start."""

    offset: int


@dataclass
class ConsoleMatch:
    """What ``expect`` found.

    ``pattern`` is the pattern's source, ``index`` its position in the list
    passed to ``expect``, ``text`` the matched text and ``start``/``end`` where
    it lies in the byte stream.  ``match`` is the ``re.Match``; its positions are
    relative to an internal search window, so use ``start``/``end`` for offsets.
    """

    pattern: str
    index: int
    match: re.Match[str]
    text: str
    end: Mark
    start: Mark = Mark(0)


@dataclass(frozen=True)
class Failure:
    """A fail pattern seen in the stream: which pattern, the line it is on, and where."""

    pattern: str
    line: str
    start: Mark
    end: Mark
    console: str = "console"

    def __str__(self) -> str:
        return f"{self.console}: fail pattern {self.pattern!r} seen at byte {self.start.offset}: {self.line!r}"

    def error(self, log_path: Path | None = None) -> FailPatternSeen:
        """The ``FailPatternSeen`` to raise for this failure."""
        where = f"; log: {log_path}" if log_path else ""
        return FailPatternSeen(str(self) + where)


# --------------------------------------------------------------------------- pattern analysis


@dataclass(frozen=True)
class _Reach:
    """How far a pattern's match attempt can look (for incremental search).

    ``width``: most characters an attempt examines after its start (lookaheads
    included), ``inf`` if unbounded.  ``behind``: most characters examined before
    its start (lookbehinds).  ``newline``: whether any part can match ``\\n``.
    """

    width: float
    behind: int
    newline: bool


_UNKNOWN = _Reach(_INF, 0, True)


def _set_has_newline(items: list[tuple[Any, Any]]) -> bool:
    from re import _constants as c  # type: ignore[attr-defined]

    negate = False
    hit = False
    for op, av in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            hit = hit or av == 10
        elif op is c.RANGE:
            lo, hi = av
            hit = hit or lo <= 10 <= hi
        elif op is c.CATEGORY:
            hit = hit or av in (c.CATEGORY_SPACE, c.CATEGORY_NOT_DIGIT, c.CATEGORY_NOT_WORD, c.CATEGORY_LINEBREAK)
        else:
            return True  # unknown: assume it can
    return hit != negate


def _walk(items: Any, flags: int) -> tuple[float, int, bool]:
    """(width, behind, newline) of a parsed (sub)pattern; conservative on anything unknown."""
    from re import _constants as c  # type: ignore[attr-defined]

    width: float = 0
    behind = 0
    newline = False
    w: float
    b: int
    n: bool
    for op, av in items:
        if op is c.LITERAL:
            w, b, n = 1, 0, av == 10
        elif op is c.NOT_LITERAL:
            w, b, n = 1, 0, av != 10
        elif op is c.ANY:
            w, b, n = 1, 0, bool(flags & re.DOTALL)
        elif op is c.IN:
            w, b, n = 1, 0, _set_has_newline(av)
        elif op is c.AT:
            w, b, n = 0, 0, False
        elif op is c.SUBPATTERN:
            _group, add, delete, sub = av
            w, b, n = _walk(sub, (flags | add) & ~delete)
        elif op is c.ATOMIC_GROUP:
            w, b, n = _walk(av, flags)
        elif op is c.BRANCH:
            w, b, n = 0, 0, False
            for alt in av[1]:
                aw, ab, an = _walk(alt, flags)
                w, b, n = max(w, aw), max(b, ab), n or an
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            sw, sb, n = _walk(sub, flags)
            if hi == 0 or sw == 0:
                w = 0
            else:
                w = _INF if (hi == c.MAXREPEAT or sw == _INF) else sw * hi
            b = sb
        elif op in (c.ASSERT, c.ASSERT_NOT):
            direction, sub = av
            sw, sb, n = _walk(sub, flags)
            if sw == _INF:
                return _INF, 0, True
            if direction < 0:  # lookbehind: examines characters before the position
                w, b = 0, int(sw) + sb
            else:  # lookahead: examines characters after it without consuming them
                w, b = sw, sb
        elif op is c.GROUPREF_EXISTS:
            _group, yes, no = av
            w, b, n = _walk(yes, flags)
            if no is not None:
                nw, nb, nn = _walk(no, flags)
                w, b, n = max(w, nw), max(b, nb), n or nn
        else:  # GROUPREF and anything newer: no bound
            return _INF, 0, True
        # A lookbehind deep inside can reach back past the attempt's start by at most its own width.
        behind = max(behind, b)
        width += w
        newline = newline or n
    return width, behind, newline


@functools.lru_cache(maxsize=512)
def _reach(pattern: str, flags: int) -> _Reach:
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
        width, behind, newline = _walk(parsed, parsed.state.flags)
    except Exception:  # noqa: BLE001 - private module changed: fall back to full searches
        return _UNKNOWN
    return _Reach(width, behind, newline)


# --------------------------------------------------------------------------- text storage


class _TextStore:
    """The decoded session text, append-only, sliceable without re-joining everything.

    Pieces are appended as they come; every ~64 K characters the open pieces
    are sealed into one block.  ``slice(a, b)`` joins only the pieces it needs.
    """

    SEAL = 1 << 16

    def __init__(self) -> None:
        self.length = 0
        self.first = 0  # text before this was dropped (``drop_before``)
        self._blocks: list[str] = []
        self._block_starts: list[int] = []
        self._open: list[str] = []
        self._open_starts: list[int] = []
        self._open_len = 0

    def append(self, piece: str) -> None:
        if not piece:
            return
        self._open.append(piece)
        self._open_starts.append(self.length)
        self.length += len(piece)
        self._open_len += len(piece)
        if self._open_len >= self.SEAL:
            self._block_starts.append(self._open_starts[0])
            self._blocks.append("".join(self._open))
            self._open, self._open_starts, self._open_len = [], [], 0

    def floor(self, t: int) -> int:
        """The start of the sealed block holding position ``t`` (where ``drop_before`` can cut)."""
        if not self._blocks or t < self._block_starts[0]:
            return self.first
        open_start = self._open_starts[0] if self._open else self.length
        if t >= open_start:
            return open_start
        return self._block_starts[bisect.bisect_right(self._block_starts, t) - 1]

    def drop_before(self, t: int) -> None:
        """Forget the sealed blocks before ``t`` (a ``floor`` value)."""
        k = bisect.bisect_left(self._block_starts, t)
        del self._blocks[:k], self._block_starts[:k]
        self.first = t

    def slice(self, a: int, b: int | None = None) -> str:
        """``text[a:b]``, copying only the pieces that overlap it (nothing before ``first``)."""
        b = self.length if b is None else min(b, self.length)
        a = max(self.first, a)
        if a >= b:
            return ""
        open_start = self._open_starts[0] if self._open else self.length
        parts: list[str]
        if a < open_start:
            i = bisect.bisect_right(self._block_starts, a) - 1
            first = self._block_starts[i]
            k = bisect.bisect_left(self._block_starts, b, lo=i + 1)
            parts = self._blocks[i:k]
            if b > open_start:
                parts.extend(self._open[: bisect.bisect_left(self._open_starts, b)])
        else:
            j = bisect.bisect_right(self._open_starts, a) - 1
            first = self._open_starts[j]
            parts = self._open[j : bisect.bisect_left(self._open_starts, b)]
        if len(parts) == 1:
            return parts[0][a - first : b - first]
        parts[0] = parts[0][a - first :]
        return "".join(parts)[: b - a]


class _OffsetMap:
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
        self._pure = [pure] + self._pure[i + 1 :]
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

    def text_to_byte(self, t: int, store: _TextStore) -> int:
        if not self._pure or t <= 0:
            return 0
        t = min(t, self.text_end)
        i = bisect.bisect_right(self._text, t) - 1
        ts, bs = self._text[i], self._bytes[i]
        if self._pure[i]:
            return bs + (t - ts)
        return bs + len(store.slice(ts, t).encode(self.encoding, "surrogateescape"))

    def byte_to_text(self, b: int, data: bytearray) -> int:
        if not self._pure or b <= 0:
            return 0
        if b >= self.byte_end:
            return self.text_end
        i = bisect.bisect_right(self._bytes, b) - 1
        ts, bs = self._text[i], self._bytes[i]
        if self._pure[i]:
            return ts + (b - bs)
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="surrogateescape")
        return ts + len(decoder.decode(bytes(data[bs - self.byte_base : b - self.byte_base]), final=False))


# --------------------------------------------------------------------------- incremental search


class _Search:
    """The leftmost match of one pattern in the text from ``start`` on, found incrementally.

    After a search of ``text[start:end]`` found nothing, a match that appears
    once more text arrives must examine some character at or after ``end``.  So
    the next search can begin at ``end - width - 1`` for patterns of bounded
    width (lookaheads counted), or at the last newline before ``end`` for
    patterns that cannot match a newline at all.  Only patterns that are both
    unbounded and able to span lines are searched again from ``start``
    (``max_lookback`` caps how far back any search goes: used for fail patterns).  A margin of
    ``behind + 1`` characters before the resumed position keeps lookbehinds,
    ``\\b`` and ``^`` (MULTILINE) exact; ``^`` without MULTILINE matches at
    ``start`` only.
    """

    def __init__(self, rx: re.Pattern[str], start: int, max_lookback: int | None = None) -> None:
        self.rx = rx
        self.start = start  # the searched string begins here (``^``, ``\A``)
        self.floor = start  # no match starts before this
        self.scanned: int | None = None  # text end of the last fruitless search
        self.last_newline = -1
        self.reach = _reach(rx.pattern, rx.flags)
        self.max_lookback = max_lookback
        self.strict = False  # expect: text it still needs must not have been dropped
        self.hit: tuple[re.Match[str], int] | None = None  # found (by the waiting expect or by the reader)
        self.lock = threading.Lock()  # held while a search runs: by the expect's thread or the reader's

    def _resume(self) -> int:
        if self.scanned is None:
            return self.floor
        reach = self.reach
        if reach.width != _INF:
            s = self.scanned - int(reach.width) - 1
        elif not reach.newline:
            s = self.last_newline - 1 if self.last_newline >= self.floor else self.floor
        else:
            s = self.floor
        if self.max_lookback is not None:
            s = max(s, self.scanned - self.max_lookback)
        return max(self.floor, s)

    def needed(self) -> int:
        """The first text position the next search reads (text before it may be dropped)."""
        if self.hit is not None:
            return self.hit[1] + self.hit[0].start()
        resume = self._resume()
        return self.start if resume == self.start else max(self.start, resume - self.reach.behind - 1)

    def prepare(self, store: _TextStore, end: int) -> tuple[str, int, int] | None:
        """The window to search up to ``end`` as (text, base, pos); ``None`` if nothing new (lock held).

        Text dropped from memory (before ``store.first``) is skipped, or ``_Overrun`` if ``strict``."""
        if self.scanned is not None and self.scanned >= end:
            return None
        resume = self._resume()
        base = self.needed()
        if base < store.first:
            if self.strict:
                raise _Overrun(base, store.first)
            base, resume = store.first, max(resume, store.first)
        return store.slice(base, end), base, resume - base

    def run(self, window: str, base: int, pos: int) -> tuple[re.Match[str], int] | None:
        """Search a prepared window (no lock needed); (match, base) or ``None``."""
        m = self.rx.search(window, pos)
        if m is not None:
            return m, base
        old = self.scanned if self.scanned is not None else self.floor
        nl = window.rfind("\n", max(0, old - base))
        if nl >= 0:
            self.last_newline = max(self.last_newline, base + nl)
        self.scanned = max(old, base + len(window))  # never back: the reader may have searched further
        return None

    def search(self, store: _TextStore, end: int) -> tuple[re.Match[str], int] | None:
        """``prepare`` and ``run`` in one (lock held)."""
        prepared = self.prepare(store, end)
        return None if prepared is None else self.run(*prepared)

    def restart_after(self, end: int) -> None:
        """Continue past a match ending at ``end`` (fail patterns report every hit)."""
        self.floor = end
        self.scanned = None
        self.last_newline = -1


class _Overrun(Exception):
    """A search needs text that was dropped from memory."""

    def __init__(self, needed: int, first: int) -> None:
        super().__init__(needed, first)
        self.needed, self.first = needed, first


# --------------------------------------------------------------------------- the console


def _default_memory() -> int:
    value = os.environ.get("HIL_CONSOLE_MEMORY_MB", "")
    try:
        return max(1, int(value)) << 20 if value else Console.DEFAULT_MEMORY
    except ValueError:
        raise SetupError(f"HIL_CONSOLE_MEMORY_MB={value!r} is not a whole number of MiB; "
                         f"set it to e.g. 32 or unset it") from None


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c not in (9,)}
_CONTROL[127] = "\\x7f"


def _printable(line: str) -> str:
    """A console line with escapes for control characters (ANSI colours etc.)."""
    return line.translate(_CONTROL)


def _compile(pattern: PatternLike) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        if not isinstance(pattern.pattern, str):
            raise SetupError(f"console patterns must be text, not bytes: {pattern.pattern!r}")
        return pattern
    if not isinstance(pattern, str):
        raise SetupError(
            f"console pattern must be a str or compiled str regex, got {type(pattern).__name__}: {pattern!r}"
        )
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise SetupError(f"invalid regular expression {pattern!r}: {exc}") from exc


def _compile_list(patterns: PatternLike | Sequence[PatternLike]) -> list[re.Pattern[str]]:
    if isinstance(patterns, (str, re.Pattern)):
        return [_compile(patterns)]
    result = [_compile(p) for p in patterns]
    if not result:
        raise SetupError("expect() needs at least one pattern, got an empty list")
    return result


@dataclass
class _FailWatch:
    rx: re.Pattern[str]
    search: _Search


class Console:
    """A console session over a transport: captured, logged, searchable.

    ``log_path``: file every received byte is appended to (``None``: no log).
    ``name``: used in messages.  ``fail_patterns``: regexes that fail the test
    wherever they appear (from the start of the session).  ``reconnect``: on
    a dropped transport, keep trying to reopen it (0.05 s backoff rising to
    1 s) until ``close()``.  ``newline``: what ``sendline`` appends.
    """

    READ_CHUNK = 1 << 16
    READ_TIMEOUT = 0.2  # the reader's wait per read; close() interrupts it anyway
    WRITE_RECONNECT_WAIT = 5.0  # how long write() waits for a dropped console to come back
    FAIL_LOOKBACK = 1 << 13  # unbounded multi-line fail patterns match within this many characters
    MAX_FAILURES = 1000
    DEFAULT_MEMORY = 32 << 20  # bytes of the stream kept in memory (the log file has everything)
    PIN_FACTOR = 2  # a waiting expect keeps unsearched text up to this many times ``memory``

    def __init__(
        self,
        transport: Transport,
        log_path: Path | None = None,
        name: str = "console",
        fail_patterns: Sequence[PatternLike] = (),
        reconnect: bool = True,
        encoding: str = "utf-8",
        newline: str = "\n",
        memory: int | None = None,
    ) -> None:
        codecs.lookup(encoding)  # LookupError now rather than in the reader thread
        self.transport = transport
        self.log_path = Path(log_path) if log_path is not None else None
        self.name = name
        self.encoding = encoding
        self.newline = newline
        self.reconnect = reconnect
        self._cond = threading.Condition(threading.Lock())
        self._write_lock = threading.Lock()
        self._data = bytearray()  # the stream from byte ``_base`` on
        self._base = 0
        self.memory = max(1 << 16, memory if memory is not None else _default_memory())
        self._active: list[_Search] = []  # searches of waiting expects: what they still need is kept
        self._store = _TextStore()
        self._map = _OffsetMap(encoding)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        self._watches: dict[str, _FailWatch] = {}
        self._failures: list[Failure] = []
        self._reported: set[int] = set()
        self._pos = Mark(0)
        self._started = False
        self._closed = False
        self._ended = False  # the reader stopped: no more data will come
        self._end_reason = ""
        self._connected = False
        self._lost_at: float | None = None
        self._lost_reason = ""
        self._reconnects = 0
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._log: BinaryIO | None = None
        self._log_last = b"\n"
        if isinstance(fail_patterns, (str, re.Pattern)):
            fail_patterns = [fail_patterns]
        for pattern in fail_patterns:
            self.add_fail_pattern(pattern)

    @classmethod
    def for_url(cls, url: str, baudrate: int = 115200, **kwargs: Any) -> Console:
        """A console (not started) on ``open_transport(url, baudrate)``; ``kwargs`` as for ``Console``."""
        return cls(open_transport(url, baudrate), **kwargs)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Console:
        """Open the log and the transport and start the reader thread."""
        if self._closed:
            raise SetupError(f"console '{self.name}' was closed; create a new Console")
        if self._started:
            return self
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        try:
            self.transport.open()
        except BaseException:
            if self._log is not None:
                self._log.close()
                self._log = None
            raise
        self._connected = True
        self._started = True
        self._reader = threading.Thread(target=self._run, name=f"hil-console-{self.name}", daemon=True)
        self._reader.start()
        return self

    def close(self) -> None:
        """Stop the reader, close the transport and the log (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        self._close_transport()
        if self._reader is not None:
            self._reader.join(timeout=10)
            self._close_transport()  # in case a reconnect reopened it meanwhile
        with self._cond:
            self._ended = True
            self._connected = False
            self._end_reason = self._end_reason or "closed by close()"
            self._cond.notify_all()
        if self._log is not None:
            self._log.close()

    def _close_transport(self) -> None:
        try:
            self.transport.close()
        except Exception:  # noqa: BLE001 - closing; nothing useful to do
            pass

    def __enter__(self) -> Console:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self._connected else ("closed" if self._closed else "disconnected")
        return f"Console({self.name!r}, {self.transport.description!r}, {state}, {self._total} bytes)"

    # ------------------------------------------------------------------ the reader thread

    def _run(self) -> None:
        reason = "reader stopped"
        try:
            while not self._stop.is_set():
                try:
                    data = self.transport.read(self.READ_CHUNK, self.READ_TIMEOUT)
                except (InfrastructureError, OSError) as exc:
                    if self._stop.is_set():
                        break
                    if not self.reconnect or not getattr(self.transport, "can_reconnect", True):
                        reason = f"{self.transport.description} closed: {exc}"
                        break
                    if not self._reconnect_after(exc):
                        break
                    continue
                if data:
                    self._feed(data)
        except BaseException as exc:  # noqa: BLE001 - reported to every expect
            reason = f"console reader failed: {type(exc).__name__}: {exc}"
        finally:
            with self._cond:
                self._ended = True
                self._connected = False
                if not self._end_reason:
                    self._end_reason = "closed by close()" if self._stop.is_set() else reason
                self._cond.notify_all()

    def _log_write(self, data: bytes) -> None:
        log = self._log
        if log is None or not data:
            return
        view = memoryview(data)
        while view:
            written = log.write(view)
            view = view[written or 0 :]
        self._log_last = data[-1:]

    def _feed(self, data: bytes) -> None:
        self._log_write(data)
        with self._cond:
            self._data += data
            text = self._decoder.decode(data)
            pending = len(self._decoder.getstate()[0])
            consumed = self._total - pending
            self._map.add(len(text), consumed - self._map.byte_end)
            if text:
                self._store.append(text)
                self._scan_failures()
            if len(self._data) > self.memory:
                self._trim()
            self._cond.notify_all()

    @property
    def _total(self) -> int:
        """Bytes received in the whole session (lock held)."""
        return self._base + len(self._data)

    def _trim(self) -> None:
        """Drop the oldest data, keeping about 3/4 of ``memory`` and what waiting expects still need (lock held)."""
        keep_from = self._map.byte_to_text(max(self._base, self._total - self.memory * 3 // 4), self._data)
        cut = self._store.floor(keep_from)
        for search in self._active:  # a waiting expect that is behind: search for it now, before the text goes
            if search.hit is None and search.needed() < cut:
                search.lock.acquire()  # its expect may be running it now (without our lock: no deadlock)
                try:
                    prepared = search.prepare(self._store, self._store.length)
                    if prepared is not None and search.hit is None:
                        search.hit = search.run(*prepared)
                except _Overrun:
                    pass  # already too late: its expect says so
                finally:
                    search.lock.release()
        pinned = min((n for n in (s.needed() for s in self._active) if n >= self._store.first), default=keep_from)
        if pinned < keep_from and self._total - self._map.text_to_byte(pinned, self._store) \
                <= self.PIN_FACTOR * self.memory:
            keep_from = pinned
        cut = self._store.floor(keep_from)
        if cut <= self._store.first:
            return
        cut_byte = self._map.text_to_byte(cut, self._store)
        self._store.drop_before(cut)
        self._map.rebase(cut, cut_byte)
        del self._data[: cut_byte - self._base]
        self._base = cut_byte

    def _too_old(self, mark: Mark, what: str) -> SetupError:
        log = f"the full log is {self.log_path}" if self.log_path else "no log file keeps them (pass log_path=)"
        return SetupError(
            f"console '{self.name}': cannot {what} from byte {mark.offset}: only bytes from {self._base} on are "
            f"kept in memory (the last {self.memory >> 20 or 1} MiB: memory= or HIL_CONSOLE_MEMORY_MB); {log}. "
            f"Take the mark (console.mark()) just before the output in question, or raise the bound")

    def _reconnect_after(self, exc: BaseException) -> bool:
        lost_wall, lost = time.time(), time.monotonic()
        with self._cond:
            self._connected = False
            self._lost_at = lost_wall
            self._lost_reason = str(exc)
            self._cond.notify_all()
        self._close_transport()
        delay = 0.05
        while not self._stop.wait(delay):
            delay = min(1.0, delay * 2)
            try:
                with self._write_lock:
                    if self._stop.is_set():
                        return False
                    self.transport.open()
            except (InfrastructureError, OSError):
                continue
            gap = time.monotonic() - lost
            note = f"[hil: console lost at {_utc(lost_wall)}, reconnected after {gap:.2f} s]\n".encode()
            self._log_write((b"" if self._log_last == b"\n" else b"\n") + note)
            with self._cond:
                self._connected = True
                self._lost_at = None
                self._reconnects += 1
                self._cond.notify_all()
            return True
        return False

    # ------------------------------------------------------------------ fail patterns

    def add_fail_pattern(self, pattern: PatternLike, since: Mark | None = None) -> None:
        """Fail on ``pattern`` wherever it appears from ``since`` (default: the session start)."""
        rx = _compile(pattern)
        with self._cond:
            if rx.pattern in self._watches:
                return
            start = self._map.byte_to_text(max(since.offset, self._base), self._data) if since else self._store.first
            self._watches[rx.pattern] = _FailWatch(rx, _Search(rx, start, max_lookback=self.FAIL_LOOKBACK))
            self._scan_failures()
            self._cond.notify_all()

    def remove_fail_pattern(self, pattern: PatternLike) -> None:
        """Stop watching ``pattern`` (failures already seen stay in ``failures``)."""
        source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        with self._cond:
            self._watches.pop(str(source), None)

    @property
    def fail_patterns(self) -> list[str]:
        with self._cond:
            return list(self._watches)

    def _scan_failures(self) -> None:
        """Find new fail-pattern hits (caller holds the lock)."""
        end = self._store.length
        for source, watch in self._watches.items():
            while len(self._failures) < self.MAX_FAILURES:
                found = watch.search.search(self._store, end)
                if found is None:
                    break
                m, base = found
                a, b = base + m.start(), base + m.end()
                watch.search.restart_after(b if b > a else b + 1)
                self._failures.append(
                    Failure(
                        pattern=source,
                        line=self._line_at(a, b),
                        start=Mark(self._map.text_to_byte(a, self._store)),
                        end=Mark(self._map.text_to_byte(b, self._store)),
                        console=self.name,
                    )
                )

    def _line_at(self, a: int, b: int) -> str:
        around = self._store.slice(max(self._store.first, a - 500), min(self._store.length, b + 500))
        lo = a - max(self._store.first, a - 500)
        first = around.rfind("\n", 0, lo) + 1
        last = around.find("\n", lo + (b - a))
        line = around[first : last if last >= 0 else None].strip("\r\n")
        return self._clean(line)

    @property
    def failures(self) -> list[Failure]:
        """Every fail-pattern hit so far (a copy)."""
        with self._cond:
            return list(self._failures)

    def failures_since(self, mark: Mark) -> list[Failure]:
        """Fail-pattern hits that end after ``mark`` (a test's own slice)."""
        return [f for f in self.failures if f.end.offset > mark.offset]

    def take_failures(self) -> list[Failure]:
        """The failures no expect has raised yet, now marked as raised (for a plugin's after-test check)."""
        with self._cond:
            fresh = [f for i, f in enumerate(self._failures) if i not in self._reported]
            self._reported.update(range(len(self._failures)))
            return fresh

    def _take_failure(self, upto: int | None) -> Failure | None:
        """The first unreported failure ending at or before byte ``upto`` (any if None); marks it reported."""
        for i, failure in enumerate(self._failures):
            if i not in self._reported and (upto is None or failure.end.offset <= upto):
                self._reported.add(i)
                return failure
        return None

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes | str) -> None:
        """Send bytes (str is encoded); waits briefly for a dropped console to reconnect."""
        if isinstance(data, str):
            data = data.encode(self.encoding)
        with self._cond:
            if not self._started:
                raise SetupError(f"console '{self.name}' is not started; call start() or use it in a with block")
            self._cond.wait_for(lambda: self._connected or self._ended, self.WRITE_RECONNECT_WAIT)
            if self._ended:
                raise InfrastructureError(f"cannot write to console '{self.name}': {self._end_reason}")
            if not self._connected:
                raise InfrastructureError(
                    f"cannot write to console '{self.name}' ({self.transport.description}): disconnected "
                    f"for more than {self.WRITE_RECONNECT_WAIT:.0f} s ({self._lost_reason})"
                )
        with self._write_lock:
            try:
                self.transport.write(data)
            except (TransportClosed, OSError) as exc:
                raise InfrastructureError(
                    f"writing to console '{self.name}' ({self.transport.description}) failed: {exc}"
                ) from exc

    def sendline(self, line: str = "") -> None:
        """Send ``line`` and the newline (``newline``, default ``"\\n"``)."""
        self.write(line + self.newline)

    # ------------------------------------------------------------------ reading

    def _clean(self, text: str) -> str:
        """Internal text (surrogate-escaped) as handed out (U+FFFD for undecodable bytes)."""
        if text.isascii():
            return text
        return text.encode(self.encoding, "surrogateescape").decode(self.encoding, "replace")

    def mark(self) -> Mark:
        """The current end of the stream."""
        with self._cond:
            return Mark(self._total)

    def since(self, mark: Mark, until: Mark | None = None) -> str:
        """The text received from ``mark`` (to ``until``, default: now); bytes no longer kept in
        memory are replaced by a note naming the log file."""
        note = ""
        with self._cond:
            start = max(mark.offset, self._base)
            if start > mark.offset:
                where = f"; all of it is in {self.log_path}" if self.log_path else ""
                note = (f"[hil: {start - mark.offset} bytes from byte {mark.offset} on are not kept in memory "
                        f"(the last {self.memory} bytes are){where}]\n")
            chunk = bytes(self._data[start - self._base : None if until is None else max(0, until.offset - self._base)])
        return note + chunk.decode(self.encoding, "replace")

    def text(self) -> str:
        """The whole session's text."""
        return self.since(Mark(0))

    def data(self, mark: Mark = Mark(0), until: Mark | None = None) -> bytes:
        """The raw bytes received from ``mark`` (to ``until``)."""
        with self._cond:
            if mark.offset < self._base:
                raise self._too_old(mark, "return the bytes")
            return bytes(self._data[mark.offset - self._base : None if until is None else until.offset - self._base])

    @property
    def bytes_received(self) -> int:
        with self._cond:
            return self._total

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def reconnects(self) -> int:
        """How often the transport was reopened after a drop."""
        return self._reconnects

    @property
    def position(self) -> Mark:
        """Where the next ``expect`` searches from by default (the previous match's end)."""
        return self._pos

    # ------------------------------------------------------------------ expect

    def expect(
        self,
        pattern: PatternLike | Sequence[PatternLike],
        timeout: float | Deadline,
        since: Mark | None = None,
    ) -> ConsoleMatch:
        """Wait for the first of ``pattern`` (one or a list) to appear after ``since``.

        Returns the match that starts earliest (the lowest index on a tie).
        Raises ``ExpectTimeout`` (tail of the console and log path in the
        message), ``FailPatternSeen`` if a fail pattern appeared, and
        ``InfrastructureError`` if the console closed for good.
        """
        rxs = _compile_list(pattern)
        found = self._wait(rxs, timeout, since, need_all=False)
        return found[0]

    def expect_all(
        self,
        patterns: Sequence[PatternLike],
        timeout: float | Deadline,
        since: Mark | None = None,
    ) -> list[ConsoleMatch]:
        """Wait until every pattern has appeared after ``since``, in any order; matches in pattern order."""
        rxs = _compile_list(patterns)
        return self._wait(rxs, timeout, since, need_all=True)

    def _wait(
        self,
        rxs: list[re.Pattern[str]],
        timeout: float | Deadline,
        since: Mark | None,
        need_all: bool,
    ) -> list[ConsoleMatch]:
        deadline = timeout if isinstance(timeout, Deadline) else Deadline.after(timeout, "expect")
        seconds = timeout.remaining() if isinstance(timeout, Deadline) else timeout
        with self._cond:
            if not self._started:
                raise SetupError(f"console '{self.name}' is not started; call start() or use it in a with block")
            origin = since if since is not None else self._pos
            if origin.offset < self._base:
                raise self._too_old(origin, "expect")
            start = self._map.byte_to_text(origin.offset, self._data)
            searches = [_Search(rx, start, max_lookback=self.memory // 2) for rx in rxs]
            for search in searches:
                search.strict = True
            self._active.extend(searches)
        try:
            return self._wait_searching(rxs, searches, deadline, seconds, origin, need_all)
        except _Overrun as exc:
            raise InfrastructureError(
                f"console '{self.name}': expect fell behind a flood of output: text from character {exc.needed} "
                f"on was dropped from memory (kept from {exc.first}; bound {self.memory} bytes, "
                f"{self.PIN_FACTOR}x for a waiting expect); full log: {self.log_path}") from None
        finally:
            with self._cond:
                self._active = [s for s in self._active if s not in searches]

    def _wait_searching(self, rxs: list[re.Pattern[str]], searches: list[_Search], deadline: Deadline,
                        seconds: float, origin: Mark, need_all: bool) -> list[ConsoleMatch]:
        found: dict[int, tuple[re.Match[str], int]] = {}
        searched_to = -1  # text end covered by the last search
        searched_at = -_INF  # when the last search started
        next_search = 0.0  # duty-cycle limit: see below
        while True:
            with self._cond:
                end = self._store.length
                now = time.monotonic()
                due = end != searched_to and (now >= next_search or self._ended or deadline.expired)
                windows = {i: None if s.hit is not None else s.prepare(self._store, end)
                           for i, s in enumerate(searches) if due and i not in found}
            if due:
                for i, prepared in windows.items():  # the regex runs without the lock: the reader keeps going
                    search = searches[i]
                    with search.lock:
                        if search.hit is None and prepared is not None:
                            search.hit = search.run(*prepared)
                        if search.hit is not None:
                            found[i] = search.hit
                took = time.monotonic() - now
                searched_to, searched_at = end, now
                # A search that has to go over a long stretch again (an unbounded pattern that can span
                # lines, over megabytes) may take milliseconds; then wait 4x as long before the next,
                # so searching never takes more than ~20% of the time the reader needs.
                next_search = now + 5 * took if took > 0.001 else 0.0
            with self._cond:
                done = len(found) == len(rxs) if need_all else bool(found)
                if done:
                    matches = self._matches(rxs, found, need_all)
                    upto = max(m.end.offset for m in matches)
                    failure = self._take_failure(upto)
                    if failure is not None:
                        raise failure.error(self.log_path)
                    self._pos = Mark(upto)
                    return matches
                failure = self._take_failure(None)
                if failure is not None:
                    raise failure.error(self.log_path)
                unsearched = self._store.length != searched_to
                if self._ended and not unsearched:
                    raise InfrastructureError(self._timeout_message(rxs, found, seconds, origin, ended=True))
                if deadline.expired and (searched_at >= deadline.at or not unsearched):
                    raise ExpectTimeout(self._timeout_message(rxs, found, seconds, origin, ended=False))
                now = time.monotonic()
                if unsearched:
                    if now >= next_search or self._ended or deadline.expired:
                        continue
                    self._cond.wait(min(next_search, deadline.at) - now)
                else:
                    self._cond.wait(None if deadline.at == _INF else deadline.at - now)

    def _matches(
        self, rxs: list[re.Pattern[str]], found: dict[int, tuple[re.Match[str], int]], need_all: bool
    ) -> list[ConsoleMatch]:
        order = sorted(found) if need_all else [min(found, key=lambda i: (found[i][1] + found[i][0].start(), i))]
        result = []
        for i in order:
            m, base = found[i]
            result.append(
                ConsoleMatch(
                    pattern=rxs[i].pattern,
                    index=i,
                    match=m,
                    text=self._clean(m.group(0)),
                    end=Mark(self._map.text_to_byte(base + m.end(), self._store)),
                    start=Mark(self._map.text_to_byte(base + m.start(), self._store)),
                )
            )
        return result

    def _tail(self, lines: int = _TAIL_LINES) -> list[str]:
        chunk = bytes(self._data[-200 * lines :]).decode(self.encoding, "replace")
        return [_printable(line.rstrip("\r"))[:300] for line in chunk.split("\n")[-lines:]]

    def _timeout_message(
        self,
        rxs: list[re.Pattern[str]],
        found: dict[int, tuple[re.Match[str], int]],
        seconds: float,
        origin: Mark,
        ended: bool,
    ) -> str:
        """What the user needs to see: which patterns, the console's state, its tail, the log (lock held)."""
        names = [rx.pattern for rx in rxs]
        if len(names) == 1:
            wanted = repr(names[0])
        elif found:
            missing = [n for i, n in enumerate(names) if i not in found]
            wanted = f"all of {names!r}; still missing {missing!r}"
        else:
            wanted = "any of " + repr(names)
        where = f"console '{self.name}' ({self.transport.description})"
        if ended:
            head = f"{where} closed before {wanted} appeared: {self._end_reason}"
        else:
            head = f"{where}: {wanted} did not appear within {seconds:.1f} s"
        got = self._total - origin.offset
        lines = [head, f"searched from byte {origin.offset}; {got} bytes arrived after it ({self._total} in total)"]
        if not ended and not self._connected and self._lost_at is not None:
            lines.append(
                f"the console is DISCONNECTED since {_utc(self._lost_at)} ({self._lost_reason}); still reconnecting"
            )
        tail = self._tail()
        if any(tail):
            lines.append(f"last {len(tail)} lines of the console:")
            lines.extend(f"  | {line}" for line in tail)
        else:
            lines.append("nothing was received on the console at all")
        lines.append(f"full log: {self.log_path}" if self.log_path else "no log file (pass log_path= to keep one)")
        return "\n".join(lines)

    def not_matching(self, pattern: PatternLike, since: Mark | None = None) -> None:
        """Assert ``pattern`` does not appear after ``since`` (default: anywhere in the session)."""
        rx = _compile(pattern)
        origin = since if since is not None else Mark(0)
        with self._cond:
            if origin.offset < self._base:
                raise self._too_old(origin, "check for absence")
            start = self._map.byte_to_text(origin.offset, self._data)
            hit = _Search(rx, start).search(self._store, self._store.length)
            if hit is None:
                return
            m, base = hit
            at = self._map.text_to_byte(base + m.start(), self._store)
            line = self._line_at(base + m.start(), base + m.end())
        raise AssertionError(
            f"console '{self.name}': {rx.pattern!r} appeared at byte {at} (searched from byte {origin.offset}): "
            f"{self._clean(m.group(0))!r} in line {_printable(line)!r}"
            + (f"; log: {self.log_path}" if self.log_path else "")
        )
