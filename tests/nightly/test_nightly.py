"""The nightly entry point end to end: real pytest runs, real QEMU VMs, schema-checked reports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.pytestplugin.junitxml import validate_junit
from tests.support.cli import hil
from tests.support.keys import unreachable_board
from tests.support.paths import REPO as ROOT
from tests.support.procs import pids_running

XSD = ROOT / "fixtures" / "junit" / "junit-10.xsd"
INFRA_SUITE = ROOT / "fixtures" / "suites" / "infra" / "test_infra.py"


def only_report(reports: Path) -> Path:
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    return run


def cases(junit: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.parse(junit).getroot()
    return {
        (suite.get("name", ""), case.get("name", "")): case
        for suite in root.iter("testsuite")
        for case in suite.iter("testcase")
    }


def qemu_pids(run: Path) -> set[int]:
    """The QEMUs of one run (their -pidfile lies under ``run``), found by full command line: ``pgrep -x``
    compares the 15-character process name and so never found ``qemu-system-x86_64`` at all."""
    return pids_running("qemu-system-x86_64", mentioning=run)


def test_two_qemu_targets_in_parallel(tmp_path: Path) -> None:
    """The demo selection on two public QEMU targets at once: one report, one suite per target."""
    done = hil(
        *("nightly", "--target", "qemu", "--target", "qemu-b", "--reports", str(tmp_path)),
        *("--", "tests/hil", "-m", "demo"),
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = only_report(tmp_path)
    junit = run / "junit.xml"
    assert validate_junit(junit, XSD) == []
    found = cases(junit)
    suites = {suite for suite, _ in found}
    assert suites == {"qemu", "qemu-b"}
    assert ("qemu", "test_watchdog_bites_when_starved") in found
    assert ("qemu-b", "test_watchdog_bites_when_starved") in found
    root = ET.parse(junit).getroot()
    for suite in root.iter("testsuite"):
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        version = props["qvm.version"]
        assert props["target.kind"] == "qemu" and version is not None and version.startswith("qvmsim")
    summary = (run / "summary.txt").read_text()
    assert "qemu-b" in summary and "Infrastructure errors (0)" in summary
    assert "-n" in (run / "command.txt").read_text()  # really through pytest-xdist


def test_qemu_killed_mid_test_is_an_infrastructure_error(tmp_path: Path) -> None:
    done = hil("nightly", "--target", "qemu", "--reports", str(tmp_path), "--", str(INFRA_SUITE), timeout=900)
    # a failure (the misbehaving "vdev") beats an infrastructure error in the exit status
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    run = only_report(tmp_path)
    junit = run / "junit.xml"
    assert validate_junit(junit, XSD) == []
    found = cases(junit)
    assert len(found) == 5
    died = found[("qemu", "test_target_dies")]
    error = died.find("error")
    assert error is not None and died.find("failure") is None
    assert "QEMU" in (error.get("message") or "") and "died" in (error.get("message") or "")
    assert "retry after an infrastructure error" in (died.findtext("system-out") or "")
    for name in ("test_before", "test_after", "test_slow[1]"):
        case = found[("qemu", name)]
        assert case.find("error") is None and case.find("failure") is None, name
    assert found[("qemu", "test_vdev_misbehaves")].find("failure") is not None
    summary = (run / "summary.txt").read_text()
    assert "Infrastructure errors (1)" in summary and "test_target_dies" in summary
    assert not qemu_pids(tmp_path)  # every VM of the run is gone


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_writes_report_and_leaves_no_qemu(tmp_path: Path, sig: signal.Signals) -> None:
    junit = tmp_path / "junit.xml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-s",
            str(INFRA_SUITE),
            "-k",
            "before or slow",
            "--hil-target",
            "qemu",
            "--hil-junit",
            str(junit),
            "--hil-artifacts",
            str(tmp_path / "a"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HIL_SELFTEST_SLOW": "1"},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        if "SLOW-TEST-STARTED" in line or time.monotonic() > deadline:
            break
    assert qemu_pids(tmp_path), "the run's QEMU is not seen while it runs: the check below could not fail"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out
    assert validate_junit(junit, XSD) == []
    found = cases(junit)
    assert found[("qemu", "test_before")].find("error") is None
    assert ("qemu", "test_slow[1]") in found  # the interrupted test is in the report, as an error
    time.sleep(0.5)
    assert not qemu_pids(tmp_path), "QEMU left running after the run was interrupted"


def test_unreachable_target_errors_every_test_with_the_cause(tmp_path: Path) -> None:
    board = unreachable_board(tmp_path)
    done = hil(
        *("nightly", "--target", str(board), "--reports", str(tmp_path / "r"), "--", "tests/hil", "-m", "demo"),
        timeout=900,
    )
    assert done.returncode == 3, done.stdout[-3000:]  # infrastructure only
    run = only_report(tmp_path / "r")
    assert validate_junit(run / "junit.xml", XSD) == []
    found = cases(run / "junit.xml")
    assert len(found) == 4
    for case in found.values():
        error = case.find("error")
        assert error is not None and case.find("failure") is None
        assert "127.0.0.1:9" in (error.get("message") or "")
    assert "Infrastructure errors (4)" in (run / "summary.txt").read_text()


def test_death_string_on_the_console_is_an_infrastructure_error(tmp_path: Path) -> None:
    suite = ROOT / "fixtures" / "suites" / "death" / "test_death.py"
    done = hil("nightly", "--target", "qemu", "--reports", str(tmp_path), "--", str(suite), timeout=900)
    assert done.returncode == 3, done.stdout[-3000:]
    run = only_report(tmp_path)
    found = cases(run / "junit.xml")
    error = found[("qemu", "test_kernel_panics")].find("error")
    assert error is not None and "Kernel panic" in (error.get("message") or "")
    assert found[("qemu", "test_next_one_runs")].find("error") is None


QNX_BANNER_SUITE = """
import time


