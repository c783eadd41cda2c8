"""The HTML report in headless Chromium: a real nightly (local and qemu) loaded once; details loaded when opened."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from hil.pytestplugin.html import render
from hil.pytestplugin.results import CaseResult, RunRecord
from hil.pytestplugin.writers import WriterOptions, writer
from tests.nightly.test_nightly import cases, only_report
from tests.support.cli import hil
from tests.support.html_report import expanded
from tests.support.paths import REPO as ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_nightly_html_report_loads_with_every_test_and_true_timelines(tmp_path: Path) -> None:
    done = hil(
        *("nightly", "--target", "local", "--target", "qemu", "--reports", str(tmp_path)),
        *("--", "tests/hil", "-m", "demo"),
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = only_report(tmp_path)
    report = run / "report.html"
    assert f"HTML report {report}" in done.stdout  # the closing summary names it
    html = expanded(report)  # the passing tests' details (report.details/) inlined, as a browser shows them opened

    # every test of the JUnit file is in the report, under the same suite and name
    junit = set(cases(run / "junit.xml"))
    shown = set(re.findall(r'<details class="test" id="t\d+" data-suite="([^"]+)" data-name="([^"]+)"', html))
    assert junit and shown == junit

    # timeline positions: every log mark sits at a timestamp of that run's qvm log, at its place on the axis
    blocks = re.split(r'<details class="test" ', html)[1:]
    checked = 0
    for block in blocks:
        folder = re.search(r'artifacts: <a class="artifacts" href="([^"]+)/">', block)
        for name, svg in re.findall(
            r'<div class="run" data-run="(run\d+)">.*?(<svg class="timeline".*?</svg>)', block, re.S
        ):
            assert folder is not None
            assert not folder.group(1).startswith("/")  # relative to the report: it works once downloaded
            log = (run / folder.group(1) / f"{name}.qvm.log").read_text()
            stamps = {round(float(t), 6) for t in re.findall(r"^(\d+\.\d+) ", log, re.M)}
            span = re.search(r'data-t0="([^"]+)" data-t1="([^"]+)"', svg)
            assert span is not None, svg
            t0, t1 = (float(v) for v in span.groups())
            for cx, t, kind in re.findall(
                r'cx="([^"]+)" cy="[^"]+" r="[^"]+" data-t="([^"]+)" data-kind="([^"]+)"', svg
            ):
                if kind not in ("signal", "stdin"):  # those are the session's, mapped onto qvm's clock
                    assert round(float(t), 6) in stamps, (name, t)
                    checked += 1
                # cx is written to 0.01 px, t, t0 and t1 to 1 µs: on a run of a few ms, 1 µs is a fraction of a pixel
                tolerance = 0.01 + 900 * 2e-6 / (t1 - t0)
                assert abs(float(cx) - (90 + (float(t) - t0) / (t1 - t0) * 900)) < tolerance
    assert checked > 0

    # the bite-latency histogram's bars are bars (one bin span for every target), not slivers
    latency = re.search(r'<figure class="plot" id="plot-latency">(.*?)</figure>', html, re.S)
    assert latency is not None
    widths = [
        float(w)
        for w in re.findall(r'<rect[^>]*class="rect reactive tooltip-trigger"[^>]*width="([\d.]+)"', latency.group(1))
    ]
    widths += [
        float(w)
        for w in re.findall(r'<rect[^>]*width="([\d.]+)"[^>]*class="rect reactive tooltip-trigger"', latency.group(1))
    ]
    assert widths and min(widths) >= 2.0, widths

    # one load in headless Chromium: no script error, a screenshot kept with the run's artifacts
    assert CHROMIUM, "chromium is not installed: scripts/install-host-deps installs it"
    shot = run / "artifacts" / "report.png"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "Uncaught" not in proc.stderr, proc.stderr[-3000:]
    assert shot.is_file() and shot.stat().st_size > 10_000
    keep = ROOT / "artifacts"
    keep.mkdir(exist_ok=True)
    shutil.copy(shot, keep / "html-report.png")


def _dom(url: str, cwd: Path) -> str:
    """The page's DOM once its scripts have run (headless Chromium, 5 s of virtual time for them)."""
    assert CHROMIUM, "chromium is not installed: scripts/install-host-deps installs it"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-3000:]
    return done.stdout


def test_details_of_passing_tests_load_when_opened(tmp_path: Path) -> None:
    """A passing test's details are not in report.html; opening it (here: report.html#tN) loads them from
    report.details/, and a report copied without that folder says so instead of failing."""
    folder = tmp_path / "artifacts" / "a"
    folder.mkdir(parents=True)
    run = {
        "start": 5.0,
        "end": 6.0,
        "log": [{"t": 5.25, "level": "INFO", "source": "wdog", "message": "ctrl GUEST_STARTING", "kind": "lifecycle"}],
        "events": [],
        "exit": {"status": 0, "signal": None, "reason": "NORMAL"},
        "duration_s": 1.0,
    }
    (folder / "run1.data.json").write_text(json.dumps(run))
    results = [
        CaseResult("local", "t.py::test_bad", "test_bad", "t.local", "failed", 1.0, message="boom"),
        CaseResult("local", "t.py::test_good", "test_good", "t.local", "passed", 1.0, artifacts=str(folder)),
    ]
    report = render(tmp_path / "report.html", results, {})
    assert 'data-t="5.250000"' not in report.read_text()  # not in the page itself
    dom = _dom(report.as_uri() + "#t1", tmp_path)
    good = re.search(r'<details class="test" id="t1"[^>]*>.*?</details>\s*(?=<details class="test"|<script)', dom, re.S)
    assert good is not None and 'data-loaded="1"' in good.group() and " open" in good.group()
    assert 'data-t="5.250000"' in good.group() and "ctrl GUEST_STARTING" in good.group()
    assert re.search(r'<div id="script-errors" hidden=""></div>', dom)  # no script error

    # with an earlier run: the table of every test's trend loads when opened too
    earlier = tmp_path / "reports" / "20250101T000000Z"
    writer("junit").load()(RunRecord("lab", 0.0), earlier / "junit.xml", WriterOptions())  # a run of no tests
    render(tmp_path / "report.html", results, {}, [earlier.parent])
    dom = _dom(report.as_uri() + "#all-trends", tmp_path)
    trends = re.search(r'<details id="all-trends"[^>]*>.*?</details>', dom, re.S)
    assert trends is not None and 'data-loaded="1"' in trends.group()
    assert trends.group().count("<tr data-key=") == 2

    shutil.rmtree(tmp_path / "report.details")
    dom = _dom(report.as_uri() + "#t1", tmp_path)
    assert "The details are in report.details/d0000.js, which is missing" in dom
