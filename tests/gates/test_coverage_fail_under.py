"""--hil-coverage-fail-under (hil nightly --coverage-fail-under): a vdev below its line-coverage
minimum fails the run (exit 1), named in summary.txt; above it, the run passes; bad values and the
option without --hil-coverage are usage errors before any test runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli import hil


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("project")
    assert hil("init", cwd=folder).returncode == 0
    return folder


def nightly(project: Path, reports: Path, *args: str) -> tuple[int, str]:
    done = hil("nightly", "--target", "local", "--reports", str(reports), "--coverage", *args, cwd=project)
    (run,) = reports.iterdir()
    return done.returncode, (run / "summary.txt").read_text() + done.stderr


def line_rate(summary: str) -> float:
    found = re.search(r"coverage vdev mywdog: lines \d+/\d+ \(([\d.]+)%\)", summary)
    assert found, summary
    return float(found.group(1))


def test_below_the_minimum_fails_the_run_and_above_passes(project: Path, tmp_path: Path) -> None:
    rc, summary = nightly(project, tmp_path / "a", "--coverage-fail-under", "99")
    rate = line_rate(summary)
    assert 0 < rate < 99
    assert rc == 1, summary
    assert (
        f"coverage: FAIL vdev mywdog: lines {rate:.1f}% is below the minimum 99% (--hil-coverage-fail-under 99%)"
        in summary
    )
    rc, summary = nightly(project, tmp_path / "b", "--coverage-fail-under", f"{int(rate)}%")
    assert rc == 0 and "coverage: FAIL" not in summary, summary
    # the HTML report links the coverage report (relative to it) and shows each vdev's rates
    (run,) = (tmp_path / "b").iterdir()
    report = (run / "report.html").read_text()
    assert (
        '<a class="coverage-report" href="coverage/index.html">' in report and (run / "coverage/index.html").is_file()
    )
    row = re.search(r'<tr class="coverage-vdev" data-vdev="mywdog">(.*?)</tr>', report)
    assert row is not None
    lines = re.search(r"lines (\S+ \(\S+\))", summary)
    assert lines is not None, summary
    assert re.findall(r"<td>(.*?)</td>", row.group(1))[:2] == ["mywdog", lines.group(1)]
    # the per-vdev form wins over the general one
    rc, summary = nightly(project, tmp_path / "c", "--coverage-fail-under", "1", "--coverage-fail-under", "mywdog=99")
    assert rc == 1 and "(--hil-coverage-fail-under mywdog=99%)" in summary, summary


def test_bad_values_are_usage_errors(project: Path, tmp_path: Path) -> None:
    done = hil("nightly", "--target", "local", "--reports", str(tmp_path), "--coverage", "--coverage-fail-under",
               "lots", cwd=project)  # fmt: skip
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--hil-coverage-fail-under 'lots': expected LINE% (0..100, e.g. 80 or 80%) or VDEV=LINE%" in (
        done.stdout + done.stderr
    )
    done = hil("nightly", "--target", "local", "--reports", str(tmp_path), "--coverage-fail-under", "50", cwd=project)
    assert done.returncode == 2
    assert "--hil-coverage-fail-under needs --hil-coverage" in done.stdout + done.stderr
