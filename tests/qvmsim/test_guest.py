"""The scripted guest and the guest console (stdin)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.qvmsim import QvmProc, RunQvm, stamp
from tests.support.timing import CLOCK_SLACK_S, gaps

TRACE = "vdev trace loc 0x1000 tick 0 verbose\n"


def test_console_commands_on_stdin(run_qvm: RunQvm) -> None:
    stdin = "print hello # not a comment\nwrite 0x1000 4 0x1234\nread 0x1000 2\n\n# comment\nshutdown\n"
    run = run_qvm(TRACE, stdin=stdin)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["hello # not a comment", "0x1000: 0x1234"]


def test_console_errors_are_logged_and_the_guest_goes_on(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, stdin="fly away\nwrite 0x1000 4\nprint still here\nshutdown\n")
    assert run.returncode == 0
    assert run.one(r"^guest console: unknown guest command 'fly'$", level="ERROR")
    assert run.one(r"^guest console: 'write' needs ADDR SIZE VALUE$", level="ERROR")
    assert run.stdout == "still here\n"


def test_end_of_stdin_is_not_a_shutdown(qvm_bin: Path, vdev_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "c.qvmconf").write_text(TRACE)
    proc = subprocess.Popen(
        [str(qvm_bin), "-L", str(vdev_dir), "@c.qvmconf"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=5)
    finally:
        proc.kill()
    assert proc.returncode == 0, err


def test_every_and_stop_jobs(run_qvm: RunQvm) -> None:
    script = (
        "every 20 write 0x1000 4 1\nevery 30 write 0x1004 4 2\nsleep 105\nstop job1\n"
        "sleep 100\nstop all\nsleep 60\nshutdown\n"
    )
    run = run_qvm(TRACE, script=script)
    assert run.returncode == 0
    assert run.stdout == ""  # `every` prints nothing
    # on qvmsim's own timestamps (a loaded host may run a job late, and then skips, never bursts):
    first = [stamp(x) for x in run.find(r"^store offset 0x0 ", source="trace")]
    second = [stamp(x) for x in run.find(r"^store offset 0x4 ", source="trace")]
    shutdown = stamp(run.one(r"^guest requested shutdown$", source="qvm"))
    assert first and [t for t in second if t > first[-1]], run.stderr  # job1 stopped, job2 ran on
    assert shutdown - second[-1] >= 0.060 - CLOCK_SLACK_S, run.stderr  # `stop all`: quiet for the last 60 ms
    assert len(first) <= (first[-1] - first[0]) / 0.020 + 2 and len(second) <= (second[-1] - second[0]) / 0.030 + 2
    if max(gaps(first), default=0) < 0.040 and max(gaps(second), default=0) < 0.060:  # no period skipped
        assert 4 <= len(first) <= 6, run.stderr  # 105 ms / 20 ms
        assert 6 <= len(second) <= 8, run.stderr  # 205 ms / 30 ms


def test_stop_unknown_job_warns(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, script="stop job7\nshutdown\n")
    assert run.returncode == 0
    assert run.one(r"^guest: stop: no running job 'job7'$", level="WARN")


def test_access_sizes(run_qvm: RunQvm) -> None:
    run = run_qvm(
        "vdev wdog loc 0x2000 timeout 5000\n" + TRACE,
        script="write 0x1000 8 0x1122334455667788\nread 0x1000 1\nwrite 0x2000 8 1\nshutdown\n",
    )
    assert run.returncode == 0
    assert run.stdout == "0x1000: 0x88\n"
    assert run.one(r"^store offset 0x0 size 8 value 0x1122334455667788$", source="trace")
    assert not run.find("size not supported")  # wdog's acc_sizes include 8


def test_kick_without_watchdog_is_an_error(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, script="kick\nkick nobody\nshutdown\n")
    assert run.returncode == 0
    assert run.one(r"^guest: kick: no watchdog vdev", level="ERROR")
    assert run.one(r"^guest: kick: no vdev instance named 'nobody'$", level="ERROR")


def test_console_runs_while_the_script_sleeps(start_qvm: Callable[..., QvmProc]) -> None:
    q = start_qvm("logger fatal,error,info,debug stderr\n" + TRACE, script="sleep 100000\n", stdin_pipe=True)
    q.wait_for("guest started")
    assert q.proc.stdin is not None
    q.proc.stdin.write("write 0x1000 4 9\nread 0x1000 4\n")
    q.proc.stdin.close()  # EOF: not a shutdown
    q.wait_for_out(r"^0x1000: 0x00000009$")
    q.wait_for("end of input")
    assert q.proc.poll() is None
    q.signal(signal.SIGTERM)
    assert q.finish().returncode == 0


def test_stdin_closed_altogether(qvm_bin: Path, vdev_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "c.qvmconf").write_text(TRACE)
    proc = subprocess.Popen(
        [str(qvm_bin), "-L", str(vdev_dir), "@c.qvmconf"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(0),  # noqa: PLW1509
    )
    try:
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=5)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "power button" in err
