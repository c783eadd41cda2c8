"""The watchdog vdev: bites on starvation on time (never early; late only by the host's scheduling:
``tests.support.qvmsim.on_time``), never while kicked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import FIXTURES
from tests.support.qvmsim import QvmRun, RunQvm, stamp
from tests.support.timing import LATE_S, gaps, on_time


def _bite_delay(run: QvmRun) -> float:
    """Seconds from the last guest store to the bite, on qvmsim's own log clock."""
    stores = run.find(r"^guest store ", source="qvm", level="VERBOSE")
    bites = run.find(r"^watchdog expired, biting", source="wdog", level="ERROR")
    assert stores and len(bites) == 1, run.stderr
    assert stamp(bites[0]) > stamp(stores[-1])
    return stamp(bites[0]) - stamp(stores[-1])


LOGGER = "logger fatal,internal,error,warn,info,debug,verbose stderr\n"


@pytest.mark.parametrize(
    "options,effective_ms",
    [
        ("timeout 250", 250),
        ("timeout 125 flavour sp805", 250),  # sp805 counts down twice
        ("frequency 1000", 1000),  # load written by the guest below changes it
    ],
)
def test_starvation_bites_after_the_timeout_exit_4(run_qvm: RunQvm, options: str, effective_ms: int) -> None:
    script = "every 40 kick\nsleep 400\nstop job1\n"
    initial_ms = effective_ms
    if options.startswith("frequency"):
        script += "write 0x2000 4 300\n"  # load 300 ticks of 1 kHz: 300 ms
        effective_ms = 300
    run = run_qvm(LOGGER + f"vdev wdog loc 0x2000 {options}\n", script=script)
    assert run.returncode == 4, run.stderr
    if not run.find(r"^guest store ", source="qvm", level="VERBOSE"):
        # a loaded host ran no guest command before the first timeout (seen at load 13): the vdev
        # bit a timeout after the guest started, as it must
        bite = stamp(run.one(r"^watchdog expired, biting", source="wdog"))
        assert on_time(bite - stamp(run.one(r"^guest started", source="qvm")), initial_ms / 1000), run.stderr
        return
    assert on_time(_bite_delay(run), effective_ms / 1000), run.stderr
    term = run.one(r"^guest terminated: cause=4 name=GTC_WATCHDOG since_last_store=(\d+\.\d{6})$")
    assert on_time(float(term.message.rsplit("=", 1)[1]), effective_ms / 1000), run.stderr
    # the kicks kept it quiet (a single bite, after them: _bite_delay) while they came
    assert len(run.find(r"^kick \d+$", source="wdog")) >= 2, run.stderr


def test_no_bite_while_the_guest_kicks(run_qvm: RunQvm) -> None:
    # an IB700-style guest kicks port 0x443 (0x441 would stop a real IB700: see test_builtin_vdevs.py)
    script = "every 20 write io:0x443 1 14\nsleep 600\nshutdown\n"
    run = run_qvm(LOGGER + "vdev wdog loc io:0x441,3 timeout 100\n", script=script)
    stores = [stamp(x) for x in run.find(r"^guest store ", source="qvm", level="VERBOSE")]
    assert len(stores) >= 2, run.stderr
    for bite in run.find("watchdog expired"):  # only after 100 ms without a kick (a loaded host may starve it)
        assert stamp(bite) - max(t for t in stores if t < stamp(bite)) >= 0.100, run.stderr
    if not run.find("watchdog expired"):
        assert run.returncode == 0, run.stderr


def test_guest_crash_starves_the_watchdog(run_qvm: RunQvm) -> None:
    run = run_qvm(LOGGER + "vdev wdog loc 0x2000 timeout 100\n", script="every 20 kick wdog\nsleep 100\ncrash\n")
    assert run.returncode == 4
    crash = run.one("^guest crashed")
    assert stamp(run.find(r"^guest store ")[-1]) < stamp(crash)
    assert on_time(_bite_delay(run), 0.100), run.stderr


def test_action_intr_raises_the_interrupt_and_does_not_terminate(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev wdog loc 0x2000 timeout 100 action intr intr gic:40\n", script="sleep 350\nshutdown\n")
    assert run.returncode == 0, run.stderr
    bites = [stamp(x) for x in run.find("^watchdog expired, biting", source="wdog")]
    # every 100 ms of qvm's clock until the shutdown (never more often; fewer only when the host ran it late)
    started = stamp(run.one(r"^guest started", source="qvm"))
    shutdown = stamp(run.one(r"^guest requested shutdown$", source="qvm"))  # 350 ms later, or later when loaded
    assert 1 <= len(bites) <= (shutdown - started) / 0.100, run.stderr
    assert bites[0] - started >= 0.100 - 0.002 and min(gaps(bites), default=1.0) >= 0.100 - 0.002, run.stderr
    raised = run.find(r"^watchdog bite from vdev 'wdog': raising interrupt gic:40$", source="qvm")
    assert len(raised) == len(bites)
    assert not run.find("cause=4")


def test_dump_terminate_writes_a_dump_then_exits_4(run_qvm: RunQvm, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    run = run_qvm("dump d\nvdev wdog loc 0x2000 timeout 50 action dump,terminate\n")
    assert run.returncode == 4
    assert run.one(r"^guest dump written: d/qvm-guest-\d{8}-\d{6}\.gcore \(watchdog bite\)$")
    assert len(list((tmp_path / "d").iterdir())) == 1


def test_guest_reads_the_time_left(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev wdog loc 0x2000 timeout 1000\n", script="kick\nread 0x2000 4\nshutdown\n")
    assert run.returncode == 0
    left = int(run.stdout.split(": ")[1], 16)
    assert 1000 - LATE_S * 1000 <= left <= 1000  # read a moment after the kick


def test_fixture_files_kick_then_starve(run_qvm: RunQvm) -> None:
    run = run_qvm(
        None,
        f"@{FIXTURES / 'qvmconf' / 'wdog-terminate.qvmconf'}",
        "load",
        str(FIXTURES / "guests" / "kick-then-starve.gs"),
    )
    assert run.returncode == 4, run.stderr
    assert run.stdout == "kicker stopped\n"
    since = float(run.one(r"^guest terminated: cause=4 ").message.rsplit("=", 1)[1])
    assert on_time(since, 0.25), run.stderr
