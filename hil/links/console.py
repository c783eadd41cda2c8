"""One console for every transport: the reader thread, the bounded capture, the log file, reconnects, writing.

A ``Console`` needs only a ``hil.links.transports.Transport`` (read and write bytes).
A background reader thread keeps every byte of the session:

* appended to the log file, flushed per chunk (a crash loses nothing), with a
  note such as ``[hil: console lost at ..., reconnected after 1.23 s]`` where
  the connection dropped (the note is in the log only, never in what is matched);
* appended to an in-memory byte buffer and decoded incrementally into text
  (``hil.links.capture``).

An ``expect`` that is waiting reads the transport itself (the reader thread
stands aside while one waits, and reads again within ``READER_PAUSE`` after
the last one returns): the data it waits for is received, captured, logged and
searched in its own thread, with no hand-over between threads, so a round trip
costs little more than the bare transport's (``bench/bench_console.py``).

Waiting for output is ``hil.links.expect`` (``expect``, ``expect_all``,
``not_matching``); fail patterns ("death strings") are
``hil.links.failpatterns``.  Both are mixed into ``Console``, whose names
(``Mark``, ``ConsoleMatch``, ``Failure``, ``PatternLike``) are importable from here.

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
"""

from __future__ import annotations

import codecs
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from hil.core.errors import InfrastructureError, SetupError, TransportClosed
from hil.links.capture import Mark, OffsetMap, TextStore, utc
from hil.links.expect import ConsoleMatch, Expecting
from hil.links.failpatterns import FailPatterns, Failure, FailWatch
from hil.links.regex_window import Overrun, PatternLike, Search
from hil.links.transports import Transport, open_transport

__all__ = ["Console", "ConsoleMatch", "Failure", "Mark", "PatternLike"]


def _default_memory() -> int:
    value = os.environ.get("HIL_CONSOLE_MEMORY_MB", "")
    try:
        return max(1, int(value)) << 20 if value else Console.DEFAULT_MEMORY
    except ValueError:
        raise SetupError(
            f"HIL_CONSOLE_MEMORY_MB={value!r} is not a whole number of MiB; set it to e.g. 32 or unset it"
        ) from None


