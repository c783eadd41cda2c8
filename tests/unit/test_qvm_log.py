"""Parsing qvm's log: qvmsim's lines, foreign lines, queries and assertions."""

from __future__ import annotations

import re

import pytest

from hil.qvm.log import LogLine, QvmLog, parse_line, parse_log

QVMSIM_LOG = """\
12.000100 INFO qvm: qvmsim 0.1 starting, config run.qvmconf
12.000200 DEBUG qvm: loading vdev-wdog.so
12.000300 INFO wdog0: options: timeout=500
12.000400 INFO trace: control OPTIONS_START
12.000500 INFO trace: control GUEST_CONFIGURED
12.010000 WARN wdog0: guest stopped kicking
12.510000 ERROR wdog0: bite: terminating guest
12.510100 INFO qvm: guest terminated: cause=4 name=GTC_WATCHDOG since_last_store=0.512345
12.510200 INFO trace: control TERMINATE
12.510300 INFO qvm: exit status=4
"""


def test_qvmsim_line_fields() -> None:
    line = parse_line("12.510100 INFO qvm: guest terminated: cause=4 name=GTC_WATCHDOG since_last_store=0.5\n")
    assert line == LogLine(
        raw="12.510100 INFO qvm: guest terminated: cause=4 name=GTC_WATCHDOG since_last_store=0.5",
        time=12.5101,
        level="INFO",
        source="qvm",
        message="guest terminated: cause=4 name=GTC_WATCHDOG since_last_store=0.5",
    )
    vdev = parse_line("0.000001 VERBOSE my-vdev.1: x: y")
    assert (vdev.time, vdev.level, vdev.source, vdev.message) == (0.000001, "VERBOSE", "my-vdev.1", "x: y")
    empty_message = parse_line("1.000000 FATAL qvm:")
    assert (empty_message.level, empty_message.message) == ("FATAL", "")


@pytest.mark.parametrize(
    "raw",
    [
        "qvm: error: vdev-foo.so: cannot open shared object file",
        "Segmentation fault (core dumped)",
        "12.5 NOTICE qvm: a level qvmsim never writes",
        "INFO qvm: no timestamp",
        "",
        "   indented",
    ],
)
def test_foreign_lines_keep_whole_line_as_message(raw: str) -> None:
    line = parse_line(raw + "\r\n")
    assert (line.time, line.level, line.source) == (None, None, None)
    assert line.message == raw == line.raw


def test_extra_format_for_another_qvm() -> None:
    fmt = re.compile(r"^\[(?P<level>\w+)\] (?P<source>\w+) (?P<message>.*)$")
    line = parse_line("[err] qvm something broke", formats=(fmt,))
    assert (line.time, line.level, line.source, line.message) == (None, "ERROR", "qvm", "something broke")


def test_log_sequence_and_filters() -> None:
    log = parse_log(QVMSIM_LOG + "a foreign line\n")
    assert len(log) == 11
    assert log[0].source == "qvm"
    assert isinstance(log[1:3], QvmLog) and len(log[1:3]) == 2
    assert log.text.splitlines()[-1] == "a foreign line"
    assert log.sources == ("qvm", "wdog0", "trace")
    assert [ln.message for ln in log.by_source("trace")] == [
        "control OPTIONS_START",
        "control GUEST_CONFIGURED",
        "control TERMINATE",
    ]
    assert [ln.level for ln in log.at_level("warn", "ERROR")] == ["WARN", "ERROR"]
    assert len(log.not_matching(r"^control ")) == 8
    with pytest.raises(ValueError, match="allowed"):
        log.at_level("loud")


def test_find_and_find_all() -> None:
    log = parse_log(QVMSIM_LOG)
    found = log.find(r"control (\w+)")
    assert found is not None and found.message == "control OPTIONS_START"
    assert log.find("no such thing") is None
    assert [ln.message.split()[-1] for ln in log.find_all(re.compile(r"^control"))] == [
        "OPTIONS_START",
        "GUEST_CONFIGURED",
        "TERMINATE",
    ]
    # messages are searched, not the raw prefix
    assert log.find(r"^INFO") is None


def test_expect_returns_match() -> None:
    log = parse_log(QVMSIM_LOG)
    m = log.expect(r"options: timeout=(\d+)", source="wdog0")
    assert m.group(1) == "500"
    assert log.expect("bite", level="error").group(0) == "bite"


