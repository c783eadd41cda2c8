"""`hil_measure`: named values with a unit and limits, in JUnit, summary.txt and report.html; outside
its limits a measurement fails its test with the value and the limits; trends over --hil-history."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hil.pytestplugin.junitxml import validate_junit
from tests.support.inner import run_reported
from tests.support.paths import FIXTURES

SUITE = """
import os

LATENCY = float(os.environ.get("LATENCY", "12.5"))


def test_irq_latency(hil_target, hil_measure):
    hil_measure("irq_latency_us", LATENCY, unit="us", low=0, high=50)
    hil_measure("ticks", 1000)


def test_tick_count_out_of_limits(hil_target, hil_measure):
    hil_measure("tick_count", 97, low=100, high=110)
    raise AssertionError("not reached: the measurement failed the test")


def test_bad_limits_are_an_error_of_the_test(hil_target, hil_measure):
    hil_measure("x", 1, low=5, high=2)
"""


def run(tmp_path: Path, name: str, latency: str, *history: Path) -> tuple[Path, str]:
    history_args = (f"--hil-history={h}" for h in history)
    done = run_reported(SUITE, tmp_path / "test_measured.py", tmp_path / name, *history_args, env={"LATENCY": latency})
    assert done.returncode == 1, done.text[-5000:]
    return done.out, done.process.stdout


def test_measurements_in_junit_summary_and_html_with_limits_and_trends(tmp_path: Path) -> None:
    first, _ = run(tmp_path, "r1", "20")
    out, stdout = run(tmp_path, "r2", "12.5", tmp_path)  # the folder of both runs: r2 itself is not history
    assert "2 failed, 1 passed" in stdout
    assert "measurement tick_count = 97 is outside its limits [100, 110]" in stdout
    assert "not reached" not in stdout
    assert "hil_measure: x: low 5 is above high 2" in stdout
    junit = out / "junit.xml"
    assert validate_junit(junit, FIXTURES / "junit" / "junit-10.xsd") == []
    (suite,) = ET.parse(junit).getroot().iter("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["measurement.test_irq_latency.irq_latency_us"] == "irq_latency_us = 12.5 us, limits [0, 50] us: pass"
    assert props["measurement.test_irq_latency.ticks"] == "ticks = 1000, no limits: pass"
    assert props["measurement.test_tick_count_out_of_limits.tick_count"] == ("tick_count = 97, limits [100, 110]: FAIL")
    failure = next(c for c in suite.iter("testcase") if c.get("name") == "test_tick_count_out_of_limits")
    failed = failure.find("failure")
    assert failed is not None
    assert "outside its limits [100, 110]" in (failed.get("message") or "")
    summary = (out / "summary.txt").read_text()
    assert "Measurements (3):" in summary
    assert (
        "test_irq_latency[local]: irq_latency_us = 12.5 us, limits [0, 50] us: pass" in summary
        and "  ok    local  " in summary
    )
    assert re.search(r"  FAIL  local  \S*test_tick_count_out_of_limits\[local\]: tick_count = 97, limits", summary)
    report = html.unescape((out / "report.html").read_text())
    rows = re.findall(r'<tr class="measurement" data-name="([^"]+)">(.*?)</tr>', report, re.S)
    assert [name for name, _ in rows] == ["irq_latency_us", "ticks", "tick_count"]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", body) for _, body in rows]
    assert cells[0] == ["local", "test_irq_latency", "irq_latency_us", "12.5 us", "[0, 50] us", "pass", "20 / 12.5"]
    assert cells[2][5] == "FAIL" and cells[2][6] == "97 / 97"
    # the history is r1 only: the run being written is not counted twice
    assert re.search(r"<th>trend \(r1, r2\)</th>", report)
    assert first.is_dir()


def test_quiet_timeline_rows_say_which_log_level_fills_them(tmp_path: Path) -> None:
    from hil.pytestplugin.html import timeline

    quiet = timeline({"log": [{"t": 1.0, "kind": "log", "level": "INFO", "message": "x"}], "events": []})
    assert quiet["quiet_rows"] == ["lifecycle", "store"]
    full = timeline(
        {
            "log": [
                {"t": 1.0, "kind": "lifecycle", "level": "DEBUG", "message": "ctrl STARTUP -> vdev 'w'"},
                {"t": 1.1, "kind": "store", "level": "VERBOSE", "message": "guest store 0x9000/4 = 0x1"},
            ],
            "events": [],
        }
    )
    assert full["quiet_rows"] == []
