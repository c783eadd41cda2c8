"""Guest timers in their three modes (relative, absolute, recurring), checked
against qvmsim's own numbers: the guest_timer_data fields and the log's
timestamps (both CLOCK_MONOTONIC), with tolerances, never wall-clock asserts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.qvmsim import LogLine, QvmRun, RunQvm, stamp

PERIOD_NS = 20_000_000
LATE_NS = 150_000_000  # how late an expiry may run on a loaded 2-core machine
FIRED = re.compile(
    r"^timer fired n=(\d+) mode=\w+ host_notify_start=(\d+) host_current=(\d+) "
    r"guest_notify_start=(\d+) guest_current=(\d+)$"
)
ARMED = re.compile(r"^timer armed mode=\w+ now=(\d+) rc=(-?\d+)$")


def run_mode(run_qvm: RunQvm, probe_so: Path, mode: str, count: int = 5) -> QvmRun:
    conf = f"system t\nvdev {probe_so} loc 0x2000 tmode {mode} tperiod {PERIOD_NS // 1_000_000} tcount {count}\n"
    run = run_qvm(conf, script=f"sleep {count * 20 + 400}\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.one(r"^timer done$", source="probe")
    assert run.one(r"^timer created frequency=(\d+)$", source="probe").message.endswith("=1000000000")
    return run


def fired(run: QvmRun) -> list[tuple[LogLine, dict[str, int]]]:
    out = []
    for line in run.find(FIRED.pattern, source="probe"):
        m = FIRED.match(line.message)
        assert m
        n, hns, hcur, gns, gcur = (int(x) for x in m.groups())
        out.append(
            (
                line,
                {
                    "n": n,
                    "host_notify_start": hns,
                    "host_current": hcur,
                    "guest_notify_start": gns,
                    "guest_current": gcur,
                },
            )
        )
    return out


def armed(run: QvmRun) -> list[tuple[LogLine, int]]:
    out = []
    for line in run.find(ARMED.pattern, source="probe"):
        m = ARMED.match(line.message)
        assert m and m[2] == "0", line
        out.append((line, int(m[1])))
    return out


def check_common(run: QvmRun, count: int) -> list[dict[str, int]]:
    """Fields every mode shares: host and guest time are one clock, and the callback's
    "now" is when qvmsim logged it (the log line's µs timestamp, a little later)."""
    rows = fired(run)
    assert [d["n"] for _, d in rows] == list(range(1, count + 1))
    for line, d in rows:
        assert d["host_notify_start"] == d["guest_notify_start"]
        assert d["host_current"] == d["guest_current"]
        logged_ns = round(stamp(line) * 1e9)
        assert -1_000 <= logged_ns - d["guest_current"] < LATE_NS, (line, d)
    return [d for _, d in rows]


@pytest.mark.parametrize("mode", ["rel", "abs"])
def test_one_shot_timer_fires_a_period_after_it_was_armed(run_qvm: RunQvm, probe_so: Path, mode: str) -> None:
    run = run_mode(run_qvm, probe_so, mode)
    rows = check_common(run, 5)
    arms = armed(run)
    assert len(arms) == 5  # armed at GUEST_STARTING, then again from each callback but the last
    for (_, armed_at), d in zip(arms, rows):
        # the wait began at the notify call: just after the vdev's own clock read
        assert 0 <= d["guest_notify_start"] - armed_at < 5_000_000, (armed_at, d)
        # due = armed + period: never early, at most LATE_NS late
        assert PERIOD_NS <= d["guest_current"] - armed_at < PERIOD_NS + LATE_NS, (armed_at, d)


def test_recurring_timer_does_not_drift(run_qvm: RunQvm, probe_so: Path) -> None:
    count = 8
    run = run_mode(run_qvm, probe_so, "recur", count)
    rows = check_common(run, count)
    start = rows[0]["guest_notify_start"]
    first_arm = armed(run)[0][1]
    assert 0 <= start - first_arm < 5_000_000
    for k, d in enumerate(rows):
        # each wait begins exactly where the previous one was due: no drift at all
        assert d["guest_notify_start"] == start + k * PERIOD_NS, (k, d)
        due = start + (k + 1) * PERIOD_NS
        assert 0 <= d["guest_current"] - due < LATE_NS, (k, d)


def test_deadline_zero_disarms(run_qvm: RunQvm, probe_so: Path) -> None:
    # LATER (0x08): the probe's second timer, relative; 0 disarms it before it fires
    conf = f"system t\nvdev {probe_so} loc 0x2000 intr gic:40\n"
    run = run_qvm(
        conf,
        script="write 0x2008 8 50\nwrite 0x2008 8 0\nsleep 200\nirq count gic:40\n"
        "write 0x2008 8 10\nirq wait gic:40 2000\nshutdown\n",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["irq gic:40 count=0", "irq gic:40 count=1"]
    assert len(run.find(r"^later raised rc=0$", source="probe")) == 1