def test_expect_failure_shows_pattern_and_tail() -> None:
    lines = [f"1.{i:06d} INFO qvm: line {i}" for i in range(50)]
    log = parse_log("\n".join(lines))
    with pytest.raises(AssertionError) as info:
        log.expect(r"config failed")
    message = str(info.value)
    assert "'config failed'" in message
    assert "last 30 of 50 lines" in message
    assert "line 49" in message and "line 20" in message
    assert "qvm: line 19" not in message


def test_expect_failure_with_source_shows_that_source() -> None:
    log = parse_log(QVMSIM_LOG)
    with pytest.raises(AssertionError) as info:
        log.expect(r"kick", source="trace")
    message = str(info.value)
    assert "from source 'trace'" in message
    assert "control GUEST_CONFIGURED" in message
    assert "wdog0" not in message
    with pytest.raises(AssertionError) as info:
        log.expect(r"kick", source="nosuch")
    assert "sources seen: qvm, wdog0, trace" in str(info.value)


def test_expect_none() -> None:
    log = parse_log(QVMSIM_LOG)
    log.expect_none(r"segfault")
    log.expect_none(r"bite", source="trace")
    with pytest.raises(AssertionError) as info:
        log.expect_none(r"bite|stopped kicking")
    message = str(info.value)
    assert "2 qvm log line(s)" in message and "guest stopped kicking" in message and "bite: terminating" in message


def test_termination_and_exit_status() -> None:
    log = parse_log(QVMSIM_LOG)
    term = log.termination
    assert term is not None
    assert (term.cause, term.name, term.since_last_store) == (4, "GTC_WATCHDOG", 0.512345)
    assert term.line.source == "qvm"
    assert log.logged_exit_status == 4
    assert log.exit_status_line is not None and log.exit_status_line.message == "exit status=4"


def test_termination_none_and_absent() -> None:
    log = parse_log("1.000000 INFO qvm: guest terminated: cause=0 name=GTC_NORMAL_EXIT since_last_store=none\n")
    term = log.termination
    assert term is not None and term.since_last_store is None and term.cause == 0
    assert log.logged_exit_status is None and log.exit_status_line is None
    assert parse_log("qvm crashed\n").termination is None
    # a foreign-format line with the same text still counts
    foreign = parse_log("<qvm> guest terminated: cause=40 name=GTC_CUSTOM since_last_store=1.5")
    assert foreign.termination is not None and foreign.termination.since_last_store == 1.5


def test_config_fault() -> None:
    log = parse_log(
        "0.000100 INFO qvm: reading run.qvmconf\n"
        "0.000200 FATAL qvm: run.qvmconf:7: unknown option 'bogus' for vdev trace\n"
        "0.000300 INFO qvm: exit status=65\n"
    )
    fault = log.config_fault
    assert fault is not None
    assert (fault.file, fault.line, fault.word) == ("run.qvmconf", 7, "bogus")
    assert parse_log(QVMSIM_LOG).config_fault is None


def test_as_dicts_and_empty_log() -> None:
    log = parse_log("1.000000 INFO qvm: hi\nforeign")
    assert log.as_dicts() == [
        {"time": 1.0, "level": "INFO", "source": "qvm", "message": "hi"},
        {"time": None, "level": None, "source": None, "message": "foreign"},
    ]
    empty = parse_log("")
    assert len(empty) == 0 and empty.termination is None
    with pytest.raises(AssertionError, match=r"qvm log: \(empty\)"):
        empty.expect("x")


def test_dumps_power_button_and_dryrun_lines() -> None:
    log = parse_log(
        "1.000001 INFO qvm: power button pressed (SIGTERM): VDEV_CTRL_BUTTON to every vdev, "
        "the guest is asked to shut down\n"
        "1.000002 INFO qvm: guest dump written: /tmp/d/vm-20261130-120000.gcore (SIGUSR2)\n"
        "1.000003 INFO qvm: guest dump piped to 'gzip >/tmp/x.gz' (watchdog bite)\n"
        "1.000004 INFO qvm: Exiting: dryrun completed\n"
    )
    assert log.dumps == ["/tmp/d/vm-20261130-120000.gcore", "|gzip >/tmp/x.gz"]
    assert log.power_button is not None and "SIGTERM" in log.power_button.message
    assert log.dryrun_completed
    empty = parse_log("")
    assert empty.dumps == [] and empty.power_button is None and not empty.dryrun_completed
