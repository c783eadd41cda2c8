"""Tests of the sample vdev mywdog (vdevs/mywdog/mywdog.c).

Every test runs once on each selected target: ``pytest --hil-target local``
(qvmsim on this host, no VM), ``--hil-target qemu`` (the public QEMU target) or
a board of yours (targets/*.toml).  The fixtures come from qnx-hil's pytest
plugin: ``hil_vdev`` builds a vdev for the target and deploys it, ``hil_qvm``
runs qvm there and hands back how it ended; their types (and everything else a
test needs) are importable from ``hil``.
"""

from __future__ import annotations

import time

import pytest

from hil import DeployedVdev, Exit, QvmConfig, QvmRunner, VdevBuilder

LOC = 0x1C0F0000  # the vdev's registers in guest memory
CAUSE_REGISTER = LOC + 4


@pytest.fixture
def mywdog(hil_vdev: VdevBuilder) -> DeployedVdev:
    """The vdev, built with the target's toolchain (cached) and copied to the target."""
    return hil_vdev("vdevs/mywdog")


def vm() -> QvmConfig:
    """The VM every test starts from; each test adds the vdev with its options."""
    return QvmConfig("sample").ram("16M")


def test_bad_timeout_is_a_configuration_error(hil_qvm: QvmRunner, mywdog: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(mywdog, loc=LOC, timeout="soon"), timeout=20)
    run.assert_reason(Exit.FATAL_CONFIG)  # qvm_fatal(QLS_CNF, ...): exit 65
    run.log.expect(r"timeout 'soon': expected a positive number", level="FATAL")


def test_bites_when_the_guest_stops_kicking(hil_qvm: QvmRunner, mywdog: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(mywdog, loc=LOC, timeout=300), timeout=20) as session:
        session.guest.kick_every(0.05)  # the guest kicks ...
        session.guest.wait(0.3)
        session.guest.stop_kicking()  # ... then starves it
        run = session.wait(timeout=10)
    run.assert_reason(Exit.WATCHDOG)  # exit 4
    run.log.expect(r"watchdog expired", source="mywdog")
    # on time, by qvm's own clock: never before the 300 ms; late only by the host's scheduling
    # (10% + 20 ms, plus a quarter second for a shared CI machine under load, which delays qvm's timer;
    # a vdev arming twice its timeout, or a unit error, still fails)
    assert run.since_last_kick is not None
    assert 0.3 - 0.002 <= run.since_last_kick <= 0.3 * 1.1 + 0.02 + 0.25, run.explain()


def test_no_bite_while_the_guest_kicks(hil_qvm: QvmRunner, mywdog: DeployedVdev) -> None:
    # a timeout ten kicks long: a loaded CI machine may hold the guest's kicking back for tenths of a
    # second, which is the host starving the guest, not the vdev biting early
    with hil_qvm.start(vm().vdev(mywdog, loc=LOC, timeout=500), timeout=20) as session:
        session.guest.kick_every(0.05)
        time.sleep(1.0)  # two timeouts long: a watchdog left unkicked would have bitten
        assert session.running(), session.log.text
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    run.assert_no_log(r"watchdog expired")


@pytest.mark.hil_kinds("local", "qemu")  # qvmsim's scripted guest writes the register
def test_custom_cause_ends_the_guest(hil_qvm: QvmRunner, mywdog: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(mywdog, loc=LOC), timeout=20) as session:
        session.guest.send(f"write {CAUSE_REGISTER:#x} 4 5")
        run = session.wait(timeout=10)
    run.assert_reason(Exit.CUSTOM)  # GTC_CUSTOM_MIN + 5
    assert run.exit_status == 32 + 5
    run.log.expect(r"custom cause 5", source="mywdog")
