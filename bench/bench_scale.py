#!/usr/bin/env python3
"""How a run's cost grows (issue 27): with its number of tests, its console volume, its number of targets.

    python bench/bench_scale.py [--what tests,volume,targets] [-n 10 100 1000] [--target local]
                                [--volume-tests 5] [--parallel-tests 40] [--parallel 1 2 4]

Each test is what a small real test does: build the trace vdev (cached after the first), run qvm
on it (``hil_qvm.run``), check the result.  Every run is a pytest session writing the JUnit file
and the HTML report, as a nightly does.  Three tables:

- ``tests``: N tests (10, 100, 1,000) on one target: wall time, per test, the marginal cost of a
  test (the slope between successive sizes) and the report's size; flat is good.
- ``volume``: tests whose guest prints 1 KB, 1 MB or 100 MB on the guest console (qvm's stdout; a
  guest script of ``dump`` commands): per test, throughput, and pytest's peak RSS (qvm's output
  is bounded in memory: it goes to the test's artifacts as it arrives).
- ``targets``: the same tests on 1, 2 and as many QEMU targets as the host has cores, run in
  parallel as ``hil nightly`` runs them (one xdist worker per target, each its own private VM
  restored from the snapshot): the wall time, tests a second, and the parallel efficiency
  (k x the one-target wall time / the k-target wall time, for k times the tests; k is ideal).

Prints the machine (cores, memory, KVM or TCG) and the load average with each table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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
    hil_qvm.run(QvmConfig("vm").vdev(trace, loc=0x1c100000).dryrun(), timeout=60).assert_reason(Exit.NORMAL)
"""

VOLUME_TESTS = """
import pytest
from hil.qvm import Exit, QvmConfig

@pytest.mark.parametrize("i", range({n}))
def test_console_volume(hil_qvm, hil_vdev, i, tmp_path):
    trace = hil_vdev("{root}/target_vdevs/trace")
    script = tmp_path / "guest.gs"
    script.write_text({script!r})
    config = QvmConfig("vm").ram("64K", 0x80000000).vdev(trace, loc=0x1c100000).load(script)
    result = hil_qvm.run(config, timeout=600)
    result.assert_reason(Exit.NORMAL)
    assert result.artifacts["guest_console"].stat().st_size >= {size}
"""

#: one guest ``dump`` line: "dump 0x80000000: " and 16 bytes as "00 ", 65 bytes for 16 bytes of RAM
_LINE = 65


