"""Fault matrix, qemu rows (issue 11: 1, 16): cancellation while a test is inside ``hil_qvm.start`` on
the public QEMU target, and a QEMU killed under a running qvm."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError, SetupError
from hil.qvm import QvmConfig
from hil.qvmrun.runner import QvmRunner
from hil.targets import QemuTarget, make_target
from hil.targets.definition import parse_definition
from hil.targets.deploy import create_deployment
from tests.faults.test_cancellation import _finish, _start, _wait_for_mark, check_cancelled
from tests.support.paths import FIXTURES
from tests.support.procs import pids_running


def test_sigterm_inside_start_on_qemu_ends_the_run(tmp_path: Path) -> None:
    """Issue 11.1: the VM is not pulled from under the test, nothing is retried, pytest exits 2."""
    proc, out = _start(tmp_path, "pytest", "start", target="qemu")
    _wait_for_mark(proc, tmp_path / "mark")
    proc.send_signal(signal.SIGTERM)  # pytest alone
    output = _finish(proc)
    check_cancelled(tmp_path, out, proc.returncode, output, 2, nightly=False)
    assert "this is the retry" not in (out / "junit.xml").read_text()
    assert not pids_running("qemu-system-x86_64", mentioning=tmp_path)


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QemuTarget]:
    """One VM for the rows below (the last one kills it)."""
    target = make_target(parse_definition({"kind": "qemu"}, "<test>", "vm"), tmp_path_factory.mktemp("vm"))
    assert isinstance(target, QemuTarget)
    target.up(Deadline.after(180))
    yield target
    target.down()


def test_missing_qvm_is_a_setup_error(vm: QemuTarget, tmp_path: Path) -> None:
    """Issue 11.5: a target without qvm is a set-up error naming the command, not 'got UNKNOWN (exit 127)'."""
    definition = vm.definition
    vm.definition = dataclasses.replace(definition, qvm=dataclasses.replace(definition.qvm, command="qvm-missing"))
    try:
        runner = QvmRunner(vm, create_deployment(vm, "noqvm"), tmp_path, vm.console)
        with pytest.raises(SetupError) as info:
            runner.run(QvmConfig("vm"), timeout=30)
    finally:
        vm.definition = definition
    message = str(info.value)
    assert "'qvm-missing' is not found there (exit status 127" in message and "[qvm] command" in message, message


def test_a_configuration_of_any_size_runs_on_qemu(vm: QemuTarget, tmp_path: Path) -> None:
    """Issue 22.10: a 100 KB configuration (comments) runs on the VM: it is written into the deployment
    folder, not onto the SSH command line (the image's dropbear drops a command over ~8.4 KB)."""
    for size in (9_000, 30_000, 100_000):
        padding = "".join(f"# padding line {i} of a configuration that is long on purpose\n" for i in range(size // 60))
        config = QvmConfig("vm").raw(padding).dryrun()
        (tmp_path / str(size)).mkdir()
        runner = QvmRunner(vm, create_deployment(vm, f"big{size}"), tmp_path / str(size), vm.console)
        result = runner.run(config, timeout=60)
        assert result.exit_status == 0, (size, result.reason, result.log.text[-500:])
        assert len(runner.deployment.target.run(f"cat {runner.deployment.remote('run.qvmconf')}").stdout) > size


def test_stop_right_after_start_is_the_power_button_on_qemu(vm: QemuTarget, tmp_path: Path) -> None:
    """Issue 22.6: start() returns when qvm is ready, so stop() at once is the power button, 10 of 10."""
    from tests.faults.test_start_ready import stop_right_after_start

    endings = stop_right_after_start(vm, tmp_path)
    assert endings == ["NORMAL after the power button"] * 10, endings


def test_killed_qemu_is_reported_as_qemu_dying(vm: QemuTarget, tmp_path: Path) -> None:
    """Issue 11.16: a QEMU killed under a running qvm is 'QEMU ... died', not 'SSH connection dropped'."""
    from hil.targets.toolchain import build_vdev
    from tests.support.paths import TARGET_VDEVS

    deployment = create_deployment(vm, "killed")
    wdog = build_vdev([TARGET_VDEVS / "wdog"], vm.toolchain())
    deployment.put_file(wdog.path, wdog.path.name, 0o755)
    config = QvmConfig("vm").vdev(wdog, loc=0x1C0F0000, timeout=500).load(FIXTURES / "guests" / "kick-forever.gs")
    runner = QvmRunner(vm, deployment, tmp_path, vm.console)
    session = runner.start(config, timeout=60)
    session.wait_stdout("kicker running", timeout=30)
    assert vm.machine is not None
    os.kill(vm.machine.pid, signal.SIGKILL)
    with pytest.raises(InfrastructureError) as info:
        session.wait(timeout=30)
    message = str(info.value)
    assert f"QEMU of target '{vm.name}' died" in message, message
