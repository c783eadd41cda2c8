"""The error vocabulary (hil.core.errors): one name per kind of trouble, and how the plugin counts it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.core.command import CommandResult
from hil.core.errors import (
    CommandFailed,
    CommandTimeout,
    DeviceFailure,
    ExpectTimeout,
    FailPatternSeen,
    HilError,
    InfrastructureError,
    SetupError,
    WaitTimeout,
)
from hil.links import ssh
from hil.targets import make_target
from hil.targets.base import Target
from hil.targets.definition import parse_definition

pytest_plugins = ["pytester"]


@pytest.fixture
def local(tmp_path: Path) -> Target:
    definition = parse_definition({"kind": "local", "qvm": {"workdir": str(tmp_path / "work")}}, "t.toml", "box")
    return make_target(definition, tmp_path / "run")


@pytest.mark.parametrize("error", [CommandFailed, CommandTimeout, ExpectTimeout, FailPatternSeen])
def test_device_failures_are_test_failures(error: type[Exception]) -> None:
    # AssertionError: pytest and the plugin count it as a failure of the vdev, never as an error of the lab.
    assert issubclass(error, DeviceFailure) and issubclass(error, AssertionError) and issubclass(error, HilError)
    assert not issubclass(error, (InfrastructureError, SetupError))


def test_wait_timeout_is_still_a_timeout_error() -> None:
    assert issubclass(WaitTimeout, TimeoutError) and issubclass(WaitTimeout, HilError)
    assert not issubclass(WaitTimeout, AssertionError)
    assert str(WaitTimeout("x still running")) == "x still running"


def test_one_class_per_name_wherever_it_is_imported_from() -> None:
    assert ssh.CommandTimeout is CommandTimeout
    assert ssh.CommandFailed is CommandFailed and ssh.ExpectTimeout is ExpectTimeout and ssh.WaitTimeout is WaitTimeout


def test_command_failed_says_what_where_and_how() -> None:
    result = CommandResult("make all", None, "SEGV", b"built\n", b"oops\n", 0.1)
    error = CommandFailed.of(result, "box (root@h:22)")
    assert error.result is result
    assert (
        str(error)
        == "command on box (root@h:22) was killed by SIGSEGV: make all\n--- stderr:\noops\n\n--- stdout:\nbuilt\n"
    )


def test_local_checked_command_raises_command_failed(local: Target) -> None:
    with pytest.raises(CommandFailed, match=r"(?s)command on box \(this host\) exited 2: .*--- stderr:\nno\n") as info:
        local.run("echo yes; echo no >&2; exit 2", check=True)
    assert info.value.result.exit_status == 2 and info.value.result.stdout == b"yes\n"
    with pytest.raises(CommandFailed, match="was killed by SIGTERM"):
        local.run("kill -s TERM $$", check=True)
    assert local.run("exit 2").exit_status == 2


def test_local_command_timeout_and_process_wait_timeout(local: Target) -> None:
    with pytest.raises(CommandTimeout) as info:
        local.run("echo early; exec sleep 30", timeout=0.3)
    assert info.value.partial is not None and info.value.partial.stdout == b"early\n"
    process = local.start("exec sleep 30")  # exec: the pid signalled below is the program itself
    try:
        with pytest.raises(WaitTimeout, match="still running"):
            process.wait(0.1)
        with pytest.raises(TimeoutError):  # what callers caught before
            process.wait(0.05)
    finally:
        process.signal("KILL")
    assert process.wait(10).signal is not None


def test_plugin_counts_an_expect_timeout_as_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
        from hil.core.errors import ExpectTimeout, InfrastructureError
        def test_never_appeared():
            raise ExpectTimeout("'ready' did not appear within 1.0 s")
        def test_lab_failed():
            raise InfrastructureError("target unreachable")
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")  # the plugin loads by its entry point
    result.assert_outcomes(failed=1, errors=1)
