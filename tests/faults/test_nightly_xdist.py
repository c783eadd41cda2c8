"""``hil nightly`` with two targets (pytest-xdist workers): a cancellation writes every started test once,
as interrupted in its target's suite; a SIGKILLed worker's test appears once (issue 22.7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.paths import REPO

INNER = """
import os, time
from pathlib import Path
from hil.qvm import QvmConfig

def test_victim(hil_qvm, hil_target):
    mark = Path(os.environ["HIL_FAULT_MARK"] + "-" + hil_target.name)
    if mark.exists():
        return  # xdist runs a crashed worker's test again on its replacement: it passes at once then
    mark.write_text(str(os.getpid()))
    with hil_qvm.start(QvmConfig("vm"), timeout=120) as s:
        s.wait_stdout("never", timeout=100)

def test_after(hil_target):
    pass
"""


def _nightly(tmp_path: Path) -> subprocess.Popen[str]:
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for box in ("boxa", "boxb"):
        (tmp_path / f"{box}.toml").write_text(
            f'name = "{box}"\nkind = "local"\n[qvm]\nworkdir = "{tmp_path / ("w" + box)}"\n'
        )
    env = {**os.environ, "HIL_FAULT_MARK": str(tmp_path / "mark")}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return subprocess.Popen(
        [sys.executable, "-m", "hil", "nightly", "--target", "boxa.toml", "--target", "boxb.toml",
         "--reports", str(tmp_path / "r"), "--", "test_inner.py"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def _marks(tmp_path: Path, proc: subprocess.Popen[str]) -> dict[str, int]:
    end = time.monotonic() + 120
    while len(list(tmp_path.glob("mark-*"))) < 2:
        if proc.poll() is not None or time.monotonic() > end:
            pytest.fail(f"the inner run did not start both victims: {proc.communicate()[0][-3000:]}")
        time.sleep(0.05)
    return {p.name.removeprefix("mark-"): int(p.read_text()) for p in tmp_path.glob("mark-*")}


def _cases(tmp_path: Path) -> list[tuple[str, str, str]]:
    """(classname, name, outcome) of every testcase of the run's junit.xml.  A test's name is given without its
    target parameter (``test_victim[boxa]`` is ``test_victim``): a case reported under another suite (the
    ``host`` one) with its parameter still in its name is the same test, and counts as a second report of it."""
    (junit,) = (tmp_path / "r").glob("*/junit.xml")
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        out.append((case.get("classname", ""), case.get("name", "").split("[")[0], outcome))
    return sorted(out)


def test_a_cancelled_two_target_nightly_reports_every_started_test_once(tmp_path: Path) -> None:
    proc = _nightly(tmp_path)
    _marks(tmp_path, proc)
    os.killpg(proc.pid, signal.SIGTERM)  # as a CI server cancels a job
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert _cases(tmp_path) == [
        ("test_inner.boxa", "test_victim", "error"),
        ("test_inner.boxb", "test_victim", "error"),
    ], output[-3000:]


def test_a_sigkilled_workers_test_appears_once(tmp_path: Path) -> None:
    from tests.support.procs import pids_mentioning

    proc = _nightly(tmp_path)
    try:
        workers = _marks(tmp_path, proc)
        os.kill(workers["boxa"], signal.SIGKILL)  # the worker running boxa's victim dies
        os.kill(workers["boxb"], signal.SIGKILL)
        output = proc.communicate(timeout=300)[0]
        cases = _cases(tmp_path)
        victims = [c for c in cases if c[1] == "test_victim"]
        # each once, in its target's suite (never a second report in a "host" suite): the crash, or the result of
        # xdist's run of it on the replacement worker (which stands)
        assert sorted(c[0] for c in victims) == ["test_inner.boxa", "test_inner.boxb"], (cases, output[-3000:])
        assert len(cases) == len(set((c[0], c[1]) for c in cases)) == 4, (cases, output[-3000:])
    finally:
        # a SIGKILLed worker cannot stop its qvm (the next session's stale clean-up does): this test's, passed
        # or failed, are stopped here
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        for pid in pids_mentioning(tmp_path / "wboxa") | pids_mentioning(tmp_path / "wboxb"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_nightly_cancelled_as_pytest_starts_still_leaves_a_junit_report(tmp_path: Path) -> None:
    """Issue 22.7: SIGTERM to a two-target nightly the moment its pytest process exists (before pytest has set
    up its handler or started a test; sent when the process appears, not after a sleep): exit 143, and the
    junit.xml the nightly names exists, is valid and says why it holds no test; nothing left running."""
    from tests.support.procs import pids_mentioning

    proc = _nightly(tmp_path)
    reports = tmp_path / "r"
    end = time.monotonic() + 120
    while not [p for p in pids_mentioning(reports) if p != proc.pid]:  # pytest, started with --hil-junit=<r>/...
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()[0][-3000:]
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output[-3000:]
    (junit,) = reports.glob("*/junit.xml")
    assert f"JUnit report {junit}" in output, output[-3000:]
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and not list(root.iter("testcase")), junit.read_text()
    if root.get("tests") == "0" and root.find("testsuite/system-err") is not None:  # cancelled before pytest wrote it
        assert "cancelled by SIGTERM before pytest started a test" in junit.read_text()
    time.sleep(0.3)
    assert not pids_mentioning(tmp_path), [Path(f"/proc/{p}/cmdline").read_bytes() for p in pids_mentioning(tmp_path)]
