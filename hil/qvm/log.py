"""qvm's log (its stderr), parsed into lines a test can query and assert on.

qvmsim writes ``<sec>.<usec> <LEVEL> <source>: <message>``; real qvm's format
is [unknown], so any line is accepted: what a format does not match stays
``None`` and the message is the whole line.  Assertions match the *message*
with a regex (``re.search``), never a fixed prefix.  Extra formats (named
groups ``time``, ``level``, ``source``, ``message``, each optional) can be
passed to ``parse_line``/``parse_log`` for a board whose qvm writes another one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

#: The log levels, most severe first (the contract's logger filter names, upper-cased).
LEVELS: tuple[str, ...] = ("FATAL", "INTERNAL", "ERROR", "WARN", "INFO", "DEBUG", "VERBOSE")
_LEVEL_ALIASES = {"ERR": "ERROR", "WARNING": "WARN", "INTERNAL_ERROR": "INTERNAL", "CRIT": "FATAL"}

#: qvmsim's line format.
QVMSIM_FORMAT = re.compile(
    r"^(?P<time>\d+\.\d+)\s+(?P<level>" + "|".join(LEVELS) + r")\s+(?P<source>[^\s:]+):[ ]?(?P<message>.*)$"
)
DEFAULT_FORMATS: tuple[re.Pattern[str], ...] = (QVMSIM_FORMAT,)

#: qvmsim's termination line (INFO, source qvm).
TERMINATION_RE = re.compile(
    r"guest terminated: cause=(?P<cause>-?\d+) name=(?P<name>\S+) since_last_store=(?P<since>none|\d+(?:\.\d+)?)"
)
#: qvmsim's last line before exiting.
EXIT_STATUS_RE = re.compile(r"\bexit status=(?P<status>-?\d+)\b")
#: A guest dump (SIGUSR2, a watchdog's dump flag): qvmsim's INFO lines
#: ``guest dump written: PATH (WHY)`` and ``guest dump piped to 'COMMAND' (WHY)``.
DUMP_RE = re.compile(r"guest dump (?:written: (?P<path>\S+)|piped to '(?P<command>.*)') \((?P<why>[^)]*)\)$")
#: The power button (SIGTERM/SIGINT) as qvmsim logs it, and a second press that forces the guest off.
BUTTON_RE = re.compile(r"\bpower button pressed(?P<again> again)? \((?P<signal>SIG[A-Z]+)\)")
#: QNX's documented last line of a dryrun (7.1 "Configuration variables" page).
DRYRUN_RE = re.compile(r"Exiting: dryrun completed")
#: A guest interrupt asserted (qvmsim: DEBUG from qvm, so the logger must let debug through).
INTERRUPT_RE = re.compile(r"guest interrupt (?P<intr>\S+) asserted by vdev '(?P<vdev>[^']*)' \(count (?P<count>\d+)\)")
#: A configuration fault: ``<file>:<line>:`` and the offending word in quotes.
CONFIG_FAULT_RE = re.compile(r"(?P<file>[^\s:'\"`]+):(?P<line>\d+):.*?(?P<q>['\"`])(?P<word>[^'\"`]*)(?P=q)")

#: How many lines an assertion's failure message shows.
EXCERPT_LINES = 30

Pattern = str | re.Pattern[str]


@dataclass(frozen=True)
class LogLine:
    """One line of qvm's log: ``raw`` text and what could be parsed from it.

    ``time`` (seconds, qvmsim: CLOCK_MONOTONIC), ``level`` (one of ``LEVELS``)
    and ``source`` (``qvm`` or a vdev instance name) are None when the line's
    format is not known; ``message`` is then the whole line.  ``origin``: where
    qvm wrote it, ``stderr`` or ``slog2`` (read with slog2info, ``hil.qvmrun.slog2``).
    """

    raw: str
    time: float | None
    level: str | None
    source: str | None
    message: str
    origin: str = "stderr"

    def as_dict(self) -> dict[str, object]:
        """``{time, level, source, message}`` for JSON output."""
        return {"time": self.time, "level": self.level, "source": self.source, "message": self.message}

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True)
class Termination:
    """qvmsim's ``guest terminated: cause=N name=GTC_X since_last_store=S`` line, parsed.

    ``since_last_store``: seconds from the guest's last store to a vdev (a
    watchdog kick) to the termination; None when qvmsim logged ``none``.
    """

    cause: int
    name: str
    since_last_store: float | None
    line: LogLine


def normalize_intr(text: str) -> str:
    """An interrupt as qvmsim names it: ``PIC:NUMBER`` with the PIC in lower case and the
    number in decimal (``"GIC:0x21"`` -> ``"gic:33"``); other text is returned unchanged."""
    pic, sep, num = text.strip().partition(":")
    if not sep or not pic:
        return text
    try:
        return f"{pic.lower()}:{int(num, 0)}"
    except ValueError:
        return text


@dataclass(frozen=True)
class Interrupt:
    """One ``guest interrupt PIC:NUM asserted by vdev 'NAME' (count N)`` line, parsed."""

    intr: str
    vdev: str
    count: int
    line: LogLine


@dataclass(frozen=True)
class ConfigFault:
    """Where a FATAL configuration line points: ``file:line`` and the quoted word."""

    file: str
    line: int
    word: str
    log_line: LogLine


def _normalize_level(level: str | None) -> str | None:
    if level is None:
        return None
    upper = level.strip().upper()
    return _LEVEL_ALIASES.get(upper, upper)


def parse_line(raw: str, formats: Sequence[re.Pattern[str]] = DEFAULT_FORMATS) -> LogLine:
    """Parse one log line (trailing CR/LF dropped); never fails."""
    raw = raw.rstrip("\r\n")
    for fmt in formats:
        m = fmt.match(raw)
        if m is None:
            continue
        groups = m.groupdict()
        time_text = groups.get("time")
        try:
            time = float(time_text) if time_text is not None else None
        except ValueError:
            time = None
        message = groups.get("message")
        return LogLine(
            raw=raw,
            time=time,
            level=_normalize_level(groups.get("level")),
            source=groups.get("source"),
            message=raw if message is None else message,
        )
    return LogLine(raw=raw, time=None, level=None, source=None, message=raw)


def parse_log(text: str, formats: Sequence[re.Pattern[str]] = DEFAULT_FORMATS) -> QvmLog:
    """Parse a whole log (qvm's stderr); a trailing partial line is kept."""
    return QvmLog(parse_line(raw, formats) for raw in text.splitlines())


def _compile(pattern: Pattern) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)


