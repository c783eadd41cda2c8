"""How far back a regex can match (an analysis of its parse tree), and the incremental search built on it."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, Union

from hil.core.errors import SetupError

__all__ = [
    "Overrun",
    "PatternLike",
    "Reach",
    "Search",
    "TextSource",
    "Window",
    "compile_pattern",
    "compile_patterns",
    "reach",
]

PatternLike = Union[str, "re.Pattern[str]"]

_INF = float("inf")


class TextSource(Protocol):
    """What a search reads: a text kept from ``first`` to ``length`` (``hil.links.capture.TextStore``)."""

    first: int
    length: int

    def slice(self, a: int, b: int | None = None) -> str: ...

    def piece_at(self, t: int) -> tuple[str, int]:
        """The stored piece holding position ``t`` and where it starts (nothing copied)."""
        ...


#: A window longer than this is searched in place (``Search.prepare``); shorter ones are copied.
_IN_PLACE = 1 << 12


class Window(NamedTuple):
    """What ``Search.run`` searches: ``text[pos:endpos]`` (``text`` starts at text position ``base``), after
    ``head[head_pos:]`` (starting at ``head_base``), whose matches count only if they start before ``until``."""

    text: str
    base: int
    pos: int
    endpos: int
    head: str = ""
    head_base: int = 0
    head_pos: int = 0
    until: int = 0

    @property
    def size(self) -> int:
        return self.endpos - self.pos + len(self.head)


@dataclass(frozen=True)
class Reach:
    """How far a pattern's match attempt can look (for incremental search).

    ``width``: most characters an attempt examines after its start (lookaheads
    included), ``inf`` if unbounded.  ``behind``: most characters examined before
    its start (lookbehinds).  ``newline``: whether any part can match ``\\n``.
    """

    width: float
    behind: int
    newline: bool


_UNKNOWN = Reach(_INF, 0, True)


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
            _lo, hi, sub = av
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


#: Plain text: characters that are not metacharacters, escaped punctuation, and ``\\n \\t \\r \\f \\v``.
_PLAIN = re.compile(r"(?:[^\\.^$*+?{}\[\]|()]|\\[^0-9A-Za-z_]|\\[ntrfv])*", re.DOTALL)
#: One unit of plain text: an escape (its character in group 1) or a character.
_UNIT = re.compile(r"\\(.)|[^\\]", re.DOTALL)


def _literal_reach(pattern: str, flags: int) -> Reach | None:
    """The reach of a pattern that is plain text (escapes of punctuation and ``\\n`` etc. allowed), found
    without parsing it (the common case: a prompt, a marker); ``None`` for anything else."""
    if flags & re.VERBOSE or _PLAIN.fullmatch(pattern) is None:
        return None
    if "\\" not in pattern:
        return Reach(len(pattern), 0, "\n" in pattern)
    units = _UNIT.findall(pattern)  # "" for a plain character, the escaped character for an escape
    return Reach(len(units), 0, "\n" in pattern or "n" in units)


@functools.lru_cache(maxsize=512)
def reach(pattern: str, flags: int) -> Reach:
    literal = _literal_reach(pattern, flags)
    if literal is not None:
        return literal
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern, flags)
        width, behind, newline = _walk(parsed, parsed.state.flags)
    except Exception:  # noqa: BLE001 - private module changed: fall back to full searches
        return _UNKNOWN
    return Reach(width, behind, newline)


class Search:
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

    def __init__(self, rx: re.Pattern[str], start: int, max_lookback: int | None = None, strict: bool = False) -> None:
        self.rx = rx
        self.start = start  # the searched string begins here (``^``, ``\A``)
        self.floor = start  # no match starts before this
        self.scanned: int | None = None  # text end of the last fruitless search
        self.last_newline = -1
        self.reach = reach(rx.pattern, rx.flags)
        self.max_lookback = max_lookback
        self.strict = strict  # expect: text it still needs must not have been dropped
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

    def prepare(self, store: TextSource, end: int) -> Window | None:
        """The window to search up to ``end``; ``None`` if nothing new (lock held).

        For a pattern of bounded width, the new text is searched where it lies (one piece of the store, not
        copied) and only the stretch where a match could start before that piece (its overlap with the text
        searched before) is copied.  Text dropped from memory (before ``store.first``) is skipped, or
        ``Overrun`` if ``strict``."""
        if self.scanned is not None and self.scanned >= end:
            return None
        resume = self._resume()
        base = self.needed()
        if base < store.first:
            if self.strict:
                raise Overrun(base, store.first)
            base, resume = store.first, max(resume, store.first)
        width = self.reach.width
        if width != _INF and base > self.start and end - base > _IN_PLACE:
            piece, p0 = store.piece_at(end - 1)
            split = max(p0 + self.reach.behind + 1, resume)  # matches from here on: searched in the piece
            if split < end:
                head = store.slice(base, min(end, split + int(width) + 2)) if split > resume else ""
                return Window(piece, p0, split - p0, end - p0, head, base, resume - base, split)
        text = store.slice(base, end)
        return Window(text, base, resume - base, len(text))

    def run(self, window: Window) -> tuple[re.Match[str], int] | None:
        """Search a prepared window (no lock needed); (match, base) or ``None``."""
        rx = self.rx
        if window.head:  # a match starting before ``until`` examines nothing beyond the head
            m = rx.search(window.head, window.head_pos)
            if m is not None and window.head_base + m.start() < window.until:
                return m, window.head_base
        text, base = window.text, window.base
        m = rx.search(text, window.pos, window.endpos)
        if m is not None:
            return m, base
        old = self.scanned if self.scanned is not None else self.floor
        nl = text.rfind("\n", max(0, old - base), window.endpos)
        if nl >= 0:
            self.last_newline = max(self.last_newline, base + nl)
        self.scanned = max(old, base + window.endpos)  # never back: the reader may have searched further
        return None

    def search(self, store: TextSource, end: int) -> tuple[re.Match[str], int] | None:
        """``prepare`` and ``run`` in one (lock held)."""
        prepared = self.prepare(store, end)
        return None if prepared is None else self.run(prepared)

    def restart_after(self, end: int) -> None:
        """Continue past a match ending at ``end`` (fail patterns report every hit)."""
        self.floor = end
        self.scanned = None
        self.last_newline = -1


class Overrun(Exception):
    """A search needs text that was dropped from memory."""

    def __init__(self, needed: int, first: int) -> None:
        super().__init__(needed, first)
        self.needed, self.first = needed, first


def compile_pattern(pattern: PatternLike) -> re.Pattern[str]:
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


def compile_patterns(patterns: PatternLike | Sequence[PatternLike]) -> list[re.Pattern[str]]:
    if isinstance(patterns, (str, re.Pattern)):
        return [compile_pattern(patterns)]
    result = [compile_pattern(p) for p in patterns]
    if not result:
        raise SetupError("expect() needs at least one pattern, got an empty list")
    return result
