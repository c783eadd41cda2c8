"""``start()`` returns when qvm is ready: ``stop()`` right after it is the power button (issue 22.6), and
every way out of a start stops the qvm it started (issue 22.5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.qvm import QvmConfig
from hil.qvm.exitcodes import Exit
from hil.qvmrun.runner import QvmRunner
from hil.targets import make_target
from hil.targets.base import Target
from hil.targets.definition import parse_definition
from hil.targets.deploy import create_deployment
from hil.targets.toolchain import build_vdev
from tests.support.paths import REPO, TARGET_VDEVS
from tests.support.procs import pids_mentioning


def stop_right_after_start(target: Target, tmp_path: Path, times: int = 10) -> list[str]:
    """``times`` sessions of a configuration with a vdev, each stopped at once: how each ended."""
    deployment = create_deployment(target, "power")
    wdog = build_vdev([TARGET_VDEVS / "wdog"], target.toolchain())
    deployment.put_file(wdog.path, wdog.path.name, 0o755)
    config = QvmConfig("vm").vdev(wdog, loc=0x1C0F0000, timeout=5000)
    runner = QvmRunner(target, deployment, tmp_path, None)
    endings = []
    try:
        for _ in range(times):
            result = runner.start(config, timeout=60).stop()
            pressed = any("power button pressed" in line.raw for line in result.log)
            endings.append(f"{result.reason.name}{' after the power button' if pressed else ''}")
    finally:
        deployment.cleanup()
    return endings


def test_stop_right_after_start_is_the_power_button_on_local(tmp_path: Path) -> None:
    target = make_target(parse_definition({"kind": "local"}, "t.toml", "box"), tmp_path / "run")
    target.up(Deadline.after(10))
    endings = stop_right_after_start(target, tmp_path)
    assert endings == [f"{Exit.NORMAL.name} after the power button"] * 10, endings


def _inner_session(tmp_path: Path, source: str) -> tuple[list[str], dict[str, str]]:
    """An inner pytest session of ``source`` on a local box whose workdir is ``tmp_path/work``: its command
    line and environment (``HIL_FAULT_MARK``: the file the inner test marks)."""
    (tmp_path / "test_inner.py").write_text(source)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    toml = tmp_path / "box.toml"
    toml.write_text(f'name = "box"\nkind = "local"\n[qvm]\nworkdir = "{tmp_path / "work"}"\n')
    env = {**os.environ, "HIL_FAULT_MARK": str(tmp_path / "mark")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_inner.py"),
               "--hil-target", str(toml), "--hil-artifacts", str(tmp_path / "out")]  # fmt: skip
    return command, env


INNER = """
import os
from pathlib import Path

import pytest

from hil.qvm import QvmConfig


def test_victim(hil_qvm, hil_vdev):
    trace = hil_vdev({trace!r})
    config = QvmConfig("vm").vdev(trace, loc=0x2000, hang="configured")  # start() waits for a ready guest
    Path(os.environ["HIL_FAULT_MARK"]).write_text("start")
    with hil_qvm.start(config, timeout=120):
        pass
"""


def test_sigterm_while_start_waits_for_a_ready_qvm_leaves_no_qvm(tmp_path: Path) -> None:
    """Issue 22.5: SIGTERM to pytest alone while ``hil_qvm.start`` waits for qvm (a vdev hangs in its
    set-up): the run is interrupted (exit 2) and no qvm is left running."""
    command, env = _inner_session(tmp_path, INNER.format(trace=str(TARGET_VDEVS / "trace")))
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 120
        while not pids_mentioning(tmp_path / "work") or not list((tmp_path / "work").glob("*/qvm.pid")):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()[0][-3000:]
            time.sleep(0.02)
        time.sleep(0.5)  # qvm is hanging in GUEST_CONFIGURED, start() waits
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, output[-3000:]
    left = pids_mentioning(tmp_path / "work")
    assert not left, [_cmdline(p) for p in left]


INNER_LAUNCHED = """
import os
import signal
from pathlib import Path

import hil.qvmrun.runner as runner_module
from hil.qvm import QvmConfig


def test_victim(hil_qvm, monkeypatch):
    real = runner_module.guest_for

    def signalled(target, session):  # inside start(), the moment qvm's process exists
        Path(os.environ["HIL_FAULT_MARK"]).write_text(str(session.process.pid))
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises here, in start()
        return real(target, session)

    monkeypatch.setattr(runner_module, "guest_for", signalled)
    with hil_qvm.start(QvmConfig("vm"), timeout=60) as session:
        session.wait_stdout("never", timeout=60)
