"""QvmResult: construction from raw run data, JSON shape, summaries and assertion messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.qvm.exitcodes import Exit, ExitTable
from hil.qvm.log import parse_log
from hil.qvm.result import QvmResult

WATCHDOG_LOG = """\
5.000000 INFO qvm: qvmsim starting
5.000100 INFO wdog0: armed: timeout=500ms
5.400000 WARN wdog0: guest stopped kicking
5.912000 INFO qvm: guest terminated: cause=4 name=GTC_WATCHDOG since_last_store=0.512000
5.912100 INFO qvm: exit status=4
"""

CONFIG_LOG = (
    "0.100000 INFO qvm: qvmsim starting\n"
    "0.100100 FATAL qvm: run.qvmconf:3: vdev trace refused option 'fail_config': config failed\n"
    + "".join(f"0.2{i:05d} INFO trace: teardown step {i}\n" for i in range(40))
    + "0.300000 INFO qvm: exit status=65\n"
)


def test_from_run_decodes_and_takes_since_last_kick() -> None:
    result = QvmResult.from_run(
        exit_status=4,
        signal=None,
        duration_s=0.93,
        log_text=WATCHDOG_LOG,
        stdout="guest: kick\n",
        target="local",
        config_text="vdev wdog\n",
        artifacts={"qvm_log": Path("/tmp/a/run1.qvm.log")},
    )
    assert result.reason is Exit.WATCHDOG
    assert result.since_last_kick == pytest.approx(0.512)
    assert len(result.log) == 5
    result.assert_reason(Exit.WATCHDOG)
    result.assert_reason("watchdog")
    result.assert_exit(4)
    assert result.assert_log(r"timeout=(\d+)ms", source="wdog0").group(1) == "500"
    result.assert_no_log("segfault")


def test_from_run_uses_the_target_table() -> None:
    table = ExitTable.default().with_overrides({"watchdog": 3})
    result = QvmResult.from_run(exit_status=3, signal=None, duration_s=1.0, log_text="", table=table)
    assert result.reason is Exit.WATCHDOG
    assert result.since_last_kick is None
    signalled = QvmResult.from_run(exit_status=None, signal="SIGSEGV", duration_s=0.1, log_text="boom")
    assert signalled.reason is Exit.KILLED_BY_SIGNAL
    hung = QvmResult.from_run(exit_status=0, signal=None, duration_s=20.0, log_text="", hung=True)
    assert hung.reason is Exit.HUNG


def test_to_json_keys_and_values() -> None:
    result = QvmResult.from_run(
        exit_status=4,
        signal=None,
        duration_s=0.93,
        log_text=WATCHDOG_LOG + "foreign line\n",
        stdout="out",
        console="serial",
        target="qemu",
        artifacts={"qvm_log": Path("/tmp/a/log")},
    )
    data = result.to_json()
    assert list(data)[:7] == ["exit_status", "signal", "reason", "duration_s", "log", "stdout", "console"]
    assert data["exit_status"] == 4 and data["signal"] is None and data["reason"] == "WATCHDOG"
    assert data["duration_s"] == 0.93 and data["stdout"] == "out" and data["console"] == "serial"
    log = data["log"]
    assert isinstance(log, list) and len(log) == 6
    assert log[0] == {"time": 5.0, "level": "INFO", "source": "qvm", "message": "qvmsim starting"}
    assert log[-1] == {"time": None, "level": None, "source": None, "message": "foreign line"}
    assert data["termination"] == {"cause": 4, "name": "GTC_WATCHDOG", "since_last_store": 0.512}
    assert data["artifacts"] == {"qvm_log": "/tmp/a/log"}
    assert json.loads(json.dumps(data)) == data  # serialisable as is


def test_summary_one_liner() -> None:
    result = QvmResult.from_run(exit_status=4, signal=None, duration_s=0.93, log_text=WATCHDOG_LOG, target="local")
    assert str(result) == result.summary()
    assert "\n" not in result.summary()
    assert result.summary() == (
        "qvm WATCHDOG (exit status 4), after 0.930 s, on local, 5 log lines, 0.512000 s since last kick"
    )
    killed = QvmResult.from_run(exit_status=None, signal="SIGSEGV", duration_s=0.1, log_text="")
    assert killed.summary().startswith("qvm KILLED_BY_SIGNAL (killed by SIGSEGV)")
    hung = QvmResult.from_run(exit_status=0, signal=None, duration_s=5, log_text="", hung=True)
    assert "HUNG (exit status 0, stopped by the timeout escalation)" in hung.summary()


def config_failure() -> QvmResult:
    return QvmResult.from_run(
        exit_status=65, signal=None, duration_s=0.2, log_text=CONFIG_LOG, stdout="guest said hi\n", target="local"
    )


def test_assert_reason_failure_shows_reason_status_and_excerpt() -> None:
    with pytest.raises(AssertionError) as info:
        config_failure().assert_reason(Exit.WATCHDOG)
    message = str(info.value)
    assert message.startswith("expected qvm to end with WATCHDOG")
    assert "got FATAL_CONFIG (exit status 65)" in message
    # the fatal line scrolled out of the last 30 lines, so it is shown on its own
    assert "earlier fatal/error lines" in message and "refused option 'fail_config'" in message
    assert "last 30 of 43 lines" in message and "exit status=65" in message
    assert "guest said hi" in message


def test_assert_exit_failure() -> None:
    with pytest.raises(AssertionError, match=r"expected qvm exit status 0, got exit status 65 \(FATAL_CONFIG\)"):
        config_failure().assert_exit(0)
    killed = QvmResult.from_run(exit_status=None, signal="SIGSEGV", duration_s=0.1, log_text="x")
    with pytest.raises(AssertionError, match="got killed by SIGSEGV"):
        killed.assert_exit(0)


def test_assert_log_failure_shows_source_lines_and_run() -> None:
    with pytest.raises(AssertionError) as info:
        config_failure().assert_log(r"OPTIONS_END", source="trace")
    message = str(info.value)
    assert "'OPTIONS_END'" in message and "from source 'trace'" in message
    assert "teardown step 39" in message and "teardown step 9\n" not in message
    assert "-- run: qvm FATAL_CONFIG (exit status 65)" in message


def test_assert_no_log_failure_lists_offenders() -> None:
    with pytest.raises(AssertionError) as info:
        config_failure().assert_no_log(r"config failed")
    message = str(info.value)
    assert "1 qvm log line(s) match 'config failed'" in message
    assert "run.qvmconf:3: vdev trace refused" in message
    assert "FATAL_CONFIG" in message


def test_plain_construction_and_custom_cause() -> None:
    result = QvmResult(exit_status=40, signal=None, reason=Exit.CUSTOM, duration_s=0.5, log=parse_log(""))
    assert result.custom_cause == 40
    assert result.artifacts == {} and result.stdout == "" and result.hung is False
    assert config_failure().custom_cause is None


CRASH_LOG = """\
1.000 INFO trace: crashing on purpose (store to 0x10)
qvmsim crash: signal 11 (SIGSEGV) code 1 address 0x10 pc 0x7f0000001345 thread qvm-vcpu0
qvmsim crash: frame #0 0x55000000900 /usr/bin/qvm+0x7900
qvmsim crash: frame #1 0x7f0000002050 /lib/libc.so.6+0x3c050
qvmsim crash: frame #2 0x7f0000001345 /w/vdev-trace.so+0x1345
qvmsim crash: frame #3 0x55000001769 /usr/bin/qvm+0x8769
qvmsim crash: map 7f0000000000-7f0000001000   r--p 00000000 fe:00 1 /w/vdev-trace.so
qvmsim crash: end
"""


def test_a_crash_block_becomes_the_result_s_crash() -> None:
    run = QvmResult.from_run(exit_status=None, signal="SEGV", duration_s=0.1, log_text=CRASH_LOG)
    crash = run.crash
    assert crash is not None and (crash.signal, crash.address, crash.thread) == ("SIGSEGV", 0x10, "qvm-vcpu0")
    assert [f.offset for f in crash.frames] == [0x1345, 0x8769]  # the handler's own frames dropped
    assert crash.maps == ("7f0000000000-7f0000001000 r--p 00000000 fe:00 1 /w/vdev-trace.so",)
    assert "killed by SIGSEGV at address 0x10" in run.summary()
    assert "vdev-trace.so+0x1345" in run.explain() and run.to_json()["crash"] is not None
    assert QvmResult.from_run(exit_status=0, signal=None, duration_s=0.1, log_text=CRASH_LOG).crash is None
