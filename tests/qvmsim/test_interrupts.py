"""Guest interrupts: the `intr PIC:NUM` option, guest_intr_signal(), the
scripted guest's `irq` commands, the DEBUG line per assertion (and the Python
log parser that counts them), WDOG_ACTION_INTR."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.qvm.log import parse_log
from tests.support.qvmsim import RunQvm

DEBUG_LOGGER = "logger fatal,internal,error,warn,info,debug stderr\n"


def conf(probe_so: Path, intr: str | None = "gic:33", extra: str = "") -> str:
    words = f" intr {intr}" if intr else ""
    return f"system t\n{DEBUG_LOGGER}vdev {probe_so} loc 0x2000{words}\n{extra}"


def test_assertions_are_counted_logged_and_waited_for(run_qvm: RunQvm, probe_so: Path) -> None:
    script = """
    irq count gic:33
    write 0x2000 8 3          # RAISE: 3 assertions (GIS_ON then GIS_OFF each)
    irq count gic:33
    irq wait gic:33 100       # pending since the guest last acknowledged: at once
    irq wait gic:33 50        # nothing new: times out
    write 0x2008 8 30         # LATER: one assertion 30 ms from now, from a timer callback
    irq wait gic:33 2000
    shutdown
    """
    run = run_qvm(conf(probe_so, "GIC:0x21"), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "irq gic:33 count=0",
        "irq gic:33 count=3",
        "irq gic:33 count=3",
        "irq gic:33 timeout count=3",
        "irq gic:33 count=4",
    ]
    lines = run.find(r"^guest interrupt ", source="qvm", level="DEBUG")
    assert [line.message for line in lines] == [
        f"guest interrupt gic:33 asserted by vdev 'probe' (count {n})" for n in range(1, 5)
    ]
    log = parse_log(run.stderr)
    assert [i.count for i in log.interrupts("GIC:0x21")] == [1, 2, 3, 4]
    assert log.interrupt_count("gic:33") == 4
    assert log.interrupts("gic:33", vdev="other") == []
    assert log.interrupt_count("gic:34") == 0
    # the timed-out wait really waited (qvmsim's own clock): about 50 ms between the two waits
    assert run.one(r"^later raised rc=0$", source="probe")


def test_irq_wait_blocks_only_its_own_stream(run_qvm: RunQvm, probe_so: Path) -> None:
    # the script waits without a timeout; the console raises the interrupt, then the script goes on
    script = "irq wait gic:33\nprint after wait\nshutdown\n"
    run = run_qvm(conf(probe_so), script=script, stdin="print console ran\nwrite 0x2000 8 1\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["console ran", "irq gic:33 count=1", "after wait"]


def test_irq_ack_forgets_pending_assertions(run_qvm: RunQvm, probe_so: Path) -> None:
    script = "write 0x2000 8 2\nirq ack gic:33\nirq wait gic:33 30\nirq count gic:33\nshutdown\n"
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["irq gic:33 timeout count=2", "irq gic:33 count=2"]


def test_vdevs_with_the_same_interrupt_share_its_count(run_qvm: RunQvm, probe_so: Path) -> None:
    text = (
        f"system t\n{DEBUG_LOGGER}vdev {probe_so} loc 0x2000 intr ioapic:5 name a\n"
        f"vdev {probe_so} loc 0x3000 intr IOAPIC:5 name b\n"
    )
    run = run_qvm(text, script="write 0x2000 8 1\nwrite 0x3000 8 2\nirq count ioapic:5\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["irq ioapic:5 count=3"]
    log = parse_log(run.stderr)
    assert [(i.vdev, i.count) for i in log.interrupts("ioapic:5")] == [("a", 1), ("b", 2), ("b", 3)]


def test_guest_intr_signal_answers(run_qvm: RunQvm, probe_so: Path) -> None:
    run = run_qvm(conf(probe_so), script="write 0x2010 8 1\nshutdown\n")
    assert run.returncode == 0, run.stderr
    # GIS_ISR alone: EOK ("can be signalled from an ISR": yes); GIS_NOP: EOK; ON|OFF, a NULL
    # gip, an interrupt that is not configured: EINVAL (22)
    assert run.one(r"^intr codes ", source="probe").message == "intr codes isr=0 nop=0 both=22 null=22 unconfigured=22"
    assert not run.find(r"^guest interrupt ")


def test_vdev_without_intr_gets_einval(run_qvm: RunQvm, probe_so: Path) -> None:
    run = run_qvm(conf(probe_so, intr=None), script="write 0x2000 8 1\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.one(r"^raise rc=", source="probe").message == "raise rc=22"


def test_wdog_action_intr_raises_the_vdev_interrupt(run_qvm: RunQvm, probe_so: Path) -> None:
    script = "write 0x2018 8 1\nirq wait gic:33 1000\nprint still running\nshutdown\n"
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 0, run.stderr
    assert (
        run.one(r"^watchdog bite ", source="qvm", level="INFO").message
        == "watchdog bite from vdev 'probe': raising interrupt gic:33"
    )
    assert run.one(r"^bite returned$", source="probe")
    assert run.stdout.splitlines() == ["irq gic:33 count=1", "still running"]
    assert parse_log(run.stderr).interrupt_count("gic:33") == 1


def test_wdog_action_intr_without_intr_is_an_error_line(run_qvm: RunQvm, probe_so: Path) -> None:
    run = run_qvm(conf(probe_so, intr=None), script="write 0x2018 8 1\nshutdown\n")
    assert run.returncode == 0, run.stderr
    line = run.one(r"^watchdog bite ", source="qvm", level="ERROR")
    assert "has no 'intr' option" in line.message and "intr gic:33" in line.message


@pytest.mark.parametrize(
    "word,why",
    [
        ("gic33", "expected PIC:NUMBER"),
        (":33", "expected PIC:NUMBER"),
        ("gic:", "must be a non-negative number"),
        ("gic:x1", "must be a non-negative number"),
        ("gic:-1", "must be a non-negative number"),
        ("gic:0x100000000", "from 0 to 0xffffffff"),
        ("3gic:5", "starting with a letter"),
        ("g-ic:5", "starting with a letter"),
    ],
)
def test_bad_intr_is_a_config_error(run_qvm: RunQvm, probe_so: Path, word: str, why: str) -> None:
    run = run_qvm(f"system t\nvdev {probe_so} loc 0x2000\n  intr {word}\n")
    assert run.returncode == 65, run.stderr
    fatal = run.one(r"", source="qvm", level="FATAL")
    assert fatal.message.startswith(f"cfg.qvmconf:3: bad value '{word}' for option 'intr' of vdev 'probe': ")
    assert why in fatal.message


@pytest.mark.parametrize(
    "script,message",
    [
        (
            "irq wait gic:99\n",
            "guest.gs:1: no vdev has the interrupt 'gic:99' for 'irq wait' (give one the option 'intr gic:99')",
        ),
        (
            "irq count gic\n",
            "guest.gs:1: bad interrupt 'gic' for 'irq count': expected PIC:NUMBER, e.g. gic:33 or ioapic:5",
        ),
        ("irq wait gic:33 soon\n", "guest.gs:1: bad timeout 'soon' for 'irq wait' (milliseconds)"),
        ("irq\n", "guest.gs:1: 'irq' needs 'wait PIC:NUM [TIMEOUT_MS]', 'count PIC:NUM' or 'ack PIC:NUM'"),
        ("every 10 irq wait gic:33\n", "guest.gs:1: 'irq wait' cannot be the command of 'every'"),
    ],
)
def test_bad_irq_command_in_the_script_is_a_config_error(
    run_qvm: RunQvm, probe_so: Path, script: str, message: str
) -> None:
    run = run_qvm(conf(probe_so), script=script)
    assert run.returncode == 65, run.stderr
    assert run.one(r"", source="qvm", level="FATAL").message == message
