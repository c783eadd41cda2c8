"""A board's own qvm configuration runs on every target: QNX's built-in vdevs (wdt-sp805,
wdt-ib700, pl011, ser8250, gic, shmem, virtio-*, ...) as qvmsim stand-ins (issue 24)."""

from __future__ import annotations

import re

import pytest

from hil import Exit, QvmConfig, QvmResult
from tests.support.hil import DeployedVdev, QvmRunner
from tests.support.paths import FIXTURES
from tests.support.qvmsim import stamp

pytestmark = pytest.mark.hil

ARM_GUEST = FIXTURES / "qvmconf" / "arm-guest-8.0.qvmconf"
X86_CLUSTER = FIXTURES / "qvmconf" / "x86-cluster-8.0.qvmconf"
DEBUG = "fatal,internal,error,warn,info,debug"
#: 2.5 million ticks of the documented default 25 MHz: 100 ms per count-down
SP805_LOAD_100MS = "write 0x1c0f0000 4 2500000"


def _arm_guest() -> QvmConfig:
    return QvmConfig.from_file(ARM_GUEST).logger(DEBUG, "stderr")


def _times(run: QvmResult, pattern: str, source: str) -> list[float]:
    return [stamp(line) for line in run.log.by_source(source).find_all(pattern)]


def test_arm_guest_kicking_the_sp805_runs_until_it_shuts_down(hil_qvm: QvmRunner) -> None:
    text = "guest console up"
    uart = [f"write 0x1c090000 1 {ord(c)}" for c in text + "\n"]
    stdin = [SP805_LOAD_100MS, "every 30 kick", *uart, "sleep 600", "shutdown"]
    run = hil_qvm.run(_arm_guest(), timeout=30, stdin=stdin)
    run.assert_reason(Exit.NORMAL)
    assert "guest console up\n" in run.stdout, run.explain()  # the pl011's data register is the console
    run.assert_no_log(r"time-out|biting")
    for name in ("gic", "shmem", "virtio-net", "virtio-blk", "virtio-console"):
        run.log.expect(r"^accepted, not modelled by qvmsim: ", source=name, level="INFO")


def test_arm_guest_starving_the_sp805_is_bitten_on_the_second_time_out(hil_qvm: QvmRunner) -> None:
    run = hil_qvm.run(_arm_guest(), timeout=30, stdin=[SP805_LOAD_100MS, "every 30 kick", "sleep 200", "stop all"])
    run.assert_reason(Exit.WATCHDOG)
    last_kick = _times(run, r"^kick \d+", "wdt-sp805")[-1]
    first = _times(run, r"^first time-out: interrupt raised", "wdt-sp805")
    bite = _times(run, r"^watchdog expired, biting", "wdt-sp805")
    assert len(first) == 1 and len(bite) == 1, run.explain()
    assert abs(first[0] - last_kick - 0.100) <= 0.030, run.explain()  # qvmsim's own clock
    assert abs(bite[0] - last_kick - 0.200) <= 0.040, run.explain()  # counts down twice
    assert run.log.interrupt_count("gic:40") == 1, run.explain()  # the first time-out's interrupt


def test_sp805_action_fiq_raises_the_interrupt_instead(hil_qvm: QvmRunner) -> None:
    conf = QvmConfig("fiq").ram("16M").logger(DEBUG, "stderr").vdev("wdt-sp805", intr="gic:40", action="fiq")
    stdin = [SP805_LOAD_100MS, "kick", "irq wait gic:40 2000", "irq wait gic:40 2000", "shutdown"]
    run = hil_qvm.run(conf, timeout=30, stdin=stdin)
    run.assert_reason(Exit.NORMAL)
    assert run.stdout.splitlines() == ["irq gic:40 count=1", "irq gic:40 count=2"], run.explain()
    run.log.expect(r"^watchdog bite from vdev 'wdt-sp805': raising interrupt gic:40$", source="qvm")


def _cluster() -> QvmConfig:
    return QvmConfig.from_file(X86_CLUSTER).logger(DEBUG, "stderr")


def test_ib700_written_periodically_is_not_bitten(hil_qvm: QvmRunner) -> None:
    stdin = ["every 300 write io:0x443 1 14", "sleep 2500", "shutdown"]  # 14: a 2 s time-out
    run = hil_qvm.run(_cluster(), timeout=30, stdin=stdin)
    run.assert_reason(Exit.NORMAL)
    run.assert_no_log(r"biting")


def test_ib700_write_to_0x441_stops_it(hil_qvm: QvmRunner) -> None:
    stdin = ["write io:0x443 1 14", "sleep 100", "write io:0x441 1 0", "sleep 2300", "shutdown"]
    run = hil_qvm.run(_cluster(), timeout=30, stdin=stdin)
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"^watchdog stopped by the guest", source="wdt-ib700")
    run.assert_no_log(r"biting")


def test_ib700_starved_is_bitten_on_time(hil_qvm: QvmRunner) -> None:
    run = hil_qvm.run(_cluster(), timeout=30, stdin=["every 300 kick -W 2:14 -w 8", "sleep 700", "stop all"])
    run.assert_reason(Exit.WATCHDOG)
    delay = _times(run, r"^watchdog expired, biting", "wdt-ib700")[0] - _times(run, r"^kick \d+", "wdt-ib700")[-1]
    assert abs(delay - 2.0) <= 0.1, run.explain()


def test_ser8250_text_is_the_guest_console(hil_qvm: QvmRunner) -> None:
    stdin = [f"write io:0x3f8 1 {ord(c)}" for c in "x86 guest says hi\n"] + ["shutdown"]
    run = hil_qvm.run(_cluster(), timeout=30, stdin=stdin)
    run.assert_reason(Exit.NORMAL)
    assert run.stdout == "x86 guest says hi\n", run.explain()


def test_production_configuration_as_the_base_of_a_vdev_test(hil_qvm: QvmRunner, wdog: DeployedVdev) -> None:
    # the board's file, its SP805 replaced by the vdev under test (the project's wdog example)
    conf = QvmConfig.from_file(ARM_GUEST).replace_vdev("wdt-sp805", wdog, loc=0x1C0F0000, timeout=300)
    run = hil_qvm.run(conf, timeout=30)
    run.assert_reason(Exit.WATCHDOG)
    run.log.expect(r"watchdog expired", source="wdog")
    run.log.expect(r"^accepted, not modelled by qvmsim: ", source="gic")
    assert "vdev wdt-sp805" not in run.config_text and "vdev gic" in run.config_text


def test_a_refused_configuration_is_explained_in_the_failure(hil_qvm: QvmRunner) -> None:
    run = hil_qvm.run(QvmConfig("refused").ram("16M").vdev("wdt-sp805", timeout=100), timeout=30)
    with pytest.raises(AssertionError) as failure:
        run.assert_reason(Exit.WATCHDOG)
    assert re.search(
        r"configuration refused at \S+:4 \('timeout 100'\): unknown option 'timeout' for vdev 'wdt-sp805' "
        r"\('hil qvm check CONF' lists every line's fate\)",
        str(failure.value),
    ), str(failure.value)
