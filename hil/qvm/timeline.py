"""One qvm run as data for the HTML report: its log lines and session events on one time axis.

The axis is qvm's own clock (qvmsim: CLOCK_MONOTONIC seconds, the log's timestamps).  What
the session did from the host (signals sent, lines written to the guest console) happened
on the host's monotonic clock; it is mapped onto qvm's clock by the smallest difference
seen between a log line's arrival on the host and its own timestamp (the line cannot have
arrived before it was written, so that difference is the clock offset plus the shortest
transport delay).  ``run_data`` returns a JSON-ready dict; the runner writes it as
``runN.data.json`` beside the run's logs.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from hil.qvm.log import BUTTON_RE, EXIT_STATUS_RE, INTERRUPT_RE, TERMINATION_RE, LogLine, QvmLog

#: Event kinds drawn on the timeline, one row each, in this order.
KINDS: tuple[str, ...] = ("lifecycle", "store", "interrupt", "log", "signal", "stdin", "end")

_CTRL_RE = re.compile(r"^ctrl\s+\S+")
_STORE_RE = re.compile(r"^guest (?:store|fill)\b")
_TIMEOUT_RE = re.compile(r"^timeout\s+(?P<ms>\d+)\b")


def classify(line: LogLine) -> str:
    """The timeline row of a log line: lifecycle, store, interrupt, end, or log."""
    message = line.message
    if _CTRL_RE.search(message):
        return "lifecycle"
    if _STORE_RE.search(message):
        return "store"
    if INTERRUPT_RE.search(message):
        return "interrupt"
    if TERMINATION_RE.search(message) or EXIT_STATUS_RE.search(message) or BUTTON_RE.search(message):
        return "end"
    return "log"


def watchdog_timeout_s(config_text: str) -> float | None:
    """The ``timeout N`` (milliseconds) of the first vdev that sets one, in seconds (None: no such option)."""
    in_vdev = False
    for raw in config_text.splitlines():
        words = raw.split("#", 1)[0].strip()
        if not words:
            continue
        if not raw[:1].isspace():
            in_vdev = words.split()[0] == "vdev"
            continue
        m = _TIMEOUT_RE.match(words)
        if in_vdev and m is not None:
            return int(m["ms"]) / 1000.0
    return None


def clock_offset(log: QvmLog, log_bytes: bytes, arrivals: Sequence[tuple[float, int]]) -> float | None:
    """Host monotonic time minus qvm time, from when each log line arrived (``arrivals``: host time,
    stderr length after each chunk); None when no timed line arrived."""
    if not arrivals:
        return None
    ends: list[int] = []
    pos = 0
    for raw in log_bytes.split(b"\n"):
        pos += len(raw) + 1
        ends.append(pos)  # the stderr length at which this line (with its newline) is complete
    lengths = [n for _, n in arrivals]
    best: float | None = None
    for line, end in zip(log.from_origin("stderr"), ends):  # slog2 records are not in stderr
        if line.time is None:
            continue
        i = bisect.bisect_left(lengths, end)
        if i >= len(arrivals):
            continue
        diff = arrivals[i][0] - line.time
        best = diff if best is None else min(best, diff)
    return best


def run_data(
    *,
    log: QvmLog,
    log_bytes: bytes,
    arrivals: Sequence[tuple[float, int]],
    events: Sequence[tuple[float, str, str]],
    started: float,
    ended: float,
    config_text: str,
    exit_status: int | None,
    signal: str | None,
    reason: str,
    duration_s: float,
) -> dict[str, object]:
    """One run on qvm's clock: ``log`` (t, level, source, message, kind), ``events`` (t, kind,
    detail), ``start``/``end`` (the session's, mapped), termination, exit and bite latency."""
    offset = clock_offset(log, log_bytes, arrivals)
    if offset is None:
        offset = started  # no timed log line: the axis is seconds since the session started

    lines = [
        {"t": line.time, "level": line.level, "source": line.source, "message": line.message, "kind": classify(line)}
        for line in log
    ]
    term = log.termination
    timeout = watchdog_timeout_s(config_text)
    latency = None
    if term is not None and term.name == "GTC_WATCHDOG" and term.since_last_store is not None and timeout:
        latency = term.since_last_store - timeout
    exit_line = log.exit_status_line
    return {
        "start": started - offset,
        "end": ended - offset,
        "clock_offset": offset,
        "log": lines,
        "events": [{"t": t - offset, "kind": kind, "detail": detail} for t, kind, detail in events],
        "termination": (
            {"cause": term.cause, "name": term.name, "since_last_store": term.since_last_store, "t": term.line.time}
            if term is not None
            else None
        ),
        "exit": {
            "status": exit_status,
            "signal": signal,
            "reason": reason,
            "t": exit_line.time if exit_line is not None else None,
        },
        "duration_s": duration_s,
        "watchdog_timeout_s": timeout,
        "bite_latency_s": latency,
    }
