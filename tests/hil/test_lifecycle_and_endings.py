"""How qvm ends: signals, a crashing vdev, custom causes, late fatals, dryrun, a hang."""

from __future__ import annotations

import re

import pytest

from hil import Exit
from tests.support.hil import TRACE_LOC, DeployedVdev, QvmRunner, Target, vm

pytestmark = pytest.mark.hil

ORDER = ["OPTIONS_START", "OPTIONS_END", "ASSIGN", "GUEST_CONFIGURED", "GUEST_STARTING", "BUTTON", "TERMINATE"]


@pytest.mark.demo
def test_sigterm_is_the_power_button(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.signal("TERM")
        run = session.wait(10)
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"power button")
    steps = [
        m.group(1)
        for line in run.log.by_source("trace")
        if (m := re.match(r"ctrl ([A-Z_]+)", line.message)) and m.group(1) != "OPTION"
    ]
    assert [s for s in steps if s in ORDER] == ORDER, run.log.text


def test_sigquit_is_a_power_cut(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.signal("QUIT")
        run = session.wait(10)
    run.assert_reason(Exit.POWER_CUT)


def test_sigusr1_reports_status(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC, tick=10), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.signal("USR1")
        line = session.wait_log(r"ctrl STATUS")
        run = session.stop()
    assert line.source == "trace"
    run.log.expect(r"tick", source="trace", level="INFO")


@pytest.mark.demo
@pytest.mark.hil_sanitizer_expected  # the null store is the point (UBSan reports it under --hil-sanitize)
def test_crashing_vdev_kills_qvm_by_sigsegv(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.guest.send(f"write {TRACE_LOC + 0x10:#x} 4 0")
        run = session.wait(10)
    run.assert_reason(Exit.KILLED_BY_SIGNAL)
    assert run.signal == "SIGSEGV" and run.exit_status is None
    # crash forensics: the faulting address and the vdev's own frame, symbolised on the host's copy
    crash = run.crash
    assert crash is not None and crash.signal == "SIGSEGV" and crash.address == 0, run.explain()
    assert crash.top is not None and crash.top.function == "trace_vwrite", crash.text()
    assert re.search(r"trace\.c:\d+$", crash.top.source or ""), crash.text()
    assert "in trace_vwrite (trace.c:" in run.summary()
    assert "trace_vwrite" in run.artifacts["crash"].read_text()
    crash_json = run.to_json()["crash"]
    assert isinstance(crash_json, dict), crash_json
    assert crash_json["frames"][0]["function"] == "trace_vwrite"


@pytest.mark.parametrize("cause", [32, 63])
def test_custom_cause_becomes_exit_status(hil_qvm: QvmRunner, trace: DeployedVdev, cause: int) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.guest.send(f"write {TRACE_LOC + 0x08:#x} 4 {cause}")
        run = session.wait(10)
    run.assert_reason(Exit.CUSTOM)
    assert run.exit_status == cause


def test_fatal_after_guest_started(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.guest.send(f"write {TRACE_LOC + 0x0C:#x} 4 1")
        run = session.wait(10)
    run.assert_reason(Exit.FATAL_AFTER_START)
    assert run.exit_status == 96


def test_dryrun_stops_after_guest_configured(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(trace, loc=TRACE_LOC).dryrun(), timeout=20)
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"ctrl GUEST_CONFIGURED")
    run.assert_no_log(r"ctrl GUEST_STARTING")


def test_hung_qvm_is_stopped_by_escalation(hil_qvm: QvmRunner, hil_target: Target, trace: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(trace, loc=TRACE_LOC, hang="button"), timeout=1.0)
    run.assert_reason(Exit.HUNG)
    assert run.hung
    run.log.expect(r"ctrl GUEST_STARTING")  # the logs so far are kept
    pid = hil_qvm.deployment.remote("qvm.pid")
    alive = hil_target.run(
        f"kill -0 $(sed -n 1p {pid}) 2>/dev/null && echo alive || echo gone", timeout=10
    )  # line 1: the pid
    assert alive.stdout_text.strip() == "gone"


def test_options_by_index_and_flags(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(trace, loc=TRACE_LOC, tick=7, verbose=True).dryrun(), timeout=20)
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"ctrl OPTION index=0 name=tick arg=7", source="trace")
    run.log.expect(r"ctrl OPTION index=1 name=verbose", source="trace")
    run.log.expect_none(r"name=loc")  # common options are qvm's own


def test_unsupported_reference_abort(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(
        vm().vdev(trace, loc=TRACE_LOC).option("unsupported", "reference", "abort"), timeout=20
    ) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.guest.send("write 0x30000000 4 1")  # neither RAM nor a vdev
        run = session.wait(10)
    run.assert_reason(Exit.UNSUPPORTED)


@pytest.mark.hil_kinds("qemu")
def test_slog_is_read_back_with_slog2info_and_merged(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    """The board's slog2 path end to end, on qvmsim's stand-ins: qvmsim's slog2-style buffer and
    the image's slog2info (not QNX's): errors go to both, info only to slog."""
    cfg = vm().logger("error", "stderr").logger("error,info", "slog").vdev(trace, loc=TRACE_LOC).dryrun()
    run = hil_qvm.run(cfg, timeout=20)
    run.assert_reason(Exit.NORMAL)
    slog = run.log.from_origin("slog2")
    slog.expect(r"^ctrl GUEST_CONFIGURED$", source="trace", level="INFO")  # only in slog2
    assert run.log.from_origin("stderr").find("ctrl GUEST_CONFIGURED") is None
    times = [line.time for line in run.log if line.time is not None]
    assert times == sorted(times)  # one log, in time order
    raw = run.artifacts["slog2info"].read_text()
    assert re.search(r"^[A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d\.\d{3} +qvm\.\d+ +qvm +0 +INFO trace: ctrl", raw, re.M)


def test_stop_presses_the_power_button_and_the_guest_shuts_down(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    assert not run.hung
    assert run.log.power_button is not None


@pytest.mark.hil_kinds("local", "qemu")  # qvmsim's scripted guest: `ignore button`
def test_stop_cuts_the_power_of_a_guest_that_ignores_the_button(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        session.send("ignore button")
        session.send("print ignoring")
        session.wait_stdout(r"ignoring")
        run = session.stop()
    run.assert_reason(Exit.POWER_CUT)  # SIGTERM, grace period, then SIGQUIT
    assert not run.hung
    run.log.expect(r"ignores the power button and keeps running")
