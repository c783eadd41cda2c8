"""The HTML report never fails the run (issue 22, item 13): bad history entries are skipped and
named, text from the session is made safe before rendering, nothing temporary is left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.pytestplugin.html import details_dir, render
from hil.pytestplugin.results import CaseResult
from tests.support.html_report import expanded
from tests.support.inner import run_inner_pytest

TESTS = """
from hil.qvm import QvmConfig

def test_sends_a_lone_surrogate(hil_qvm, hil_vdev):
    trace = hil_vdev("target_vdevs/trace")
    with hil_qvm.start(QvmConfig("vm").vdev(trace, loc=0x1c100000), timeout=20) as vm:
        try:
            vm.send("read 0x1c100000 4 \\udcff")  # recorded as a session event, then refused by the encoder
        except UnicodeEncodeError:
            pass
"""

HISTORY = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="local" tests="3">
<testcase classname="test_robust.local" name="test_sends_a_lone_surrogate" time="1,5"/>
<testcase classname="test_robust.local" name="test_other" time="nan"/>
<testcase classname="test_robust.local" name="test_fine" time="0.25"><failure message="x"/></testcase>
</testsuite></testsuites>
"""


def test_bad_history_and_a_lone_surrogate_leave_a_passing_night_passing(tmp_path: Path) -> None:
    (tmp_path / "test_robust.py").write_text(TESTS)
    history = tmp_path / "reports" / "20250101T000000Z"
    history.mkdir(parents=True)
    (history / "junit.xml").write_text(HISTORY)
    (tmp_path / "reports" / "20250102T000000Z").mkdir()
    (tmp_path / "reports" / "20250102T000000Z" / "junit.xml").write_text("<testsuites><testsuite")  # cut short
    report = tmp_path / "now" / "report.html"
    done = run_inner_pytest(
        tmp_path / "test_robust.py",
        *("--hil-html", str(report), "--hil-history", str(tmp_path / "reports")),
        artifacts=tmp_path / "now" / "artifacts",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout and f"hil: HTML report {report}" in done.stdout
    for bad in ("time='1,5'", "time='nan'", "20250102T000000Z/junit.xml: not read"):
        assert bad in done.stderr, done.stderr[-3000:]  # named on the terminal ...
    html = expanded(report)
    assert "time=&#39;1,5&#39; is not a number of seconds" in html  # ... and in the report
    assert "read 0x1c100000 4 \ufffd" in html  # the session event, made safe
    leftovers = [p.name for p in report.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_report_that_cannot_be_replaced_leaves_nothing_behind(tmp_path: Path) -> None:
    """report.html is a folder: render fails, the earlier details stay, no temporary file is left."""
    path = tmp_path / "report.html"
    path.mkdir()
    earlier = details_dir(path)
    earlier.mkdir()
    (earlier / "d0000.js").write_text("hilDetails({});\n")
    case = CaseResult("local", "t.py::test_a", "test_a", "t.local", "passed", 1.0)
    with pytest.raises(OSError):
        render(path, [case], {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.details", "report.html"]
    assert (earlier / "d0000.js").read_text() == "hilDetails({});\n"


def test_odd_run_data_is_drawn_or_left_out(tmp_path: Path) -> None:
    """A run's data with a NaN time, a string time, control characters and no exit record still renders."""
    folder = tmp_path / "artifacts" / "t"
    folder.mkdir(parents=True)
    run = {
        "start": 1.0,
        "end": float("nan"),
        "log": [
            {"t": 1.1, "level": "INFO", "source": "qvm", "message": "bell \x07 and \x1b[31mred\x1b[0m", "kind": "log"},
            {"t": "1.2", "level": "INFO", "source": "qvm", "message": "a string time", "kind": "log"},
            {"t": float("nan"), "level": "INFO", "source": "qvm", "message": "no time", "kind": "log"},
        ],
        "events": [{"t": 1.3, "kind": "stdin", "detail": "\ud800"}, {"kind": "signal"}],
    }
    (folder / "run1.data.json").write_text(json.dumps(run))
    case = CaseResult(
        "local", "t.py::test_a", "test_a", "t.local", "failed", 1.0, message="\x1b]52;c;eA==\x07", artifacts=str(folder)
    )
    out = render(tmp_path / "report.html", [case], {}, [])
    html = out.read_text(encoding="utf-8")
    assert "bell \u2407 and \u241b[31mred\u241b[0m" in html and "\u241b]52;c;eA==\u2407" in html
    assert 'data-t="1.100000"' in html and 'data-t="1.300000"' in html and "a string time" not in html
    assert "stdin: \ufffd" in html
