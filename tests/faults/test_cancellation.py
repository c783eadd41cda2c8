"""Fault matrix, cancellation rows (issue 11: 1, 3): SIGTERM and SIGINT at each phase of a run (target
bring-up, deploy, inside ``hil_qvm.run``, inside ``hil_qvm.start``, teardown), sent to ``pytest`` and to
``hil nightly`` as a CI server or a terminal sends them (to the process group), and to ``hil`` alone.

Every cancelled run must exit non-zero, never retry nor run a further test, leave a complete report
(the interrupted test in the JUnit file; nightly: ``summary.txt``, ``counts.json``) and no process of
its own behind (checked by full command line).  On the local target: the cancellation path is the same
for every kind (``tests/faults/test_qemu_faults.py`` has the qemu rows).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.faults.inner import CONFTEST, TESTS
from tests.support.paths import FIXTURES, REPO, TARGET_VDEVS
from tests.support.procs import pids_mentioning

PHASES = ("boot", "deploy", "run", "start", "teardown")


def _project(tmp_path: Path, phase: str) -> tuple[Path, Path]:
    """An inner project: its test file and conftest, a local target whose workdir is under ``tmp_path``."""
    guest = "kick-forever.gs" if phase in ("run", "start") else "kick-then-starve.gs"
    (tmp_path / "test_inner.py").write_text(
        TESTS.format(guest=str(FIXTURES / "guests" / guest), wdog=str(TARGET_VDEVS / "wdog"))
    )
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    toml = tmp_path / "box.toml"
    toml.write_text(f'name = "box"\nkind = "local"\n[qvm]\nworkdir = "{tmp_path / "work"}"\n')
    return tmp_path / "test_inner.py", toml


def _start(tmp_path: Path, runner: str, phase: str, target: str | None = None) -> tuple[subprocess.Popen[str], Path]:
    """The inner run on ``target`` (default: a local target of its own), under ``runner``."""
    test_file, toml = _project(tmp_path, phase)
    target = target or str(toml)
    env = {**os.environ, "HIL_FAULT_PHASE": phase, "HIL_FAULT_MARK": str(tmp_path / "mark")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    if runner == "pytest":
        out = tmp_path / "out"
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(test_file), "--hil-target", target,
            "--hil-artifacts", str(out / "artifacts"), "--hil-junit", str(out / "junit.xml"),
            "--hil-summary", str(out / "summary.txt"),
        ]  # fmt: skip
    else:
        command = [sys.executable, "-m", "hil", "nightly", "--target", target, "--reports", str(tmp_path / "r")]
        command += ["--", str(test_file)]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    return proc, (tmp_path / "out" if runner == "pytest" else tmp_path / "r")


def _wait_for_mark(proc: subprocess.Popen[str], mark: Path) -> None:
    while not mark.exists():
        if proc.poll() is not None:
            pytest.fail(f"the inner run ended before reaching the phase: {proc.communicate()[0][-3000:]}")
        time.sleep(0.05)
    time.sleep(0.3)  # into the blocking call that follows the mark


def _finish(proc: subprocess.Popen[str]) -> str:
    try:
        return proc.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"the cancelled run did not end: {proc.communicate()[0][-3000:]}")


def _cases(junit: Path) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in ET.parse(junit).getroot().iter("testcase")}


def check_cancelled(tmp_path: Path, out: Path, rc: int, output: str, expected_rc: int, nightly: bool) -> None:
    assert rc == expected_rc, output[-3000:]
    assert "retry" not in output.lower() or "retried" not in output.lower(), output[-3000:]
    folder = next(out.iterdir()) if nightly else out
    cases = _cases(folder / "junit.xml")
    victim = [c for n, c in cases.items() if n.startswith("test_victim")]
    assert victim, f"the interrupted test is missing from the report: {sorted(cases)}"
    assert victim[0].find("error") is not None, ET.tostring(victim[0], encoding="unicode")[:2000]
    after = [c for n, c in cases.items() if n.startswith("test_after")]
    assert not after or after[0].find("error") is not None  # never run after a cancellation
    assert (folder / "summary.txt").is_file() and (folder / "counts.json").is_file()
    left = pids_mentioning(tmp_path)
    assert not left, [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("runner", ["pytest", "nightly"])
def test_cancelled_run_stops_with_complete_report(tmp_path: Path, runner: str, phase: str, sig: int) -> None:
    proc, out = _start(tmp_path, runner, phase)
    _wait_for_mark(proc, tmp_path / "mark")
    os.killpg(proc.pid, sig)  # as a CI server cancels a job, and as Ctrl-C reaches the foreground group
    output = _finish(proc)
    expected = 2 if runner == "pytest" else 128 + sig  # pytest: INTERRUPTED; hil: 128 + the signal
    check_cancelled(tmp_path, out, proc.returncode, output, expected, nightly=runner == "nightly")


def test_sigterm_to_hil_alone_reaches_pytest(tmp_path: Path) -> None:
    proc, out = _start(tmp_path, "nightly", "run")
    _wait_for_mark(proc, tmp_path / "mark")
    proc.send_signal(signal.SIGTERM)  # hil only: it passes the signal on and waits for the report
    output = _finish(proc)
    check_cancelled(tmp_path, out, proc.returncode, output, 128 + signal.SIGTERM, nightly=True)