def guest_script(size: int) -> str:
    """A guest script printing about ``size`` bytes on the guest console, then shutting down."""
    lines, left = [], size
    while left > 0:
        chunk = min(65536, max(16, (left // _LINE + 1) * 16))
        lines.append(f"dump 0x80000000 {chunk}")
        left -= chunk // 16 * _LINE
    return "\n".join([*lines, "shutdown", ""])


def test_times(folder: Path) -> list[float]:
    """Each test's own time (the JUnit file's), seconds: the session's start left out."""
    import xml.etree.ElementTree as ET

    return [float(case.get("time", "0")) for case in ET.parse(folder / "junit.xml").iter("testcase")]


def pytest_run(folder: Path, args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in KB, CPU seconds) of one pytest session in ``folder`` (the CPU of pytest,
    its workers and the QEMU processes they reaped)."""
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "test_scale.py"),
        "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "--hil-artifacts", str(folder / "artifacts"),
        "--hil-html", str(folder / "report.html"), "--hil-junit", str(folder / "junit.xml"), *args,
    ]  # fmt: skip
    log = folder / "pytest.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        environment = {**os.environ, "HIL_PRIVATE_VM": "1", **(env or {})}
        proc = subprocess.Popen(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT, env=environment)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise SystemExit(f"the run in {folder} failed (exit {proc.returncode})")
    return wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def machine() -> str:
    cores = os.cpu_count() or 1
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    sys.path.insert(0, str(ROOT))
    from hil.vm.accel import resolve_accel

    kvm = "KVM" if resolve_accel("auto") == "kvm" else "TCG (no KVM)"
    return f"{cores} cores, {mem:.0f} GiB, QEMU {kvm}; load average now {os.getloadavg()[0]:.2f}"


def by_tests(sizes: list[int], target: str, work: Path) -> None:
    results = []
    for n in sorted(sizes):
        folder = work / f"n{n}"
        folder.mkdir()
        (folder / "test_scale.py").write_text(TESTS.format(n=n, root=ROOT))
        wall, _, _ = pytest_run(folder, ["--hil-target", target])
        report = folder / "report.html"
        details = sum(p.stat().st_size for p in (folder / "report.details").glob("*")) if report.is_file() else 0
        results.append((n, wall, report.stat().st_size, details))
    print(f"\nN HIL tests on {target} (one qvm run each), HTML report written; {machine()}:")
    print(f"  {'N':>6} {'wall s':>8} {'per test ms':>12} {'marginal ms':>12} {'report KB':>10} {'details KB':>11}")
    previous: tuple[int, float] | None = None
    for n, wall, size, details in results:
        marginal = "" if previous is None else f"{(wall - previous[1]) / (n - previous[0]) * 1000:12.1f}"
        print(f"  {n:6d} {wall:8.2f} {wall / n * 1000:12.1f} {marginal:>12} {size / 1024:10.0f} {details / 1024:11.0f}")
        previous = (n, wall)


def by_volume(tests: int, target: str, work: Path) -> None:
    rows = []
    for label, size in (("1 KB", 1 << 10), ("1 MB", 1 << 20), ("100 MB", 100 << 20)):
        folder = work / f"v{size}"
        folder.mkdir()
        (folder / "test_scale.py").write_text(
            VOLUME_TESTS.format(n=tests, root=ROOT, script=guest_script(size), size=size)
        )
        wall, rss, _ = pytest_run(folder, ["--hil-target", target])
        rows.append((label, size, wall, statistics.median(test_times(folder)), rss))
    print(f"\nconsole volume: {tests} tests a row on {target}, each printing it on the guest console; {machine()}:")
    print(f"  {'a test':>8} {'wall s':>8} {'test ms':>9} {'MB/s':>8} {'peak RSS MB':>12}")
    base = rows[0][3]
    for label, size, wall, per, rss in rows:
        rate = "" if size < (1 << 20) else f"{size / (1 << 20) / max(per - base, 1e-3):8.1f}"
        print(f"  {label:>8} {wall:8.2f} {per * 1000:9.1f} {rate:>8} {rss / 1024:12.0f}")
    print("  (test ms: the median test's own time; MB/s: the volume over what a test costs beyond the 1 KB one)")


def by_targets(counts: list[int], tests: int, work: Path) -> None:
    defs = work / "targets"
    defs.mkdir()
    most = max(counts)
    for i in range(1, most + 1):
        (defs / f"bench-par-{i}.toml").write_text(f'name = "bench-par-{i}"\nkind = "qemu"\nlabels = ["x86_64"]\n')
    rows = []
    for k in sorted(set(counts)):
        folder = work / f"k{k}"
        folder.mkdir()
        (folder / "test_scale.py").write_text(TESTS.format(n=tests, root=ROOT))
        args = [f"--hil-targets-dir={defs}", *(f"--hil-target=bench-par-{i}" for i in range(1, k + 1))]
        if k > 1:  # as hil nightly runs several targets: one xdist worker each
            args += ["-p", "xdist", "-n", str(k), "--dist", "loadgroup"]
        wall, _, cpu = pytest_run(folder, args)
        rows.append((k, wall, cpu))
    print(f"\n{tests} tests a target on k QEMU targets in parallel (private VMs, restored); {machine()}:")
    print(f"  {'k':>3} {'tests':>6} {'wall s':>8} {'tests/s':>8} {'efficiency':>11} {'CPU s':>7} {'cores busy':>11}")
    one = next((wall for k, wall, _ in rows if k == 1), None)
    for k, wall, cpu in rows:
        eff = "" if one is None else f"{k * one / wall:10.2f}x"
        print(f"  {k:3d} {k * tests:6d} {wall:8.2f} {k * tests / wall:8.1f} {eff:>11} {cpu:7.1f} {cpu / wall:11.2f}")
    print(
        "  (efficiency: k x the one-target wall time over the k-target wall time, k is ideal; CPU: pytest, its\n"
        "   workers and their QEMUs; one target keeping more than one core busy cannot scale to all cores)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--what", default="tests,volume,targets", help="tables: tests, volume, targets")
    parser.add_argument("-n", type=int, nargs="+", default=[10, 100, 1000], help="numbers of tests (tests table)")
    parser.add_argument("--target", default="local", help="target of the tests and volume tables")
    parser.add_argument("--volume-tests", type=int, default=5, help="tests per row of the volume table")
    parser.add_argument("--parallel-tests", type=int, default=40, help="tests per target in the targets table")
    parser.add_argument(
        "--parallel", type=int, nargs="+", default=sorted({1, 2, os.cpu_count() or 1}), help="numbers of targets"
    )
    args = parser.parse_args()
    what = set(args.what.split(","))
    resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        if "tests" in what:
            by_tests(args.n, args.target, work)
        if "volume" in what:
            by_volume(args.volume_tests, args.target, work)
        if "targets" in what:
            by_targets(args.parallel, args.parallel_tests, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