def test_procnto_crashes(hil_target):
    hil_target.run("echo 'Shutdown[0,0] S/C/F=11/1/11 C/D=fe06601c/fe0fafb0' > /dev/ttyS0", timeout=30)
    time.sleep(0.5)  # the console reader sees it; the test itself never looks


def test_a_linux_panic_line_is_not_a_qnx_death_string(hil_target):
    hil_target.run("echo 'Kernel panic - not syncing: only text on a QNX console' > /dev/ttyS0", timeout=30)
    time.sleep(0.5)
"""


def test_qnx_shutdown_banner_is_an_infrastructure_error_on_a_qnx_target(tmp_path: Path) -> None:
    """On a target whose OS is QNX, procnto's ``Shutdown[...]`` banner on the console is a death string."""
    definition = tmp_path / "qemu-qnx.toml"
    definition.write_text('name = "qemu-qnx"\nkind = "qemu"\nos = "qnx"\n')
    suite = tmp_path / "test_qnx_banner.py"
    suite.write_text(QNX_BANNER_SUITE)
    done = hil("nightly", "--target", str(definition), "--reports", str(tmp_path / "r"), "--", str(suite), timeout=900)
    assert done.returncode == 3, done.stdout[-3000:]
    found = cases(only_report(tmp_path / "r") / "junit.xml")
    error = found[("qemu-qnx", "test_procnto_crashes")].find("error")
    assert error is not None and "Shutdown[0,0] S/C/F=11/1/11" in (error.get("message") or "")
    other = found[("qemu-qnx", "test_a_linux_panic_line_is_not_a_qnx_death_string")]
    assert other.find("error") is None and other.find("failure") is None


def test_reports_outside_the_project_with_a_project_definition(tmp_path: Path) -> None:
    """Reports in a folder outside the project, two targets, one the project's own definition: every
    xdist worker gets the project's rootdir and settings (it died with "no target matches 'lab'")."""
    project = tmp_path / "project"
    project.mkdir()
    assert hil("init", cwd=project).returncode == 0
    (project / "targets" / "lab.toml").write_text('name = "lab"\nkind = "local"\n')
    reports = tmp_path / "elsewhere" / "reports"
    done = hil("nightly", "--reports", str(reports), "--target", "local", "--target", "lab", cwd=project, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = only_report(reports)
    found = cases(run / "junit.xml")
    assert {suite for suite, _ in found} == {"local", "lab"} and len(found) == 8
    command = (run / "command.txt").read_text()
    assert f"--rootdir={project}" in command and f"--config-file={project / 'pyproject.toml'}" in command