"""


def test_sigterm_the_moment_start_launched_qvm_leaves_no_qvm(tmp_path: Path) -> None:
    """Issue 22.5: SIGTERM to pytest inside ``hil_qvm.start`` right after qvm's process was launched (delivered
    at that moment by a hook in the inner test, not after a sleep): interrupted (exit 2), the qvm stopped, not
    orphaned with its deployment folder (and its ``qvm.pid``) removed.  The old start raised out of the session's
    set-up with nobody left to stop the qvm."""
    command, env = _inner_session(tmp_path, INNER_LAUNCHED)
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    qvm = int((tmp_path / "mark").read_text())  # the hook ran: the signal came inside start()
    left = pids_mentioning(tmp_path / "work")
    for pid in left:  # do not leave it running for the next test
        os.kill(pid, signal.SIGKILL)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-2000:]
    assert not left, (qvm, [_cmdline(p) for p in left])


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_deployment_removed_under_a_running_qvm_ends_it(tmp_path: Path) -> None:
    """Issue 22.5: a qvm still running when its deployment folder is removed (a session never ended)
    is killed first: qvm.pid outlives the process, no qvm is orphaned with its record gone."""
    target = make_target(parse_definition({"kind": "local"}, "t.toml", "box"), tmp_path / "run")
    deployment = create_deployment(target, "orphan")
    runner = QvmRunner(target, deployment, tmp_path, None)
    session = runner.start(QvmConfig("vm"), timeout=60)  # ready, and never stopped
    pid = session.process.pid
    assert session.running()
    deployment.cleanup()
    end = time.monotonic() + 10
    while session.running():
        assert time.monotonic() < end, "qvm outlived its deployment folder"
        time.sleep(0.02)
    assert not Path(deployment.path).exists() and not pids_mentioning(deployment.path), pid


def test_a_missing_qvm_on_local_is_a_setup_error_at_start(tmp_path: Path) -> None:
    """Issue 22.8: driving a session whose qvm could not be started is a set-up error naming [qvm] command,
    not a test failure from a broken pipe."""
    from hil.core.errors import SetupError

    definition = parse_definition({"kind": "local", "qvm": {"command": str(tmp_path / "no-qvm")}}, "t.toml", "box")
    target = make_target(definition, tmp_path / "run")
    deployment = create_deployment(target, "noqvm")
    runner = QvmRunner(target, deployment, tmp_path, None)
    try:
        with (
            pytest.raises(SetupError, match=r"qvm could not be started on target 'box'.*\[qvm\] command"),
            runner.start(QvmConfig("vm"), timeout=30) as session,
        ):
            session.send("print hello")  # before: BrokenPipeError, a test failure
    finally:
        deployment.cleanup()


def test_a_guest_command_after_qvm_ended_says_how_it_ended(tmp_path: Path) -> None:
    from hil.qvmrun.runner import QvmEnded

    target = make_target(parse_definition({"kind": "local"}, "t.toml", "box"), tmp_path / "run")
    deployment = create_deployment(target, "ended")
    runner = QvmRunner(target, deployment, tmp_path, None)
    try:
        with runner.start(QvmConfig("vm"), timeout=30) as session:
            session.send("shutdown")
            session.wait(timeout=30)
            with pytest.raises(QvmEnded, match=r"qvm has ended \(NORMAL"):
                for _ in range(50):  # the pipe breaks once qvm is gone
                    session.send("print late")
    finally:
        deployment.cleanup()


def test_a_missing_sanitizer_qvm_is_named_not_the_plain_one(tmp_path: Path) -> None:
    """The set-up error of a qvm that could not be started names the qvm that was started: the sanitizer build
    (``--hil-sanitize``) when it was, not the target's plain ``[qvm] command``."""
    from dataclasses import dataclass

    from hil.core.errors import SetupError
    from hil.qvmrun.gates import Gates
    from hil.targets.deploy import Deployment

    missing = tmp_path / "hil-sanitizer-k" / "qvm"

    @dataclass(frozen=True)
    class GoneSanitizerQvm(Gates):  # the sanitizer build's file vanished from under the run
        def qvm_command(self, target: Target, deployment: Deployment) -> tuple[str, str | None]:
            return str(missing), None

    target = make_target(parse_definition({"kind": "local"}, "t.toml", "box"), tmp_path / "run")
    deployment = create_deployment(target, "nosan")
    runner = QvmRunner(target, deployment, tmp_path, None, gates=GoneSanitizerQvm(sanitize=("address",)))
    try:
        with pytest.raises(SetupError) as caught, runner.start(QvmConfig("vm"), timeout=30) as session:
            session.wait(timeout=30)
    finally:
        deployment.cleanup()
    message = str(caught.value)
    assert message.startswith("the sanitizer build of qvm (address) could not be started on target 'box'"), message
    assert repr(str(missing)) in message and target.qvm_command() not in message, message
