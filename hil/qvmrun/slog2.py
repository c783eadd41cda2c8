"""qvm's slog2 log: ``slog2info`` output parsed, windowed to one run, merged into ``QvmLog``.

On QNX, qvm's ``logger ... slog`` destination and its internal messages (always)
go to slog2, the system logger, not to stderr.  A run on a QNX target (or any
run whose configuration routes a level to ``slog``, see ``slog2_wanted``) reads
them back after qvm ends with ``slog2info -b <buffer set>`` (``[qvm] slog2_buffer``,
default ``qvm``), keeps the records of this qvm process (its pid) between the
run's start and end (the target's clock), merges them with the stderr lines in
time order, and keeps the raw text as the artifact ``runN.slog2info.txt``.

``slog2info``'s output format, as QNX's tools read it (QNX Momentics / Qt
Creator's ``Slog2InfoRunner`` parses exactly this; slogger2 and its buffer sets
are documented at
https://www.qnx.com/developers/docs/7.1/com.qnx.doc.neutrino.utilities/topic/s/slogger2.html)::

    Jan 01 00:00:04.284    qvm.123456         qvm   0  INFO qvm: guest started
    <Mon DD HH:MM:SS.mmm>  <buffer set>.<pid> <buffer name>[*] <code> <message>

a message's further lines follow on lines of their own (they do not start with
a date).  The year is not printed: it is taken from the run's start.  The public
QEMU target has no QNX: qvmsim writes a slog2-style buffer and the image's
``/usr/bin/slog2info`` is qvmsim's stand-in (``hil/qvmsim/tools/slog2info.c``),
which prints this same format, so this code path runs end to end there.

qvmsim's slog messages are ``<LEVEL> <source>: <message>`` (its stderr line
without the time), so their level and source are parsed; a real qvm's slog
message format is [unknown]: a message that does not match keeps level and
source ``None`` and is matched by its text, as on stderr.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hil.core.command import shell_command
from hil.core.errors import InfrastructureError
from hil.core.osfacts import os_facts
from hil.qvm.log import LEVELS, LogLine, QvmLog, _normalize_level

if TYPE_CHECKING:
    from hil.targets.base import Target

__all__ = [
    "SLOG2INFO_RE",
    "Slog2Capture",
    "Slog2Record",
    "collect",
    "merge",
    "parse_slog2info",
    "slog2_wanted",
    "start_snippet",
    "window",
]

#: One record's first line in slog2info's output (see the module docstring).
SLOG2INFO_RE = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+(?P<hms>\d{1,2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,6}))?\s+"
    r"(?P<set>\S+?)\.(?P<pid>\d+)\s+(?:(?P<buffer>\S+?)\*?\s+)??(?P<code>\d+)\s+(?P<message>.*)$"
)
#: qvmsim's slog message: its stderr line without the time.
MESSAGE_RE = re.compile(r"^(?P<level>" + "|".join(LEVELS) + r")\s+(?P<source>[^\s:]+):[ ]?(?P<message>.*)$", re.S)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}

#: The file (in the run's folder) holding the target's clock when qvm started.
START_FILE = "slog2.start"
#: ``date`` format of the start and end stamps (busybox, GNU and QNX ``date`` all take it).
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_SEP = "@@hil-slog2@@"


@dataclass(frozen=True)
class Slog2Record:
    """One slog2info record: when (the target's local clock), buffer set, pid, buffer, code, message."""

    when: datetime
    buffer_set: str
    pid: int
    buffer: str | None
    code: int
    message: str  # further lines joined with "\n"
    raw: str

    def log_line(self, time: float | None = None) -> LogLine:
        """As a ``QvmLog`` line (origin ``slog2``): level and source from qvmsim's message format."""
        m = MESSAGE_RE.match(self.message)
        return LogLine(
            raw=self.raw,
            time=time,
            level=_normalize_level(m["level"]) if m else None,
            source=m["source"] if m else None,
            message=m["message"] if m else self.message,
            origin="slog2",
        )


def parse_slog2info(text: str, year: int | None = None) -> list[Slog2Record]:
    """Every record of ``slog2info`` output; lines before the first record are ignored.

    ``year``: the year of the dates (slog2info does not print it; default: this year).
    """
    year = year or datetime.now().year
    records: list[Slog2Record] = []
    for line in text.splitlines():
        m = SLOG2INFO_RE.match(line)
        if m is None:
            if records:  # a further line of the previous message
                last = records[-1]
                records[-1] = replace(last, message=last.message + "\n" + line, raw=last.raw + "\n" + line)
            continue
        hour, minute, second = (int(x) for x in m["hms"].split(":"))
        month = _MONTHS.get(m["mon"])
        if month is None:
            continue
        frac = m["frac"] or "0"
        try:
            when = datetime(year, month, int(m["day"]), hour, minute, second, int(frac.ljust(6, "0")[:6]))
        except ValueError:  # Feb 30 and the like: not a record
            continue
        records.append(
            Slog2Record(
                when=when,
                buffer_set=m["set"],
                pid=int(m["pid"]),
                buffer=m["buffer"],
                code=int(m["code"]),
                message=m["message"],
                raw=line,
            )
        )
    return records


def window(
    records: Iterable[Slog2Record],
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    pid: int | None = None,
    buffer_set: str | None = None,
    slack: float = 1.0,
) -> list[Slog2Record]:
    """The records of one run: from ``start`` to ``end`` (each widened by ``slack`` seconds: the
    stamps have whole seconds, the records milliseconds), of process ``pid``, of ``buffer_set``."""
    lo = start - timedelta(seconds=slack) if start else None
    hi = end + timedelta(seconds=slack) if end else None
    return [
        r
        for r in records
        if (lo is None or r.when >= lo)
        and (hi is None or r.when <= hi)
        and (pid is None or r.pid == pid)
        and (buffer_set is None or r.buffer_set == buffer_set)
    ]


def _key(line: LogLine) -> tuple[str | None, str | None, str]:
    return line.level, line.source, line.message


def merge(stderr: QvmLog, records: Sequence[Slog2Record], start: datetime | None = None) -> QvmLog:
    """``stderr``'s lines and ``records`` in one ``QvmLog``, in time order.

    A record that is also a stderr line (a level logged to both) is the same event: it is
    not repeated, and the first such pair ties the two clocks together (qvmsim's stderr has
    CLOCK_MONOTONIC seconds, slog2 the wall clock).  Without one, a record's time is taken
    from the run's ``start`` (the first stderr line's time counted as ``start``).  Stderr lines
    keep their order; a record goes before the first stderr line that is later than it.
    """
    if not records:
        return stderr
    epoch = [r.when.timestamp() for r in records]
    lines = [r.log_line() for r in records]
    seen = {_key(line): line for line in stderr if line.time is not None}
    offset: float | None = None
    keep: list[int] = []
    for i, line in enumerate(lines):
        twin = seen.get(_key(line))
        if twin is not None and line.level is not None:
            if offset is None and twin.time is not None:
                offset = twin.time - epoch[i]
            continue
        keep.append(i)
    if offset is None:
        first = next((line.time for line in stderr if line.time is not None), None)
        base = start.timestamp() if start is not None else min(epoch)
        offset = (first - base) if first is not None else -base
    extra = sorted(((epoch[i] + offset, n, replace(lines[i], time=epoch[i] + offset)) for n, i in enumerate(keep)))
    out: list[LogLine] = []
    pending = list(extra)
    for line in stderr:
        while pending and line.time is not None and pending[0][0] < line.time:
            out.append(pending.pop(0)[2])
        out.append(line)
    out.extend(item[2] for item in pending)
    return QvmLog(out)


# -- on a target -------------------------------------------------------------------------------

_SLOG_DEST = re.compile(r"(?<![\w-])slog(?![\w-])")


def slog2_wanted(target: Target, config_text: str) -> bool:
    """Read slog2 for this run: ``[qvm] slog2`` says ``always``/``never``; ``auto`` (default): on a
    QNX target always (qvm's internal messages go there), elsewhere when the configuration
    routes a level to ``slog``."""
    mode = target.definition.qvm.slog2
    if mode != "auto":
        return mode == "always"
    if os_facts(target.definition.target_os).slog2:
        return True
    return bool(_SLOG_DEST.search(config_text))


def start_snippet() -> str:
    """Shell text recording the target's clock in ``START_FILE`` (run in the run's folder just
    before qvm starts)."""
    return f"date {shell_command(['+' + DATE_FORMAT])} > {START_FILE}"


@dataclass(frozen=True)
class Slog2Capture:
    """What ``collect`` read: slog2info's raw output, the run's records and window."""

    raw: str
    records: list[Slog2Record]
    start: datetime | None
    end: datetime | None
    pid: int | None


def _stamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), DATE_FORMAT)
    except ValueError:
        return None