class Console(Expecting, FailPatterns):
    """A console session over a transport: captured, logged, searchable.

    ``log_path``: file every received byte is appended to (``None``: no log).
    ``name``: used in messages.  ``fail_patterns``: regexes that fail the test
    wherever they appear (from the start of the session).  ``reconnect``: on
    a dropped transport, keep trying to reopen it (0.05 s backoff rising to
    1 s) until ``close()``.  ``newline``: what ``sendline`` appends.
    """

    READ_CHUNK = 1 << 16
    READ_TIMEOUT = 0.2  # the reader's wait per read; close() interrupts it anyway
    READER_PAUSE = 0.05  # how often the reader thread looks whether the expects that read for it are done
    WRITE_RECONNECT_WAIT = 5.0  # how long write() waits for a dropped console to come back
    DEFAULT_MEMORY = 32 << 20  # bytes of the stream kept in memory (the log file has everything)

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
        self._read_lock = threading.Lock()  # held while reading the transport and feeding what came
        self._readers = 0  # expects waiting now: they read the transport themselves (lock: _cond)
        self._reader_needed = False  # a waiting expect's read failed: the reader thread takes over
        self._data = bytearray()  # the stream from byte ``_base`` on
        self._base = 0
        self.memory = max(1 << 16, memory if memory is not None else _default_memory())
        self._active: list[Search] = []  # searches of waiting expects: what they still need is kept
        self._store = TextStore()
        self._map = OffsetMap(encoding)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        self._watches: dict[str, FailWatch] = {}
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
        self._listeners: list[Callable[[bytes], None]] = []
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
        except Exception:  # noqa: BLE001, S110
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
                if self._readers and not self._reader_needed:
                    self._stop.wait(self.READER_PAUSE)  # a waiting expect reads for itself
                    continue
                if not self._read_lock.acquire(timeout=self.READ_TIMEOUT):
                    continue
                try:
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
                        self._reader_needed = False
                        continue
                    self._reader_needed = False  # the transport works: waiting expects may read again
                    if data:
                        self._feed(data)
                finally:
                    self._read_lock.release()
        except BaseException as exc:  # noqa: BLE001 - reported to every expect
            reason = f"console reader failed: {type(exc).__name__}: {exc}"
        finally:
            with self._cond:
                self._ended = True
                self._connected = False
                if not self._end_reason:
                    self._end_reason = "closed by close()" if self._stop.is_set() else reason
                self._cond.notify_all()

    def _await_data(self, timeout: float, seen: int) -> None:
        """Wait up to ``timeout`` for text beyond ``seen`` (an expect's wait): read the transport in this
        thread when no one else is, else wait for the one who is (at most ``READ_TIMEOUT`` at a time)."""
        if (
            timeout > 0
            and self._connected
            and not self._reader_needed
            and not self._closed
            and self._read_lock.acquire(blocking=False)
        ):
            try:
                if self._connected and not self._closed:
                    try:
                        data = self.transport.read(self.READ_CHUNK, min(timeout, self.READ_TIMEOUT))
                    except (InfrastructureError, OSError):
                        data = b""
                        self._reader_needed = True  # the reader thread reconnects or ends the console
                    if data:
                        self._feed(data)
            finally:
                self._read_lock.release()
            return
        with self._cond:
            if self._store.length == seen and not self._ended:
                self._cond.wait(min(timeout, self.READ_TIMEOUT) if timeout > 0 else 0)

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
        for listener in tuple(self._listeners):  # live views (pytest --hil-console-live): never the reader's end
            try:
                listener(data)
            except Exception:  # noqa: BLE001, S110
                pass

    def add_listener(self, listener: Callable[[bytes], None]) -> None:
        """Call ``listener(chunk)`` from the reader thread with every chunk received from now on
        (after it is logged and captured); what it raises is ignored."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[bytes], None]) -> None:
        """Stop calling ``listener`` (no error when it was not added)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

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
                except Overrun:
                    pass  # already too late: its expect says so
                finally:
                    search.lock.release()
        pinned = min((n for n in (s.needed() for s in self._active) if n >= self._store.first), default=keep_from)
        if (
            pinned < keep_from
            and self._total - self._map.text_to_byte(pinned, self._store) <= self.PIN_FACTOR * self.memory
        ):
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
            f"Take the mark (console.mark()) just before the output in question, or raise the bound"
        )

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
            note = f"[hil: console lost at {utc(lost_wall)}, reconnected after {gap:.2f} s]\n".encode()
            self._log_write((b"" if self._log_last == b"\n" else b"\n") + note)
            with self._cond:
                self._connected = True
                self._lost_at = None
                self._reconnects += 1
                self._cond.notify_all()
            return True
        return False

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes | str) -> None:
        """Send bytes (str is encoded); waits briefly for a dropped console to reconnect."""
        if isinstance(data, str):
            data = data.encode(self.encoding)
        if not (self._started and self._connected and not self._ended):  # else no need to wait or check
            self._wait_writable()
        with self._write_lock:
            try:
                self.transport.write(data)
            except (TransportClosed, OSError) as exc:
                raise InfrastructureError(
                    f"writing to console '{self.name}' ({self.transport.description}) failed: {exc}"
                ) from exc

    def _wait_writable(self) -> None:
        """Wait briefly for a dropped console to come back; raise what stops a write."""
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

    def sendline(self, line: str = "") -> None:
        """Send ``line`` and the newline (``newline``, default ``"\\n"``)."""
        self.write(line + self.newline)

    # ------------------------------------------------------------------ reading

    def _clean(self, text: str) -> str:
        """Internal text (surrogate-escaped) as handed out (U+FFFD for undecodable bytes)."""
        if text.isascii():
            return text
        return text.encode(self.encoding, "surrogateescape").decode(self.encoding, "replace")

    def _line_at(self, a: int, b: int) -> str:
        around = self._store.slice(max(self._store.first, a - 500), min(self._store.length, b + 500))
        lo = a - max(self._store.first, a - 500)
        first = around.rfind("\n", 0, lo) + 1
        last = around.find("\n", lo + (b - a))
        line = around[first : last if last >= 0 else None].strip("\r\n")
        return self._clean(line)

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
                note = (
                    f"[hil: {start - mark.offset} bytes from byte {mark.offset} on are not kept in memory "
                    f"(the last {self.memory} bytes are){where}]\n"
                )
            chunk = bytes(self._data[start - self._base : None if until is None else max(0, until.offset - self._base)])
        return note + chunk.decode(self.encoding, "replace")

    def text(self) -> str:
        """The whole session's text."""
        return self.since(Mark(0))

    def data(self, mark: Mark = Mark(0), until: Mark | None = None) -> bytes:  # noqa: B008
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
