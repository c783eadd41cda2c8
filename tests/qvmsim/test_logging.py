"""The logger: filter sets (not thresholds), destinations, per-vdev `log`, one line per message."""

from __future__ import annotations

import re

from hil.qvm.log import parse_log
from tests.support.qvmsim import RunQvm, log_lines

TRACE = "vdev trace loc 0x1000 tick 0\n"
STRAY = "write 0x9000 4 1\nshutdown\n"  # one ERROR line from qvm


def test_default_is_fatal_to_info_on_stderr(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, script=STRAY)
    levels = {line.level for line in run.log}
    assert levels == {"INFO", "ERROR"}
    assert run.stdout == ""
    # every stderr line is a log line of the documented shape: hil.qvm.log parses it
    # (a level), its time has microseconds
    log = parse_log(run.stderr)
    assert len(log) == len(run.stderr.splitlines())
    assert all(line.level is not None and re.fullmatch(r"\d+\.\d{6}", line.raw.split(" ", 1)[0]) for line in log), (
        log.text
    )


def test_filters_are_a_set_and_dest_stdout(run_qvm: RunQvm) -> None:
    run = run_qvm("logger error stdout\n" + TRACE, script=STRAY)
    assert run.returncode == 0
    assert run.stderr == ""
    out = log_lines(run.stdout)
    assert [line.level for line in out] == ["ERROR"]
    # debug without info: a set, not a threshold
    run = run_qvm("logger debug stderr\n" + TRACE, script=STRAY)
    assert {line.level for line in run.log} == {"DEBUG"}


def test_dest_none_and_slog_keep_stdio_quiet(run_qvm: RunQvm) -> None:
    for dest in ("none", "slog"):
        run = run_qvm(f"logger fatal,error,warn,info {dest}\n" + TRACE, script=STRAY)
        assert run.returncode == 0
        assert run.stderr == "" and run.stdout == ""


def test_per_vdev_log_overrides_the_vm_setting(run_qvm: RunQvm) -> None:
    conf = "logger error stderr\nvdev trace loc 0x1000 tick 0 log info stdout\nvdev wdog loc 0x2000\n"
    run = run_qvm(conf, script=STRAY)
    assert run.returncode == 0
    vdev_lines = log_lines(run.stdout)
    assert vdev_lines and {line.source for line in vdev_lines} == {"trace"}
    assert "ctrl OPTIONS_START" in [line.message for line in vdev_lines]
    # qvm and wdog follow the VM-wide setting: errors only, on stderr
    assert [(line.level, line.source) for line in run.log] == [("ERROR", "qvm")]


def test_instance_name_is_the_source_and_multiline_messages_stay_one_line(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev trace name tr0 loc 0x1000 tick 0 verbose\n", script="write 0x1000 4 5\nshutdown\n")
    assert run.one(r"^store offset 0x0 size 4 value 0x5$", source="tr0", level="INFO")
    assert not run.find("", source="trace")


def test_verbose_shows_every_guest_store(run_qvm: RunQvm) -> None:
    run = run_qvm("logger verbose stderr\n" + TRACE, script="write 0x1000 2 0xbeef\nshutdown\n")
    assert [line.message for line in run.log] == ["guest store 0x1000/2 = 0xbeef -> vdev 'trace'"]
