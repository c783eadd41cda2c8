"""A vdev written from QNX 8.0's documentation alone (``tests/hil/vdevs/dma80``) behaves on every target.

It uses guest timers in all three modes (relative, ``GUEST_TIMER_ABSOLUTE``,
recurring from the callback's ``tdp``), a guest interrupt
(``guest_intr_signal``), ``gasp`` guest-memory mappings for a DMA copy and
``gcp == NULL`` / ``GXF_NONE`` guest-memory accesses.  The same source builds in
portable mode and with the qcc stand-in (tests/qvmsim/test_build.py).
"""

from __future__ import annotations

import re

import pytest

from hil import Exit, QvmResult
from tests.support.hil import DeployedVdev, QvmRunner, Target, VdevBuilder, vm

pytestmark = pytest.mark.hil

DMA_LOC = 0x1C200000  # above the suite's 16M of guest RAM
INTR = "gic:40"
SRC, DST = 0x100000, 0x200000  # guest RAM
REG_SRC, REG_DST, REG_LEN, REG_DELAY, REG_ABS, REG_ACK, REG_PEEK = (0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18)
RD_COPIES, RD_RECURRING, RD_ABSOLUTE, RD_RELATIVE, RD_NO_DRIFT = (0x00, 0x04, 0x08, 0x0C, 0x10)


@pytest.fixture
def dma80(hil_vdev: VdevBuilder) -> DeployedVdev:
    """The documentation-only vdev, built for this target and deployed."""
    return hil_vdev("tests/hil/vdevs/dma80")


def _number(run: QvmResult, pattern: str) -> int:
    m = run.log.expect(pattern, source="dma80")
    return int(m[1])


def test_timers_interrupt_and_guest_memory(hil_qvm: QvmRunner, hil_target: Target, dma80: DeployedVdev) -> None:
    config = vm().vdev(dma80, loc=DMA_LOC, intr=INTR, period=20)
    with hil_qvm.start(config, timeout=30) as session:
        guest = session.guest

        def reg(offset: int) -> int:
            return DMA_LOC + offset

        # DMA: the guest fills a source buffer, programs the copy, waits for the interrupt
        guest.fill(SRC, 64, 0x5A)
        guest.store(SRC, 4, 0x11223344)
        guest.store(reg(REG_SRC), 4, SRC)
        guest.store(reg(REG_DST), 4, DST)
        guest.store(reg(REG_DELAY), 4, 5)  # the copy runs 5 ms later: a relative one-shot timer
        guest.store(reg(REG_LEN), 4, 64)
        assert guest.wait_irq(INTR, timeout=5) == 1
        assert guest.dump(DST, 64) == bytes.fromhex("44332211") + b"\x5a" * 60
        guest.store(reg(REG_ACK), 4, 1)
        # gcp == NULL: the vdev reads the guest's word at SRC and writes it + 1 at SRC + 4
        guest.store(reg(REG_PEEK), 4, SRC)
        assert guest.load(SRC + 4, 4) == 0x11223345
        # an absolute timer 30 ms after the guest time of the last recurring expiry
        # (the console stream first waits 50 ms on qvmsim's clock: two or more have run)
        guest.send("sleep 50")
        guest.store(reg(REG_ABS), 4, 30)
        session.wait_log(r"absolute timer fired", timeout=5)
        assert guest.load(reg(RD_COPIES), 4) == 1
        assert guest.load(reg(RD_RELATIVE), 4) == 1
        assert guest.load(reg(RD_ABSOLUTE), 4) == 1
        guest.send("sleep 100")  # a few more recurring expiries, timed by qvmsim's clock
        assert guest.load(reg(RD_RECURRING), 4) >= 3
        assert guest.load(reg(RD_NO_DRIFT), 4) == 1, session.log.text
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"copied 64 bytes 0x100000 -> 0x200000", source="dma80")
    run.log.expect_none(r"cannot map|guest_intr_signal: error", source="dma80")
    # the relative timer waited its 5 ms (guest time, ns), within a generous tolerance
    waited_us = _number(run, r"relative timer fired: waited (\d+) us")
    assert 5000 <= waited_us <= 5000 + 50_000, run.explain()
    # the absolute timer fired at (not before) the guest time it was armed for
    armed = _number(run, r"absolute timer armed for guest time (\d+)")
    fired = _number(run, r"absolute timer fired at guest time (\d+)")
    hz = hil_target.definition.qvm.timer_hz or 1_000_000_000  # guest time counts in the timer's ticks
    assert armed > 0.030 * hz, run.explain()  # armed from a real expiry's guest time
    assert 0 <= fired - armed <= 0.050 * hz, run.explain()
    # qvmsim's guest time is its log clock at the timer's rate: the firing line's timestamp matches
    line = run.log.find(r"absolute timer fired")
    assert line is not None and line.time is not None
    assert abs(line.time - fired / hz) < 0.05, run.explain()


def test_a_copy_outside_guest_ram_is_refused_by_gasp(hil_qvm: QvmRunner, dma80: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(dma80, loc=DMA_LOC, intr=INTR), timeout=30) as session:
        guest = session.guest
        guest.store(DMA_LOC + REG_SRC, 4, 0x30000000)  # not RAM
        guest.store(DMA_LOC + REG_DST, 4, DST)
        guest.store(DMA_LOC + REG_DELAY, 4, 1)
        guest.store(DMA_LOC + REG_LEN, 4, 16)
        session.wait_log(r"cannot map", timeout=5)
        assert guest.wait_irq(INTR, timeout=0.2) is None  # no interrupt for a failed copy
        run = session.stop()
    run.assert_reason(Exit.NORMAL)
    assert re.search(r"cannot map 0x30000000", run.log.text)
