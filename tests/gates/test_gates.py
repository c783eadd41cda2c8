"""Quality gates beyond pass/fail (issue 15): vdev C coverage and the sanitizers.

One inner pytest session per target set runs a deliberately buggy vdev (tests/gates/vdevs/buggy)
with --hil-coverage --hil-sanitize address,undefined; its report folder is then examined.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.qvmrun.coverage import build_report
from tests.support.inner import run_inner_pytest
from tests.support.paths import REPO as ROOT

DTD = ROOT / "fixtures" / "cobertura" / "coverage-04.dtd"

INNER = """
import pytest
from hil.qvm import Exit, QvmConfig

V = "tests/gates/vdevs/buggy"

def test_mode_a(hil_qvm, hil_vdev):
    hil_qvm.run(QvmConfig("vm").vdev(hil_vdev(V), mode="a"), timeout=30, stdin=["shutdown"]).assert_reason(Exit.NORMAL)

def test_mode_b(hil_qvm, hil_vdev):
    hil_qvm.run(QvmConfig("vm").vdev(hil_vdev(V), mode="b"), timeout=30, stdin=["shutdown"]).assert_reason(Exit.NORMAL)

def test_heap_overflow(hil_qvm, hil_vdev):
    hil_qvm.run(QvmConfig("vm").vdev(hil_vdev(V), overflow=True), timeout=30)

def test_shift(hil_qvm, hil_vdev):
    hil_qvm.run(QvmConfig("vm").vdev(hil_vdev(V), shift="33"), timeout=30, stdin=["shutdown"])

@pytest.mark.hil_sanitizer_expected
def test_deliberate_shift(hil_qvm, hil_vdev):
    hil_qvm.run(QvmConfig("vm").vdev(hil_vdev(V), shift="34"), timeout=30, stdin=["shutdown"])
"""

#: an inner pytest run (its completed process) and its output folder (junit.xml, summary.txt, artifacts/)
InnerRun = tuple[subprocess.CompletedProcess[str], Path]


def _inner(tmp: Path, *targets: str) -> InnerRun:
    (tmp / "test_inner.py").write_text(INNER)
    out = tmp / "report"
    done = run_inner_pytest(
        tmp / "test_inner.py",
        *("--hil-junit", str(out / "junit.xml"), "--hil-summary", str(out / "summary.txt")),
        *("--hil-coverage", "--hil-sanitize", "address,undefined"),
        targets=targets,
        artifacts=out / "artifacts",
        timeout=900,
    )
    return done, out


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> InnerRun:
    return _inner(tmp_path_factory.mktemp("gates"), "local")


def test_sanitizer_reports_fail_the_test_with_the_report_attached(local_run: InnerRun) -> None:
    done, out = local_run
    assert "2 failed, 3 passed" in done.stdout, done.stdout[-4000:]
    assert "FAILED" in done.stdout and "SANITIZER REPORT" in done.stdout
    cases = {c.get("name"): c for c in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    for name, kind, where in (
        ("test_heap_overflow", "AddressSanitizer: heap-buffer-overflow", "buggy.c:36"),
        ("test_shift", "runtime error: shift exponent 33", "buggy.c:46"),
    ):
        case = cases[name]
        assert case.find("failure") is not None
        err = case.findtext("system-err") or ""
        assert kind in err and "in buggy_control" in err and where in err, err[-2000:]  # symbolised
        (report,) = (out / "artifacts" / "local").glob(f"{name}_*/run1.sanitizer.txt")
        assert kind in report.read_text()
    # a test that provokes the report on purpose keeps it, attached, and passes
    on_purpose = cases["test_deliberate_shift"]
    assert on_purpose.find("failure") is None, on_purpose.findtext("failure")
    assert "runtime error: shift exponent 34" in (on_purpose.findtext("system-err") or "")
    for name in ("test_mode_a", "test_mode_b"):  # qvmsim itself is clean under ASan, LSan and UBSan
        assert cases[name].find("failure") is None, cases[name].findtext("failure")


def test_coverage_report_counts_one_more_branch(local_run: InnerRun, tmp_path: Path) -> None:
    _, out = local_run
    cov = out / "coverage"
    summary = (out / "summary.txt").read_text()
    assert "coverage vdev buggy: lines " in summary and "branches " in summary, summary
    assert "heap_overflow" in summary and "lost their counters" in summary  # ASan's abort writes none
    # Cobertura XML, valid against its DTD
    lint = subprocess.run(
        ["xmllint", "--noout", "--nonet", "--dtdvalid", str(DTD), str(cov / "coverage.xml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stderr
    assert (cov / "index.html").exists()
    # the report of mode a alone, then of modes a and b: b takes one more branch
    counts = []
    for tests in (["test_mode_a"], ["test_mode_a", "test_mode_b"]):
        arts = tmp_path / "-".join(tests) / "artifacts"
        for name in tests:
            (src,) = (out / "artifacts" / "local").glob(f"{name}_*")
            shutil.copytree(src, arts / "local" / src.name)
        report = build_report(arts, arts.parent / "coverage", ROOT)
        buggy = report.vdevs["buggy"]
        counts.append((buggy.lines[0], buggy.branches[0]))
    assert counts[1][0] > counts[0][0] and counts[1][1] > counts[0][1], counts
    assert 'filename="tests/gates/vdevs/buggy/buggy.c"' in (cov / "coverage.xml").read_text()


def test_coverage_merged_over_local_and_qemu(tmp_path: Path) -> None:
    """Both targets in one session: the sanitizer qvm runs on qemu too, and the report merges them."""
    done, out = _inner(tmp_path, "local", "qemu")
    assert "4 failed, 6 passed" in done.stdout, done.stdout[-4000:]
    summary = (out / "summary.txt").read_text()
    assert "coverage vdev buggy: " in summary and "[local, qemu]" in summary, summary
    junit = (out / "junit.xml").read_text()
    assert junit.count("heap-buffer-overflow") >= 2 and "buggy.c:36" in junit
