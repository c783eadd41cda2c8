"""qvmsim's built-in stand-ins for QNX's own vdevs: wdt-sp805, wdt-ib700, pl011, ser8250 and the
accepted-not-modelled platform pieces, and ``qvm --check`` (issue 24)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support.qvmsim import QvmRun, RunQvm, stamp
from tests.support.timing import on_time

LOGGER = "logger fatal,internal,error,warn,info,debug,verbose stderr\n"

#: A configuration in the style of a real QNX 8.0 ARM guest's (issue 24), unchanged.
ARM_GUEST = """\
system guest1
ram 0x80000000,64M
cpu
cpu
vdev gic version 2
vdev wdt-sp805 loc 0x1c0f0000 frequency 1000 intr gic:40
vdev pl011 loc 0x1c090000 intr gic:37
vdev shmem
vdev virtio-net loc 0x1c0d0000 intr gic:41 peer /dev/qvm/host/vnet0 mac 02:00:00:00:00:01
vdev virtio-blk loc 0x1c0b0000 intr gic:42 hostdev </dev/hd0
vdev virtio-console loc 0x1c0c0000 intr gic:43
pass loc mem:0x10000000,0x1000,rw=0x10000000
"""


def _kicks(run: QvmRun, source: str) -> list[float]:
    return [stamp(line) for line in run.find(r"^kick \d+", source=source, level="DEBUG")]


def _bite(run: QvmRun, source: str) -> float:
    bites = run.find(r"^watchdog expired, biting", source=source, level="ERROR")
    assert len(bites) == 1, run.stderr
    return stamp(bites[0])


# --- wdt-sp805 ----------------------------------------------------------------------------------


def _stores(run: QvmRun, address: str) -> list[float]:
    """When the guest stored to ``address`` (qvm's VERBOSE line, written before the vdev sees the store)."""
    return [stamp(x) for x in run.find(rf"^guest store {address}/", source="qvm", level="VERBOSE")]


def _sp805_never_early(run: QvmRun, period: float) -> None:
    """On qvmsim's own timestamps: every first time-out comes a full count-down after the last store that
    loaded the counter (WdogLoad, WdogControl, WdogIntClr) or the time-out before it, every bite a full
    count-down after its first time-out (the vdev's lines come after what they report: lower bounds)."""
    loads = [t for reg in ("0x1c0f0000", "0x1c0f0008", "0x1c0f000c") for t in _stores(run, reg)]
    firsts = [stamp(x) for x in run.find(r"^first time-out: interrupt", source="wdt-sp805")]
    for first in firsts:
        loaded = max([t for t in [*loads, *firsts] if t < first], default=None)
        assert loaded is not None and first - loaded >= period, run.stderr
    for bite in run.find(r"^watchdog expired, biting", source="wdt-sp805"):
        first = max(t for t in firsts if t < stamp(bite))
        assert not [k for k in loads if first < k < stamp(bite)] and stamp(bite) - first >= period, run.stderr


def test_sp805_kicked_runs_until_the_guest_shuts_down(run_qvm: RunQvm) -> None:
    script = "write 0x1c0f0000 4 100\nevery 40 kick\nsleep 700\nshutdown\n"
    run = run_qvm(ARM_GUEST + LOGGER, script=script)
    assert len(_kicks(run, "wdt-sp805")) >= 2, run.stderr
    _sp805_never_early(run, 0.100)  # a time-out only after a count-down without a kick
    if not run.find("time-out|biting", source="wdt-sp805"):  # (a loaded host may starve the guest)
        assert run.returncode == 0, run.stderr
    # the default kick enabled the counter (WdogControl INTEN|RESEN) once, then cleared WdogIntClr
    assert len(run.find(r"^WdogControl = 0x3 ", source="wdt-sp805")) == 1


def test_sp805_starved_bites_on_the_second_time_out_exit_4(run_qvm: RunQvm) -> None:
    script = "write 0x1c0f0000 4 100\nevery 40 kick\nsleep 300\nstop job1\n"
    run = run_qvm(ARM_GUEST + LOGGER, script=script)
    assert run.returncode == 4, run.stderr
    _sp805_never_early(run, 0.100)
    last_kick = _stores(run, "0x1c0f000c")[-1]
    first = stamp(run.find(r"^first time-out: interrupt raised", source="wdt-sp805")[-1])
    assert on_time(first - last_kick, 0.100), run.stderr  # LOAD 100 at 1 kHz: 100 ms
    assert on_time(_bite(run, "wdt-sp805") - first, 0.100), run.stderr  # counts down twice
    run.one(r"^guest terminated: cause=4 name=GTC_WATCHDOG ", source="qvm")
    assert run.find(r"^guest interrupt gic:40 asserted by vdev 'wdt-sp805' \(count 1\)", source="qvm")


def test_sp805_default_frequency_is_25_mhz_and_default_loc_0x1c0f0000(run_qvm: RunQvm) -> None:
    # 2.5 million ticks of 25 MHz: 100 ms per count-down; no loc: the documented 0x1C0F0000
    run = run_qvm(LOGGER + "vdev wdt-sp805\n", script="write 0x1c0f0000 4 2500000\nkick\n")
    assert run.returncode == 4, run.stderr
    _sp805_never_early(run, 0.100)
    first = stamp(run.one(r"^first time-out: interrupt", source="wdt-sp805"))
    assert on_time(first - _stores(run, "0x1c0f000c")[-1], 0.100), run.stderr
    assert on_time(_bite(run, "wdt-sp805") - first, 0.100), run.stderr
    run.one(r"at 0x1c0f0000: frequency 25000000 Hz, action terminate", source="wdt-sp805")


def test_sp805_action_fiq_raises_the_interrupt_instead(run_qvm: RunQvm) -> None:
    conf = LOGGER + "vdev wdt-sp805 frequency 1000 intr gic:40 action fiq\n"
    run = run_qvm(conf, script="write 0x1c0f0000 4 50\nkick\nirq wait gic:40 1000\nirq wait gic:40 1000\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["irq gic:40 count=1", "irq gic:40 count=2"]
    run.one(r"^watchdog bite from vdev 'wdt-sp805': raising interrupt gic:40$", source="qvm")
    assert not run.find("cause=4")


def test_sp805_registers_lock_value_and_ids(run_qvm: RunQvm) -> None:
    script = (
        "write 0x1c0f0c00 4 1\n"  # lock
        "write 0x1c0f0000 4 7\n"  # ignored while locked
        "read 0x1c0f0000 4\nread 0x1c0f0c00 4\n"
        "write 0x1c0f0c00 4 0x1acce551\n"  # unlock
        "write 0x1c0f0000 4 7\nread 0x1c0f0000 4\nread 0x1c0f0c00 4\n"
        "read 0x1c0f0004 4\nread 0x1c0f0fe0 4\nread 0x1c0f0ff0 4\nshutdown\n"
    )
    run = run_qvm("vdev wdt-sp805\n", script=script)
    assert run.returncode == 0, run.stderr
    values = [int(line.split(": ")[1], 16) for line in run.stdout.splitlines()]
    assert values == [0xFFFFFFFF, 1, 7, 0, 7, 0x05, 0x0D]


@pytest.mark.parametrize("action", ["fiq,terminate", "intr", "dump,reset"])
def test_sp805_bad_action_is_a_configuration_error(run_qvm: RunQvm, action: str) -> None:
    run = run_qvm(f"vdev wdt-sp805 action {action}\n")
    assert run.returncode == 65
    run.one(rf"^action '{re.escape(action)}': expected \[dump,\]terminate or \[dump,\]fiq", source="wdt-sp805")


def test_sp805_unknown_option_is_a_configuration_error(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev wdt-sp805 timeout 100\n")
    assert run.returncode == 65
    run.one(r"unknown option 'timeout' for vdev 'wdt-sp805'", level="FATAL")


# --- wdt-ib700 ----------------------------------------------------------------------------------

IB700 = LOGGER + "vdev wdt-ib700\n"  # default loc: io:0x441


def test_ib700_written_periodically_is_not_bitten(run_qvm: RunQvm) -> None:
    run = run_qvm(IB700, script="every 300 write io:0x443 1 14\nsleep 2600\nshutdown\n")  # 14: 2 s
    stores = _stores(run, "io:0x443")
    assert len(stores) >= 2, run.stderr
    for bite in run.find("biting"):  # only after 2 s without a write (a loaded host may starve the guest)
        assert stamp(bite) - max(t for t in stores if t < stamp(bite)) >= 2.0, run.stderr
    if not run.find("biting"):
        assert run.returncode == 0, run.stderr


def test_ib700_write_to_0x441_stops_it(run_qvm: RunQvm) -> None:
    script = "write io:0x443 1 14\nsleep 100\nwrite io:0x441 1 0\nsleep 2300\nshutdown\n"  # 14: 2 s
    run = run_qvm(IB700, script=script, timeout=15)
    assert run.returncode == 0, run.stderr
    run.one(r"^watchdog stopped by the guest", source="wdt-ib700")
    assert not run.find("biting")


def test_ib700_starved_is_bitten_on_time(run_qvm: RunQvm) -> None:
    run = run_qvm(IB700, script="every 300 kick -W 2:14 -w 8\nsleep 700\nstop job1\n", timeout=15)
    assert run.returncode == 4, run.stderr
    delay = _bite(run, "wdt-ib700") - _stores(run, "io:0x443")[-1]
    assert on_time(delay, 2.0), run.stderr  # index 14 of the IB700 table: 2 s
    run.one(r"^guest terminated: cause=4 name=GTC_WATCHDOG ", source="qvm")


def test_ib700_default_kick_writes_0x443_with_the_30_s_index(run_qvm: RunQvm) -> None:
    run = run_qvm(IB700, script="kick\nshutdown\n")
    assert run.returncode == 0, run.stderr
    run.one(r"^guest store io:0x443/1 = 0x0 -> vdev 'wdt-ib700'$", source="qvm")
    run.one(r"^kick 1: time-out 30 s \(value 0\)$", source="wdt-ib700")


# --- kick ---------------------------------------------------------------------------------------


def test_kick_follows_wdtkick_options_and_enables_once(run_qvm: RunQvm) -> None:
    conf = LOGGER + "vdev wdt-sp805 frequency 1000 name wd\n"
    script = "every 30 kick wd -E 0x8:0x3 -W 0xc00:0x1acce551 -W 0xc:1 -W 0xc00:0\nsleep 200\nshutdown\n"
    run = run_qvm(conf, script=script)
    assert run.returncode == 0, run.stderr
    stores = [m.message for m in run.find(r"^guest store ", source="qvm")]
    assert stores[:4] == [
        "guest store 0x1c0f0008/4 = 0x3 -> vdev 'wd'",
        "guest store 0x1c0f0c00/4 = 0x1acce551 -> vdev 'wd'",
        "guest store 0x1c0f000c/4 = 0x1 -> vdev 'wd'",
        "guest store 0x1c0f0c00/4 = 0x0 -> vdev 'wd'",
    ]
    assert "guest store 0x1c0f0008/4 = 0x3 -> vdev 'wd'" not in stores[4:]  # -E: once
    assert len(_kicks(run, "wd")) >= 4


@pytest.mark.parametrize(
    "line,message",
    [
        ("kick -W 12", r"bad '12' for 'kick -W'"),
        ("kick -E x:1", r"bad 'x:1' for 'kick -E'"),
        ("kick -w 12", r"bad width '12' for 'kick -w'"),
        ("kick -Q 1:2", r"unknown option '-Q' for 'kick'"),
    ],
)
def test_bad_kick_is_a_configuration_error(run_qvm: RunQvm, line: str, message: str) -> None:
    run = run_qvm("vdev wdt-sp805\n", script=line + "\n")
    assert run.returncode == 65
    run.one(message, level="FATAL")


# --- UARTs --------------------------------------------------------------------------------------


def test_pl011_data_register_is_the_guest_console(run_qvm: RunQvm) -> None:
    text = "hello from the guest\n"
    script = "".join(f"write 0x1c090000 1 {ord(c)}\n" for c in text) + "read 0x1c090018 4\nprint done\nshutdown\n"
    run = run_qvm(ARM_GUEST, script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello from the guest\n0x1c090018: 0x00000090\ndone\n"


def test_ser8250_default_io_0x3f8_and_a_partial_line_at_the_end(run_qvm: RunQvm) -> None:
    script = "write io:0x3fb 1 0x80\nwrite io:0x3f8 1 1\nwrite io:0x3fb 1 3\n"  # DLAB: divisor, not text
    script += "".join(f"write io:0x3f8 1 {ord(c)}\n" for c in "ok\nbye") + "read io:0x3fd 1\nshutdown\n"
    run = run_qvm("vdev ioapic loc 0xf8000000 intr apic name myioapic\nvdev ser8250 intr myioapic:4\n", script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "ok\nio:0x3fd: 0x60\nbye\n"


# --- accepted, not modelled ----------------------------------------------------------------------


def test_an_arm_guest_configuration_runs_unchanged(run_qvm: RunQvm) -> None:
    run = run_qvm(ARM_GUEST + LOGGER, script="shutdown\n")
    assert run.returncode == 0, run.stderr
    for name in ("gic", "shmem", "virtio-net", "virtio-blk", "virtio-console"):
        run.one(r"^accepted, not modelled by qvmsim: ", source=name, level="INFO")


def test_an_x86_cluster_configuration_runs_unchanged(run_qvm: RunQvm) -> None:
    conf = (
        "system cluster\nram 1024M\ncpu\ncpu\n"
        "vdev ioapic loc 0xf8000000 intr apic name myioapic\nvdev ser8250 intr myioapic:4\n"
        "vdev timer8254 intr myioapic:0\nvdev mc146818\nvdev hpet\nvdev pic intr apic\n"
        "vdev shmem create TEST1,0xf0000 loc 0x10000000 intr myioapic:10\nvdev pckeyboard\nvdev wdt-ib700\n"
    )
    run = run_qvm(conf, script="shutdown\n")
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(
    "conf,message",
    [
        ("vdev gic frobnicate 1\n", r"unknown option 'frobnicate' for vdev 'gic'"),
        ("vdev virtio-net mac\n", r"option 'mac' of vdev 'virtio-net' needs a value"),
        ("vdev no-such-qnx-vdev\n", r"vdev 'no-such-qnx-vdev' not found"),
    ],
)
def test_unknown_vdev_or_option_stays_a_configuration_error(run_qvm: RunQvm, conf: str, message: str) -> None:
    run = run_qvm(conf)
    assert run.returncode == 65
    run.one(message, level="FATAL")


def test_vdev_file_spellings_find_the_built_in(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev vdev-pl011 loc 0x1c090000\nvdev vdev-gic.so\n", script="write 0x1c090000 1 0x41\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "A\n"


# --- qvm --check --------------------------------------------------------------------------------


def test_check_lists_each_lines_fate(run_qvm: RunQvm) -> None:
    run = run_qvm(ARM_GUEST, "--check")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1] == "check: ok"
    fates = [re.match(r"^check: cfg\.qvmconf:\d+: ([^:]+): ([^:]+):", line) for line in lines[:-1]]
    assert all(fates), lines
    got = [(m.group(1), m.group(2)) for m in fates if m]
    assert ("modelled", "vdev wdt-sp805") in got
    assert ("modelled", "vdev pl011") in got
    assert ("accepted, not modelled", "vdev gic") in got
    assert ("accepted, not modelled", "vdev shmem") in got
    assert ("accepted, not modelled", "pass") in got
    assert not run.find("guest started")  # checked, not started


def test_check_names_the_refusal_and_exits_65(run_qvm: RunQvm) -> None:
    run = run_qvm(ARM_GUEST + "vdev gic frobnicate 1\n", "--check")
    assert run.returncode == 65
    assert run.stdout.splitlines()[-1].endswith(": refused: unknown option 'frobnicate' for vdev 'gic'")


def test_sp805_action_fiq_without_intr_is_a_configuration_error(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev wdt-sp805 action fiq\n")
    assert run.returncode == 65
    run.one(r"^action fiq sends an edge on the vdev's interrupt: give it one", source="wdt-sp805", level="ERROR")


def test_ib700_kicked_with_wdtkicks_default_32_bit_width(run_qvm: RunQvm) -> None:
    run = run_qvm(IB700, script="kick -W 2:14\nshutdown\n")
    assert run.returncode == 0, run.stderr
    run.one(r"^kick 1: time-out 2 s \(value 14\)$", source="wdt-ib700")


def test_a_vdev_so_of_your_own_replaces_a_not_modelled_built_in_only(
    run_qvm: RunQvm, vdev_dir: Path, tmp_path: Path
) -> None:
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(vdev_dir / "vdev-trace.so", own / "vdev-gic.so")  # "your own model of the gic"
    shutil.copy(vdev_dir / "vdev-trace.so", own / "vdev-wdt-sp805.so")
    run = run_qvm("vdev gic\nvdev wdt-sp805\n", "-L", str(own), script="shutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.find(r"^ctrl ", source="gic")  # the .so's trace vdev answered for the gic
    assert not run.find("accepted, not modelled", source="gic")
    run.one(r"^built-in SP805 watchdog", source="wdt-sp805")  # a modelled built-in comes first


def test_sp805_action_dump_terminate_writes_a_dump_then_exits_4(run_qvm: RunQvm, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    conf = "dump d\nvdev wdt-sp805 frequency 1000 action dump,terminate\n"
    run = run_qvm(conf, script="write 0x1c0f0000 4 30\nkick\n")
    assert run.returncode == 4, run.stderr
    run.one(r"^guest dump written: d/qvm-guest-\d{8}-\d{6}\.gcore \(watchdog bite\)$")
    assert "vdev wdt-sp805 (wdt-sp805): 0x1c0f0000,0x1000" in next((tmp_path / "d").iterdir()).read_text()
