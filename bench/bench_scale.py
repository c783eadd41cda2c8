#!/usr/bin/env python3
"""How a run's cost grows with its number of tests: N HIL tests on ``local`` (10, 100, 1,000).

    python bench/bench_scale.py [-n 10 100 1000] [--target local]

Each test is what a small real test does: build the trace vdev (cached after the
first), run qvm on it for one dry run (``hil_qvm.run``), check the result.  The
run writes the JUnit file and the HTML report, as a nightly does.  Prints the
wall time of each run, the time per test and the marginal cost of a test (the
slope between successive sizes), and the report's size: the per-test cost
should stay flat as N grows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TESTS = """
import pytest
from hil.qvm import Exit, QvmConfig

@pytest.mark.parametrize("i", range({n}))
def test_one_run(hil_qvm, hil_vdev, i):
    trace = hil_vdev("{root}/target_vdevs/trace")
    hil_qvm.run(QvmConfig("vm").vdev(trace, loc=0x1c100000).dryrun(), timeout=30).assert_reason(Exit.NORMAL)
"""


def run(n: int, target: str, work: Path) -> tuple[float, int, int]:
    folder = work / f"n{n}"
    folder.mkdir()
    (folder / "test_scale.py").write_text(TESTS.format(n=n, root=ROOT))
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "test_scale.py"),
        "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "--hil-target", target,
        "--hil-artifacts", str(folder / "artifacts"), "--hil-html", str(folder / "report.html"),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, env={**os.environ, "HIL_PRIVATE_VM": "1"}
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"the run of {n} tests failed (exit {done.returncode})")
    report = folder / "report.html"
    details = sum(p.stat().st_size for p in (folder / "report.details").glob("*")) if report.is_file() else 0
    return wall, report.stat().st_size, details


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, nargs="+", default=[10, 100, 1000], help="numbers of tests")
    parser.add_argument("--target", default="local")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        results = [(n, *run(n, args.target, Path(tmp))) for n in sorted(args.n)]
    load = os.getloadavg()[0]
    print(f"N HIL tests on {args.target} (one qvm run each), HTML report written (load average {load:.2f}):")
    print(f"  {'N':>6} {'wall s':>8} {'per test ms':>12} {'marginal ms':>12} {'report KB':>10} {'details KB':>11}")
    previous: tuple[int, float] | None = None
    for n, wall, size, details in results:
        marginal = "" if previous is None else f"{(wall - previous[1]) / (n - previous[0]) * 1000:12.1f}"
        print(f"  {n:6d} {wall:8.2f} {wall / n * 1000:12.1f} {marginal:>12} {size / 1024:10.0f} {details / 1024:11.0f}")
        previous = (n, wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
