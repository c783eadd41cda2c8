"""Fail patterns ("death strings", as in tbot: kernel panic, a qvm fatal banner) on a console.

``FailWatchers`` takes the console's ``Capture`` and is called by it (lock held)
whenever text arrives, so patterns are found across chunk boundaries; a hit is
kept in ``failures`` and raised as ``FailPatternSeen`` by the waiting (or next)
expect, or by the plugin's after-test check (``take``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hil.core.errors import FailPatternSeen
from hil.links.capture import Capture, Mark
from hil.links.regex_window import PatternLike, Search, compile_pattern

__all__ = ["FailWatch", "FailWatchers", "Failure"]


@dataclass(frozen=True)
class Failure:
    """A fail pattern seen in the stream: which pattern, the line it is on, and where."""

    pattern: str
    line: str
    start: Mark
    end: Mark
    console: str = "console"
    #: where the hit lies in the capture's text, and whether its line had ended when it was seen
    text_start: int = 0
    text_end: int = 0
    line_complete: bool = True

    def __str__(self) -> str:
        return f"{self.console}: fail pattern {self.pattern!r} seen at byte {self.start.offset}: {self.line!r}"

    def error(self, log_path: Path | None = None) -> FailPatternSeen:
        """The ``FailPatternSeen`` to raise for this failure."""
        where = f"; log: {log_path}" if log_path else ""
        return FailPatternSeen(str(self) + where)


@dataclass
class FailWatch:
    rx: re.Pattern[str]
    search: Search


class FailWatchers:
    """The fail patterns of one capture: scanned (lock held) each time the capture gets new text."""

    FAIL_LOOKBACK = 1 << 13  # unbounded multi-line fail patterns match within this many characters
    MAX_FAILURES = 1000

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self._watches: dict[str, FailWatch] = {}
        self._failures: list[Failure] = []
        self._reported: set[int] = set()

    def add(self, pattern: PatternLike, since: Mark | None = None) -> None:
        """Fail on ``pattern`` wherever it appears from ``since`` (default: the session start)."""
        rx = compile_pattern(pattern)
        capture = self.capture
        with capture.cond:
            if rx.pattern in self._watches:
                return
            if self._scan not in capture.watchers:  # called by the capture once there is a pattern to watch
                capture.watchers.append(self._scan)
            start = capture.byte_to_text(max(since.offset, capture.base)) if since else capture.store.first
            self._watches[rx.pattern] = FailWatch(rx, Search(rx, start, max_lookback=self.FAIL_LOOKBACK))
            self._scan()
            capture.notify()

    def remove(self, pattern: PatternLike) -> None:
        """Stop watching ``pattern`` (failures already seen stay in ``failures``)."""
        source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        with self.capture.cond:
            self._watches.pop(str(source), None)

    @property
    def patterns(self) -> list[str]:
        with self.capture.cond:
            return list(self._watches)

    def _scan(self) -> None:
        """Find new fail-pattern hits (caller holds the capture's lock)."""
        capture = self.capture
        store = capture.store
        end = store.length
        for source, watch in self._watches.items():
            while len(self._failures) < self.MAX_FAILURES:
                found = watch.search.search(store, end)
                if found is None:
                    break
                m, base = found
                a, b = base + m.start(), base + m.end()
                watch.search.restart_after(b if b > a else b + 1)
                self._failures.append(
                    Failure(
                        pattern=source,
                        line=capture.line_at(a, b),
                        start=Mark(capture.text_to_byte(a)),
                        end=Mark(capture.text_to_byte(b)),
                        console=capture.name,
                        text_start=a,
                        text_end=b,
                        line_complete=self._line_ended(b),
                    )
                )

    def _line_ended(self, b: int) -> bool:
        """Whether the line holding text offset ``b`` has ended in what the capture holds (lock held)."""
        store = self.capture.store
        return "\n" in store.slice(max(store.first, b), min(store.length, b + 500))

    #: how long a raised failure waits for the rest of its line (a hit at the end of what has arrived:
    #: ``S/C/F=11/1/1`` of ``S/C/F=11/1/11``, the last digit in the next read)
    LINE_GRACE = 0.25

    def whole(self, failure: Failure) -> Failure:
        """``failure`` with its whole line: waits up to ``LINE_GRACE`` for the line's end when it had not
        arrived yet (lock held; the wait releases it)."""
        if failure.line_complete:
            return failure
        capture = self.capture
        until = time.monotonic() + self.LINE_GRACE
        while not self._line_ended(failure.text_end) and not capture.ended:
            left = until - time.monotonic()
            if left <= 0:
                break
            capture.wait(left)
        a = max(capture.store.first, failure.text_start)
        return replace(failure, line=capture.line_at(a, max(a, failure.text_end)), line_complete=True)

    @property
    def failures(self) -> list[Failure]:
        """Every fail-pattern hit so far (a copy)."""
        with self.capture.cond:
            return list(self._failures)

    def since(self, mark: Mark) -> list[Failure]:
        """Fail-pattern hits that end after ``mark`` (a test's own slice)."""
        return [f for f in self.failures if f.end.offset > mark.offset]

    def take(self) -> list[Failure]:
        """The failures no expect has raised yet, now marked as raised (for a plugin's after-test check)."""
        with self.capture.cond:
            fresh = [f for i, f in enumerate(self._failures) if i not in self._reported]
            self._reported.update(range(len(self._failures)))
            return [self.whole(f) for f in fresh]

    def take_one(self, upto: int | None) -> Failure | None:
        """The first unreported failure ending at or before byte ``upto`` (any if None); marks it reported
        (lock held)."""
        if len(self._reported) == len(self._failures):
            return None
        for i, failure in enumerate(self._failures):
            if i not in self._reported and (upto is None or failure.end.offset <= upto):
                self._reported.add(i)
                return failure
        return None
