"""One console for every transport: the reader thread, the bounded capture, the log file, reconnects, writing.

A ``Console`` needs only a ``hil.links.transports.Transport`` (read and write bytes).
A background reader thread keeps every byte of the session:

* appended to the log file, flushed per chunk (a crash loses nothing), with a
  note such as ``[hil: console lost at ..., reconnected after 1.23 s]`` where
  the connection dropped (the note is in the log only, never in what is matched);
* appended to an in-memory byte buffer and decoded incrementally into text
  (``hil.links.capture``).

An ``expect`` that is waiting reads the transport itself (the reader thread
stands aside while one waits and is woken when the last one returns): the data
it waits for is received, captured, logged and searched in its own thread, with
no hand-over between threads, so a round trip costs little more than the bare
transport's (``bench/bench_console.py``).

``Console`` is composed of parts it owns and delegates to: the capture
(``hil.links.capture.Capture``: log file, bytes and text kept), the reader
(``hil.links.reader.Reader``: transport into capture, reconnects, writes), the
fail-pattern watchers (``hil.links.failpatterns.FailWatchers``, "death strings",
called by the capture as text arrives) and the expect engine
(``hil.links.expect.Expecter``: ``expect``, ``expect_all``, ``not_matching``),
which take the capture as their collaborator.  The names (``Mark``,
``ConsoleMatch``, ``Failure``, ``PatternLike``) are importable from here.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hil.core.deadline import Deadline
from hil.core.errors import SetupError
from hil.links.capture import Capture, Mark
from hil.links.expect import ConsoleMatch, Expecter
from hil.links.failpatterns import Failure, FailWatchers
from hil.links.reader import Reader
from hil.links.regex_window import PatternLike
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


class Console:
    """A console session over a transport: captured, logged, searchable.

    ``log_path``: file every received byte is appended to (``None``: no log).
    ``name``: used in messages.  ``fail_patterns``: regexes that fail the test
    wherever they appear (from the start of the session).  ``reconnect``: on
    a dropped transport, keep trying to reopen it (0.05 s backoff rising to
    1 s) until ``close()``.  ``newline``: what ``sendline`` appends.

    Made of four parts it owns and delegates to: ``capture`` (``Capture``: the
    log file, the bytes and text kept), ``reader`` (``Reader``: the transport
    into the capture, reconnects, writes), ``watchers`` (``FailWatchers``: the
    fail patterns, called by the capture) and ``expecter`` (``Expecter``:
    ``expect``, ``expect_all``, ``not_matching``).
    """

    DEFAULT_MEMORY = 32 << 20  # bytes of the stream kept in memory (the log file has everything)
    PIN_FACTOR = Capture.PIN_FACTOR

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
        self.memory = max(1 << 16, memory if memory is not None else _default_memory())
        self.capture = Capture(name, encoding, self.memory, self.log_path)
        self.reader = Reader(transport, self.capture, reconnect)
        self.watchers = FailWatchers(self.capture)
        self.expecter = Expecter(self.capture, self.reader, self.watchers)
        self._life = threading.Lock()
        self._closed = False
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
        with self._life:
            if self._closed:
                raise SetupError(f"console '{self.name}' was closed; create a new Console")
            if self.capture.started:
                return self
            self.capture.open_log()
            try:
                self.reader.start(self.name)
            except BaseException:
                self.capture.close_log()
                raise
        return self

    def close(self) -> None:
        """Stop the reader, close the transport and the log (idempotent)."""
        with self._life:
            if self._closed:
                return
            self._closed = True
        self.reader.stop()
        self.capture.close_log()

    def __enter__(self) -> Console:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self.capture.connected else ("closed" if self._closed else "disconnected")
        return f"Console({self.name!r}, {self.transport.description!r}, {state}, {self.capture.total} bytes)"

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes | str) -> None:
        """Send bytes (str is encoded); waits briefly for a dropped console to reconnect."""
        self.reader.write(data.encode(self.encoding) if isinstance(data, str) else data)

    def sendline(self, line: str = "") -> None:
        """Send ``line`` and the newline (``newline``, default ``"\\n"``)."""
        self.reader.write((line + self.newline).encode(self.encoding))

    # ------------------------------------------------------------------ waiting (hil.links.expect)

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
        __tracebackhide__ = True  # a console that never showed it is the test's failure
        return self.expecter.expect(pattern, timeout, since)

    def expect_all(
        self,
        patterns: Sequence[PatternLike],
        timeout: float | Deadline,
        since: Mark | None = None,
    ) -> list[ConsoleMatch]:
        """Wait until every pattern has appeared after ``since``, in any order; matches in pattern order."""
        __tracebackhide__ = True  # a console that never showed it is the test's failure
        return self.expecter.expect_all(patterns, timeout, since)

    def not_matching(self, pattern: PatternLike, since: Mark | None = None) -> None:
        """Assert ``pattern`` does not appear after ``since`` (default: anywhere in the session)."""
        __tracebackhide__ = True  # a console that never showed it is the test's failure
        self.expecter.not_matching(pattern, since)

    @property
    def position(self) -> Mark:
        """Where the next ``expect`` searches from by default (the previous match's end)."""
        return self.expecter.position

    # ------------------------------------------------------------------ fail patterns (hil.links.failpatterns)

    def add_fail_pattern(self, pattern: PatternLike, since: Mark | None = None) -> None:
        """Fail on ``pattern`` wherever it appears from ``since`` (default: the session start)."""
        self.watchers.add(pattern, since)

    def remove_fail_pattern(self, pattern: PatternLike) -> None:
        """Stop watching ``pattern`` (failures already seen stay in ``failures``)."""
        self.watchers.remove(pattern)

    @property
    def fail_patterns(self) -> list[str]:
        return self.watchers.patterns

    @property
    def failures(self) -> list[Failure]:
        """Every fail-pattern hit so far (a copy)."""
        return self.watchers.failures

    def failures_since(self, mark: Mark) -> list[Failure]:
        """Fail-pattern hits that end after ``mark`` (a test's own slice)."""
        return self.watchers.since(mark)

    def take_failures(self) -> list[Failure]:
        """The failures no expect has raised yet, now marked as raised (for a plugin's after-test check)."""
        return self.watchers.take()

    # ------------------------------------------------------------------ the capture (hil.links.capture)

    def add_listener(self, listener: Callable[[bytes], None]) -> None:
        """Call ``listener(chunk)`` from the reader thread with every chunk received from now on
        (after it is logged and captured); what it raises is ignored."""
        self.capture.listeners.append(listener)

    def remove_listener(self, listener: Callable[[bytes], None]) -> None:
        """Stop calling ``listener`` (no error when it was not added)."""
        if listener in self.capture.listeners:
            self.capture.listeners.remove(listener)

    def mark(self) -> Mark:
        """The current end of the stream."""
        with self.capture.cond:
            return Mark(self.capture.total)

    def since(self, mark: Mark, until: Mark | None = None) -> str:
        """The text received from ``mark`` (to ``until``, default: now); bytes no longer kept in
        memory are replaced by a note naming the log file."""
        return self.capture.since(mark, until)

    def text(self) -> str:
        """The whole session's text."""
        return self.capture.since(Mark(0))

    def data(self, mark: Mark = Mark(0), until: Mark | None = None) -> bytes:  # noqa: B008
        """The raw bytes received from ``mark`` (to ``until``)."""
        return self.capture.raw(mark, until)

    @property
    def bytes_received(self) -> int:
        with self.capture.cond:
            return self.capture.total

    @property
    def connected(self) -> bool:
        return self.capture.connected

    @property
    def reconnects(self) -> int:
        """How often the transport was reopened after a drop."""
        return self.capture.reconnects
