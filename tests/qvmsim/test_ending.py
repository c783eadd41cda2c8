"""How qvm ends: the exit-status table (contract §4) and the signals (§5)."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.qvmsim import QvmProc, RunQvm

TRACE_VDEV = "vdev trace loc 0x1000 tick 5\n"
TRACE = "system demo\n" + TRACE_VDEV
StartQvm = Callable[..., QvmProc]


def test_qvm_fatal_after_guest_start_exits_96(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, script="write 0x1000 4 7\nwrite 0x100c 4 0xbad\n")
    assert run.returncode == 96, run.stderr
    fatal = run.one(r"^fatal error on guest store \(value 0xbad\)$", level="FATAL")
    assert fatal.source == "trace"
    assert run.trace_ctrls()[-1] == "ctrl TERMINATE"
    assert run.log[-1].message == "exit status=96"


def test_qvm_fatal_before_start_from_a_vdev_source_exits_64(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE + "fail_config vdev\n", timeout=5)
    assert run.returncode == 64, run.stderr
    assert run.one(r"^vdev failure during setup", source="trace", level="FATAL")
    assert run.trace_ctrls()[-1] == "ctrl TERMINATE"


@pytest.mark.parametrize("cause", [32, 45, 63])
def test_custom_causes_become_the_exit_status(run_qvm: RunQvm, cause: int) -> None:
    run = run_qvm(TRACE, script=f"write 0x1008 4 {cause}\n")
    assert run.returncode == cause, run.stderr
    line = run.one(r"^guest terminated: ", source="qvm", level="INFO").message
    assert line.startswith(f"guest terminated: cause={cause} name=GTC_CUSTOM_MIN+{cause - 32} since_last_store=0.0")
    assert run.trace_ctrls()[-1] == "ctrl TERMINATE"


def test_cause_out_of_range_is_an_unexpected_error(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, script="write 0x1008 4 64\n")
    assert run.returncode == 7
    assert run.one(r"guest_terminate\(64\): cause outside 0\.\.63", level="ERROR")
    assert run.one(r"^guest terminated: cause=7 name=GTC_UNEXPECTED ")


def test_vdev_segfault_kills_qvm_by_sigsegv(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, script="write 0x1010 4 0x10\n")
    assert run.returncode == -signal.SIGSEGV, run.stderr
    assert not run.find("exit status")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_power_button_signal_exits_0(start_qvm: StartQvm, sig: signal.Signals) -> None:
    q = start_qvm(TRACE)
    q.wait_for("guest started")
    q.signal(sig)
    run = q.finish()
    assert run.returncode == 0, run.stderr
    button = run.one("power button", source="qvm", level="INFO")
    assert sig.name in button.message
    ctrls = run.trace_ctrls()
    assert ctrls[-2:] == ["ctrl BUTTON", "ctrl TERMINATE"]
    assert run.one(r"^guest terminated: cause=0 name=GTC_NORMAL_EXIT since_last_store=none$")
    assert run.log[-1].message == "exit status=0"


def test_sigquit_is_a_power_cut_exit_3(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE)
    q.wait_for("guest started")
    q.signal(signal.SIGQUIT)
    run = q.finish()
    assert run.returncode == 3, run.stderr
    assert run.one(r"^guest terminated: cause=3 name=GTC_POWER_CUT ")
    assert "ctrl BUTTON" not in run.trace_ctrls()
    assert run.trace_ctrls()[-1] == "ctrl TERMINATE"


def test_sigusr1_asks_every_vdev_for_its_status(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE + "vdev wdog loc 0x2000 timeout 5000\n", script="write 0x1000 4 0x5a\nkick\n")
    q.wait_for("guest started")
    q.signal(signal.SIGUSR1)
    q.wait_for(r"INFO wdog: kicks=")
    q.signal(signal.SIGTERM)
    run = q.finish()
    assert run.returncode == 0
    assert run.one(r"^status report requested \(SIGUSR1\)$", source="qvm", level="INFO")
    report = run.one(r"^ticks=\d+ timer_fires=0 stores=\d+ loads=0 scratch=0x", source="trace", level="INFO")
    assert report
    assert run.one(r"^kicks=\d+ bites=0 timeout_ms=5000 ", source="wdog", level="INFO")


def test_sigusr2_writes_a_dump_when_configured(start_qvm: StartQvm, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    q = start_qvm(f"system dumpy\ndump {dumps}\n" + TRACE_VDEV)
    q.wait_for("guest started")
    q.signal(signal.SIGUSR2)
    q.wait_for("guest dump written")
    q.signal(signal.SIGTERM)
    run = q.finish()
    assert run.returncode == 0
    path = Path(run.one(r"^guest dump written: (\S+) \(SIGUSR2\)$").message.split()[3])
    assert path.parent == dumps and re.fullmatch(r"dumpy-\d{8}-\d{6}\.gcore", path.name), path.name
    text = path.read_text()
    assert "vdev trace (trace): 0x1000,0x1000" in text
    # SIGUSR2 also runs VDEV_CTRL_STATUS: the qvm_report text goes into the dump, not the log
    assert re.search(r"(?m)^qvm_report \(VDEV_CTRL_STATUS\):\ntrace: ticks=\d+ timer_fires=0 ", text), text
    assert run.one(r"^ctrl STATUS$", source="trace")
    assert not run.find(r"^ticks=", source="trace")


def test_sigusr2_without_dump_only_warns(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE)
    q.wait_for("guest started")
    q.signal(signal.SIGUSR2)
    q.wait_for("no 'dump' option is configured")
    q.signal(signal.SIGTERM)
    assert q.finish().returncode == 0


def test_hung_vdev_keeps_qvm_alive_until_killed(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE + "hang button\n")
    q.wait_for("guest started")
    q.signal(signal.SIGTERM)
    q.wait_for("hanging forever in BUTTON")
    assert q.proc.poll() is None
    q.proc.kill()
    assert q.finish().returncode == -signal.SIGKILL


@pytest.mark.parametrize("command", ["shutdown", "reboot"])
def test_guest_shutdown_and_reboot_exit_0(run_qvm: RunQvm, command: str) -> None:
    run = run_qvm(TRACE, script=f"write 0x1000 4 1\n{command}\n")
    assert run.returncode == 0
    assert run.one(f"^guest requested {command}", source="qvm")
    assert run.one(r"^guest terminated: cause=0 name=GTC_NORMAL_EXIT since_last_store=0\.\d{6}$")


def test_store_outside_regions_is_logged_and_unsupported_abort_exits_5(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, script="write 0x9000 4 1\nread 0x9000 2\nshutdown\n")
    assert run.returncode == 0
    assert run.one(r"^guest store of 4 byte\(s\) at 0x9000 outside any vdev region$", source="qvm", level="ERROR")
    assert run.stdout == "0x9000: 0xffff\n"
    run = run_qvm(TRACE + "unsupported reference abort\n", script="write 0x9000 4 1\nshutdown\n")
    assert run.returncode == 5
    assert run.one(r"^guest terminated: cause=5 name=GTC_UNSUPPORTED ")
