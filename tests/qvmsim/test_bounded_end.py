"""qvm ends within a bounded time whatever a vdev does in set-up or teardown (issue 11; qvmsim-choices.h
"Ending within a bounded time", BEHAVIOUR.md): SIGTERM before the guest started, a vdev hanging in
GUEST_CONFIGURED/GUEST_STARTING, a vdev hanging in TERMINATE after the power button or a fatal error.
Bounds are read from qvmsim's own log timestamps, with a generous tolerance."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.support.qvmsim import QvmProc, QvmRun, RunQvm, stamp

TRACE = "system demo\nvdev trace loc 0x1000 tick 5\n"
StartQvm = Callable[..., QvmProc]
SETUP_GRACE = 1.0  # QVMSIM_SETUP_END_GRACE_MS
TERMINATE_GRACE = 5.0  # QVMSIM_TERMINATE_GRACE_MS
VDEV_ERROR = 6


def cut_off(run: QvmRun, ctrl: str, why: str) -> float:
    """The cut-off line's time; checks it names the vdev and control and is followed by the exit status."""
    line = run.one(rf"^vdev 'trace' has not returned from VDEV_CTRL_{ctrl} {why}: qvm exits without waiting for it$",
                   source="qvm", level="ERROR")  # fmt: skip
    assert run.log[-1].message == f"exit status={run.returncode}", run.stderr
    return stamp(line)


@pytest.mark.parametrize("where", ["configured", "starting"])
def test_sigterm_while_a_vdev_hangs_in_set_up_ends_qvm(start_qvm: StartQvm, where: str) -> None:
    q = start_qvm(TRACE + f"hang {where}\n")
    ctrl = {"configured": "GUEST_CONFIGURED", "starting": "GUEST_STARTING"}[where]
    q.wait_for(f"hanging forever in {ctrl}")
    q.signal(signal.SIGTERM)
    run = q.finish(timeout=15)
    assert run.returncode == VDEV_ERROR, run.stderr  # a normal end that had to cut a vdev off
    # before GUEST_STARTING the guest is not started; during it, the signal waits for the main loop
    said = {
        "configured": r"^SIGTERM before the guest started: the guest is not started, qvm ends",
        "starting": r"^SIGTERM while the guest is starting: handled once it runs",
    }[where]
    asked = stamp(run.one(said, source="qvm"))
    ended = cut_off(run, ctrl, "1000 ms after the signal to end")
    assert SETUP_GRACE - 0.05 <= ended - asked <= SETUP_GRACE + 2.0, run.stderr
    assert not run.find(r"^guest started", source="qvm")


def test_sigquit_in_set_up_keeps_the_power_cut_status(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE + "hang configured\n")
    q.wait_for("hanging forever in GUEST_CONFIGURED")
    q.signal(signal.SIGQUIT)
    run = q.finish(timeout=15)
    assert run.returncode == 3, run.stderr  # GTC_POWER_CUT, kept
    cut_off(run, "GUEST_CONFIGURED", "1000 ms after the signal to end")


def test_hang_in_terminate_after_the_power_button_is_cut_off(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE + "hang terminate\n")
    q.wait_for("guest started")
    q.signal(signal.SIGTERM)
    run = q.finish(timeout=20)
    assert run.returncode == VDEV_ERROR, run.stderr
    began = stamp(run.one(r"^ctrl TERMINATE$", source="trace"))
    ended = cut_off(run, "TERMINATE", "5000 ms after qvm began terminating")
    assert TERMINATE_GRACE - 0.05 <= ended - began <= TERMINATE_GRACE + 3.0, run.stderr


def test_hang_in_terminate_after_a_fatal_error_keeps_its_status(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE + "hang terminate\n", script="write 0x1000 4 7\nwrite 0x100c 4 0xbad\n", timeout=20)
    assert run.returncode == 96, run.stderr  # the fatal error's status, not the cut-off's
    assert run.one(r"^fatal error on guest store", source="trace", level="FATAL")
    cut_off(run, "TERMINATE", "5000 ms after qvm began terminating")


def test_sigterm_during_a_hung_teardown_ends_qvm_at_once(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE + "hang terminate\n")
    q.wait_for("guest started")
    q.signal(signal.SIGTERM)  # the power button: the guest shuts down, TERMINATE hangs
    q.wait_for("hanging forever in TERMINATE")
    q.signal(signal.SIGTERM)  # asked again while terminating
    run = q.finish(timeout=20)
    assert run.returncode == VDEV_ERROR, run.stderr
    hung = stamp(run.one(r"^hanging forever in TERMINATE", source="trace"))
    ended = cut_off(run, "TERMINATE", "and SIGTERM asked qvm to end again")
    assert ended - hung < TERMINATE_GRACE - 1.0, run.stderr  # well before the teardown bound
