"""``expect``: waiting for patterns in a console's capture from a ``Mark``, and what a timeout says.

``expect`` searches the text from a ``Mark`` (default: where the previous
expect's match ended, like pexpect) and is woken by a condition variable as
data arrives.  Searches are incremental: on each wake only the region a new
match could involve is searched again (``hil.links.regex_window.Search``), so
waiting for a marker at the end of megabytes of output stays linear.  An
``expect`` that is waiting while a flood goes by keeps what it has not searched
yet (the console's reader searches it on its behalf before dropping it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hil.core.deadline import Deadline
from hil.core.errors import DeviceFailure, ExpectTimeout, InfrastructureError, SetupError
from hil.links.capture import Capture, Mark, printable, utc
from hil.links.failpatterns import FailWatchers
from hil.links.reader import Reader
from hil.links.regex_window import Overrun, PatternLike, Search, Window, compile_pattern, compile_patterns

__all__ = ["ConsoleMatch", "Expecter", "PatternLike"]

_INF = float("inf")
_TAIL_LINES = 20
_SMALL_WINDOW = 1 << 14  # a search window up to this many characters is searched with the lock held


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
    start: Mark = Mark(0)  # noqa: RUF009


class Expecter:
    """Waits for patterns in a ``Capture``, reading through its ``Reader``; raises what ``FailWatchers`` saw.

    Holds the position the next ``expect`` searches from by default (``position``).
    """

    def __init__(self, capture: Capture, reader: Reader, watchers: FailWatchers) -> None:
        self.capture = capture
        self.reader = reader
        self.watchers = watchers
        self.position = Mark(0)

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
        rxs = compile_patterns(pattern)
        found = self._wait(rxs, timeout, since, need_all=False)
        return found[0]

    def expect_all(
        self,
        patterns: Sequence[PatternLike],
        timeout: float | Deadline,
        since: Mark | None = None,
    ) -> list[ConsoleMatch]:
        """Wait until every pattern has appeared after ``since``, in any order; matches in pattern order."""
        __tracebackhide__ = True  # a console that never showed it is the test's failure
        rxs = compile_patterns(patterns)
        return self._wait(rxs, timeout, since, need_all=True)

    def _wait(
        self,
        rxs: list[re.Pattern[str]],
        timeout: float | Deadline,
        since: Mark | None,
        need_all: bool,
    ) -> list[ConsoleMatch]:
        capture = self.capture
        if isinstance(timeout, Deadline):
            deadline, seconds = timeout.at, timeout.remaining()
        else:
            deadline, seconds = time.monotonic() + timeout, timeout
        with capture.cond:
            if not capture.started:
                raise SetupError(f"console '{capture.name}' is not started; call start() or use it in a with block")
            origin = since if since is not None else self.position
            if origin.offset < capture.base:
                raise capture.too_old(origin, "expect")
            start = capture.byte_to_text(origin.offset)
            searches = [Search(rx, start, max_lookback=capture.memory // 2, strict=True) for rx in rxs]
            capture.pins.extend(searches)
            self.reader.enter()
        try:
            return self._wait_searching(rxs, searches, deadline, seconds, origin, need_all)
        except Overrun as exc:
            raise InfrastructureError(
                f"console '{capture.name}': expect fell behind a flood of output: text from character "
                f"{exc.needed} on was dropped from memory (kept from {exc.first}; bound {capture.memory} bytes, "
                f"{capture.PIN_FACTOR}x for a waiting expect); full log: {capture.log_path}"
            ) from None
        finally:
            with capture.cond:
                self.reader.leave()
                for search in searches:
                    capture.pins.remove(search)
                capture.notify()  # another waiting expect may read now

    def _wait_searching(
        self,
        rxs: list[re.Pattern[str]],
        searches: list[Search],
        deadline: float,
        seconds: float,
        origin: Mark,
        need_all: bool,
    ) -> list[ConsoleMatch]:
        capture = self.capture
        cond = capture.cond
        store = capture.store
        found: dict[int, tuple[re.Match[str], int]] = {}
        searched_to = -1  # text end covered by the last search
        if searches[0].start == store.length and not any(rx.search("") for rx in rxs):
            searched_to = store.length  # nothing to search yet (sendline, then expect): read first
        searched_at = -_INF  # when the last search started
        next_search = 0.0  # duty-cycle limit: see below
        while True:
            large: list[tuple[Search, int, Window]] = []
            with cond:
                end = store.length
                now = time.monotonic()
                if end != searched_to and (now >= next_search or capture.ended or now >= deadline):
                    for i, search in enumerate(searches):
                        if i in found:
                            continue
                        if search.hit is None:
                            prepared = search.prepare(store, end)
                            if prepared is not None:
                                if prepared.size > _SMALL_WINDOW:
                                    large.append((search, i, prepared))
                                    continue
                                search.hit = search.run(prepared)  # small: here (no trim runs meanwhile)
                        if search.hit is not None:
                            found[i] = search.hit
                    searched_to, searched_at = end, now
                    next_search = 0.0
                if not large:
                    verdict = self._verdict(rxs, found, need_all, seconds, origin, searched_to, searched_at, deadline)
                    if verdict is not None:
                        return verdict
                    now = time.monotonic()
                    unsearched = store.length != searched_to
                    if not unsearched or not (now >= next_search or capture.ended or now >= deadline):
                        seen = store.length
                        # more data: read by this thread when no one else is (no hand-over between threads)
                        wait = (min(next_search, deadline) if unsearched else deadline) - now
                    else:
                        continue
            if large:
                for search, i, prepared in large:  # the regex runs without the lock: the reader keeps going
                    with search.lock:
                        if search.hit is None:
                            search.hit = search.run(prepared)
                        if search.hit is not None:
                            found[i] = search.hit
                took = time.monotonic() - now
                # A search that has to go over a long stretch again (an unbounded pattern that can span
                # lines, over megabytes) may take milliseconds; then wait 4x as long before the next,
                # so searching never takes more than ~20% of the time the reader needs.
                next_search = now + 5 * took if took > 0.001 else 0.0
                continue
            self.reader.await_data(wait, seen)

    def _verdict(
        self,
        rxs: list[re.Pattern[str]],
        found: dict[int, tuple[re.Match[str], int]],
        need_all: bool,
        seconds: float,
        origin: Mark,
        searched_to: int,
        searched_at: float,
        deadline: float,
    ) -> list[ConsoleMatch] | None:
        """The matches when the wait is over, what it raises when it failed, ``None`` to go on (lock held)."""
        capture = self.capture
        if len(found) == len(rxs) if need_all else found:
            matches = self._matches(rxs, found, need_all)
            upto = max(m.end.offset for m in matches)
            failure = self.watchers.take_one(upto)
            if failure is not None:
                raise self.watchers.whole(failure).error(capture.log_path)
            self.position = Mark(upto)
            return matches
        failure = self.watchers.take_one(None)
        if failure is not None:
            raise self.watchers.whole(failure).error(capture.log_path)
        unsearched = capture.store.length != searched_to
        if capture.ended and not unsearched:
            raise InfrastructureError(self._timeout_message(rxs, found, seconds, origin, ended=True))
        if time.monotonic() >= deadline and (searched_at >= deadline or not unsearched):
            raise ExpectTimeout(self._timeout_message(rxs, found, seconds, origin, ended=False))
        return None

    def _matches(
        self, rxs: list[re.Pattern[str]], found: dict[int, tuple[re.Match[str], int]], need_all: bool
    ) -> list[ConsoleMatch]:
        capture = self.capture
        if len(found) == 1:
            order = list(found)
        elif need_all:
            order = sorted(found)
        else:
            order = [min(found, key=lambda i: (found[i][1] + found[i][0].start(), i))]
        result = []
        for i in order:
            m, base = found[i]
            result.append(
                ConsoleMatch(
                    pattern=rxs[i].pattern,
                    index=i,
                    match=m,
                    text=capture.clean(m.group(0)),
                    end=Mark(capture.text_to_byte(base + m.end())),
                    start=Mark(capture.text_to_byte(base + m.start())),
                )
            )
        return result

    def _timeout_message(
        self,
        rxs: list[re.Pattern[str]],
        found: dict[int, tuple[re.Match[str], int]],
        seconds: float,
        origin: Mark,
        ended: bool,
    ) -> str:
        """What the user needs to see: which patterns, the console's state, its tail, the log (lock held)."""
        capture = self.capture
        names = [rx.pattern for rx in rxs]
        if len(names) == 1:
            wanted = repr(names[0])
        elif found:
            missing = [n for i, n in enumerate(names) if i not in found]
            wanted = f"all of {names!r}; still missing {missing!r}"
        else:
            wanted = "any of " + repr(names)
        where = f"console '{capture.name}' ({self.reader.transport.description})"
        if ended:
            head = f"{where} closed before {wanted} appeared: {capture.end_reason}"
        else:
            head = f"{where}: {wanted} did not appear within {seconds:.1f} s"
        got = capture.total - origin.offset
        lines = [head, f"searched from byte {origin.offset}; {got} bytes arrived after it ({capture.total} in total)"]
        if not ended and not capture.connected and capture.lost_at is not None:
            lines.append(
                f"the console is DISCONNECTED since {utc(capture.lost_at)} ({capture.lost_reason}); still reconnecting"
            )
        tail = capture.tail(_TAIL_LINES)
        if any(tail):
            lines.append(f"last {len(tail)} lines of the console:")
            lines.extend(f"  | {line}" for line in tail)
        else:
            lines.append("nothing was received on the console at all")
        log_path = capture.log_path
        lines.append(f"full log: {log_path}" if log_path else "no log file (pass log_path= to keep one)")
        return "\n".join(lines)

    def not_matching(self, pattern: PatternLike, since: Mark | None = None) -> None:
        """Assert ``pattern`` does not appear after ``since`` (default: anywhere in the session)."""
        __tracebackhide__ = True  # a console that never showed it is the test's failure
        capture = self.capture
        rx = compile_pattern(pattern)
        origin = since if since is not None else Mark(0)
        with capture.cond:
            if origin.offset < capture.base:
                raise capture.too_old(origin, "check for absence")
            start = capture.byte_to_text(origin.offset)
            hit = Search(rx, start).search(capture.store, capture.store.length)
            if hit is None:
                return
            m, base = hit
            at = capture.text_to_byte(base + m.start())
            line = capture.line_at(base + m.start(), base + m.end())
        raise DeviceFailure(
            f"console '{capture.name}': {rx.pattern!r} appeared at byte {at} (searched from byte {origin.offset}): "
            f"{capture.clean(m.group(0))!r} in line {printable(line)!r}"
            + (f"; log: {capture.log_path}" if capture.log_path else "")
        )
