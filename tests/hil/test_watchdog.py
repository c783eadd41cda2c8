"""A guest that stops kicking its watchdog is terminated, on time; one that kicks is not."""

from __future__ import annotations

import pytest

from hil import Exit
from tests.support.hil import WDOG_LOC, DeployedVdev, QvmRunner, vm

pytestmark = pytest.mark.hil


def tolerance(t: float) -> float:
    """The issue's "within 10% (+20 ms)", in seconds for a timeout of ``t`` seconds."""
    return 0.10 * t + 0.020


@pytest.mark.demo
def test_watchdog_bites_when_starved(hil_qvm: QvmRunner, wdog: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(wdog, loc=WDOG_LOC, timeout=500), timeout=20) as session:
        session.guest.kick_every(0.1)
        session.guest.wait(0.35)  # a few kicks ...
        session.guest.stop_kicking()  # ... then starvation
        run = session.wait(timeout=10)
    run.assert_reason(Exit.WATCHDOG)
    assert run.since_last_kick is not None
    assert abs(run.since_last_kick - 0.5) <= tolerance(0.5), run.explain()
    run.log.expect(r"watchdog expired", source="wdog")


def test_no_bite_while_kicking(hil_qvm: QvmRunner, wdog: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(wdog, loc=WDOG_LOC, timeout=200), timeout=20) as session:
        session.guest.kick_every(0.05)
        session.send("sleep 1000")
        session.send("print still alive")
        # the guest prints after ~5 timeouts: a bite would have ended qvm by then
        session.wait_stdout(r"still alive", timeout=5)
        assert session.running(), session.log.text
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    run.assert_no_log(r"watchdog expired")


def test_action_intr_does_not_terminate(hil_qvm: QvmRunner, wdog: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(wdog, loc=WDOG_LOC, timeout=100, action="intr"), timeout=20) as session:
        session.wait_log(r"watchdog expired", timeout=5)
        session.wait_log(r"watchdog expired", timeout=5)
        assert session.running()
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    assert len(run.log.find_all(r"watchdog expired")) >= 1


def test_sp805_counts_down_twice(hil_qvm: QvmRunner, wdog: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(wdog, loc=WDOG_LOC, timeout=150, flavour="sp805"), timeout=20)
    run.assert_reason(Exit.WATCHDOG)
    # never kicked: the bite comes two countdowns after the guest started
    assert run.log.termination is not None
