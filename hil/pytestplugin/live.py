"""Live views of the running test's streams (``pytest --hil-console-live``).

Every line of the target's serial console (``[serial] ``), of qvm's stdout, the guest
console (``[guest] ``), and of qvm's stderr, its log (``[qvm] ``), goes to the terminal
as it arrives, one whole line at a time, prefixed and coloured per stream.

The lines are written to a duplicate of the terminal's file descriptor taken when the
plugin is configured (pytest's capture is suspended then), so pytest's own capture of
the test's output (``capsys``, ``--capture=fd``) is neither broken nor fed by them, and
they appear while the test runs rather than at its end.  On a pytest-xdist worker, whose
stdout is the channel to the controller (execnet points fd 1 at /dev/null), they go to
the worker's stderr, which it inherits from the controller, prefixed with the worker's id
(``[gw0 guest] ``).

A line is shown up to ``LINE_LIMIT`` bytes, then a note of how many bytes of it were left out
(``[hil: ... more bytes of this line in the console log]``): a target printing megabytes without a
newline costs the view linear work and bounded memory (the whole line is in the console's log file).

Colour follows pytest's rules: ``--color=yes``/``no`` decide; else ``PY_COLORS``
(``1``/``0``), then ``NO_COLOR``, then ``FORCE_COLOR``, then whether the descriptor is
a terminal (and ``TERM`` is not ``dumb``).
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from hil.links.console import Console

#: SGR colour of each stream (cyan, green, yellow).
COLOURS = {"serial": "36", "guest": "32", "qvm": "33"}
#: A target's own terminal controls (colours, cursor queries such as ``ESC[6n``, titles) and other
#: control characters: never passed to the terminal (a query would be answered into its input).
_CONTROLS = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])?|[\x00-\x08\x0a-\x1f\x7f]"
)
#: The most bytes of one line the view shows (and keeps while the line is unfinished).
LINE_LIMIT = 4096
#: qvm's streams and their names in the live view.
QVM_STREAMS = {"stdout": "guest", "stderr": "qvm"}


def wants_markup(color: str, fd: int, environ: dict[str, str] | None = None) -> bool:
    """Whether to colour: pytest's ``--color`` (``yes``/``no``/``auto``) and its environment rules."""
    env = os.environ if environ is None else environ
    if color in ("yes", "no"):
        return color == "yes"
    if env.get("PY_COLORS") in ("0", "1"):
        return env["PY_COLORS"] == "1"
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    try:
        return os.isatty(fd) and env.get("TERM") != "dumb"
    except OSError:
        return False


class _Partial:
    """A stream's unfinished line: its first ``LINE_LIMIT`` bytes and how many more there were."""

    __slots__ = ("dropped", "head")

    def __init__(self) -> None:
        self.head = bytearray()
        self.dropped = 0

    def add(self, piece: bytes) -> None:
        room = LINE_LIMIT - len(self.head)
        if room > 0:
            self.head += piece[:room]
        self.dropped += max(0, len(piece) - max(0, room))

    def take(self) -> tuple[bytes, int]:
        line = (bytes(self.head), self.dropped)
        self.head.clear()
        self.dropped = 0
        return line

    def __bool__(self) -> bool:
        return bool(self.head) or self.dropped > 0


