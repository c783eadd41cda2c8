"""slog2info output parsed (the format QNX's tools read), windowed to one run, merged into QvmLog."""

from __future__ import annotations

from datetime import datetime

from hil.qvm.log import parse_log
from hil.qvmrun.slog2 import merge, parse_slog2info, window

# slog2info's documented output: date and time (ms), <buffer set>.<pid>, buffer name (a trailing
# '*' on some), the code, the message; further lines of a message on lines of their own.
OUTPUT = """\
Jan 01 00:00:00.000 slogger2.4097                slogger2*  0  -----ONLINE-----
Mar 04 10:15:02.120 qvm.123456               qvm        0  INFO qvm: guest started
Mar 04 10:15:02.450 qvm.123456               qvm        0  ERROR trace: register dump follows
  r0=0x1
  r1=0x2
Mar 04 10:15:02.451 devb-sdmmc.8194          sdmmc      0  card inserted
Mar 04 10:15:03.002 qvm.123456 qvm 7 WARN qvm: late
Mar 04 10:15:09.500 qvm.999 qvm 0 INFO qvm: another qvm
Mar 04 10:20:00.000 qvm.123456 qvm 0 INFO qvm: after the run
"""


def test_documented_format_is_parsed() -> None:
    records = parse_slog2info(OUTPUT, year=2025)
    assert len(records) == 7
    first = records[0]
    assert (first.buffer_set, first.pid, first.buffer, first.code) == ("slogger2", 4097, "slogger2", 0)
    assert first.message == "-----ONLINE-----"
    r = records[1]
    assert r.when == datetime(2025, 3, 4, 10, 15, 2, 120000)
    assert (r.buffer_set, r.pid, r.buffer) == ("qvm", 123456, "qvm")
    assert records[4].code == 7 and records[4].message == "WARN qvm: late"
    line = r.log_line(1.5)
    assert (line.level, line.source, line.message, line.origin, line.time) == (
        "INFO",
        "qvm",
        "guest started",
        "slog2",
        1.5,
    )
    # a message of another format keeps no level or source
    other = records[3].log_line()
    assert (other.level, other.source, other.message) == (None, None, "card inserted")


def test_multi_line_messages_stay_one_record() -> None:
    dump = parse_slog2info(OUTPUT, year=2025)[2]
    assert dump.message == "ERROR trace: register dump follows\n  r0=0x1\n  r1=0x2"
    assert dump.raw.count("\n") == 2
    line = dump.log_line()
    assert line.level == "ERROR" and line.source == "trace" and line.message.endswith("r1=0x2")


def test_time_window_pid_and_buffer_set() -> None:
    records = parse_slog2info(OUTPUT, year=2025)
    start, end = datetime(2025, 3, 4, 10, 15, 2), datetime(2025, 3, 4, 10, 15, 9)
    run = window(records, start, end, pid=123456, buffer_set="qvm")
    assert [r.message.splitlines()[0] for r in run] == [
        "INFO qvm: guest started",
        "ERROR trace: register dump follows",
        "WARN qvm: late",
    ]
    assert len(window(records, start, end)) == 5  # every process in the window
    assert window(records, datetime(2025, 3, 4, 10, 15, 3), None, slack=0.0)[0].message == "WARN qvm: late"


def test_merge_in_time_order_without_repeating_a_line_logged_to_both() -> None:
    stderr = parse_log(
        "100.000000 INFO qvm: guest started\n100.300000 INFO qvm: between\n101.000000 INFO qvm: exit status=0\n"
    )
    records = window(parse_slog2info(OUTPUT, year=2025), pid=123456)[:3]
    merged = merge(stderr, records)
    assert [(ln.origin, ln.message.splitlines()[0]) for ln in merged] == [
        ("stderr", "guest started"),  # in both: once, and it ties the two clocks together
        ("stderr", "between"),
        ("slog2", "register dump follows"),  # 0.33 s after the start
        ("slog2", "late"),  # 0.882 s after
        ("stderr", "exit status=0"),
    ]
    register_dump = merged[2].time
    assert register_dump is not None and abs(register_dump - 100.33) < 1e-6
    assert merged.from_origin("slog2").text.startswith("Mar 04 10:15:02.450")
    merged.expect(r"late", source="qvm", level="WARN")
    # no stderr at all (logger ... slog only): the records, times from the run's start
    only = merge(parse_log(""), records, start=datetime(2025, 3, 4, 10, 15, 2))
    assert [round(ln.time or 0, 3) for ln in only] == [0.12, 0.45, 1.002]
