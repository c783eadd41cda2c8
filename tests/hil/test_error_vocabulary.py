"""One error vocabulary on every target kind (hil.core.errors): a failed checked command is
``CommandFailed``, a process wait that runs out is ``WaitTimeout``, a log line that never
appears is ``ExpectTimeout`` (a test failure, with the log's tail and file)."""

from __future__ import annotations

import pytest

from hil import (
    CommandFailed,
    DeviceFailure,
    ExpectTimeout,
    HilError,
    InfrastructureError,
    SetupError,
    WaitTimeout,
    signal_name,
)
from tests.support.hil import TRACE_LOC, DeployedVdev, QvmRunner, Target, vm

pytestmark = pytest.mark.hil


def test_checked_command_failure_is_command_failed(hil_target: Target) -> None:
    command = "echo to-stdout; echo to-stderr >&2; exit 3"
    with pytest.raises(CommandFailed) as info:
        hil_target.run(command, timeout=30, check=True)
    error = info.value
    assert isinstance(error, AssertionError) and not isinstance(error, (InfrastructureError, SetupError))
    assert error.result.exit_status == 3 and error.result.command == command
    assert error.result.stdout == b"to-stdout\n" and error.result.stderr == b"to-stderr\n"
    message = str(error)
    assert "exited 3" in message and command in message and hil_target.name in message
    assert "--- stderr:\nto-stderr" in message and "--- stdout:\nto-stdout" in message
    assert hil_target.run("exit 3", timeout=30).exit_status == 3  # without check: the result, no error


def test_process_wait_that_runs_out_is_a_wait_timeout(hil_target: Target) -> None:
    process = hil_target.start("echo started; exec sleep 30")
    try:
        with pytest.raises(WaitTimeout, match="still running") as info:
            process.wait(0.2)
        assert isinstance(info.value, TimeoutError) and isinstance(info.value, HilError)  # old handlers still work
        assert process.poll() is None
    finally:
        process.signal("KILL")
    assert signal_name(process.wait(10).signal or "") == "SIGKILL"


def test_log_line_that_never_appears_is_an_expect_timeout(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    with hil_qvm.start(vm().vdev(trace, loc=TRACE_LOC), timeout=20) as session:
        session.wait_log(r"ctrl GUEST_STARTING")
        with pytest.raises(ExpectTimeout) as info:
            session.wait_log(r"a line qvm never writes", timeout=0.5)
        with pytest.raises(ExpectTimeout, match="never matched") as guest:
            session.wait_stdout(r"nor this on the guest console", timeout=0.2)
        session.signal("TERM")
        session.wait(10)
    error = info.value
    assert isinstance(error, DeviceFailure) and isinstance(error, AssertionError)  # a failure, not an error
    message = str(error)
    assert "no qvm log line matches /a line qvm never writes/" in message
    assert "ctrl GUEST_STARTING" in message  # the log's tail
    path = message.rsplit("full qvm log so far: ", 1)[1].strip()
    assert path.endswith(".qvm.log") and "ctrl GUEST_STARTING" in open(path, encoding="utf-8").read()  # noqa: SIM115
    assert "full guest console so far: " in str(guest.value)
