"""The bounded capture of a console's stream: ``Mark`` (a byte position), the text store and the byte <-> text map.

Offsets: a ``Mark`` is a byte offset into the session's byte stream.  Text is
decoded with ``errors="surrogateescape"`` internally, which keeps the byte <->
text mapping exact even for invalid bytes; everything handed out as text
(``since``, ``text``, ``ConsoleMatch.text``, messages) has those replaced by
U+FFFD as with ``errors="replace"``.
"""

from __future__ import annotations

import bisect
import codecs
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Mark", "OffsetMap", "TextStore", "printable", "utc"]


@dataclass(frozen=True, order=True)
class Mark:
    """A position in a console session: ``offset`` bytes from its start."""

    offset: int


class TextStore:
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


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_CONTROL = {c: f"\\x{c:02x}" for c in range(32) if c not in (9,)}
_CONTROL[127] = "\\x7f"


def printable(line: str) -> str:
    """A console line with escapes for control characters (ANSI colours etc.)."""
    return line.translate(_CONTROL)
