"""vdev_pulse() and qvmsim_pulse_deliver(): a pulse reaches the vdev's pulse
callback on qvmsim's pulse thread, under the vdev's mutex rules."""

from __future__ import annotations

from pathlib import Path

from tests.support.qvmsim import RunQvm, stamp


def test_delivered_pulse_calls_the_pulse_callback(run_qvm: RunQvm, probe_so: Path) -> None:
    conf = f"system t\nlogger fatal,internal,error,warn,info,debug stderr\nvdev {probe_so} loc 0x2000\n"
    run = run_qvm(conf, script="write 0x2048 8 1\nwrite 0x2048 8 1\nsleep 100\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert [line.message for line in run.find(r"^pulse deliver", source="probe")] == [
        "pulse deliver rc=0",
        "pulse deliver rc=0",
    ]
    got = run.find(r"^pulse code=", source="probe")
    # code from vdev_pulse(); qvmsim's own thread; v_mtx held for it (VFF_MUTEX)
    assert [line.message for line in got] == ["pulse code=5 thread=qvm-pulses v_mtx=held"] * 2
    # delivered from inside vwrite (v_mtx held by the vCPU): the callback waits for the mutex,
    # so it runs after the vwrite that delivered it returned
    first_deliver = run.one(r"^pulse deliver rc=0$", source="probe")
    assert stamp(got[0]) >= stamp(first_deliver)
    assert run.one(r"^pulse code 5 -> vdev 'probe'$", source="qvm", level="DEBUG")


def test_an_event_not_made_by_vdev_pulse_is_refused(run_qvm: RunQvm, probe_so: Path) -> None:
    run = run_qvm(f"system t\nvdev {probe_so} loc 0x2000\n", script="write 0x2048 8 2\nsleep 50\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.one(r"^pulse deliver", source="probe").message == "pulse deliver rc=22"
    assert not run.find(r"^pulse code=", source="probe")
