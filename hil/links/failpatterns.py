"""Fail patterns ("death strings", as in tbot: kernel panic, a qvm fatal banner) on a console.

They are scanned by the console's reader as data arrives, across chunk
boundaries; a hit is kept in ``failures`` and raised as ``FailPatternSeen`` by
the waiting (or next) expect, or by the plugin's after-test check
(``take_failures``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hil.core.errors import FailPatternSeen
from hil.links.capture import Mark, OffsetMap, TextStore
from hil.links.regex_window import PatternLike, Search, compile_pattern

__all__ = ["FailPatterns", "FailWatch", "Failure"]


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


@dataclass
class FailWatch:
    rx: re.Pattern[str]
    search: Search


class FailPatterns:
    """The fail-pattern half of ``hil.links.console.Console`` (a mixin: the console holds the state)."""

    FAIL_LOOKBACK = 1 << 13  # unbounded multi-line fail patterns match within this many characters
    MAX_FAILURES = 1000

    if TYPE_CHECKING:  # provided by Console
        name: str
        _cond: threading.Condition
        _data: bytearray
        _base: int
        _store: TextStore
        _map: OffsetMap
        _watches: dict[str, FailWatch]
        _failures: list[Failure]
        _reported: set[int]

        def _line_at(self, a: int, b: int) -> str: ...

    def add_fail_pattern(self, pattern: PatternLike, since: Mark | None = None) -> None:
        """Fail on ``pattern`` wherever it appears from ``since`` (default: the session start)."""
        rx = compile_pattern(pattern)
        with self._cond:
            if rx.pattern in self._watches:
                return
            start = self._map.byte_to_text(max(since.offset, self._base), self._data) if since else self._store.first
            self._watches[rx.pattern] = FailWatch(rx, Search(rx, start, max_lookback=self.FAIL_LOOKBACK))
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
