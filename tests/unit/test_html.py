"""The HTML report from data: synthetic results, run data and three earlier report folders (no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

import pytest

from hil.pytestplugin.html import read_history, render
from hil.pytestplugin.recorder import RunRecorder
from hil.pytestplugin.results import CaseResult
from hil.pytestplugin.writers import WriterOptions, writer
from tests.support.html_report import expanded

When = Literal["setup", "call", "teardown"]
Outcome = Literal["passed", "failed", "skipped"]


def fake(nodeid: str, when: When, outcome: Outcome, props: list[tuple[str, object]]) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid=nodeid,
        location=(nodeid, 0, nodeid),
        keywords={},
        outcome=outcome,
        longrepr="E   boom" if outcome == "failed" else None,
        when=when,
        duration=0.5,
        user_properties=props,
    )


def earlier_run(folder: Path, failing: set[str]) -> Path:
    """A report folder with junit.xml: test_a and test_b on target 'local', those in ``failing`` failed."""
    reporter = RunRecorder()
    for name in ("test_a", "test_b"):
        props: list[tuple[str, object]] = [("hil.target", "local")]
        nodeid = f"tests/t.py::{name}[local]"
        whens: tuple[When, ...] = ("setup", "call", "teardown")
        for when in whens:
            outcome: Outcome = "failed" if when == "call" and name in failing else "passed"
            reporter.pytest_runtest_logreport(fake(nodeid, when, outcome, props))
    writer("junit").load()(reporter.record(), folder / "junit.xml", WriterOptions())
    return folder


def test_trends_show_three_earlier_runs_and_flag_the_flaky_test(tmp_path: Path) -> None:
    history = tmp_path / "reports"
    earlier_run(history / "20250101T000000Z", set())
    earlier_run(history / "20250102T000000Z", {"test_b"})
    earlier_run(history / "20250103T000000Z", set())
    assert [r.name for r in read_history([history])] == ["20250101T000000Z", "20250102T000000Z", "20250103T000000Z"]

    artifacts = tmp_path / "now" / "artifacts" / "a"
    artifacts.mkdir(parents=True)
    run = {
        "start": 10.0,
        "end": 11.0,
        "log": [
            {"t": 10.1, "level": "INFO", "source": "wdog", "message": "ctrl GUEST_STARTING", "kind": "lifecycle"},
            {"t": 10.9, "level": "INFO", "source": "qvm", "message": "guest terminated: cause=4", "kind": "end"},
        ],
        "events": [{"t": 10.2, "kind": "stdin", "detail": "every 100 kick"}],
        "termination": {"cause": 4, "name": "GTC_WATCHDOG", "since_last_store": 0.502, "t": 10.9},
        "exit": {"status": 4, "signal": None, "reason": "WATCHDOG", "t": 10.9},
        "duration_s": 1.0,
        "watchdog_timeout_s": 0.5,
        "bite_latency_s": 0.002,
    }
    (artifacts / "run1.data.json").write_text(json.dumps(run))
    results = [
        CaseResult(
            "local", "tests/t.py::test_a[local]", "test_a", "tests.t.local", "passed", 1.0, artifacts=str(artifacts)
        ),
        CaseResult("local", "tests/t.py::test_b[local]", "test_b", "tests.t.local", "failed", 2.0, message="boom"),
    ]
    out = render(tmp_path / "now" / "report.html", results, {"local": {"target.kind": "local"}}, [history])
    html = expanded(out)  # test_a passed: its details are in report.details/, loaded when opened
    for name in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z"):
        assert name in html
    flaky = re.findall(r'<tr class="flaky-test" data-key="([^"]+)"', html)
    assert flaky == ["local :: tests.t.local.test_b"]  # failed once before (and now), passed otherwise
    assert 'id="plot-pass_rate"' in html and 'id="plot-latency"' in html
    assert [float(t) for t in re.findall(r'data-t="([0-9.]+)"', html)] == [10.1, 10.9, 10.2]
    assert "<script src" not in html  # self-contained