def _show(pattern: Pattern) -> str:
    return repr(pattern.pattern if isinstance(pattern, re.Pattern) else pattern)


def excerpt(lines: Sequence[LogLine], limit: int = EXCERPT_LINES, title: str = "qvm log") -> str:
    """The last ``limit`` lines, indented under a title saying how many were left out."""
    if not lines:
        return f"{title}: (empty)"
    shown = lines[-limit:]
    head = f"{title} (last {len(shown)} of {len(lines)} lines):" if len(shown) < len(lines) else f"{title}:"
    return "\n".join([head, *(f"  | {line.raw}" for line in shown)])


class QvmLog(Sequence[LogLine]):
    """qvm's log as parsed lines; filters return ``QvmLog`` too."""

    def __init__(self, lines: Iterable[LogLine] = ()) -> None:
        self._lines: tuple[LogLine, ...] = tuple(lines)

    # --- Sequence ---
    @overload
    def __getitem__(self, index: int) -> LogLine: ...
    @overload
    def __getitem__(self, index: slice) -> QvmLog: ...
    def __getitem__(self, index: int | slice) -> LogLine | QvmLog:
        if isinstance(index, slice):
            return QvmLog(self._lines[index])
        return self._lines[index]

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self._lines)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QvmLog) and self._lines == other._lines

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"QvmLog({len(self._lines)} lines)"

    @property
    def text(self) -> str:
        """The raw log text, lines joined with newlines."""
        return "\n".join(line.raw for line in self._lines)

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources seen, in order of first appearance."""
        return tuple(dict.fromkeys(line.source for line in self._lines if line.source is not None))

    # --- filters ---
    def from_origin(self, origin: str) -> QvmLog:
        """Lines qvm wrote to ``origin``: ``"stderr"`` or ``"slog2"``."""
        return QvmLog(line for line in self._lines if line.origin == origin)

    def by_source(self, name: str) -> QvmLog:
        """Lines logged by ``name`` (``qvm`` or a vdev instance name)."""
        return QvmLog(line for line in self._lines if line.source == name)

    def at_level(self, *levels: str) -> QvmLog:
        """Lines at any of ``levels`` (case-insensitive, e.g. ``"fatal", "error"``)."""
        wanted = {_normalize_level(level) for level in levels}
        unknown = wanted.difference(LEVELS)
        if unknown:
            raise ValueError(f"unknown log level(s) {sorted(str(u) for u in unknown)}; allowed: {', '.join(LEVELS)}")
        return QvmLog(line for line in self._lines if line.level in wanted)

    def matching(self, pattern: Pattern) -> QvmLog:
        """Lines whose message matches ``pattern`` (``re.search``)."""
        rx = _compile(pattern)
        return QvmLog(line for line in self._lines if rx.search(line.message))

    def not_matching(self, pattern: Pattern) -> QvmLog:
        """Lines whose message does *not* match ``pattern`` (e.g. to drop known noise)."""
        rx = _compile(pattern)
        return QvmLog(line for line in self._lines if not rx.search(line.message))

    # --- queries ---
    def find(self, pattern: Pattern) -> LogLine | None:
        """The first line whose message matches ``pattern``, or None."""
        rx = _compile(pattern)
        return next((line for line in self._lines if rx.search(line.message)), None)

    def find_all(self, pattern: Pattern) -> list[LogLine]:
        """Every line whose message matches ``pattern``."""
        return list(self.matching(pattern))

    def _scope(self, source: str | None, level: str | None) -> tuple[QvmLog, str]:
        scope: QvmLog = self
        what: list[str] = []
        if source is not None:
            scope = scope.by_source(source)
            what.append(f"source {source!r}")
        if level is not None:
            scope = scope.at_level(level)
            what.append(f"level {_normalize_level(level)}")
        return scope, " and ".join(what)

    def _failure_context(self, scope: QvmLog, what: str) -> str:
        if not what:
            return excerpt(self)
        if not scope:
            seen = ", ".join(self.sources) or "none"
            return f"no line has {what} (sources seen: {seen})\n" + excerpt(self)
        return excerpt(scope, title=f"qvm log, lines with {what}")

    def expect(self, pattern: Pattern, *, source: str | None = None, level: str | None = None) -> re.Match[str]:
        """The first match of ``pattern`` in a message (of ``source``/``level`` if given).

        Raises ``AssertionError`` showing the pattern and a log excerpt (the last
        lines, or the lines of that source/level) when nothing matches.
        """
        __tracebackhide__ = True  # the failure is the test's, not this library's
        rx = _compile(pattern)
        scope, what = self._scope(source, level)
        for line in scope:
            m = rx.search(line.message)
            if m is not None:
                return m
        where = f" from {what}" if what else ""
        raise AssertionError(f"no qvm log line{where} matches {_show(pattern)}\n{self._failure_context(scope, what)}")

    def expect_none(self, pattern: Pattern, *, source: str | None = None, level: str | None = None) -> None:
        """Assert that no message (of ``source``/``level`` if given) matches ``pattern``;
        the ``AssertionError`` lists the offending lines."""
        __tracebackhide__ = True
        scope, what = self._scope(source, level)
        hits = scope.matching(pattern)
        if hits:
            where = f" from {what}" if what else ""
            raise AssertionError(
                f"{len(hits)} qvm log line(s){where} match {_show(pattern)}, expected none\n"
                + excerpt(hits, title="matching lines")
            )

    @property
    def termination(self) -> Termination | None:
        """The last ``guest terminated: ...`` line, parsed (None if qvm logged none)."""
        for line in reversed(self._lines):
            m = TERMINATION_RE.search(line.message)
            if m is not None:
                since = m["since"]
                return Termination(
                    cause=int(m["cause"]),
                    name=m["name"],
                    since_last_store=None if since == "none" else float(since),
                    line=line,
                )
        return None

    @property
    def exit_status_line(self) -> LogLine | None:
        """The last ``exit status=N`` line qvm logged before exiting, or None."""
        for line in reversed(self._lines):
            if EXIT_STATUS_RE.search(line.message):
                return line
        return None

    @property
    def logged_exit_status(self) -> int | None:
        """N from the last ``exit status=N`` line, or None."""
        line = self.exit_status_line
        if line is None:
            return None
        m = EXIT_STATUS_RE.search(line.message)
        return int(m["status"]) if m else None

    @property
    def config_fault(self) -> ConfigFault | None:
        """The first FATAL line naming ``file:line:`` and a quoted word, parsed (or None).

        Lines of unknown format (level None) are considered too.
        """
        for line in self._lines:
            if line.level not in (None, "FATAL"):
                continue
            m = CONFIG_FAULT_RE.search(line.message)
            if m is not None:
                return ConfigFault(file=m["file"], line=int(m["line"]), word=m["word"], log_line=line)
        return None

    def interrupts(self, intr: str | None = None, *, vdev: str | None = None) -> list[Interrupt]:
        """Every guest interrupt assertion logged (of ``intr``, e.g. ``"gic:33"``, and/or by
        vdev instance ``vdev`` if given).  qvmsim logs them at DEBUG: let ``debug`` through
        the ``logger`` filters to see them."""
        want = normalize_intr(intr) if intr is not None else None
        out: list[Interrupt] = []
        for line in self._lines:
            m = INTERRUPT_RE.search(line.message)
            if m is None or (want is not None and m["intr"] != want) or (vdev is not None and m["vdev"] != vdev):
                continue
            out.append(Interrupt(intr=m["intr"], vdev=m["vdev"], count=int(m["count"]), line=line))
        return out

    def interrupt_count(self, intr: str) -> int:
        """How many times ``intr`` was asserted, as far as the log shows (0: never)."""
        return max((i.count for i in self.interrupts(intr)), default=0)

    @property
    def dumps(self) -> list[str]:
        """Every guest dump qvm wrote: file paths, and ``|COMMAND`` for a dump piped to a command."""
        out: list[str] = []
        for line in self._lines:
            m = DUMP_RE.search(line.message)
            if m is not None:
                out.append(m["path"] if m["path"] is not None else "|" + m["command"])
        return out

    @property
    def power_button(self) -> LogLine | None:
        """The first power-button line (SIGTERM/SIGINT), or None."""
        return next((line for line in self._lines if BUTTON_RE.search(line.message)), None)

    @property
    def dryrun_completed(self) -> bool:
        """True when qvm logged ``Exiting: dryrun completed``."""
        return any(DRYRUN_RE.search(line.message) for line in self._lines)

    def as_dicts(self) -> list[dict[str, object]]:
        """Every line as ``{time, level, source, message}``."""
        return [line.as_dict() for line in self._lines]
