"""The guest timer's rate: ``QVMSIM_TIMER_HZ`` in qvm's environment (a target's ``[qvm] timer_hz``),
default 1 GHz; ``guest_timer_create`` reports it and deadlines count in its ticks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.qvmsim import RunQvm


def test_the_default_rate_is_1_ghz(run_qvm: RunQvm, probe_so: Path) -> None:
    run = run_qvm(f"system t\nvdev {probe_so} loc 0x2000\ndryrun\n")
    assert run.returncode == 0, run.stderr
    run.one(r"^later timer frequency=1000000000$", source="probe")
    assert not run.find(r"guest timer: ")


def test_the_reported_resolution_follows_the_rate(run_qvm: RunQvm, probe_so: Path) -> None:
    run = run_qvm(f"system t\nvdev {probe_so} loc 0x2000\ndryrun\n", env={"QVMSIM_TIMER_HZ": "19200000"})
    assert run.returncode == 0, run.stderr
    run.one(r"^later timer frequency=19200000$", source="probe")
    run.one(r"^guest timer: 19200000 Hz \(QVMSIM_TIMER_HZ\)$", source="qvm", level="INFO")


def test_deadlines_count_in_ticks_of_the_rate(run_qvm: RunQvm, probe_so: Path) -> None:
    """The probe's LATER register arms a relative timer of VALUE * 1e6 ticks (milliseconds at 1 GHz):
    at 10 MHz a store of 1 (1e6 ticks) fires after 100 ms."""
    conf = f"system t\nvdev {probe_so} loc 0x2000 intr gic:40\n"
    run = run_qvm(
        conf, script="write 0x2008 8 1\nirq wait gic:40 2000\nshutdown\n", env={"QVMSIM_TIMER_HZ": "10000000"}
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["irq gic:40 count=1"]
    start = run.one(r"^guest started").time
    raised = run.one(r"^later raised rc=0$", source="probe").time
    assert start is not None and raised is not None
    assert 0.09 <= raised - start <= 0.5, run.stderr


@pytest.mark.parametrize("value", ["0", "fast", "20000000000", "-5"])
def test_a_bad_rate_is_a_configuration_error(run_qvm: RunQvm, value: str) -> None:
    run = run_qvm("system t\n", env={"QVMSIM_TIMER_HZ": value})
    assert run.returncode == 65, run.stderr
    run.one(rf"^<environment>:0: bad value '{value}' for QVMSIM_TIMER_HZ ", level="FATAL")
