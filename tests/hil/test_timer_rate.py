"""The guest timer counts in the ticks ``guest_timer_create`` reports, at the target's rate (``[qvm]
timer_hz``; the suite's ``local-19m2`` runs it at 19.2 MHz, as many ARM boards' generic timers do).
A vdev that converts its delays with that resolution is on time everywhere; one that passes
nanoseconds as ticks is on time only at 1 GHz and fails the timing check at 19.2 MHz."""

from __future__ import annotations

import pytest

from hil import Exit
from tests.support.hil import DeployedVdev, QvmRunner, Target, VdevBuilder, vm

pytestmark = pytest.mark.hil

LOC = 0x1C400000
DELAY_MS = 20
TOLERANCE_S = 0.030  # qvmsim's own timestamps; generous for a loaded host


def _delay(hil_qvm: QvmRunner, vdev: DeployedVdev, convert: bool) -> float:
    """Seconds between the vdev's "armed" and "fired" lines (qvm's own log clock)."""
    with hil_qvm.start(vm().vdev(vdev, loc=LOC, delay=DELAY_MS, convert=convert), timeout=30) as session:
        session.guest.store(LOC, 4, 1)
        session.wait_log(r"^fired$", timeout=10)
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    armed, fired = run.log.find(r"^armed delay="), run.log.find(r"^fired$")
    assert armed is not None and fired is not None, run.explain()
    assert armed.time is not None and fired.time is not None
    return float(fired.time - armed.time)


def test_delays_are_on_time_only_when_converted_with_the_resolution(
    hil_qvm: QvmRunner, hil_target: Target, hil_vdev: VdevBuilder
) -> None:
    vdev = hil_vdev("tests/hil/vdevs/ticks")
    hz = hil_target.definition.qvm.timer_hz or 1_000_000_000
    converted = _delay(hil_qvm, vdev, convert=True)
    assert abs(converted - DELAY_MS / 1000) < TOLERANCE_S, f"converted delay took {converted:.3f} s at {hz} Hz"
    confused = _delay(hil_qvm, vdev, convert=False)  # nanoseconds passed as ticks
    on_time = abs(confused - DELAY_MS / 1000) < TOLERANCE_S
    # the timing check catches the confusion wherever the timer is not a 1 GHz one
    assert on_time == (hz == 1_000_000_000), f"ns-as-ticks delay took {confused:.3f} s at {hz} Hz"
    if hz != 1_000_000_000:
        assert confused == pytest.approx(DELAY_MS / 1000 * 1e9 / hz, rel=0.1)