class LiveView:
    """Writes whole lines of named streams to a file descriptor as they arrive (thread-safe).

    ``fd`` is owned (closed by ``close``); ``markup``: colour the lines; ``tag``: put before
    each stream's name (an xdist worker's id); ``terminal``: pytest's terminal writer sharing
    the terminal, so a live line never starts in the middle of one of its lines.
    """

    def __init__(self, fd: int, markup: bool, tag: str = "", terminal: object = None) -> None:
        self.fd = fd
        self.markup = markup
        self.tag = tag
        self.terminal = terminal
        self._checked = False  # whether this test's first line checked pytest's writer
        self._lock = threading.Lock()
        self._partial: dict[str, _Partial] = {}
        self._consoles: weakref.WeakSet[Console] = weakref.WeakSet()
        self._broken = False
        self._config: pytest.Config | None = None

    @classmethod
    def for_config(cls, config: pytest.Config) -> LiveView:
        worker = getattr(config, "workerinput", None)
        source = 2 if worker is not None else 1
        fd = os.dup(source)
        color = str(config.getoption("color", "auto") or "auto")
        tag = f"{worker['workerid']} " if worker is not None else ""
        view = cls(fd, wants_markup(color, fd), tag)
        view._config = None if worker is not None else config  # its terminal writer, once it has one
        return view

    # -- what feeds it -------------------------------------------------------------------

    def watch_console(self, console: Console, name: str = "serial") -> None:
        """Show every line the console receives from now on (once per console object)."""
        with self._lock:
            if console in self._consoles:
                return
            self._consoles.add(console)
        console.add_listener(lambda chunk: self.feed(name, chunk))

    def qvm_tap(self, stream: str, chunk: bytes) -> None:
        """A ``QvmRunner.output_tap``: qvm's stdout as ``guest``, its stderr as ``qvm``."""
        self.feed(QVM_STREAMS.get(stream, stream), chunk)

    def feed(self, name: str, chunk: bytes) -> None:
        """Add ``chunk`` to stream ``name``; write its complete lines now (each bounded: ``LINE_LIMIT``).

        Only ``chunk`` is looked at (never what came before it), so the work is linear in the stream."""
        with self._lock:
            partial = self._partial.get(name)
            if partial is None:
                partial = self._partial[name] = _Partial()
            pieces = chunk.split(b"\n")
            lines = []
            for piece in pieces[:-1]:
                partial.add(piece)
                lines.append(partial.take())
            partial.add(pieces[-1])
            if lines:
                self._write(name, lines)

    def flush(self) -> None:
        """Write what is left of every stream's last, unfinished line."""
        with self._lock:
            for name, partial in self._partial.items():
                if partial:
                    self._write(name, [partial.take()])

    # -- writing ---------------------------------------------------------------------------

    def format(self, name: str, line: bytes, dropped: int = 0) -> str:
        """One line as shown: controls removed, prefixed, coloured; ``dropped``: bytes of it left out."""
        text = _CONTROLS.sub("", line.decode("utf-8", "replace"))
        if dropped:
            text += f" [hil: {dropped} more bytes of this line in the console log]"
        prefix = f"[{self.tag}{name}]"
        if not self.markup:
            return f"{prefix} {text}\n"
        colour = COLOURS.get(name.split(" ")[0], "35")
        return f"\x1b[1;{colour}m{prefix}\x1b[22m {text}\x1b[0m\n"

    def _write(self, name: str, lines: list[tuple[bytes, int]]) -> None:
        """(lock held)"""
        if self._broken:
            return
        data = "".join(self.format(name, line, dropped) for line, dropped in lines)
        if not self._checked:
            self._checked = True
            data = self._after_pytest() + data
        view = memoryview(data.encode("utf-8", "replace"))
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            self._broken = True  # the terminal went away: the test goes on without the view

    # -- as a pytest plugin ----------------------------------------------------------------

    def _after_pytest(self) -> str:
        """A newline when pytest's writer is in the middle of a line (it flushes it at each test's start;
        flushing it here could send its text into the test's captured output)."""
        terminal = self.terminal
        return "\n" if terminal is not None and getattr(terminal, "width_of_current_line", False) else ""

    def pytest_runtest_logstart(self) -> None:
        with self._lock:
            self._checked = False
            if self.terminal is None and self._config is not None:
                try:
                    self.terminal = self._config.get_terminal_writer()
                except AssertionError:  # no terminal reporter (-p no:terminal)
                    self._config = None

    def pytest_runtest_logfinish(self) -> None:
        self.flush()

    def close(self) -> None:
        self.flush()
        try:
            os.close(self.fd)
        except OSError:
            pass


#: the session's live view (``--hil-console-live``), for the fixtures that feed it
LIVE_KEY = pytest.StashKey[LiveView]()
