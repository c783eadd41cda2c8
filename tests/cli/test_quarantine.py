"""The flaky-test quarantine: @pytest.mark.hil_quarantine(reason) runs the test and reports it, and
its failure never fails the run; an infrastructure error in it stays one; the HTML report's flaky
list says how to quarantine."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support.inner import run_inner_pytest, run_reported

SUITE = """
import os

import pytest


@pytest.mark.hil_quarantine(reason="bites late under load, issue 99")
def test_flaky_bite(hil_target):
    assert os.environ.get("FLAKY") == "pass", "bite 12 ms late"


def test_steady(hil_target):
    pass
"""


def run(tmp_path: Path, name: str, flaky: str, *args: str) -> tuple[int, Path, str]:
    done = run_reported(SUITE, tmp_path / "test_q.py", tmp_path / name, *args, env={"FLAKY": flaky})
    return done.returncode, done.out, done.text


def test_a_quarantined_failure_runs_is_reported_and_never_fails_the_run(tmp_path: Path) -> None:
    rc, out, text = run(tmp_path, "r1", "fail")
    assert rc == 0, text[-3000:]
    cases = {c.get("name"): c for c in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    skipped = cases["test_flaky_bite"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "xfail: quarantined: bites late under load, issue 99"
    assert cases["test_steady"].find("skipped") is None
    summary = (out / "summary.txt").read_text()
    assert "Quarantined (1; they ran, their failures do not count):" in summary
    assert "test_flaky_bite[local]: failed" in summary
    # passing again: reported as a pass (no strict xfail failing the run)
    rc, out2, text = run(tmp_path, "r2", "pass", f"--hil-history={out}")
    assert rc == 0, text[-3000:]
    cases = {c.get("name"): c for c in ET.parse(out2 / "junit.xml").getroot().iter("testcase")}
    assert list(cases["test_flaky_bite"]) == [c for c in cases["test_flaky_bite"] if c.tag.startswith("system")]


def test_the_flaky_list_says_how_to_quarantine(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    suite = SUITE.replace('@pytest.mark.hil_quarantine(reason="bites late under load, issue 99")\n', "")
    (tmp_path / "plain" / "test_q.py").write_text(suite)
    first = run_inner_pytest(
        tmp_path / "plain" / "test_q.py", f"--hil-junit={tmp_path / 'r1' / 'junit.xml'}", env={"FLAKY": "fail"}
    )
    assert first.returncode == 1
    second = run_inner_pytest(
        tmp_path / "plain" / "test_q.py",
        f"--hil-html={tmp_path / 'r2' / 'report.html'}",
        f"--hil-history={tmp_path / 'r1'}",
        env={"FLAKY": "pass"},
    )
    assert second.returncode == 0, second.stdout[-2000:]
    report = (tmp_path / "r2" / "report.html").read_text()
    assert "Flaky: outcome flips between runs (1)" in report
    assert 'mark it <code>@pytest.mark.hil_quarantine(reason="...")</code>' in report


def test_an_infrastructure_error_in_a_quarantined_test_stays_one(tmp_path: Path) -> None:
    test_file = tmp_path / "test_infra_q.py"
    test_file.write_text(
        "import pytest\nfrom hil.core.errors import InfrastructureError\n\n\n"
        "@pytest.mark.hil_quarantine(reason='flaky')\ndef test_lab_gone(hil_target):\n"
        "    raise InfrastructureError('the board went away')\n"
    )
    done = run_inner_pytest(test_file, f"--hil-junit={tmp_path / 'junit.xml'}")
    assert done.returncode == 1, done.stdout[-2000:]
    (case,) = ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
    error = case.find("error")
    assert error is not None and error.get("type") == "infrastructure"