def collect(target: Target, folder: str, timeout: float = 30.0) -> Slog2Capture:
    """After qvm ended: run slog2info on ``target`` (in the run's ``folder``, which holds the
    start stamp and ``qvm.pid``) and keep this run's records.

    A missing ``slog2info`` is an ``InfrastructureError`` saying how to fix it."""
    q = target.definition.qvm
    program = q.slog2info
    if target.on_this_host and program == "slog2info":  # this host: qvmsim's stand-in, built here
        from hil.targets.sdk import build_slog2info

        program = str(build_slog2info())
    command = (
        f"cd {shell_command([folder])} || exit 1; cat {START_FILE} 2>/dev/null; echo {_SEP}; "
        f"date {shell_command(['+' + DATE_FORMAT])}; echo {_SEP}; head -n 1 qvm.pid 2>/dev/null; echo {_SEP}; "
        f"{shell_command([program, '-b', q.slog2_buffer])}; echo {_SEP} $?"
    )
    result = target.run(command, timeout=timeout)
    parts = result.stdout_text.split(_SEP)
    if len(parts) != 5:
        raise InfrastructureError(
            f"reading qvm's slog2 log on {target.name} failed (exit {result.exit_status}): "
            f"{(result.stderr_text or result.stdout_text).strip()[-500:]}"
        )
    start, end, pid_text, raw, rc = (p.strip("\n") for p in parts)
    if rc.strip() not in ("0", ""):
        raise InfrastructureError(
            f"'{q.slog2info} -b {q.slog2_buffer}' failed on {target.name} (exit {rc.strip()}): "
            f"{result.stderr_text.strip()[-300:]}; install slog2info on the target, or set [qvm] slog2 = "
            f'"never" in {target.definition.source}'
        )
    started, ended = _stamp(start), _stamp(end)
    pid = int(pid_text.split()[0]) if pid_text.strip().split() and pid_text.split()[0].isdigit() else None
    year = (started or ended or datetime.now()).year
    records = window(parse_slog2info(raw, year), started, ended, pid=pid, buffer_set=q.slog2_buffer)
    return Slog2Capture(raw=raw + ("\n" if raw else ""), records=records, start=started, end=ended, pid=pid)
